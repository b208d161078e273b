//! Numerical Gaussian expectations: 2-D Gauss–Hermite (any (φ, g1, g2)) and adaptive
//! Gauss–Legendre for 1-D expectations of kinked functions.
//!
//! Nodes come from the `gauss-quad` crate (Golub–Welsch for Hermite, Bogaert for Legendre).

use std::f64::consts::{PI, SQRT_2};
use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};

use gauss_quad::hermite::GaussHermite;
use gauss_quad::legendre::GaussLegendre;

use super::KernelError;

/// A Gauss–Hermite rule for the weight e^(−t²): nodes t_i and weights w_i, Σ w_i = √π.
#[derive(Clone, Debug, PartialEq)]
pub struct GaussHermiteRule {
    nodes: Vec<f64>,
    weights: Vec<f64>,
}

impl GaussHermiteRule {
    /// The rule with `degree` nodes (exact for polynomials of degree 2·degree − 1).
    pub fn new(degree: usize) -> Result<Arc<Self>, KernelError> {
        let deg = NonZeroUsize::new(degree).ok_or(KernelError::BadParameter {
            name: "quadrature degree",
            value: 0.0,
            requirement: "must be >= 1",
        })?;
        let rule = GaussHermite::new(deg);
        let (nodes, weights) = rule.as_node_weight_pairs().iter().copied().unzip();
        Ok(Arc::new(GaussHermiteRule { nodes, weights }))
    }

    /// Number of nodes per dimension.
    pub fn degree(&self) -> usize {
        self.nodes.len()
    }
}

/// E[F(u, v)] for (u, v) ~ N(0, Λ), Λ = [[l11, l12], [l12, l22]], by tensor Gauss–Hermite.
///
/// With the Cholesky factor Λ = C Cᵀ (C lower triangular) and z = √2 t,
///
/// ```text
/// E[F] ≈ 1/π Σ_ij w_i w_j F(√2 C11 t_i, √2 (C21 t_i + C22 t_j)).
/// ```
///
/// Singular Λ (x = x', C22 = 0) is handled by the same formula; Λ11 = 0 factors through v alone.
pub fn expect_2d(
    rule: &GaussHermiteRule,
    l11: f64,
    l12: f64,
    l22: f64,
    f: impl Fn(f64, f64) -> f64,
) -> f64 {
    let (c11, c21, c22) = cholesky(l11, l12, l22);
    let mut total = 0.0;
    for (&ti, &wi) in rule.nodes.iter().zip(&rule.weights) {
        let u = SQRT_2 * c11 * ti;
        let vi = SQRT_2 * c21 * ti;
        let mut inner = 0.0;
        for (&tj, &wj) in rule.nodes.iter().zip(&rule.weights) {
            inner += wj * f(u, vi + SQRT_2 * c22 * tj);
        }
        total += wi * inner;
    }
    total / PI
}

const GL_ORDER: usize = 10;
/// Standard-normal range integrated by [`expect_1d`]: the mass beyond ±9 is 2·10⁻¹⁹.
const T_MAX: f64 = 9.0;
/// Acceptance threshold of one bisection level (absolute, the integrands are O(1)).
const ABS_TOL: f64 = 1e-15;
/// Outer tolerance of [`expect_2d_adaptive`] (its inner integrals carry ~1e-16 noise).
const OUTER_TOL: f64 = 1e-14;
/// Pieces are at most one standard deviation long; 2^-16 of that is the finest panel.
const MAX_DEPTH: u32 = 16;

fn legendre() -> &'static GaussLegendre {
    static RULE: OnceLock<GaussLegendre> = OnceLock::new();
    RULE.get_or_init(|| GaussLegendre::new(NonZeroUsize::new(GL_ORDER).expect("nonzero")))
}

fn adaptive(
    rule: &GaussLegendre,
    a: f64,
    b: f64,
    whole: f64,
    f: &dyn Fn(f64) -> f64,
    tol: f64,
    depth: u32,
) -> f64 {
    let m = 0.5 * (a + b);
    let left = rule.integrate(a, m, f);
    let right = rule.integrate(m, b, f);
    let halves = left + right;
    if depth >= MAX_DEPTH || (halves - whole).abs() <= tol {
        return halves;
    }
    adaptive(rule, a, m, left, f, tol, depth + 1) + adaptive(rule, m, b, right, f, tol, depth + 1)
}

/// E_{Y ~ N(0, var)}[h(Y)] for a bounded h that is smooth except at `kinks`.
///
/// In standard units t = y/√var the integral ∫ h(√var t) φ(t) dt over [−9, 9] is split at the kinks
/// and at unit intervals, and every piece is integrated by adaptive bisection with a 10-point
/// Gauss–Legendre rule until two levels agree to 1e-15. var = 0 gives h(0).
pub fn expect_1d(var: f64, h: impl Fn(f64) -> f64, kinks: &[f64]) -> f64 {
    expect_1d_tol(var, h, kinks, ABS_TOL)
}

fn expect_1d_tol(var: f64, h: impl Fn(f64) -> f64, kinks: &[f64], tol: f64) -> f64 {
    if var <= 0.0 {
        return h(0.0);
    }
    let sd = var.sqrt();
    let norm = 1.0 / (2.0 * PI).sqrt();
    let f = |t: f64| h(sd * t) * norm * (-0.5 * t * t).exp();
    let mut breaks: Vec<f64> = (-(T_MAX as i64)..=(T_MAX as i64))
        .map(|k| k as f64)
        .collect();
    breaks.extend(kinks.iter().map(|k| k / sd).filter(|t| t.abs() < T_MAX));
    breaks.sort_by(|a, b| a.total_cmp(b));
    breaks.dedup();
    let rule = legendre();
    breaks
        .windows(2)
        .map(|w| {
            let whole = rule.integrate(w[0], w[1], &f);
            adaptive(rule, w[0], w[1], whole, &f, tol, 0)
        })
        .sum()
}

/// E[f(u) g(v)] for (u, v) ~ N(0, Λ) by nested adaptive 1-D quadrature, for sharp or kinked
/// integrands where tensor Gauss–Hermite converges slowly (erf(m z) with m ≳ 1, kinked surrogates).
///
/// With Λ = C Cᵀ, u = C11 z1 and v = C21 z1 + C22 z2 (z standard normal):
///
/// ```text
/// E[f(u) g(v)] = E_{z1}[ f(C11 z1) · E_{Y ~ N(0, C22²)}[g(C21 z1 + Y)] ],
/// ```
///
/// both expectations by [`expect_1d`]'s scheme, split at the (shifted) kinks of f and g.
pub fn expect_2d_adaptive(
    l11: f64,
    l12: f64,
    l22: f64,
    f: impl Fn(f64) -> f64,
    f_kinks: &[f64],
    g: impl Fn(f64) -> f64,
    g_kinks: &[f64],
) -> f64 {
    if l11 <= 0.0 {
        return f(0.0) * expect_1d(l22, g, g_kinks);
    }
    let c11 = l11.sqrt();
    let c21 = l12 / c11;
    let c22_sq = (l22 - c21 * c21).max(0.0);
    let mut outer_kinks: Vec<f64> = f_kinks.iter().map(|k| k / c11).collect();
    if c21 != 0.0 {
        outer_kinks.extend(g_kinks.iter().map(|k| k / c21));
    }
    let inner = |z1: f64| {
        let shift = c21 * z1;
        let kinks: Vec<f64> = g_kinks.iter().map(|k| k - shift).collect();
        expect_1d(c22_sq, |y| g(shift + y), &kinks)
    };
    expect_1d_tol(1.0, |z1| f(c11 * z1) * inner(z1), &outer_kinks, OUTER_TOL)
}

/// Radius, in standard units, of the disk the trapezoid rule of [`expect_2d_smooth`] sums over:
/// the 2-D standard normal puts e^(−T²/2) ≈ 9·10⁻¹⁷ of its mass outside it.
const DISK: f64 = 8.6;
/// The largest step of [`expect_2d_smooth`]: the trapezoid sum of the normal density itself is
/// off by 2e^(−2π²/h²) (5·10⁻¹⁴ at h = 0.8, squared at every halving).
const MAX_STEP: f64 = 0.8;
/// Nodes per dimension beyond which [`expect_2d_smooth`] gives up (then the nested adaptive rule
/// takes over): 2T/h ≤ 512.
const MAX_NODES: f64 = 512.0;
/// Relative difference of two successive trapezoid sums at which the finer one is accepted: for
/// an integrand analytic in a strip the error e^(−2πd/h) squares when h halves, so the finer
/// sum's error is about this squared (measured on tanh, tanh' and the surrogates: differences of
/// 1e-6 to 3e-5 between h and h/2 left errors of 1e-15 to 2e-12 at h/2, well below the square).
const SMOOTH_TOL: f64 = 1e-6;
/// The first step in units of 1/√max(Λ11, Λ22) (capped at `MAX_STEP`): with d ∝ 1/√Λ the first
/// sum's error e^(−2πd/h) is then about 1e-8 for tanh and tanh' (measured: 1e-6 to 6e-5 at
/// 0.5/√Λ), so that the first halving is accepted and costs about 4× the nodes of the first
/// sum, not 16× as with a second halving.
const FIRST_STEP: f64 = 0.35;

/// E[f(u) g(v)] for (u, v) ~ N(0, Λ), Λ = [[l11, l12], [l12, l22]], for f and g analytic in a
/// strip around the real axis (tanh, tanh', sigmoid', atan', Gaussians; no kinks), by the
/// trapezoid rule in standard units with error control; `None` where it does not converge
/// within `MAX_NODES` nodes per dimension.
///
/// With Λ = C Cᵀ (C lower triangular), u = C11 z1, v = C21 z1 + C22 z2 and φ the standard
/// normal density,
///
/// ```text
/// E[f(u) g(v)] = ∫∫ f(C11 z1) g(C21 z1 + C22 z2) φ(z1) φ(z2) dz1 dz2
///              ≈ T(h) = h² Σ_{k,l} f(C11 kh) g(C21 kh + C22 lh) φ(kh) φ(lh),   (kh)² + (lh)² ≤ T²,
/// ```
///
/// which converges geometrically, like e^(−2πd/h), for an integrand analytic in the strip
/// |Im z| < d (e.g. tanh(C z): d = π/(2C)). The step starts at min(0.8, 0.35/√max(Λ11, Λ22))
/// and halves (the nodes are nested: each halving adds only the new ones) until two successive
/// sums differ by at most 10⁻⁶ of the sum of |f g|; then the error of the finer one is about the
/// square of that (the first step is chosen so that the first halving is accepted: measured
/// differences ≤ 3e-8 on the tanh NTK's integrands).
///
/// `f` and `g` map a slice of arguments to their values in place (one row of nodes at a time,
/// so that they can run in SIMD lanes). With `symmetric` — f and g both even or both odd, so
/// that f(−u) g(−v) = f(u) g(v) — the nodes (z1, z2) and (−z1, −z2) have the same term: the
/// rows z1 > 0 count twice and the rows z1 < 0 are not evaluated (the same nodes and sum, to
/// rounding, at half the cost).
pub fn expect_2d_smooth(
    l11: f64,
    l12: f64,
    l22: f64,
    symmetric: bool,
    f: impl Fn(&mut [f64]),
    g: impl Fn(&mut [f64]),
) -> Option<f64> {
    let (c11, c21, c22) = cholesky(l11, l12, l22);
    let scale = l11.max(l22).max(0.0).sqrt();
    let mut h = if scale > 0.0 {
        (FIRST_STEP / scale).min(MAX_STEP)
    } else {
        MAX_STEP
    };
    let norm = 1.0 / (2.0 * PI).sqrt();
    // φ(kh) for |k| ≤ K, at index K + k (K ≤ MAX_NODES / 2)
    let mut density = [0.0; MAX_NODES as usize + 3];
    // The sums over the nodes of step h that are not nodes of step 2h (all of them at the
    // first level): (Σ F, Σ |F|) without the factor h².
    // one row of arguments / values (at most MAX_NODES + 1 per dimension)
    let mut row = [0.0; MAX_NODES as usize + 3];
    let mut fs = [0.0; MAX_NODES as usize + 3];
    let mut sum = |h: f64, first: bool| {
        let kmax = (DISK / h) as i64;
        let nodes = (2 * kmax + 1) as usize;
        for k in -kmax..=kmax {
            let z = k as f64 * h;
            density[(kmax + k) as usize] = norm * (-0.5 * z * z).exp();
            fs[(kmax + k) as usize] = c11 * z;
        }
        // the rows z1 = kh evaluated: k ≥ 0 when symmetric
        let first_row = if symmetric { 0 } else { -kmax };
        f(&mut fs[(kmax + first_row) as usize..nodes]);
        let (mut total, mut size) = (0.0, 0.0);
        for k in first_row..=kmax {
            let z1 = k as f64 * h;
            let weight = if symmetric && k != 0 { 2.0 } else { 1.0 };
            let fu = weight * fs[(kmax + k) as usize] * density[(kmax + k) as usize];
            if fu == 0.0 {
                continue;
            }
            let lmax = ((DISK * DISK - z1 * z1).max(0.0).sqrt() / h) as i64;
            // on a refinement, rows of even k hold old nodes at even l
            let (start, stride) = if !first && k % 2 == 0 {
                (-lmax + ((lmax + 1) % 2), 2)
            } else {
                (-lmax, 1)
            };
            let shift = c21 * z1;
            let mut count = 0;
            let mut l = start;
            while l <= lmax {
                row[count] = shift + c22 * (l as f64 * h);
                count += 1;
                l += stride;
            }
            g(&mut row[..count]);
            let (mut inner, mut inner_abs) = (0.0, 0.0);
            for (n, gv) in row[..count].iter().enumerate() {
                let v = gv * density[(kmax + start + n as i64 * stride) as usize];
                inner += v;
                inner_abs += v.abs();
            }
            total += fu * inner;
            size += fu.abs() * inner_abs;
        }
        (total, size)
    };
    if 2.0 * DISK / h > MAX_NODES {
        return None;
    }
    let (mut total, mut size) = sum(h, true);
    let mut last = h * h * total;
    // while the halved step keeps 2T/h ≤ MAX_NODES
    while 4.0 * DISK / h <= MAX_NODES {
        h *= 0.5;
        let (t, s) = sum(h, false);
        total += t;
        size += s;
        let next = h * h * total;
        if !next.is_finite() {
            return None;
        }
        if (next - last).abs() <= SMOOTH_TOL * h * h * size {
            return Some(next);
        }
        last = next;
    }
    None
}

/// The Cholesky factor (c11, c21, c22) of the 2×2 covariance [[Λ11, Λ12], [Λ12, Λ22]]
/// (lower triangular, C Cᵀ = Λ; a degenerate Λ11 = 0 gives the first column 0, a rounding-negative
/// Schur complement is clamped to 0).
fn cholesky(l11: f64, l12: f64, l22: f64) -> (f64, f64, f64) {
    if l11 > 0.0 {
        let c11 = l11.sqrt();
        let c21 = l12 / c11;
        (c11, c21, (l22 - c21 * c21).max(0.0).sqrt())
    } else {
        (0.0, 0.0, l22.max(0.0).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_hermite_moments() {
        let rule = GaussHermiteRule::new(20).unwrap();
        // E[u v] = Λ12, E[u² v²] = Λ11Λ22 + 2Λ12²
        let (a, b, c) = (0.7, -0.3, 1.9);
        assert!((expect_2d(&rule, a, b, c, |u, v| u * v) - b).abs() < 1e-14);
        let want = a * c + 2.0 * b * b;
        assert!((expect_2d(&rule, a, b, c, |u, v| u * u * v * v) - want).abs() < 1e-13);
        // degenerate Λ (x = x'): E[u⁴] = 3Λ²
        assert!((expect_2d(&rule, a, a, a, |u, v| u * u * v * v) - 3.0 * a * a).abs() < 1e-13);
        // Λ11 = 0
        assert!((expect_2d(&rule, 0.0, 0.0, c, |_, v| v * v) - c).abs() < 1e-13);
    }

    #[test]
    fn one_d_kinked_expectations() {
        // E[max(0, 1 − |Y|)] for Y ~ N(0, σ²): 2[(Φ(1/σ) − ½) − σ(φ(0) − φ(1/σ))]
        for sd in [0.05_f64, 0.3, 1.0, 4.0] {
            let got = expect_1d(sd * sd, |y| (1.0 - y.abs()).max(0.0), &[-1.0, 0.0, 1.0]);
            let phi = |z: f64| (-0.5 * z * z).exp() / (2.0 * PI).sqrt();
            let cdf = |z: f64| 0.5 * (1.0 + libm::erf(z / SQRT_2));
            let want = 2.0 * ((cdf(1.0 / sd) - 0.5) - sd * (phi(0.0) - phi(1.0 / sd)));
            assert!((got - want).abs() < 1e-14, "sd {sd}: {got} vs {want}");
            // boxcar: P(|Y| ≤ 1)
            let got = expect_1d(
                sd * sd,
                |y| if y.abs() <= 1.0 { 1.0 } else { 0.0 },
                &[-1.0, 1.0],
            );
            assert!((got - libm::erf(1.0 / (sd * SQRT_2))).abs() < 1e-14);
        }
        assert_eq!(expect_1d(0.0, |y| y + 2.0, &[]), 2.0);
    }
}
