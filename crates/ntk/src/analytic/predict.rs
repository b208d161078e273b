//! GP predictions of the linearized infinite-width network (docs/MATH.md §6, Sec. C.2.1, Thm. 2.3).
//!
//! With K the driving kernel (NTK or SG-NTK, possibly asymmetric), Σ the NNGP (f_0 ~ GP(0, Σ)),
//! K_XX = K(X, X), d training points and
//!
//! ```text
//! A(x) = K(x, X) K_XX⁻¹ (Id − exp(−η K_XX t / d))     [or (Id − η K_XX/d)^t after t steps]
//! μ_t(x)     = A(x) Y
//! Γ_t(x, x') = Σ(x,x') − A(x) Σ(X,x') − Σ(x,X) A(x')ᵀ + A(x) Σ(X,X) A(x')ᵀ
//! ```
//!
//! (S18–S20 with the transposes of an asymmetric kernel in the right places). t = ∞ drops the
//! exponential. Every K_XX⁻¹ is an LU solve.
//!
//! Numerical safeguards: K_XX must be positive definite with a condition estimate of at most
//! [`MAX_CONDITION`]; the exponential is replaced by its t = ∞ limit 0 once
//! ‖e^{−η K t/d}‖₂ ≤ e^{−η t λ_min/d} is below f64 rounding (λ_min of the symmetrized K), so
//! the matrix exponential only ever sees arguments of norm ≤ 40 · [`MAX_CONDITION`]; the
//! discrete power is taken by repeated squaring for any whole t; a mean or covariance that is not
//! finite, or a variance negative beyond rounding, is an error.

use serde::{Deserialize, Serialize};
use sgntk_model::nalgebra::{DMatrix, DVector, SymmetricEigen};

use super::compose::Kernels;
use super::matrix::{check_finite, check_kernel_values, find_entry, kernel_matrix};
use super::spec::KernelKind;
#[cfg(doc)]
use super::spec::KernelSpec;
use super::KernelError;

/// Training time of the linearized dynamics.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum TrainTime {
    /// t = ∞.
    Infinite,
    /// Finite time t with learning rate η.
    Finite {
        /// Time (number of steps when `discrete`).
        t: f64,
        /// Learning rate η.
        lr: f64,
        /// Use (Id − η K_XX/d)^t (t discrete steps, t a non-negative integer) instead of
        /// exp(−η K_XX t/d).
        discrete: bool,
    },
}

/// Mean and covariance of the GP over test points.
#[derive(Clone, Debug, PartialEq)]
pub struct GpPrediction {
    /// μ(x): one row per test point, one column per target column.
    pub mean: DMatrix<f64>,
    /// Γ(x, x') over the test points (symmetric).
    pub cov: DMatrix<f64>,
}

impl GpPrediction {
    /// μ(x): one row per test point, one column per target column (the field `mean`).
    pub fn mean(&self) -> &DMatrix<f64> {
        &self.mean
    }

    /// Γ(x, x') over the test points (the field `cov`).
    pub fn cov(&self) -> &DMatrix<f64> {
        &self.cov
    }

    /// A symmetric square root R of the covariance (R R = Γ, eigenvalues below 0 by rounding
    /// set to 0): GP samples are μ + R z with z ~ N(0, I) per target column.
    pub fn cov_root(&self) -> DMatrix<f64> {
        let sym = (&self.cov + self.cov.transpose()) * 0.5;
        let eig = SymmetricEigen::new(sym);
        let sqrt = eig.eigenvalues.map(|v| v.max(0.0).sqrt());
        let scaled = &eig.eigenvectors * DMatrix::from_diagonal(&sqrt);
        scaled * eig.eigenvectors.transpose()
    }

    /// Standard deviations √max(Γ(x, x), 0): a variance below 0 by rounding (at most
    /// [`VARIANCE_TOLERANCE`] relative, which [`predict`] checks) gives 0; NaN stays NaN.
    pub fn std(&self) -> DVector<f64> {
        self.cov
            .diagonal()
            .map(|v| if v.is_nan() { v } else { v.max(0.0).sqrt() })
    }
}

/// The largest accepted condition estimate ‖K‖₂ / λ_min((K + Kᵀ)/2) of K(X, X) (an upper bound
/// on σ_max/σ_min of K). An f64 solve loses about log10 of the condition number of its ~16
/// digits; 1e10 keeps ~6 (two training points 1e-7 apart give ~2e14 and means off by 1e5).
pub const MAX_CONDITION: f64 = 1e10;

/// Relative size of a negative variance that is still rounding: Γ(x, x) is a sum of terms of
/// size `scale`, each accurate to about [`MAX_CONDITION`] · ε relative.
pub const VARIANCE_TOLERANCE: f64 = MAX_CONDITION * f64::EPSILON;

/// s · λ_min beyond which ‖e^{−sK}‖₂ ≤ e^{−s λ_min} < 4.3e-18 is below f64 rounding of
/// Id − e^{−sK}: the result is the t = ∞ one.
const NEGLIGIBLE_DECAY: f64 = 40.0;

fn shape(cond: bool, msg: impl FnOnce() -> String) -> Result<(), KernelError> {
    if cond {
        Ok(())
    } else {
        Err(KernelError::Shape(msg()))
    }
}

/// Checks that the symmetrized S = (K + Kᵀ)/2 is positive definite (Remark E.4) and that K is
/// well enough conditioned to solve with; returns λ_min(S).
///
/// Fails with [`KernelError::SingularKernel`] for ±∞ entries, with
/// [`KernelError::NotPositiveDefinite`] when λ_min ≤ n · ε · |λ_max| (numerically singular or
/// indefinite), and with [`KernelError::IllConditioned`] when ‖K‖₂ / λ_min(S) exceeds
/// [`MAX_CONDITION`] (‖K‖₂ bounded by min(‖K‖_F, √(‖K‖₁ ‖K‖_∞)); since xᵀKx = xᵀSx,
/// σ_min(K) ≥ λ_min(S), so this bounds σ_max/σ_min of K from above, within √n of it for a
/// symmetric K).
pub fn check_positive_definite(k: &DMatrix<f64>) -> Result<f64, KernelError> {
    shape(k.is_square() && k.nrows() > 0, || {
        format!(
            "K(X, X) must be square and non-empty, got {}x{}",
            k.nrows(),
            k.ncols()
        )
    })?;
    if let Some((row, col, _)) = find_entry(k, f64::is_infinite) {
        return Err(KernelError::SingularKernel { row, col });
    }
    check_finite("K(X, X)", k)?;
    let sym = (k + k.transpose()) * 0.5;
    let eig = SymmetricEigen::new(sym).eigenvalues;
    let min = eig.min();
    let max = eig.max();
    let tol = k.nrows() as f64 * f64::EPSILON * max.abs();
    if min <= tol {
        return Err(KernelError::NotPositiveDefinite {
            min_eigenvalue: min,
            max_eigenvalue: max,
        });
    }
    let condition = norm2_bound(k) / min;
    if condition.is_nan() || condition > MAX_CONDITION {
        return Err(KernelError::IllConditioned {
            condition,
            threshold: MAX_CONDITION,
        });
    }
    Ok(min)
}

/// An upper bound on ‖K‖₂: min(‖K‖_F, √(‖K‖₁ ‖K‖_∞)).
fn norm2_bound(k: &DMatrix<f64>) -> f64 {
    let one = k.column_iter().map(|c| c.abs().sum()).fold(0.0, f64::max);
    let inf = k.row_iter().map(|r| r.abs().sum()).fold(0.0, f64::max);
    k.norm().min((one * inf).sqrt())
}

/// Mᵗ for a whole t ≥ 0 by repeated squaring (O(log t) products for any finite t); `None` when
/// an entry overflows. Stops early once the running square is exactly 0, and then so is Mᵗ.
fn matrix_power(m: &DMatrix<f64>, t: f64) -> Option<DMatrix<f64>> {
    let n = m.nrows();
    let finite = |x: &DMatrix<f64>| x.iter().all(|v| v.is_finite());
    let mut result = DMatrix::<f64>::identity(n, n);
    let mut base = m.clone();
    let mut e = t;
    while e > 0.0 {
        if e % 2.0 == 1.0 {
            result = &result * &base;
        }
        e = (e / 2.0).floor();
        if e > 0.0 {
            base = &base * &base;
            if base.iter().all(|v| *v == 0.0) {
                return Some(DMatrix::zeros(n, n));
            }
        }
        if !(finite(&result) && finite(&base)) {
            return None;
        }
    }
    Some(result)
}

/// The matrix function Id − exp(−η K t/d) (or Id − (Id − η K/d)^t); `None` for t = ∞ and
/// wherever the exponential (power) is 0 to f64 precision. `min_eigenvalue` = λ_min((K + Kᵀ)/2)
/// from [`check_positive_definite`].
fn decay(
    k_xx: &DMatrix<f64>,
    time: TrainTime,
    min_eigenvalue: f64,
) -> Result<Option<DMatrix<f64>>, KernelError> {
    let d = k_xx.nrows();
    let id = DMatrix::<f64>::identity(d, d);
    match time {
        TrainTime::Infinite => Ok(None),
        TrainTime::Finite { t, lr, discrete } => {
            if !(t.is_finite() && t >= 0.0) {
                return Err(KernelError::BadParameter {
                    name: "t",
                    value: t,
                    requirement: "must be finite and >= 0 (use TrainTime::Infinite for t = inf)",
                });
            }
            if !(lr.is_finite() && lr > 0.0) {
                return Err(KernelError::BadParameter {
                    name: "lr",
                    value: lr,
                    requirement: "must be finite and > 0",
                });
            }
            let s = lr / d as f64;
            let e = if discrete {
                if t.fract() != 0.0 {
                    return Err(KernelError::BadParameter {
                        name: "t",
                        value: t,
                        requirement: "must be a whole number of steps when discrete",
                    });
                }
                matrix_power(&(&id - k_xx * s), t).ok_or(KernelError::Diverges { lr })?
            } else {
                // ‖e^{−sK t}‖₂ ≤ e^{−s t λ_min}: beyond NEGLIGIBLE_DECAY it is 0 in f64 (t = ∞),
                // below it s t ‖K‖₂ ≤ 40 · MAX_CONDITION, where Padé scaling and squaring is safe.
                let st = s * t;
                if st * min_eigenvalue >= NEGLIGIBLE_DECAY {
                    return Ok(None);
                }
                (k_xx * -st).exp()
            };
            if e.iter().all(|v| *v == 0.0) {
                return Ok(None);
            }
            check_finite("the matrix exponential/power", &e)?;
            Ok(Some(id - e))
        }
    }
}

/// GP mean and covariance at `time` (module docs).
///
/// `k_xx` = K(X, X) (d × d), `k_tx` = K(x, X) (n × d, test points first: they carry the true
/// derivative), `sigma_xx` = Σ(X, X), `sigma_tx` = Σ(x, X), `sigma_tt` = Σ(x, x), `y` = targets (d × k).
pub fn predict(
    k_xx: &DMatrix<f64>,
    k_tx: &DMatrix<f64>,
    sigma_xx: &DMatrix<f64>,
    sigma_tx: &DMatrix<f64>,
    sigma_tt: &DMatrix<f64>,
    y: &DMatrix<f64>,
    time: TrainTime,
) -> Result<GpPrediction, KernelError> {
    let d = k_xx.nrows();
    let n = k_tx.nrows();
    shape(k_xx.is_square(), || {
        format!("K(X, X) is {}x{}", d, k_xx.ncols())
    })?;
    shape(k_tx.ncols() == d, || {
        format!("K(x, X) has {} columns, expected d = {d}", k_tx.ncols())
    })?;
    shape(sigma_xx.shape() == (d, d), || {
        format!("Σ(X, X) is {:?}, expected ({d}, {d})", sigma_xx.shape())
    })?;
    shape(sigma_tx.shape() == (n, d), || {
        format!("Σ(x, X) is {:?}, expected ({n}, {d})", sigma_tx.shape())
    })?;
    shape(sigma_tt.shape() == (n, n), || {
        format!("Σ(x, x) is {:?}, expected ({n}, {n})", sigma_tt.shape())
    })?;
    shape(y.nrows() == d, || {
        format!("Y has {} rows, expected d = {d}", y.nrows())
    })?;
    let min_eigenvalue = check_positive_definite(k_xx)?;
    for (what, m) in [
        ("K(x, X)", k_tx),
        ("Σ(X, X)", sigma_xx),
        ("Σ(x, X)", sigma_tx),
        ("Σ(x, x)", sigma_tt),
        ("Y", y),
    ] {
        check_finite(what, m)?;
    }
    let lu = k_xx.clone().lu();
    let solve_failed = || KernelError::SolveFailed { min_eigenvalue };
    // A = K_tX K_XX⁻¹ M, M = Id − E commutes with K_XX.
    let a = match decay(k_xx, time, min_eigenvalue)? {
        None => {
            // Aᵀ = K_XX⁻ᵀ K_tXᵀ
            let at = k_xx
                .transpose()
                .lu()
                .solve(&k_tx.transpose())
                .ok_or_else(solve_failed)?;
            at.transpose()
        }
        Some(m) => k_tx * lu.solve(&m).ok_or_else(solve_failed)?,
    };
    check_finite("A = K(x, X) K(X, X)^-1 (Id - e^(-eta K t/d))", &a)?;
    let mean = &a * y;
    let c = &a * sigma_tx.transpose();
    let q = &a * sigma_xx * a.transpose();
    let cov = sigma_tt - &c - c.transpose() + &q;
    let cov = (&cov + cov.transpose()) * 0.5;
    check_finite("the GP mean", &mean)?;
    check_finite("the GP covariance", &cov)?;
    for i in 0..n {
        let scale = sigma_tt[(i, i)].abs() + 2.0 * c[(i, i)].abs() + q[(i, i)].abs();
        if cov[(i, i)] < -VARIANCE_TOLERANCE * scale {
            return Err(KernelError::NegativeVariance {
                point: i,
                variance: cov[(i, i)],
                scale,
            });
        }
    }
    Ok(GpPrediction { mean, cov })
}

/// The Σ-only regression (the "Σ_sign kernel regression" of Fig. 3): mean Σ(x, X) Σ(X, X)⁻¹ Y and
/// the posterior covariance Σ(x, x) − Σ(x, X) Σ(X, X)⁻¹ Σ(X, x) (= [`predict`] with K = Σ, t = ∞).
pub fn nngp_regression(
    sigma_xx: &DMatrix<f64>,
    sigma_tx: &DMatrix<f64>,
    sigma_tt: &DMatrix<f64>,
    y: &DMatrix<f64>,
) -> Result<GpPrediction, KernelError> {
    predict(
        sigma_xx,
        sigma_tx,
        sigma_xx,
        sigma_tx,
        sigma_tt,
        y,
        TrainTime::Infinite,
    )
}

/// The classifier of the singular sign NTK (Thm. 2.3 / D.4, Nadaraya–Watson form):
/// sign(Θ_∞(x, X) Y) per test point and target column.
///
/// Where Θ(x, x_i) = ±∞ (x is a training point, or with σb = 0 its antipode) only those infinite
/// entries count: sign(Σ_{i: Θ = ±∞} ±y_i). Returns −1, 0 or 1.
pub fn nadaraya_watson(k_tx: &DMatrix<f64>, y: &DMatrix<f64>) -> Result<DMatrix<f64>, KernelError> {
    shape(k_tx.ncols() == y.nrows(), || {
        format!(
            "K(x, X) has {} columns but Y has {} rows",
            k_tx.ncols(),
            y.nrows()
        )
    })?;
    check_finite("Y", y)?;
    // K(x, X) from `kernel_matrix`, whose infinite entries were checked to be singular values
    check_kernel_values("K(x, X)", k_tx, |_, _| true)?;
    let sgn = |v: f64| {
        if v > 0.0 {
            1.0
        } else if v < 0.0 {
            -1.0
        } else {
            0.0
        }
    };
    let mut out = DMatrix::zeros(k_tx.nrows(), y.ncols());
    for i in 0..k_tx.nrows() {
        let row = k_tx.row(i);
        let singular = row.iter().any(|v| v.is_infinite());
        for c in 0..y.ncols() {
            let s: f64 = row
                .iter()
                .zip(y.column(c).iter())
                .map(|(k, yv)| match (singular, k.is_infinite()) {
                    (true, true) => k.signum() * yv,
                    (true, false) => 0.0,
                    _ => k * yv,
                })
                .sum();
            out[(i, c)] = sgn(s);
        }
    }
    Ok(out)
}

/// Everything from inputs: kernels of `spec` (a `&`[`KernelSpec`], or any `NetSpec` through
/// [`Kernels::Spec`]; `kind` = Ntk / SgNtk / Generalized drives training, the NNGP with κ² gives
/// f_0's covariance) and [`predict`].
pub fn gp_predict<'a>(
    spec: impl Into<Kernels<'a>>,
    kind: KernelKind,
    x_train: &DMatrix<f64>,
    y_train: &DMatrix<f64>,
    x_test: &DMatrix<f64>,
    time: TrainTime,
) -> Result<GpPrediction, KernelError> {
    let spec = spec.into();
    if kind == KernelKind::Nngp {
        let s_xx = kernel_matrix(spec, KernelKind::Nngp, x_train, x_train)?;
        let s_tx = kernel_matrix(spec, KernelKind::Nngp, x_test, x_train)?;
        let s_tt = kernel_matrix(spec, KernelKind::Nngp, x_test, x_test)?;
        return nngp_regression(&s_xx, &s_tx, &s_tt, y_train);
    }
    let k_xx = kernel_matrix(spec, kind, x_train, x_train)?;
    check_positive_definite(&k_xx)?;
    let k_tx = kernel_matrix(spec, kind, x_test, x_train)?;
    let s_xx = kernel_matrix(spec, KernelKind::Nngp, x_train, x_train)?;
    let s_tx = kernel_matrix(spec, KernelKind::Nngp, x_test, x_train)?;
    let s_tt = kernel_matrix(spec, KernelKind::Nngp, x_test, x_test)?;
    predict(&k_xx, &k_tx, &s_xx, &s_tx, &s_tt, y_train, time)
}
