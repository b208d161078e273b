//! Activations φ and surrogate derivatives σ̃ (docs/MATH.md §2).
//!
//! Every function is written once, generically over [`Elementwise`], so the same definition serves
//! the scalar `f64` code (analytic kernels, quadrature) and the tensor code (the autodiff op).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::SpecError;

const TWO_OVER_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;

/// The element-wise operations the activations and surrogates are built from.
///
/// Implemented for `f64` and for backend tensor primitives ([`crate::op::Prim`]).
pub trait Elementwise: Clone {
    /// `self + other`.
    fn add(self, other: Self) -> Self;
    /// `self · other`.
    fn mul(self, other: Self) -> Self;
    /// `self + c`.
    fn add_scalar(self, c: f64) -> Self;
    /// `c · self`.
    fn mul_scalar(self, c: f64) -> Self;
    /// A value of the same shape filled with `c`.
    fn full_like(&self, c: f64) -> Self;
    /// `exp(self)`.
    fn exp(self) -> Self;
    /// The error function.
    fn erf(self) -> Self;
    /// Hyperbolic tangent.
    fn tanh(self) -> Self;
    /// The logistic function 1/(1+e^(−z)).
    fn sigmoid(self) -> Self;
    /// `|self|`.
    fn abs(self) -> Self;
    /// `1/self`.
    fn recip(self) -> Self;
    /// `sign(self)` with sign(0) = 0.
    fn sign(self) -> Self;
    /// `max(self, 0)`.
    fn relu(self) -> Self;

    /// Heaviside step: 1 for z > 0, else 0 (= relu(sign z)).
    fn heaviside(self) -> Self {
        self.sign().relu()
    }
    /// `self²`.
    fn square(self) -> Self {
        self.clone().mul(self)
    }
}

impl Elementwise for f64 {
    fn add(self, other: Self) -> Self {
        self + other
    }
    fn mul(self, other: Self) -> Self {
        self * other
    }
    fn add_scalar(self, c: f64) -> Self {
        self + c
    }
    fn mul_scalar(self, c: f64) -> Self {
        self * c
    }
    fn full_like(&self, c: f64) -> Self {
        c
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn erf(self) -> Self {
        libm::erf(self)
    }
    fn tanh(self) -> Self {
        f64::tanh(self)
    }
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + f64::exp(-self))
    }
    fn abs(self) -> Self {
        f64::abs(self)
    }
    fn recip(self) -> Self {
        1.0 / self
    }
    fn sign(self) -> Self {
        if self > 0.0 {
            1.0
        } else if self < 0.0 {
            -1.0
        } else {
            0.0
        }
    }
    fn relu(self) -> Self {
        if self > 0.0 {
            self
        } else {
            0.0
        }
    }
}

/// An activation function φ with its true derivative φ'.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Activation {
    /// erf(m z) (`erf:m`, m > 0).
    Erf {
        /// Steepness m.
        m: f64,
    },
    /// sign(z), derivative 0 almost everywhere (`sign`).
    Sign,
    /// Heaviside: 1 for z > 0 else 0 (`step`).
    Step,
    /// max(z, 0) (`relu`).
    Relu,
    /// tanh(z) (`tanh`).
    Tanh,
    /// z (`identity`).
    Identity,
}

impl Activation {
    /// φ(z).
    #[inline(always)]
    pub fn eval<T: Elementwise>(&self, z: T) -> T {
        match *self {
            Activation::Erf { m } => z.mul_scalar(m).erf(),
            Activation::Sign => z.sign(),
            Activation::Step => z.heaviside(),
            Activation::Relu => z.relu(),
            Activation::Tanh => z.tanh(),
            Activation::Identity => z,
        }
    }

    /// The true derivative φ'(z) (0 for sign and step, away from the jump).
    #[inline(always)]
    pub fn derivative<T: Elementwise>(&self, z: T) -> T {
        match *self {
            Activation::Erf { m } => erf_prime(z, m),
            Activation::Sign | Activation::Step => z.full_like(0.0),
            Activation::Relu => z.heaviside(),
            Activation::Tanh => z.tanh().square().mul_scalar(-1.0).add_scalar(1.0),
            Activation::Identity => z.full_like(1.0),
        }
    }

    /// True where φ' vanishes almost everywhere, so no true (empirical) Jacobian exists.
    pub fn has_degenerate_derivative(&self) -> bool {
        matches!(self, Activation::Sign | Activation::Step)
    }

    /// The parameter of the family (m of `erf:m`), if it has one.
    pub fn parameter(&self) -> Option<f64> {
        match *self {
            Activation::Erf { m } => Some(m),
            _ => None,
        }
    }
}

/// A surrogate derivative σ̃ used in the backward pass in place of φ' (docs/MATH.md §2 table).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Surrogate {
    /// 2a/√π · exp(−a² z²) (`erf-prime:a`).
    ErfPrime {
        /// Scale a.
        a: f64,
    },
    /// 1/(1 + k|z|)² (`fast-sigmoid:k`).
    FastSigmoid {
        /// Slope k.
        k: f64,
    },
    /// 1/(1 + (a z)²) (`atan:a`).
    Atan {
        /// Scale a.
        a: f64,
    },
    /// 4 s(kz)(1 − s(kz)) (`sigmoid:k`).
    Sigmoid {
        /// Slope k.
        k: f64,
    },
    /// max(0, 1 − |z|/w) (`triangle:w`).
    Triangle {
        /// Half-width w.
        w: f64,
    },
    /// 1 if |z| ≤ w else 0 (`boxcar:w`).
    Boxcar {
        /// Half-width w.
        w: f64,
    },
    /// 1 (`straight-through`).
    StraightThrough,
    /// The activation's own derivative φ' (`true`): SGL becomes GD.
    True,
}

impl Surrogate {
    /// Every surrogate family with its default parameter, for tests and listings.
    pub const FAMILIES: [Surrogate; 8] = [
        Surrogate::ErfPrime { a: 1.0 },
        Surrogate::FastSigmoid { k: 1.0 },
        Surrogate::Atan { a: 1.0 },
        Surrogate::Sigmoid { k: 1.0 },
        Surrogate::Triangle { w: 1.0 },
        Surrogate::Boxcar { w: 1.0 },
        Surrogate::StraightThrough,
        Surrogate::True,
    ];

    /// σ̃(z); for [`Surrogate::True`] this is `activation`'s derivative.
    #[inline(always)]
    pub fn eval<T: Elementwise>(&self, activation: &Activation, z: T) -> T {
        match *self {
            Surrogate::ErfPrime { a } => erf_prime(z, a),
            Surrogate::FastSigmoid { k } => z.abs().mul_scalar(k).add_scalar(1.0).square().recip(),
            Surrogate::Atan { a } => z.mul_scalar(a).square().add_scalar(1.0).recip(),
            Surrogate::Sigmoid { k } => {
                let s = z.mul_scalar(k).sigmoid();
                let one_minus = s.clone().mul_scalar(-1.0).add_scalar(1.0);
                s.mul(one_minus).mul_scalar(4.0)
            }
            Surrogate::Triangle { w } => z.abs().mul_scalar(-1.0 / w).add_scalar(1.0).relu(),
            // 1 − H(|z| − w): 1 where |z| ≤ w.
            Surrogate::Boxcar { w } => z
                .abs()
                .add_scalar(-w)
                .heaviside()
                .mul_scalar(-1.0)
                .add_scalar(1.0),
            Surrogate::StraightThrough => z.full_like(1.0),
            Surrogate::True => activation.derivative(z),
        }
    }

    /// The parameter of the family (a, k or w), if it has one.
    pub fn parameter(&self) -> Option<f64> {
        match *self {
            Surrogate::ErfPrime { a } | Surrogate::Atan { a } => Some(a),
            Surrogate::FastSigmoid { k } | Surrogate::Sigmoid { k } => Some(k),
            Surrogate::Triangle { w } | Surrogate::Boxcar { w } => Some(w),
            Surrogate::StraightThrough | Surrogate::True => None,
        }
    }

    /// Points where σ̃ is not smooth (kinks or jumps), for quadrature that splits there.
    pub fn kinks(&self) -> Vec<f64> {
        match *self {
            Surrogate::FastSigmoid { .. } => vec![0.0],
            Surrogate::Triangle { w } => vec![-w, 0.0, w],
            Surrogate::Boxcar { w } => vec![-w, w],
            _ => vec![],
        }
    }
}

/// The parameter of `name[:token]`: `default` without a colon, an error for `name:` (an empty
/// parameter is a typo, not the default), else a finite number > 0.
fn parse_param(
    spec: &str,
    name: &str,
    token: Option<&str>,
    default: f64,
) -> Result<f64, SpecError> {
    let value = match token {
        None => default,
        Some("") => {
            return Err(SpecError::EmptyParameter {
                spec: spec.to_string(),
                name: name.to_string(),
            })
        }
        Some(t) => t.parse::<f64>().map_err(|_| SpecError::BadParameter {
            spec: spec.to_string(),
            token: t.to_string(),
        })?,
    };
    if !(value.is_finite() && value > 0.0) {
        return Err(SpecError::NonPositiveParameter {
            spec: spec.to_string(),
            value,
        });
    }
    Ok(value)
}

fn split_spec(s: &str) -> (String, &str, bool) {
    let s = s.trim();
    match s.split_once(':') {
        Some((name, param)) => (name.trim().to_ascii_lowercase(), param.trim(), true),
        None => (s.to_ascii_lowercase(), "", false),
    }
}

/// `value` for a spec `name` that takes no parameter, or the error if `spec` gave one.
fn without_parameter<T>(spec: &str, name: &str, has_param: bool, value: T) -> Result<T, SpecError> {
    if has_param {
        return Err(SpecError::UnexpectedParameter {
            spec: spec.to_string(),
            name: name.to_string(),
        });
    }
    Ok(value)
}

/// d/dz erf(a z) = (2a/√π) e^{−a² z²}: φ' of erf_a and the surrogate erf-prime:a.
#[inline(always)]
fn erf_prime<T: Elementwise>(z: T, a: f64) -> T {
    z.square()
        .mul_scalar(-a * a)
        .exp()
        .mul_scalar(TWO_OVER_SQRT_PI * a)
}

impl FromStr for Activation {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, param, has_param) = split_spec(s);
        let no_param = |a| without_parameter(s, &name, has_param, a);
        match name.as_str() {
            "erf" => Ok(Activation::Erf {
                m: parse_param(s, &name, has_param.then_some(param), 1.0)?,
            }),
            "sign" => no_param(Activation::Sign),
            "step" | "heaviside" => no_param(Activation::Step),
            "relu" => no_param(Activation::Relu),
            "tanh" => no_param(Activation::Tanh),
            "identity" | "linear" => no_param(Activation::Identity),
            _ => Err(SpecError::UnknownActivation { token: name }),
        }
    }
}

impl FromStr for Surrogate {
    type Err = SpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, param, has_param) = split_spec(s);
        let p = |default| parse_param(s, &name, has_param.then_some(param), default);
        let no_param = |g| without_parameter(s, &name, has_param, g);
        match name.as_str() {
            "erf-prime" | "erfp" => Ok(Surrogate::ErfPrime { a: p(1.0)? }),
            "fast-sigmoid" | "superspike" => Ok(Surrogate::FastSigmoid { k: p(1.0)? }),
            "atan" => Ok(Surrogate::Atan { a: p(1.0)? }),
            "sigmoid" => Ok(Surrogate::Sigmoid { k: p(1.0)? }),
            "triangle" => Ok(Surrogate::Triangle { w: p(1.0)? }),
            "boxcar" => Ok(Surrogate::Boxcar { w: p(1.0)? }),
            "straight-through" | "ste" => no_param(Surrogate::StraightThrough),
            "true" => no_param(Surrogate::True),
            _ => Err(SpecError::UnknownSurrogate { token: name }),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Erf { m } => write!(f, "erf:{m}"),
            Activation::Sign => write!(f, "sign"),
            Activation::Step => write!(f, "step"),
            Activation::Relu => write!(f, "relu"),
            Activation::Tanh => write!(f, "tanh"),
            Activation::Identity => write!(f, "identity"),
        }
    }
}

impl fmt::Display for Surrogate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Surrogate::ErfPrime { a } => write!(f, "erf-prime:{a}"),
            Surrogate::FastSigmoid { k } => write!(f, "fast-sigmoid:{k}"),
            Surrogate::Atan { a } => write!(f, "atan:{a}"),
            Surrogate::Sigmoid { k } => write!(f, "sigmoid:{k}"),
            Surrogate::Triangle { w } => write!(f, "triangle:{w}"),
            Surrogate::Boxcar { w } => write!(f, "boxcar:{w}"),
            Surrogate::StraightThrough => write!(f, "straight-through"),
            Surrogate::True => write!(f, "true"),
        }
    }
}

macro_rules! string_serde {
    ($t:ty) => {
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }
        impl TryFrom<String> for $t {
            type Error = SpecError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}
string_serde!(Activation);
string_serde!(Surrogate);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_specs() {
        assert_eq!(
            "erf:5".parse::<Activation>().unwrap(),
            Activation::Erf { m: 5.0 }
        );
        assert_eq!("sign".parse::<Activation>().unwrap(), Activation::Sign);
        assert_eq!(
            "fast-sigmoid:25".parse::<Surrogate>().unwrap(),
            Surrogate::FastSigmoid { k: 25.0 }
        );
        assert_eq!(
            "erf-prime".parse::<Surrogate>().unwrap(),
            Surrogate::ErfPrime { a: 1.0 }
        );
        for g in Surrogate::FAMILIES {
            assert_eq!(g.to_string().parse::<Surrogate>().unwrap(), g);
        }
    }

    #[test]
    fn bad_specs_name_the_token() {
        let e = "erff:2".parse::<Activation>().unwrap_err().to_string();
        assert!(e.contains("erff"), "{e}");
        let e = "erf:abc".parse::<Activation>().unwrap_err().to_string();
        assert!(e.contains("abc"), "{e}");
        let e = "erf:-1".parse::<Activation>().unwrap_err().to_string();
        assert!(e.contains("-1"), "{e}");
        let e = "erf:0".parse::<Activation>().unwrap_err();
        assert!(matches!(e, SpecError::NonPositiveParameter { .. }));
        let e = "fastsigmoid".parse::<Surrogate>().unwrap_err().to_string();
        assert!(e.contains("fastsigmoid"), "{e}");
        let e = "sign:3".parse::<Activation>().unwrap_err().to_string();
        assert!(e.contains("sign"), "{e}");
        // an empty parameter is an error, not the default
        for spec in ["erf:", "erf: "] {
            let e = spec.parse::<Activation>().unwrap_err();
            assert!(matches!(e, SpecError::EmptyParameter { .. }), "{spec}: {e}");
        }
        for spec in ["fast-sigmoid:", "erf-prime:", "boxcar :"] {
            let e = spec.parse::<Surrogate>().unwrap_err();
            assert!(matches!(e, SpecError::EmptyParameter { .. }), "{spec}: {e}");
            assert!(e.to_string().contains("empty"), "{e}");
        }
    }

    #[test]
    fn scalar_values_match_closed_forms() {
        let z = 0.37_f64;
        let erf5 = Activation::Erf { m: 5.0 };
        assert!((erf5.eval(z) - libm::erf(5.0 * z)).abs() < 1e-15);
        // derivative vs central difference
        let h = 1e-6;
        let fd = (erf5.eval(z + h) - erf5.eval(z - h)) / (2.0 * h);
        assert!((erf5.derivative(z) - fd).abs() < 1e-6 * fd.abs().max(1.0));
        let fd = (Activation::Tanh.eval(z + h) - Activation::Tanh.eval(z - h)) / (2.0 * h);
        assert!((Activation::Tanh.derivative(z) - fd).abs() < 1e-8);
        // surrogates at a few points
        let act = Activation::Sign;
        assert!((Surrogate::ErfPrime { a: 1.0 }.eval(&act, 0.0) - TWO_OVER_SQRT_PI).abs() < 1e-15);
        assert!((Surrogate::FastSigmoid { k: 2.0 }.eval(&act, -0.5) - 0.25).abs() < 1e-15);
        assert!((Surrogate::Atan { a: 2.0 }.eval(&act, 0.5) - 0.5).abs() < 1e-15);
        assert!((Surrogate::Sigmoid { k: 1.0 }.eval(&act, 0.0) - 1.0).abs() < 1e-15);
        let s = 1.0 / (1.0 + (-2.0f64).exp());
        assert!(
            (Surrogate::Sigmoid { k: 1.0 }.eval(&act, 2.0) - 4.0 * s * (1.0 - s)).abs() < 1e-15
        );
        assert!((Surrogate::Triangle { w: 2.0 }.eval(&act, 1.5) - 0.25).abs() < 1e-15);
        assert_eq!(Surrogate::Triangle { w: 2.0 }.eval(&act, -3.0), 0.0);
        assert_eq!(Surrogate::Boxcar { w: 0.5 }.eval(&act, 0.5), 1.0);
        assert_eq!(Surrogate::Boxcar { w: 0.5 }.eval(&act, -0.51), 0.0);
        assert_eq!(Surrogate::StraightThrough.eval(&act, 7.0), 1.0);
        assert_eq!(Surrogate::True.eval(&act, 0.3), 0.0);
        assert_eq!(Activation::Step.eval(0.0), 0.0);
        assert_eq!(Activation::Step.eval(1e-9), 1.0);
        assert_eq!(Activation::Sign.eval(0.0), 0.0);
    }

    #[test]
    fn serde_round_trip_uses_spec_strings() {
        let json = serde_json_like(&Surrogate::FastSigmoid { k: 25.0 });
        assert_eq!(json, "fast-sigmoid:25");
    }

    fn serde_json_like(g: &Surrogate) -> String {
        String::from(*g)
    }
}
