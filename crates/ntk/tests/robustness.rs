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

/// Issue 25: an f64 overflow is an error naming it (κ = 1e200 made every ReLU NTK entry +inf;
/// deep erf networks overflowed on the diagonal), while the theory's singular values are kept —
/// the sign NTK's +∞ on the diagonal and, with σb = 0, its −∞ at antipodal inputs.
#[test]
fn overflow_is_an_error_and_singular_values_are_kept() {
    let x = circle(&[0.1, 1.3, 0.1 + std::f64::consts::PI]);
    let relu = KernelSpec {
        kappa: 1e200,
        ..KernelSpec::paper(Activation::Relu, Surrogate::True)
    };
    for kind in [KernelKind::Ntk, KernelKind::Nngp] {
        let e = kernel_matrix(&relu, kind, &x, &x).unwrap_err();
        assert!(matches!(e, KernelError::Overflow { .. }), "{kind:?}: {e}");
        assert!(e.to_string().contains("overflows f64"), "{e}");
    }
    let deep = KernelSpec {
        sigma_w: 4.0,
        ..KernelSpec::paper(Activation::Erf { m: 2.0 }, Surrogate::True)
    }
    .with_depth(2000);
    let e = kernel_matrix(&deep, KernelKind::Ntk, &x, &x).unwrap_err();
    assert!(matches!(e, KernelError::Overflow { .. }), "{e}");
    // the same network 20 layers deep is finite
    let k = kernel_matrix(&deep.with_depth(20), KernelKind::Ntk, &x, &x).unwrap();
    assert!(k.iter().all(|v| v.is_finite()));
    // erf:M and erf-prime:A whose variance 1/(2M²) underflows to 0 would become a δ
    for (activation, surrogate, kind) in [
        (
            Activation::Erf { m: 1e200 },
            Surrogate::True,
            KernelKind::Ntk,
        ),
        (
            Activation::Sign,
            Surrogate::ErfPrime { a: 1e200 },
            KernelKind::SgNtk,
        ),
    ] {
        let spec = KernelSpec::paper(activation, surrogate);
        let e = kernel_matrix(&spec, kind, &x, &x).unwrap_err();
        assert!(matches!(e, KernelError::BadParameter { .. }), "{e}");
        assert!(e.to_string().contains("overflow"), "{e}");
    }
    // the sign NTK: +∞ on the diagonal; with σb = 0, −∞ at the antipodal pair (0, 2)
    for (sigma_b, antipodal) in [(0.1, false), (0.0, true)] {
        let sign = KernelSpec {
            sigma_b,
            ..KernelSpec::paper(Activation::Sign, Surrogate::True)
        };
        let k = kernel_matrix(&sign, KernelKind::Ntk, &x, &x).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                let v = k[(i, j)];
                if i == j {
                    assert_eq!(v, f64::INFINITY);
                } else if antipodal && i + j == 2 {
                    assert_eq!(v, f64::NEG_INFINITY, "({i}, {j})");
                } else {
                    assert!(v.is_finite(), "σb {sigma_b} ({i}, {j}): {v}");
                }
            }
        }
        // every layer's kernel passes the same check
        let layers = sgntk_ntk::kernel_layers(&sign, KernelKind::Ntk, &x, &x).unwrap();
        assert_eq!(layers.len(), 3);
        assert!(layers[0].iter().all(|v| v.is_finite()));
    }
}

/// Issue 25 (item 9): a [`KernelProgress`] observer gets an estimate before a kernel matrix
/// starts and every entry as it finishes (one by one for entries slower than a millisecond —
/// the adaptive quadrature of a kinked surrogate —, by block of pairs, here a row, for closed
/// forms).
#[test]
fn kernel_progress_reports_an_estimate_and_every_entry() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    #[derive(Default)]
    struct Count {
        started: AtomicU64,
        entries: AtomicU64,
        done: AtomicU64,
        calls: AtomicU64,
        finished: AtomicU64,
    }
    impl sgntk_ntk::KernelProgress for Count {
        fn start(&self, entries: u64, estimate_s: f64) {
            assert!(estimate_s.is_finite() && estimate_s > 0.0);
            self.started.fetch_add(1, Ordering::SeqCst);
            self.entries.fetch_add(entries, Ordering::SeqCst);
        }
        fn advance(&self, entries: u64) {
            self.done.fetch_add(entries, Ordering::SeqCst);
            self.calls.fetch_add(1, Ordering::SeqCst);
        }
        fn finish(&self) {
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
    }
    let x1 = circle(&[0.1, 0.5, 0.9]);
    let x2 = circle(&(0..11).map(|i| 0.3 * i as f64).collect::<Vec<_>>());
    // tanh with the triangle surrogate: adaptive quadrature, milliseconds per entry (reported
    // one by one); erf: closed forms, microseconds (one block per column, 11 columns)
    let triangle: Surrogate = "triangle:1".parse().unwrap();
    for (activation, calls) in [(Activation::Tanh, 33), (Activation::Erf { m: 2.0 }, 11)] {
        let count = Arc::new(Count::default());
        sgntk_ntk::set_progress(Some(count.clone()));
        let spec = KernelSpec::paper(activation, triangle);
        let k = kernel_matrix(&spec, KernelKind::SgNtk, &x1, &x2).unwrap();
        sgntk_ntk::set_progress(None);
        assert_eq!(k.shape(), (3, 11));
        assert_eq!(count.started.load(Ordering::SeqCst), 1);
        assert_eq!(count.entries.load(Ordering::SeqCst), 33);
        assert_eq!(count.done.load(Ordering::SeqCst), 33);
        assert_eq!(count.calls.load(Ordering::SeqCst), calls, "{activation}");
        assert_eq!(count.finished.load(Ordering::SeqCst), 1);
    }
    // a symmetric kernel of one set against itself: one triangle is computed (one block per
    // column, 11 columns) and every mirrored entry still counts
    let count = Arc::new(Count::default());
    sgntk_ntk::set_progress(Some(count.clone()));
    let spec = KernelSpec::paper(Activation::Erf { m: 2.0 }, triangle);
    kernel_matrix(&spec, KernelKind::Ntk, &x2, &x2).unwrap();
    sgntk_ntk::set_progress(None);
    assert_eq!(count.entries.load(Ordering::SeqCst), 121);
    assert_eq!(count.done.load(Ordering::SeqCst), 121);
    assert_eq!(count.calls.load(Ordering::SeqCst), 11);
    // without an observer nothing is reported (another thread's observer does not see it)
    let count = Arc::new(Count::default());
    sgntk_ntk::set_progress(Some(count.clone()));
    std::thread::scope(|s| {
        s.spawn(|| {
            let spec = KernelSpec::paper(Activation::Tanh, Surrogate::True);
            kernel_matrix(&spec, KernelKind::Ntk, &x1, &x2).unwrap();
        });
    });
    sgntk_ntk::set_progress(None);
    assert_eq!(count.started.load(Ordering::SeqCst), 0);
}

/// Inputs whose x·x/n0 exceeds f64 (1e200), or whose variances' products do (1e100: x·x/n0 =
/// 1e200, Σ11 Σ22 = 1e400): the sign NNGP, bounded, gave a finite wrong value with status 0
/// (σb² = 0.01 where the diagonal is 1 + σb²). Now an overflow error naming the point and the
/// map; 1e70 (x·x/n0 = 1e140) still computes, with the exact diagonal.
#[test]
fn inputs_whose_variance_underflows_are_an_error() {
    // σb = 0: the sign NNGP and NTK are scale-free, so inputs scaled by 2^-200 (exactly; variances
    // ~1e-120) give the unit inputs' kernels bit for bit. Below, the closed forms' products of
    // two variances (det Λ) underflow — inputs of norm 1e-100 gave a sign NTK of +∞ everywhere
    // with status 0 — and at 1e-170 the input variance itself is 0: errors naming the point and
    // the nonlinearity's map. A zero point stays a zero point, and with σb > 0 tiny inputs are
    // fine.
    let mut spec = KernelSpec::paper(Activation::Sign, Surrogate::ErfPrime { a: 1.0 });
    spec.sigma_b = 0.0;
    let unit = DMatrix::from_row_slice(3, 2, &[0.6, 0.8, -1.0, 0.0, 0.0, 0.0]);
    let small = &unit * 2f64.powi(-200);
    for kind in [KernelKind::Nngp, KernelKind::Ntk, KernelKind::SgNtk] {
        // (the SG-NTK's surrogate erf' has a scale of its own)
        if kind != KernelKind::SgNtk {
            let want = kernel_matrix(&spec, kind, &unit, &unit).unwrap();
            let got = kernel_matrix(&spec, kind, &small, &small).unwrap();
            for (a, b) in got.iter().zip(want.iter()) {
                assert_eq!(a.to_bits(), b.to_bits(), "{kind:?}: {a} vs {b}");
            }
        }
        for tiny in [1e-100, 1e-170] {
            let e = kernel_matrix(&spec, kind, &(&unit * tiny), &unit).unwrap_err();
            assert!(
                matches!(e, KernelError::Underflow { row: 0, col: 1, .. }),
                "{kind:?} {tiny}: {e}"
            );
            assert!(e.to_string().contains("underflows f64"), "{e}");
        }
    }
    // σb > 0: inputs of norm 1e-170 are the zero point to f64 precision (bit for bit)
    spec.sigma_b = 0.1;
    let k = kernel_matrix(&spec, KernelKind::Ntk, &(&unit * 1e-170), &unit).unwrap();
    let zeros = kernel_matrix(&spec, KernelKind::Ntk, &(&unit * 0.0), &unit).unwrap();
    assert_eq!(k, zeros);
}

#[test]
fn inputs_whose_variance_overflows_are_an_error() {
    let spec = KernelSpec::paper(Activation::Sign, Surrogate::ErfPrime { a: 1.0 });
    for (huge, kind) in [1e200, 1e100]
        .into_iter()
        .flat_map(|v| [KernelKind::Nngp, KernelKind::Ntk, KernelKind::SgNtk].map(|k| (v, k)))
    {
        let huge = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, huge, huge]);
        let e = kernel_matrix(&spec, kind, &huge, &huge).unwrap_err();
        assert!(
            matches!(e, KernelError::Overflow { row: 1, col: 0, .. }),
            "{kind:?}: {e}"
        );
        assert!(e.to_string().contains("overflows f64"), "{e}");
    }
    let large = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 1e70, 1e70]);
    let k = kernel_matrix(&spec, KernelKind::Nngp, &large, &large).unwrap();
    assert_eq!(k[(1, 1)], 1.0 + 0.1 * 0.1, "{k}");
}
