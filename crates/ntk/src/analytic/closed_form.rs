//! Gaussian expectations E[f(u) g(v)], (u, v) ~ N(0, Λ), in closed form where one exists.
//!
//! Every activation and derivative of docs/MATH.md §2 is classified as a [`ScalarFn`]. The closed forms
//! (docs/MATH.md §5):
//!
//! - erf-type × erf-type: f = c0 + c1·erf(z/√(2s)) (erf_m: s = 1/(2m²); sign: s = 0; step = ½ + ½ sign),
//!   E[erf(u/√(2s)) erf(v/√(2s'))] = 2/π · arcsin(Λ12 / √((Λ11 + s)(Λ22 + s'))) (Cor. D.2; the sign
//!   limit s = 0 is the arcsine kernel). A nonlinearity's Σ' takes the argument as Λ12 · r1 r2 with
//!   each point's scale r = 1/√(Λ + s) computed once per point ([`arcsine_scale`],
//!   [`nonlinearity_step`]): a square root and a division per point instead of per pair.
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
    acos, asin, asin_acos, map1, map3, map3_pair, mul_inf_safe, update_state, Lane, Lanes1, Lanes3,
    Lanes3Pair, LanesState, Then,
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

/// The per-point scale of f's arcsine kernel E[f(u) f(v)] (erf-type f: erf_m, sign, step;
/// Cor. D.2): r(Λ) = 1/√(Λ + s) of a point's variance Λ, so that the kernel's argument
/// Λ12/√((Λ11 + s)(Λ22 + s)) is Λ12 · (r1 r2) — a square root and a division per point
/// instead of per pair. `None` for other f.
pub fn arcsine_scale(f: &ScalarFn) -> Option<impl Fn(f64) -> f64> {
    match *f {
        ScalarFn::ErfAffine { s, .. } => Some(move |v: f64| 1.0 / (v + s).sqrt()),
        _ => None,
    }
}

/// A nonlinearity's step of a block's state in one pass in SIMD lanes, where its expectations
/// are closed forms without integrals (with [`Method::Auto`]): Σ ← E[f(u) f(v)], I ← I ·
/// E[g1(u) g2(v)] and the swapped pairs' I ← I · E[g1(v) g2(u)] (0 · ∞ = 0), or without
/// `derivs` (the NNGP) I ← 0, after the step `pre` (a Dense map before it, in the same pass, or
/// [`Unchanged`](super::lanes::Unchanged)). `variances` are both points' variances Λ11, Λ22 pair by pair,
/// `scales` their [`arcsine_scale`]s (empty where not computed). The derivative kernels are
/// the values of [`pair_expectations`] bit for bit, and so is Σ without scales; with scales, an
/// arcsine kernel takes its argument as Λ12 (r1 r2) (within a few ulp of the quotient; `
/// erf_erf_scaled`). Returns false, changing nothing, where a form is not one of those.
#[allow(clippy::too_many_arguments)]
pub fn nonlinearity_step(
    pre: impl LanesState + Copy,
    f: &ScalarFn,
    derivs: Option<[&ScalarFn; 2]>,
    method: Method,
    [l11, l22]: [&[f64]; 2],
    scales: [&[f64]; 2],
    k12: &mut [f64],
    ntk: &mut [f64],
    swapped: &mut [f64],
) -> bool {
    if method != Method::Auto {
        return false;
    }
    let (Some(phi), g) = (Closed::of(f, f), derivs.map(|[g1, g2]| Closed::of(g1, g2))) else {
        return false;
    };
    let scaled = scales.iter().all(|r| !r.is_empty() && r.len() == l11.len());
    let points = if scaled {
        [l11, l22, scales[0], scales[1]]
    } else {
        [l11, l22, l11, l22]
    };
    // one loop for each pair of forms (each inlined into it), the orders as selects
    macro_rules! run {
        ($lanes:expr) => {
            update_state(points, k12, ntk, swapped, Then(pre, $lanes))
        };
    }
    // φ's arcsine kernel with or without the points' scales, then the derivative kernel
    macro_rules! with_phi {
        ($p:expr, $make:expr) => {
            if scaled {
                run!($make(ErfErfScaled($p)))
            } else {
                run!($make(ErfErfForm($p)))
            }
        };
    }
    let (swap_phi, swap_g) = (phi.1, g.flatten().is_some_and(|g| g.1));
    match (phi.0, g.map(|g| g.map(|g| g.0))) {
        // ReLU with its step derivative: the pass of `pair_expectations_with_derivative`
        (Closed::ReluRelu, Some(Some(Closed::ErfErf(p)))) if p[2] == 0.0 && p[5] == 0.0 => {
            run!(ReluStepLanes(ReluWithStep(p)))
        }
        (Closed::ErfErf(p), None) => with_phi!(p, |f| NngpLanes(f, swap_phi)),
        (Closed::ReluRelu, None) => run!(NngpLanes(ReluForm, swap_phi)),
        (Closed::ErfErf(p), Some(Some(Closed::ErfErf(q)))) => with_phi!(p, |f| NtkLanes {
            phi: (f, swap_phi),
            g: (ErfErfForm(q), swap_g),
        }),
        (Closed::ErfErf(p), Some(Some(Closed::BumpBump(q)))) => with_phi!(p, |f| NtkLanes {
            phi: (f, swap_phi),
            g: (BumpBumpForm(q), swap_g),
        }),
        (Closed::ReluRelu, Some(Some(Closed::BumpBump(q)))) => run!(NtkLanes {
            phi: (ReluForm, swap_phi),
            g: (BumpBumpForm(q), swap_g),
        }),
        _ => return false,
    }
    true
}

/// A closed form in lanes at a pair's covariance and both points' scales (forms without scales
/// ignore them).
trait PointForm {
    /// The value at (Λ11, Λ12, Λ22) with the scales r1, r2.
    fn eval(&self, l11: f64, l12: f64, l22: f64, r1: f64, r2: f64) -> f64;
}

/// A closed form at the covariance and scales of a pair, or (`swap`) of the swapped pair (as
/// [`pair_expectations`] evaluates a form found for (g, f)): the order as a select of the
/// arguments.
#[inline(always)]
fn form_at(form: &impl PointForm, swap: bool, [l11, l22, r1, r2]: [f64; 4], l12: f64) -> f64 {
    let (a, c, r, q) = if swap {
        (l22, l11, r2, r1)
    } else {
        (l11, l22, r1, r2)
    };
    form.eval(a, l12, c, r, q)
}

/// The arcsine kernel [`erf_erf`].
#[derive(Clone, Copy)]
struct ErfErfForm([f64; 6]);

impl PointForm for ErfErfForm {
    #[inline(always)]
    fn eval(&self, l11: f64, l12: f64, l22: f64, _: f64, _: f64) -> f64 {
        erf_erf(self.0, l11, l12, l22)
    }
}

/// The arcsine kernel with the points' scales, [`erf_erf_scaled`].
#[derive(Clone, Copy)]
struct ErfErfScaled([f64; 6]);

impl PointForm for ErfErfScaled {
    #[inline(always)]
    fn eval(&self, l11: f64, l12: f64, l22: f64, r1: f64, r2: f64) -> f64 {
        erf_erf_scaled(self.0, l11, l12, l22, r1, r2)
    }
}

/// The Gaussian density [`bump_bump`].
#[derive(Clone, Copy)]
struct BumpBumpForm([f64; 4]);

impl PointForm for BumpBumpForm {
    #[inline(always)]
    fn eval(&self, l11: f64, l12: f64, l22: f64, _: f64, _: f64) -> f64 {
        bump_bump(self.0, l11, l12, l22)
    }
}

/// The arc-cosine kernel [`relu_relu`].
#[derive(Clone, Copy)]
struct ReluForm;

impl PointForm for ReluForm {
    #[inline(always)]
    fn eval(&self, l11: f64, l12: f64, l22: f64, _: f64, _: f64) -> f64 {
        relu_relu(l11, l12, l22)
    }
}

/// The NNGP's step: Σ ← E[f(u) f(v)], I ← 0.
struct NngpLanes<F>(F, bool);

impl<F: PointForm> LanesState for NngpLanes<F> {
    #[inline(always)]
    fn eval(&self, point: [f64; 4], k12: f64, _: f64, _: f64) -> [f64; 3] {
        [form_at(&self.0, self.1, point, k12), 0.0, 0.0]
    }
}

/// The step with a derivative kernel G = E[g1 g2]: Σ ← E[f(u) f(v)], I ← I · G(Λ), swapped
/// I ← I · G(Λ with its variances swapped).
struct NtkLanes<F, G> {
    phi: (F, bool),
    g: (G, bool),
}

impl<F: PointForm, G: PointForm> LanesState for NtkLanes<F, G> {
    #[inline(always)]
    fn eval(&self, point: [f64; 4], k12: f64, ntk: f64, swapped: f64) -> [f64; 3] {
        let (phi, g) = (&self.phi, &self.g);
        let e = form_at(&g.0, g.1, point, k12);
        let e_swapped = form_at(&g.0, !g.1, point, k12);
        [
            form_at(&phi.0, phi.1, point, k12),
            mul_inf_safe(ntk, e),
            mul_inf_safe(swapped, e_swapped),
        ]
    }
}

/// ReLU's step with its step derivative ([`ReluWithStep`] shares their work).
struct ReluStepLanes(ReluWithStep);

impl LanesState for ReluStepLanes {
    #[inline(always)]
    fn eval(&self, [l11, l22, ..]: [f64; 4], k12: f64, ntk: f64, swapped: f64) -> [f64; 3] {
        let (relu, e) = self.0.eval(l11, k12, l22);
        let e_swapped = erf_erf(self.0 .0, l22, k12, l11);
        [relu, mul_inf_safe(ntk, e), mul_inf_safe(swapped, e_swapped)]
    }
}

/// The arc-cosine kernel [`relu_relu`] and the sign/step kernel [`erf_erf`] (s = t = 0, its
/// coefficients here) of the same covariance: both take the cosine Λ12/√(Λ11Λ22) (√((Λ11 + 0)
/// (Λ22 + 0)) is √(Λ11Λ22), or both vanish) and its arcsine and arccosine share their work
/// ([`asin_acos`]).
#[derive(Clone, Copy)]
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

/// [`erf_erf`] with each point's scale r = 1/√(Λ + s) computed once ([`arcsine_scale`]): the
/// arcsine's argument is Λ12 · (r1 r2) (r1 r2 = r2 r1: symmetric in the pair bit for bit). For
/// sign and step (s = t = 0) it is exactly ±1 at x' = ±x (Λ11 = Λ22 = ±Λ12), as the quotient
/// gives, and the odd part vanishes where a variance does (r = ∞).
#[inline(always)]
fn erf_erf_scaled(
    [c0, c1, s, d0, d1, t]: [f64; 6],
    l11: f64,
    l12: f64,
    l22: f64,
    r1: f64,
    r2: f64,
) -> f64 {
    let r = r1 * r2;
    let parallel = s == 0.0 && t == 0.0 && l12.abs() == l11 && l11 == l22;
    let cos = if parallel {
        1.0f64.copysign(l12)
    } else {
        (l12 * r).clamp(-1.0, 1.0)
    };
    let odd = if r.is_finite() {
        2.0 / PI * asin(cos)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Covariances of pairs of points (Λ11, Λ12, Λ22), deterministic, with |Λ12| up to 0.99 of
    /// √(Λ11Λ22), variances from 1e-3 to 1e3, and the cases the closed forms treat apart:
    /// x' = x, x' = −x, collinear points, a zero variance.
    fn covariances() -> Vec<[f64; 3]> {
        let mut out: Vec<[f64; 3]> = (0..2000)
            .map(|k| {
                let k = k as f64;
                let (a, c) = (
                    10f64.powf(3.0 * (k * 0.37).sin()),
                    10f64.powf(3.0 * (k * 0.71).cos()),
                );
                let cos = 0.99 * (k * 1.3).sin();
                [a, cos * (a * c).sqrt(), c]
            })
            .collect();
        for v in [0.37, 1.0, 2.5e3] {
            out.extend([
                [v, v, v],
                [v, -v, v],
                [v, 2.0 * v, 4.0 * v],
                [0.0, 0.0, v],
                [v, 0.0, 0.0],
            ]);
        }
        out.push([0.0; 3]);
        out
    }

    /// The arcsine kernel from the points' scales is the quotient form to a few ulp of its
    /// argument (1e-14 of the terms' scale away from |cos| = 1, 1e-7 near it, where the
    /// arcsine's slope is unbounded), symmetric in the pair bit for bit, exact
    /// at x' = ±x for sign and step (1 and −1: the quotient's values), and 0 in its odd part
    /// where a variance vanishes.
    #[test]
    fn scaled_arcsine_kernel_is_the_quotient_form() {
        for act in [
            Activation::Sign,
            Activation::Step,
            Activation::Erf { m: 1.0 },
            Activation::Erf { m: 3.0 },
        ] {
            let f = ScalarFn::activation(act);
            let Some((Closed::ErfErf(p), false)) = Closed::of(&f, &f) else {
                panic!("{act}: an arcsine kernel");
            };
            let scale = arcsine_scale(&f).expect("erf-type");
            for [l11, l12, l22] in covariances() {
                let (r1, r2) = (scale(l11), scale(l22));
                let scaled = erf_erf_scaled(p, l11, l12, l22, r1, r2);
                let quotient = erf_erf(p, l11, l12, l22);
                let swapped = erf_erf_scaled(p, l22, l12, l11, r2, r1);
                assert_eq!(
                    scaled.to_bits(),
                    swapped.to_bits(),
                    "{act} {l11} {l12} {l22}"
                );
                let exact = p[2] == 0.0 && (l12.abs() == l11 && l11 == l22 || l11 * l22 == 0.0);
                if exact {
                    assert_eq!(scaled, quotient, "{act} {l11} {l12} {l22}");
                } else {
                    let cos = l12 / ((l11 + p[2]) * (l22 + p[5])).sqrt();
                    let tol = if cos.abs() < 0.995 { 1e-14 } else { 1e-7 };
                    // relative to the terms' scale |c0 d0| + |c1 d1| (step's c0 d0 = 1/4 and
                    // its odd part cancel near cos = −1)
                    let terms = (p[0] * p[3]).abs() + (p[1] * p[4]).abs();
                    assert!(
                        (scaled - quotient).abs() <= tol * terms,
                        "{act} {l11} {l12} {l22}: {scaled} vs {quotient}"
                    );
                }
            }
        }
    }

    /// The one-pass step of a nonlinearity equals the expectations of the block path: the
    /// derivative kernels times I (and, on the swapped covariance, times the swapped I) bit for
    /// bit, Σ bit for bit without scales and to 1e-14 with them — for sign, step, erf and ReLU,
    /// the NNGP, the NTK and an SG-NTK (g1 ≠ g2, so the swapped order matters).
    #[test]
    fn nonlinearity_step_is_the_block_path() {
        let rule = GaussHermiteRule::new(Method::Auto.degree()).unwrap();
        let cov = covariances();
        let [l11, l12, l22]: [Vec<f64>; 3] = [0, 1, 2].map(|i| cov.iter().map(|c| c[i]).collect());
        let n = l12.len();
        let ntk0: Vec<f64> = (0..n).map(|k| 1.0 + (k as f64 * 0.3).sin().abs()).collect();
        let swapped0: Vec<f64> = (0..n).map(|k| 2.0 + (k as f64 * 0.7).cos()).collect();
        let mut stepped = 0;
        for act in [
            Activation::Sign,
            Activation::Step,
            Activation::Erf { m: 2.0 },
            Activation::Relu,
        ] {
            let f = ScalarFn::activation(act);
            for g in [
                None,
                Some(Surrogate::True),
                Some(Surrogate::ErfPrime { a: 2.0 }),
            ] {
                let derivs = g.map(|g| {
                    [
                        ScalarFn::derivative(act, Surrogate::True),
                        ScalarFn::derivative(act, g),
                    ]
                });
                let expected = |a: &[f64], c: &[f64], f: &ScalarFn, g: &ScalarFn| {
                    let mut out = vec![0.0; n];
                    pair_expectations(f, g, [a, &l12, c], Method::Auto, &rule, &mut out);
                    out
                };
                let sigma = expected(&l11, &l22, &f, &f);
                let scale = arcsine_scale(&f);
                let r: [Vec<f64>; 2] = [&l11, &l22].map(|l| match &scale {
                    Some(scale) => l.iter().map(|&v| scale(v)).collect(),
                    None => Vec::new(),
                });
                for scaled in [false, true] {
                    let (mut k12, mut ntk, mut swapped) =
                        (l12.clone(), ntk0.clone(), swapped0.clone());
                    let scales = if scaled {
                        [&r[0][..], &r[1][..]]
                    } else {
                        [&[][..]; 2]
                    };
                    let ran = nonlinearity_step(
                        crate::analytic::lanes::Unchanged,
                        &f,
                        derivs.as_ref().map(|[g1, g2]| [g1, g2]),
                        Method::Auto,
                        [&l11, &l22],
                        scales,
                        &mut k12,
                        &mut ntk,
                        &mut swapped,
                    );
                    // ReLU with an erf' surrogate: E[step(u) erf'(v)] is an integral
                    if !ran {
                        assert!(
                            act == Activation::Relu && g == Some(Surrogate::ErfPrime { a: 2.0 }),
                            "{act} {g:?}"
                        );
                        continue;
                    }
                    stepped += 1;
                    let (e, e_swapped) = match &derivs {
                        Some([g1, g2]) => {
                            (expected(&l11, &l22, g1, g2), expected(&l22, &l11, g1, g2))
                        }
                        None => (vec![0.0; n], vec![0.0; n]),
                    };
                    for b in 0..n {
                        let at = format!("{act} {g:?} scaled {scaled} at {:?}", cov[b]);
                        let (want_i, want_w) = if derivs.is_some() {
                            (
                                mul_inf_safe(ntk0[b], e[b]),
                                mul_inf_safe(swapped0[b], e_swapped[b]),
                            )
                        } else {
                            (0.0, 0.0)
                        };
                        assert_eq!(ntk[b].to_bits(), want_i.to_bits(), "I {at}");
                        assert_eq!(swapped[b].to_bits(), want_w.to_bits(), "swapped I {at}");
                        if scaled && scale.is_some() {
                            assert!(
                                (k12[b] - sigma[b]).abs() <= 1e-7 * sigma[b].abs().max(1e-3),
                                "Σ {at}"
                            );
                        } else {
                            assert_eq!(k12[b].to_bits(), sigma[b].to_bits(), "Σ {at}");
                        }
                    }
                }
            }
        }
        assert_eq!(stepped, 2 * (3 * 3 + 2));
    }
}
