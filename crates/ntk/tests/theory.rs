//! Statements of the paper's theory checked on the analytic kernels, with numbers:
//!
//! - App. D (proof of Cor. D.3): near the diagonal the sign NTK grows like ‖x − y‖^(−α(L)) with
//!   α(L) = 2 − 2^(2−L), L = number of weight layers.
//! - Thm. 2.3 / D.4 and Sec. 2.3: as m → ∞ the erf_m NTK regression classifies like the
//!   Nadaraya–Watson estimator of the singular sign NTK, and its mean off the training points
//!   shrinks to 0 (only training points are learned).
//! - docs/MATH.md §1/§5 (Sec. C.2.1): κ scales the network function, so the t = ∞ GP mean does not depend on
//!   κ, the GP std scales with κ, and training is κ² slower.

use std::f64::consts::PI;

use sgntk_model::data::{circle_points as circle, targets as target};
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, Surrogate};
use sgntk_ntk::{gp_predict, kernel_matrix, nadaraya_watson, KernelKind, KernelSpec, TrainTime};

/// 15 fixed training angles (irrational steps, none on the test grid) and the 100-angle grid.
fn task() -> (DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
    let train: Vec<f64> = (0..15).map(|i| -3.0 + 0.4 * i as f64 + 0.0123).collect();
    let grid: Vec<f64> = (0..100).map(|i| 2.0 * PI * i as f64 / 100.0 - PI).collect();
    let xt = circle(&train);
    (target(&xt), xt, circle(&grid))
}

/// Least-squares slope of log y against log x.
fn loglog_slope(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (lx, ly): (Vec<f64>, Vec<f64>) = x.iter().zip(y).map(|(a, b)| (a.ln(), b.ln())).unzip();
    let mx = lx.iter().sum::<f64>() / n;
    let my = ly.iter().sum::<f64>() / n;
    let sxy: f64 = lx.iter().zip(&ly).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = lx.iter().map(|a| (a - mx).powi(2)).sum();
    sxy / sxx
}

/// Θ_∞(x, y) ∝ ‖x − y‖^(−α(L)), α(L) = 2 − 2^(2−L): 1, 1.5, 1.75 for L = 2, 3, 4. Fitted on the
/// analytic sign NTK at ‖x − y‖ ∈ [1e-5, 1e-3] (9 log-spaced distances); tolerance ±0.05.
#[test]
fn sign_ntk_blows_up_near_the_diagonal_with_exponent_alpha_of_depth() {
    let x = circle(&[0.0]);
    let eps: Vec<f64> = (0..9).map(|i| 10f64.powf(-5.0 + 0.25 * i as f64)).collect();
    let y = circle(&eps);
    for (depth, alpha) in [(2, 1.0), (3, 1.5), (4, 1.75)] {
        let spec = KernelSpec::paper(Activation::Sign, Surrogate::True).with_depth(depth);
        let k = kernel_matrix(&spec, KernelKind::Ntk, &x, &y).unwrap();
        let dist: Vec<f64> = eps.iter().map(|e| 2.0 * (e / 2.0).sin()).collect();
        let vals: Vec<f64> = k.iter().copied().collect();
        assert!(vals.iter().all(|v| v.is_finite() && *v > 0.0), "{vals:?}");
        let slope = loglog_slope(&dist, &vals);
        println!(
            "L = {depth}: fitted exponent {:.4} (theory −{alpha})",
            slope
        );
        assert!(
            (slope + alpha).abs() < 0.05,
            "L = {depth}: slope {slope}, expected −{alpha}"
        );
    }
}

/// Thm. 2.3: sign(Θ_m(x, X) Θ_m(X, X)⁻¹ Y) → sign(Θ_∞(x, X) Y) on the circle as m → ∞, and the
/// regression mean off the training points → 0 (Sec. 2.3). m = 10, 100, 1000, 1e4 on 100 grid
/// points and 15 training points: the agreement rises to 1 and the RMS mean falls monotonically.
#[test]
fn erf_m_regression_tends_to_the_nadaraya_watson_classifier() {
    let (y, xt, xg) = task();
    let sign = KernelSpec::paper(Activation::Sign, Surrogate::True);
    let nw = nadaraya_watson(
        &kernel_matrix(&sign, KernelKind::Ntk, &xg, &xt).unwrap(),
        &y,
    )
    .unwrap();
    let rms_y = (y.norm_squared() / y.len() as f64).sqrt();
    let mut last = (0.0, f64::INFINITY);
    for m in [10.0, 100.0, 1000.0, 1e4] {
        let spec = KernelSpec::paper(Activation::Erf { m }, Surrogate::True);
        let k_xx = kernel_matrix(&spec, KernelKind::Ntk, &xt, &xt).unwrap();
        let k_gx = kernel_matrix(&spec, KernelKind::Ntk, &xg, &xt).unwrap();
        let mean = &k_gx * k_xx.lu().solve(&y).unwrap();
        let agree = (0..xg.nrows())
            .filter(|&i| mean[(i, 0)].signum() == nw[(i, 0)])
            .count() as f64
            / xg.nrows() as f64;
        let rms = (mean.norm_squared() / mean.len() as f64).sqrt() / rms_y;
        println!("m = {m}: sign agreement {agree:.3}, RMS mean / RMS Y {rms:.3e}");
        assert!(
            agree >= last.0,
            "agreement fell at m = {m}: {agree} < {}",
            last.0
        );
        assert!(rms < last.1, "RMS mean rose at m = {m}: {rms} ≥ {}", last.1);
        last = (agree, rms);
    }
    assert_eq!(
        last.0, 1.0,
        "at m = 1e4 every grid point is classified as by Θ_∞"
    );
    assert!(
        last.1 < 1e-3,
        "at m = 1e4 the mean off the training points is ~0"
    );
}

/// κ (g = κ f): the t = ∞ GP mean does not depend on κ, the GP std scales with κ, and the
/// finite-time mean at κ = 0.2 after t steps equals the κ = 1 mean after 0.04 t steps
/// (exp(−η κ² Θ t/d)). SG-NTK of a sign network (asymmetric) and NTK of erf_2.
#[test]
fn kappa_leaves_the_infinite_time_mean_and_slows_training_by_kappa_squared() {
    let (y, xt, xg) = task();
    for (act, kind) in [
        (Activation::Sign, KernelKind::SgNtk),
        (Activation::Erf { m: 2.0 }, KernelKind::Ntk),
    ] {
        let base = KernelSpec::paper(act, Surrogate::ErfPrime { a: 1.0 });
        let small = base.with_kappa(0.2);
        let p1 = gp_predict(&base, kind, &xt, &y, &xg, TrainTime::Infinite).unwrap();
        let p2 = gp_predict(&small, kind, &xt, &y, &xg, TrainTime::Infinite).unwrap();
        let rel = (&p2.mean - &p1.mean).abs().max() / p1.mean.abs().max();
        assert!(rel < 1e-9, "{act}: t = ∞ mean depends on κ ({rel:e})");
        let (s1, s2) = (p1.std(), p2.std());
        let rel_std = (&s2 - &s1 * 0.2).abs().max() / s1.abs().max();
        assert!(rel_std < 1e-6, "{act}: std not scaled by κ ({rel_std:e})");
        let at = |spec: &KernelSpec, t: f64| {
            let time = TrainTime::Finite {
                t,
                lr: 0.1,
                discrete: false,
            };
            gp_predict(spec, kind, &xt, &y, &xg, time).unwrap().mean
        };
        let (m_small, m_base) = (at(&small, 5000.0), at(&base, 200.0));
        let rel_t = (&m_small - &m_base).abs().max() / m_base.abs().max();
        assert!(rel_t < 1e-8, "{act}: κ² time scaling ({rel_t:e})");
        // and the κ = 0.2 network has not converged where the κ = 1 one has
        let far = (&at(&small, 200.0) - &p1.mean).abs().max();
        assert!(
            far > 0.1,
            "{act}: κ = 0.2 converged as fast as κ = 1 ({far})"
        );
    }
}
