//! Gaussian expectations E[f(u) g(v)], (u, v) ~ N(0, Λ), in closed form where one exists.
//!
//! Every activation and derivative of docs/MATH.md §2 is classified as a [`ScalarFn`]. The closed forms
//! (docs/MATH.md §5):
//!
//! - erf-type × erf-type: f = c0 + c1·erf(z/√(2s)) (erf_m: s = 1/(2m²); sign: s = 0; step = ½ + ½ sign),
//!   E[erf(u/√(2s)) erf(v/√(2s'))] = 2/π · arcsin(Λ12 / √((Λ11 + s)(Λ22 + s'))) (Cor. D.2; the sign
//!   limit s = 0 is the arcsine kernel).
//! - bump × bump: g = w·N(z; 0, s) (erf_m' = 2·N(·; 0, 1/(2m²)), erf-prime:a = 2·N(·; 0, 1/(2a²)),
//!   sign' = 2δ, step' = δ), E = w w' / (2π √det(Λ + diag(s, s'))) (Cor. D.1, S76, S41); +∞ when the
//!   determinant vanishes (the singular sign NTK's diagonal).
//! - bump × any bounded g (S78–S81 and the finite-m formula of docs/MATH.md §5):
//!   E[w N(u; 0, s) g(v)] = w / √(2π(Λ11 + s)) · E_{Y ~ N(0, V)}[g(Y)],  V = Λ22 − Λ12²/(Λ11 + s)
//!   (for s = 1/(2m²) this is 2m/√π (1 + 2m²Λ11)^(−1/2) E[g(Y)] with V = (Λ22 + 2m² det Λ)/(1 + 2m²Λ11)).
//! - constant × g: c · E[g(v)]; sign/step × bounded g: the 1-D conditional expectation
//!   E[sign(u) g(v)] = E_v[g(v) (2Φ(Λ12 v / √(Λ22 det Λ)) − 1)].
//! - ReLU × ReLU: the arc-cosine kernel √(Λ11Λ22)/(2π) (sin θ + (π − θ) cos θ), cos θ = Λ12/√(Λ11Λ22).
//!
//! Anything else: the 2-D trapezoid rule with error control where f and g have no kinks
//! ([`super::quadrature::expect_2d_smooth`]), else (or where it does not converge) the nested
//! adaptive quadrature ([`super::quadrature::expect_2d_adaptive`]).

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use sgntk_model::{Activation, Surrogate};

use super::lanes::{
    acos, asin, asin_acos, map1, map3, map3_pair, Lane, Lanes1, Lanes3, Lanes3Pair,
};
use super::quadrature::{
    expect_1d, expect_2d, expect_2d_adaptive, expect_2d_smooth, GaussHermiteRule,
};
use super::spec::Method;

/// A scalar function of a pre-activation, classified for the closed forms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScalarFn {
    /// c0 + c1 · erf(z / √(2s)); s = 0 means c0 + c1 · sign(z).
    ErfAffine {
        /// Constant part.
        c0: f64,
        /// Odd part's coefficient.
        c1: f64,
        /// Smoothing variance s ≥ 0.
        s: f64,
    },
    /// w · N(z; 0, s) = w/√(2πs) · exp(−z²/(2s)); s = 0 means w · δ(z).
    Bump {
        /// Total mass.
        w: f64,
        /// Variance s ≥ 0.
        s: f64,
    },
    /// max(z, 0).
    Relu,
    /// c · z.
    Linear {
        /// Slope.
        c: f64,
    },
    /// The constant c.
    Const {
        /// Value.
        c: f64,
    },
    /// tanh or its derivative (evaluated pointwise).
    Activation {
        /// The activation.
        activation: Activation,
        /// True for φ', false for φ.
        derivative: bool,
    },
    /// A bounded surrogate without closed forms (fast-sigmoid, atan, sigmoid, triangle, boxcar).
    Surrogate(Surrogate),
}

impl ScalarFn {
    /// φ itself.
    pub fn activation(activation: Activation) -> Self {
        match activation {
            Activation::Erf { m } => ScalarFn::ErfAffine {
                c0: 0.0,
                c1: 1.0,
                s: 0.5 / (m * m),
            },
            Activation::Sign => ScalarFn::ErfAffine {
                c0: 0.0,
                c1: 1.0,
                s: 0.0,
            },
            Activation::Step => ScalarFn::ErfAffine {
                c0: 0.5,
                c1: 0.5,
                s: 0.0,
            },
            Activation::Relu => ScalarFn::Relu,
            Activation::Identity => ScalarFn::Linear { c: 1.0 },
            Activation::Tanh => ScalarFn::Activation {
                activation,
                derivative: false,
            },
        }
    }

    /// The derivative g used in the backward pass: the true φ' for [`Surrogate::True`] (2δ for
    /// sign, δ for step), otherwise the surrogate.
    pub fn derivative(activation: Activation, g: Surrogate) -> Self {
        match g {
            Surrogate::True => match activation {
                Activation::Erf { m } => ScalarFn::Bump {
                    w: 2.0,
                    s: 0.5 / (m * m),
                },
                Activation::Sign => ScalarFn::Bump { w: 2.0, s: 0.0 },
                Activation::Step => ScalarFn::Bump { w: 1.0, s: 0.0 },
                Activation::Relu => ScalarFn::ErfAffine {
                    c0: 0.5,
                    c1: 0.5,
                    s: 0.0,
                },
                Activation::Identity => ScalarFn::Const { c: 1.0 },
                Activation::Tanh => ScalarFn::Activation {
                    activation,
                    derivative: true,
                },
            },
            Surrogate::ErfPrime { a } => ScalarFn::Bump {
                w: 2.0,
                s: 0.5 / (a * a),
            },
            Surrogate::StraightThrough => ScalarFn::Const { c: 1.0 },
            other => ScalarFn::Surrogate(other),
        }
    }

    /// True for w·δ (no pointwise values).
    pub fn is_delta(&self) -> bool {
        matches!(self, ScalarFn::Bump { s, w } if *s == 0.0 && *w != 0.0)
    }

    /// True for bounded functions that are continuous except at [`ScalarFn::kinks`].
    fn is_bounded_pointwise(&self) -> bool {
        match self {
            ScalarFn::ErfAffine { .. } | ScalarFn::Const { .. } | ScalarFn::Surrogate(_) => true,
            ScalarFn::Bump { s, .. } => *s > 0.0,
            ScalarFn::Activation { .. } => true,
            ScalarFn::Relu | ScalarFn::Linear { .. } => false,
        }
    }

    /// f(z) (a δ evaluates to 0 away from 0 and +∞ at 0; never used in quadrature).
    pub fn eval(&self, z: f64) -> f64 {
        match *self {
            ScalarFn::ErfAffine { c0, c1, s } => {
                let odd = if s == 0.0 {
                    if z > 0.0 {
                        1.0
                    } else if z < 0.0 {
                        -1.0
                    } else {
                        0.0
                    }
                } else {
                    libm::erf(z / (2.0 * s).sqrt())
                };
                c0 + c1 * odd
            }
            ScalarFn::Bump { w, s } => {
                if s == 0.0 {
                    if z == 0.0 {
                        f64::INFINITY
                    } else {
                        0.0
                    }
                } else {
                    w / (2.0 * PI * s).sqrt() * (-z * z / (2.0 * s)).exp()
                }
            }
            ScalarFn::Relu => z.max(0.0),
            ScalarFn::Linear { c } => c * z,
            ScalarFn::Const { c } => c,
            ScalarFn::Activation {
                activation,
                derivative,
            } => {
                if derivative {
                    activation.derivative(z)
                } else {
                    activation.eval(z)
                }
            }
            ScalarFn::Surrogate(g) => g.eval(&Activation::Identity, z),
        }
    }

    /// `v[n] = f(v[n])` for every n: [`ScalarFn::eval`], with the activations and surrogates in
    /// SIMD lanes ([`super::lanes::Lane`]: their formulas vectorize, tanh within a few ulp of
    /// the standard library's).
    pub fn eval_in_place(&self, v: &mut [f64]) {
        match *self {
            // tanh's own loops: the activation is a constant there, so the loop has no branch
            // on it and vectorizes
            ScalarFn::Activation {
                activation: Activation::Tanh,
                derivative,
            } => {
                if derivative {
                    map1(v, TanhLanes::<true>)
                } else {
                    map1(v, TanhLanes::<false>)
                }
            }
            ScalarFn::Activation { .. } | ScalarFn::Surrogate(_) => map1(v, *self),
            _ => v.iter_mut().for_each(|z| *z = self.eval(*z)),
        }
    }

    /// `Some(true)` for an even f (f(−z) = f(z)), `Some(false)` for an odd one (f(−z) = −f(z)),
    /// `None` where neither holds (or for constants with c0 ≠ 0 and c1 ≠ 0).
    pub fn parity(&self) -> Option<bool> {
        match *self {
            ScalarFn::ErfAffine { c0, c1, .. } => match (c0 == 0.0, c1 == 0.0) {
                (_, true) => Some(true),
                (true, false) => Some(false),
                (false, false) => None,
            },
            ScalarFn::Bump { .. } | ScalarFn::Const { .. } => Some(true),
            ScalarFn::Linear { .. } => Some(false),
            ScalarFn::Relu => None,
            // tanh is odd, tanh' even
            ScalarFn::Activation {
                activation: Activation::Tanh,
                derivative,
            } => Some(derivative),
            ScalarFn::Activation { .. } => None,
            // every surrogate is a function of |z| (docs/MATH.md §2)
            ScalarFn::Surrogate(_) => Some(true),
        }
    }

    /// Points where f is not smooth (for splitting 1-D quadrature).
    pub fn kinks(&self) -> Vec<f64> {
        match self {
            ScalarFn::ErfAffine { s, .. } if *s == 0.0 => vec![0.0],
            ScalarFn::Relu => vec![0.0],
            ScalarFn::Surrogate(g) => g.kinks(),
            _ => vec![],
        }
    }
}

/// tanh (`DERIVATIVE`: tanh') in lanes, through the activation's formula.
struct TanhLanes<const DERIVATIVE: bool>;

impl<const DERIVATIVE: bool> Lanes1 for TanhLanes<DERIVATIVE> {
    #[inline(always)]
    fn eval(&self, z: f64) -> f64 {
        if DERIVATIVE {
            Activation::Tanh.derivative(Lane(z)).0
        } else {
            Activation::Tanh.eval(Lane(z)).0
        }
    }
}

impl Lanes1 for ScalarFn {
    /// The activations and surrogates on [`Lane`]s (their formulas, written once, vectorize);
    /// the other functions through [`ScalarFn::eval`].
    #[inline(always)]
    fn eval(&self, z: f64) -> f64 {
        match *self {
            ScalarFn::Activation {
                activation,
                derivative: true,
            } => activation.derivative(Lane(z)).0,
            ScalarFn::Activation { activation, .. } => activation.eval(Lane(z)).0,
            ScalarFn::Surrogate(g) => g.eval(&Activation::Identity, Lane(z)).0,
            _ => ScalarFn::eval(self, z),
        }
    }
}

/// E[f(u) g(v)] for (u, v) ~ N(0, [[l11, l12], [l12, l22]]): a block of one of
/// [`pair_expectations`].
pub fn pair_expectation(
    f: &ScalarFn,
    g: &ScalarFn,
    l11: f64,
    l12: f64,
    l22: f64,
    method: Method,
    rule: &GaussHermiteRule,
) -> f64 {
    let mut out = [0.0];
    pair_expectations(
        f,
        g,
        [l11, l12, l22].map(|v| [v]).each_ref().map(|v| &v[..]),
        method,
        rule,
        &mut out,
    );
    out[0]
}

/// `out[n] = E[f(u) g(v)]` for (u, v) ~ N(0, Λ_n), Λ_n = `[[l11[n], l12[n]], [l12[n], l22[n]]]`,
/// for a block of covariances `[l11, l12, l22]` (slices of `out.len()` values).
///
/// With [`Method::Auto`], closed forms and 1-D expectations first (module docs; the closed forms
/// run in SIMD lanes, [`super::lanes`]), otherwise, for f and g without kinks, the 2-D
/// trapezoid rule with error control ([`expect_2d_smooth`]), and the nested adaptive 2-D
/// quadrature for kinked integrands and where the trapezoid rule does not converge;
/// [`Method::Quadrature`] always uses tensor Gauss–Hermite with `rule`, [`Method::Adaptive`]
/// always the nested adaptive rule. Every entry is computed as it would be alone.
pub fn pair_expectations(
    f: &ScalarFn,
    g: &ScalarFn,
    [l11, l12, l22]: [&[f64]; 3],
    method: Method,
    rule: &GaussHermiteRule,
    out: &mut [f64],
) {
    let each = |out: &mut [f64], e: &dyn Fn(f64, f64, f64) -> f64| {
        for (n, o) in out.iter_mut().enumerate() {
            *o = e(l11[n], l12[n], l22[n]);
        }
    };
    let adaptive = |a: f64, b: f64, c: f64| {
        expect_2d_adaptive(
            a,
            b,
            c,
            |u| f.eval(u),
            &f.kinks(),
            |v| g.eval(v),
            &g.kinks(),
        )
    };
    match method {
        Method::Quadrature { .. } => each(out, &|a, b, c| {
            expect_2d(rule, a, b, c, |u, v| f.eval(u) * g.eval(v))
        }),
        Method::Adaptive => each(out, &adaptive),
        Method::Auto => match Closed::of(f, g) {
            Some((form, false)) => form.eval_block([l11, l12, l22], out),
            // E[f(u) g(v)] = E[g(v) f(u)]: the form of (g, f) on the swapped covariance
            Some((form, true)) => form.eval_block([l22, l12, l11], out),
            // smooth integrands: the trapezoid rule with error control (≥ 100× faster); kinked
            // ones, and smooth ones it does not resolve, the nested adaptive rule
            None if f.kinks().is_empty() && g.kinks().is_empty() => {
                let symmetric = f.parity().is_some() && f.parity() == g.parity();
                each(out, &|a, b, c| {
                    expect_2d_smooth(
                        a,
                        b,
                        c,
                        symmetric,
                        |u| f.eval_in_place(u),
                        |v| g.eval_in_place(v),
                    )
                    .unwrap_or_else(|| adaptive(a, b, c))
                })
            }
            None => each(out, &adaptive),
        },
    }
}

/// `out_f[n] = E[f(u) f(v)]` and `out_g[n] = E[g1(u) g2(v)]` on one block of covariances
/// (a nonlinearity's Σ' and derivative kernel): [`pair_expectations`] of both, except where the
/// two closed forms share their work — ReLU with its step derivative (the arc-cosine kernel and
/// the arcsine kernel of one cosine, `ReluWithStep`) — which runs as one pass with the same
/// values, bit for bit.
pub fn pair_expectations_with_derivative(
    f: &ScalarFn,
    [g1, g2]: [&ScalarFn; 2],
    l: [&[f64]; 3],
    method: Method,
    rule: &GaussHermiteRule,
    out_f: &mut [f64],
    out_g: &mut [f64],
) {
    if method == Method::Auto {
        if let (Some((Closed::ReluRelu, _)), Some((Closed::ErfErf(p), _))) =
            (Closed::of(f, f), Closed::of(g1, g2))
        {
            if p[2] == 0.0 && p[5] == 0.0 {
                return map3_pair(l, out_f, out_g, ReluWithStep(p));
            }
        }
    }
    pair_expectations(g1, g2, l, method, rule, out_g);
    pair_expectations(f, f, l, method, rule, out_f);
}

/// The arc-cosine kernel [`relu_relu`] and the sign/step kernel [`erf_erf`] (s = t = 0, its
/// coefficients here) of the same covariance: both take the cosine Λ12/√(Λ11Λ22) (√((Λ11 + 0)
/// (Λ22 + 0)) is √(Λ11Λ22), or both vanish) and its arcsine and arccosine share their work
/// ([`asin_acos`]).
struct ReluWithStep([f64; 6]);

impl Lanes3Pair for ReluWithStep {
    #[inline(always)]
    fn eval(&self, l11: f64, l12: f64, l22: f64) -> (f64, f64) {
        let [c0, c1, _, d0, d1, _] = self.0;
        let n = (l11 * l22).sqrt();
        let cos = (l12 / n).clamp(-1.0, 1.0);
        let (arcsin, theta) = asin_acos(cos);
        let v = n / (2.0 * PI) * ((1.0 - cos * cos).max(0.0).sqrt() + (PI - theta) * cos);
        let relu = if n == 0.0 { 0.0 } else { v };
        let odd = if n > 0.0 { 2.0 / PI * arcsin } else { 0.0 };
        (relu, c0 * d0 + c1 * d1 * odd)
    }
}

/// det Λ ≥ 0 (rounding can make it slightly negative for nearly equal points). Plain products, not
/// `mul_add`: for x = x' (Λ11 = Λ12 = Λ22 bitwise) this is exactly 0, so the singular diagonal is +∞.
#[inline(always)]
fn det(l11: f64, l12: f64, l22: f64) -> f64 {
    (l11 * l22 - l12 * l12).max(0.0)
}

/// E_{Y ~ N(0, var)}[g(Y)], in closed form where possible.
fn expect_single(g: &ScalarFn, var: f64) -> f64 {
    match *g {
        ScalarFn::Const { c } => c,
        // odd part vanishes
        ScalarFn::ErfAffine { c0, .. } => c0,
        ScalarFn::Linear { .. } => 0.0,
        ScalarFn::Bump { w, s } => w / (2.0 * PI * (var + s)).sqrt(),
        ScalarFn::Relu => (var / (2.0 * PI)).sqrt(),
        _ => expect_1d(var, |y| g.eval(y), &g.kinks()),
    }
}

/// The closed form or 1-D reduction of E[f(u) g(v)] for a pair (f, g) in this order.
#[derive(Clone, Copy, Debug)]
enum Closed {
    /// erf-type × erf-type: the arcsine formula.
    ErfErf([f64; 6]),
    /// bump × bump: the density of N(0, Λ + diag(s, t)) at 0.
    BumpBump([f64; 4]),
    /// bump × any g: the conditional expectation of g.
    Bump { w: f64, s: f64, g: ScalarFn },
    /// c × g.
    Const { c: f64, g: ScalarFn },
    /// ReLU × ReLU: the arc-cosine kernel.
    ReluRelu,
    /// c z × d z: c d Λ12.
    Linear(f64),
    /// (c0 + c1 sign) × bounded g: a 1-D expectation.
    SignBounded { c0: f64, c1: f64, g: ScalarFn },
}

impl Closed {
    /// The form for (f, g), else for (g, f) (then `true`: evaluate it on the swapped
    /// covariance), else `None`.
    fn of(f: &ScalarFn, g: &ScalarFn) -> Option<(Closed, bool)> {
        Closed::ordered(f, g)
            .map(|c| (c, false))
            .or_else(|| Closed::ordered(g, f).map(|c| (c, true)))
    }

    fn ordered(f: &ScalarFn, g: &ScalarFn) -> Option<Closed> {
        Some(match (*f, *g) {
            (
                ScalarFn::ErfAffine { c0, c1, s },
                ScalarFn::ErfAffine {
                    c0: d0,
                    c1: d1,
                    s: t,
                },
            ) => Closed::ErfErf([c0, c1, s, d0, d1, t]),
            (ScalarFn::Bump { w, s }, ScalarFn::Bump { w: w2, s: t }) => {
                Closed::BumpBump([w, s, w2, t])
            }
            (ScalarFn::Bump { w, s }, g) => Closed::Bump { w, s, g },
            (ScalarFn::Const { c }, g) => Closed::Const { c, g },
            (ScalarFn::Relu, ScalarFn::Relu) => Closed::ReluRelu,
            (ScalarFn::Linear { c }, ScalarFn::Linear { c: d }) => Closed::Linear(c * d),
            (ScalarFn::ErfAffine { c0, c1, s }, g) if s == 0.0 && g.is_bounded_pointwise() => {
                Closed::SignBounded { c0, c1, g }
            }
            _ => return None,
        })
    }

    /// `out[n]` = the form at covariance n; the forms without integrals in SIMD lanes.
    fn eval_block(&self, [l11, l12, l22]: [&[f64]; 3], out: &mut [f64]) {
        match *self {
            Closed::ErfErf(_) | Closed::BumpBump(_) | Closed::ReluRelu | Closed::Linear(_) => {
                map3(l11, l12, l22, out, *self)
            }
            _ => {
                for (n, o) in out.iter_mut().enumerate() {
                    *o = self.eval(l11[n], l12[n], l22[n]);
                }
            }
        }
    }

    /// The form at one covariance.
    fn eval(&self, l11: f64, l12: f64, l22: f64) -> f64 {
        match *self {
            Closed::ErfErf(p) => erf_erf(p, l11, l12, l22),
            Closed::BumpBump(p) => bump_bump(p, l11, l12, l22),
            Closed::ReluRelu => relu_relu(l11, l12, l22),
            Closed::Linear(cd) => cd * l12,
            Closed::Bump { w, s, g } => {
                let a = l11 + s;
                if w == 0.0 {
                    return 0.0;
                }
                if a <= 0.0 {
                    // u ≡ 0 and a δ at 0: w·δ(0)·g(0) (only for x = 0 with σb = 0)
                    let g0 = g.eval(0.0);
                    return if g0 == 0.0 {
                        0.0
                    } else {
                        w * g0 * f64::INFINITY
                    };
                }
                let var = ((det(l11, l12, l22) + s * l22) / a).max(0.0);
                w / (2.0 * PI * a).sqrt() * expect_single(&g, var)
            }
            Closed::Const { c, g } => c * expect_single(&g, l22),
            Closed::SignBounded { c0, c1, g } => {
                // E[(c0 + c1 sign u) g(v)] = c0 E[g(v)] + c1 E_v[g(v) (2 P(u > 0 | v) − 1)]
                let base = c0 * expect_single(&g, l22);
                if c1 == 0.0 || l22 <= 0.0 || l11 <= 0.0 {
                    // v ≡ 0: E[sign u] g(0) = 0; u ≡ 0: sign(0) = 0
                    return base;
                }
                let d = det(l11, l12, l22);
                let mut kinks = g.kinks();
                kinks.push(0.0);
                let odd = if d <= 0.0 {
                    // u = (l12/l22) v exactly
                    let sgn = l12.signum();
                    expect_1d(l22, |v| g.eval(v) * sgn * v.signum(), &kinks)
                } else {
                    let scale = l12 / (l22 * d).sqrt();
                    // 2Φ(z) − 1 = erf(z/√2)
                    expect_1d(
                        l22,
                        |v| g.eval(v) * libm::erf(scale * v * FRAC_1_SQRT_2),
                        &kinks,
                    )
                };
                base + c1 * odd
            }
        }
    }
}

impl Lanes3 for Closed {
    /// The forms without integrals (the others are not evaluated in lanes).
    #[inline(always)]
    fn eval(&self, l11: f64, l12: f64, l22: f64) -> f64 {
        match *self {
            Closed::ErfErf(p) => erf_erf(p, l11, l12, l22),
            Closed::BumpBump(p) => bump_bump(p, l11, l12, l22),
            Closed::ReluRelu => relu_relu(l11, l12, l22),
            Closed::Linear(cd) => cd * l12,
            _ => f64::NAN,
        }
    }
}

/// E[(c0 + c1 erf(u/√(2s))) (d0 + d1 erf(v/√(2t)))] = c0 d0 + c1 d1 · 2/π asin(Λ12/√((Λ11 + s)(Λ22 + t)))
/// (Cor. D.2; s = 0 is sign).
#[inline(always)]
fn erf_erf([c0, c1, s, d0, d1, t]: [f64; 6], l11: f64, l12: f64, l22: f64) -> f64 {
    let denom = ((l11 + s) * (l22 + t)).sqrt();
    let odd = if denom > 0.0 {
        2.0 / PI * asin((l12 / denom).clamp(-1.0, 1.0))
    } else {
        0.0
    };
    c0 * d0 + c1 * d1 * odd
}

/// E[w N(u; 0, s) w' N(v; 0, t)] = w w' / (2π √det(Λ + diag(s, t))) (Cor. D.1, S76, S41); +∞
/// where the determinant vanishes.
#[inline(always)]
fn bump_bump([w, s, w2, t]: [f64; 4], l11: f64, l12: f64, l22: f64) -> f64 {
    // density of N(0, Λ + diag(s, t)) at 0
    let d = det(l11, l12, l22) + s * l22 + t * l11 + s * t;
    let ww = w * w2;
    if ww == 0.0 {
        0.0
    } else if d > 0.0 {
        ww / (2.0 * PI * d.sqrt())
    } else {
        ww * f64::INFINITY
    }
}

/// E[max(u, 0) max(v, 0)] = √(Λ11Λ22)/(2π) (sin θ + (π − θ) cos θ), cos θ = Λ12/√(Λ11Λ22).
#[inline(always)]
fn relu_relu(l11: f64, l12: f64, l22: f64) -> f64 {
    let n = (l11 * l22).sqrt();
    let cos = (l12 / n).clamp(-1.0, 1.0);
    let theta = acos(cos);
    let v = n / (2.0 * PI) * ((1.0 - cos * cos).max(0.0).sqrt() + (PI - theta) * cos);
    if n == 0.0 {
        0.0
    } else {
        v
    }
}
