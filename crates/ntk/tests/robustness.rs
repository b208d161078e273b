//! Robustness (issue 13): GP predictions never hang on huge times or learning rates, give the
//! t = ∞ limit where that is the truth, reject ill-conditioned systems and bad variances, and
//! kernels check sizes before allocating and never return non-finite numbers as results.

use std::time::Instant;

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, BackendKind, Ensemble, MlpConfig, Surrogate};
use sgntk_ntk::empirical::{empirical_kernel, DerivativePair, EmpiricalError};
use sgntk_ntk::{
    gp_predict, kernel_matrix, predict, GpPrediction, KernelError, KernelKind, KernelSpec,
    TrainTime, MAX_CONDITION,
};

fn circle(angles: &[f64]) -> DMatrix<f64> {
    DMatrix::from_fn(angles.len(), 2, |i, j| {
        if j == 0 {
            angles[i].sin()
        } else {
            angles[i].cos()
        }
    })
}

fn setup() -> (KernelSpec, DMatrix<f64>, DMatrix<f64>, DMatrix<f64>) {
    let spec = KernelSpec::paper(Activation::Erf { m: 2.0 }, Surrogate::ErfPrime { a: 1.0 });
    let xtr = circle(&[-2.0, -0.9, 0.2, 1.1, 2.5]);
    let y = DMatrix::from_fn(5, 1, |i, _| (i as f64 * 0.7).sin());
    let xte = circle(&[-1.5, 0.0, 0.7, 3.0]);
    (spec, xtr, y, xte)
}

fn max_diff(a: &GpPrediction, b: &GpPrediction) -> f64 {
    (&a.mean - &b.mean).amax().max((&a.cov - &b.cov).amax())
}

/// `--time 1e40` and `--lr 1e300 --time 10` hung in nalgebra's `Matrix::exp`; the answer is the
/// t = ∞ prediction (‖e^{−ηKt/d}‖ ≤ e^{−ηtλ_min/d} = 0 in f64).
#[test]
fn huge_times_and_learning_rates_give_the_infinite_time_limit() {
    let (spec, xtr, y, xte) = setup();
    for kind in [KernelKind::SgNtk, KernelKind::Ntk] {
        let run = |time| gp_predict(&spec, kind, &xtr, &y, &xte, time).unwrap();
        let inf = run(TrainTime::Infinite);
        for (t, lr, discrete) in [
            (1e40, 0.1, false),
            (f64::MAX, 0.1, false),
            (10.0, 1e300, false),
            (1e40, 0.1, true),
            (1e300, 0.5, true),
        ] {
            let start = Instant::now();
            let p = run(TrainTime::Finite { t, lr, discrete });
            assert!(start.elapsed().as_secs_f64() < 5.0, "t {t} lr {lr}: slow");
            let d = max_diff(&p, &inf);
            assert!(
                d < 1e-9,
                "{kind:?} t {t} lr {lr} discrete {discrete}: {d:e}"
            );
        }
        // Moderate times still decay smoothly (and differ from t = ∞).
        let p = run(TrainTime::Finite {
            t: 3.0,
            lr: 0.1,
            discrete: false,
        });
        assert!(max_diff(&p, &inf) > 1e-3);
    }
}

/// Discrete steps with a learning rate beyond 2d/λ_max diverge: an error, not inf/NaN.
#[test]
fn diverging_discrete_steps_are_an_error() {
    let (spec, xtr, y, xte) = setup();
    for lr in [1e3, 1e300] {
        let time = TrainTime::Finite {
            t: 1e6,
            lr,
            discrete: true,
        };
        let e = gp_predict(&spec, KernelKind::SgNtk, &xtr, &y, &xte, time).unwrap_err();
        assert!(matches!(e, KernelError::Diverges { .. }), "{e}");
        assert!(e.to_string().contains("smaller --lr"), "{e}");
    }
}

/// Two training points 1e-7 apart: condition number ~2e14, means ~ −2e5 for targets ~1.
#[test]
fn ill_conditioned_kernels_are_rejected() {
    let spec = KernelSpec::paper(Activation::Erf { m: 2.0 }, Surrogate::ErfPrime { a: 1.0 });
    let xtr = DMatrix::from_row_slice(3, 2, &[0.3, 0.8, 0.3 + 1e-7, 0.8, -0.5, 0.2]);
    let y = DMatrix::from_row_slice(3, 1, &[1.0, 1.01, -0.5]);
    let xte = DMatrix::from_row_slice(1, 2, &[0.1, 0.1]);
    for kind in [KernelKind::Ntk, KernelKind::SgNtk, KernelKind::Nngp] {
        let e = gp_predict(&spec, kind, &xtr, &y, &xte, TrainTime::Infinite).unwrap_err();
        match e {
            KernelError::IllConditioned {
                condition,
                threshold,
            } => assert!(condition > threshold && threshold == MAX_CONDITION),
            other => panic!("{kind:?}: {other}"),
        }
    }
    // well separated points pass
    let xtr = DMatrix::from_row_slice(3, 2, &[0.3, 0.8, 0.9, -0.1, -0.5, 0.2]);
    gp_predict(&spec, KernelKind::Ntk, &xtr, &y, &xte, TrainTime::Infinite).unwrap();
}

#[test]
fn bad_variances_are_errors_not_zeros() {
    // t = 0: Γ = Σ(x, x) = −1 < 0
    let k = DMatrix::<f64>::identity(2, 2);
    let k_tx = DMatrix::from_row_slice(1, 2, &[0.5, 0.1]);
    let s_tt = DMatrix::from_element(1, 1, -1.0);
    let y = DMatrix::from_row_slice(2, 1, &[1.0, 2.0]);
    let t0 = TrainTime::Finite {
        t: 0.0,
        lr: 0.1,
        discrete: false,
    };
    let e = predict(&k, &k_tx, &k, &k_tx, &s_tt, &y, t0).unwrap_err();
    assert!(
        matches!(e, KernelError::NegativeVariance { point: 0, .. }),
        "{e}"
    );
    // a NaN variance stays NaN in std() (it used to become 0)
    let p = GpPrediction {
        mean: DMatrix::zeros(2, 1),
        cov: DMatrix::from_row_slice(2, 2, &[f64::NAN, 0.0, 0.0, -1e-20]),
    };
    let s = p.std();
    assert!(s[0].is_nan() && s[1] == 0.0);
}

/// `--depth 1e9` and `--depth 18446744073709551615` aborted (capacity overflow).
#[test]
fn absurd_depths_fail_before_allocating() {
    let x = circle(&[0.1, 0.5]);
    for depth in [1_000_000_000, usize::MAX] {
        let spec = KernelSpec::paper(Activation::Erf { m: 2.0 }, Surrogate::ErfPrime { a: 1.0 })
            .with_depth(depth);
        let e = kernel_matrix(&spec, KernelKind::Ntk, &x, &x).unwrap_err();
        assert!(matches!(e, KernelError::Memory(_)), "{e}");
        assert!(e.to_string().contains("memory here"), "{e}");
    }
}

/// Inputs finite in f64 but whose products overflow f32 (1e20²) gave inf/NaN kernels.
#[test]
fn empirical_kernels_that_overflow_f32_are_errors() {
    let device = BackendKind::Flex.device().unwrap();
    let config = MlpConfig::paper(16, Activation::Erf { m: 2.0 });
    let ens = Ensemble::init(&config, 2, 0, &device).unwrap();
    let x = DMatrix::from_row_slice(2, 2, &[0.5, -0.2, 1e20, 1e20]);
    let e = empirical_kernel(&ens, &x, &x, DerivativePair::NTK).unwrap_err();
    assert!(matches!(e, EmpiricalError::NonFinite { .. }), "{e}");
    // small inputs are fine
    let x = DMatrix::from_row_slice(2, 2, &[0.5, -0.2, 0.1, 0.3]);
    let k = empirical_kernel(&ens, &x, &x, DerivativePair::NTK).unwrap();
    assert!(k.iter().all(|m| m.iter().all(|v| v.is_finite())));
}
