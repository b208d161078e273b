//! GP predictions (docs/MATH.md §6): interpolation at t = ∞, convergence in t, the function-space ODE,
//! the discrete-step variant, positive-definiteness errors and the Nadaraya–Watson classifier.

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{Activation, Surrogate};
use sgntk_ntk::{
    check_positive_definite, gp_predict, kernel_matrix, nadaraya_watson, nngp_regression, predict,
    GpPrediction, KernelError, KernelKind, KernelSpec, TrainTime,
};

fn circle(angles: &[f64], r: f64) -> DMatrix<f64> {
    DMatrix::from_fn(angles.len(), 2, |i, j| {
        r * if j == 0 {
            angles[i].sin()
        } else {
            angles[i].cos()
        }
    })
}

fn target(x: &DMatrix<f64>) -> DMatrix<f64> {
    DMatrix::from_fn(x.nrows(), 1, |i, _| {
        let (a, b) = (x[(i, 0)], x[(i, 1)]);
        4.0 * a * b * b - 0.8 * a * a * a + 1.2 * b * b - 0.8 * a * a * b
    })
}

struct Setup {
    k_xx: DMatrix<f64>,
    k_tx: DMatrix<f64>,
    s_xx: DMatrix<f64>,
    s_tx: DMatrix<f64>,
    s_tt: DMatrix<f64>,
    y: DMatrix<f64>,
}

impl Setup {
    /// The GP prediction at the test points after training for `time`.
    fn predict(&self, time: TrainTime) -> GpPrediction {
        predict(
            &self.k_xx, &self.k_tx, &self.s_xx, &self.s_tx, &self.s_tt, &self.y, time,
        )
        .unwrap()
    }
}

/// Training for time `t` with learning rate `lr`, in continuous time or in `discrete` steps.
fn finite(t: f64, lr: f64, discrete: bool) -> TrainTime {
    TrainTime::Finite { t, lr, discrete }
}

/// SG-NTK of a sign network (asymmetric K) or NTK of erf, training points of different norms.
fn setup(spec: &KernelSpec, kind: KernelKind) -> Setup {
    let train: Vec<f64> = (0..8).map(|i| -3.0 + 0.77 * i as f64).collect();
    let mut xtr = circle(&train, 1.0);
    xtr[(3, 0)] *= 1.3; // off the circle: asymmetry
    let xte = circle(&[-2.5, -0.4, 0.3, 1.9, 2.8], 1.1);
    let y = target(&xtr);
    Setup {
        k_xx: kernel_matrix(spec, kind, &xtr, &xtr).unwrap(),
        k_tx: kernel_matrix(spec, kind, &xte, &xtr).unwrap(),
        s_xx: kernel_matrix(spec, KernelKind::Nngp, &xtr, &xtr).unwrap(),
        s_tx: kernel_matrix(spec, KernelKind::Nngp, &xte, &xtr).unwrap(),
        s_tt: kernel_matrix(spec, KernelKind::Nngp, &xte, &xte).unwrap(),
        y,
    }
}

fn specs() -> Vec<(KernelSpec, KernelKind)> {
    let g = Surrogate::ErfPrime { a: 1.0 };
    vec![
        (KernelSpec::paper(Activation::Sign, g), KernelKind::SgNtk),
        (
            KernelSpec::paper(Activation::Erf { m: 2.0 }, g),
            KernelKind::SgNtk,
        ),
        (
            KernelSpec::paper(Activation::Erf { m: 2.0 }, g).with_kappa(0.2),
            KernelKind::Ntk,
        ),
    ]
}

#[test]
fn infinite_time_interpolates_with_vanishing_variance() {
    for (spec, kind) in specs() {
        let s = setup(&spec, kind);
        assert!((&s.k_xx - s.k_xx.transpose()).abs().max() > 1e-6 || kind == KernelKind::Ntk);
        let p = predict(
            &s.k_xx,
            &s.k_xx,
            &s.s_xx,
            &s.s_xx,
            &s.s_xx,
            &s.y,
            TrainTime::Infinite,
        )
        .unwrap();
        let mean_err = (&p.mean - &s.y).abs().max();
        let var = p.cov.abs().max();
        println!(
            "{} {kind:?}: |mean - Y| {mean_err:.1e}, |cov| on train {var:.1e}",
            spec.activation
        );
        assert!(mean_err < 1e-8 && var < 1e-8);
        assert!(p.std().iter().all(|v| *v < 1e-4));
    }
}

fn diff(a: &GpPrediction, b: &GpPrediction) -> (f64, f64) {
    (
        (&a.mean - &b.mean).abs().max(),
        (&a.cov - &b.cov).abs().max(),
    )
}

#[test]
fn finite_time_converges_to_infinite_time() {
    for (spec, kind) in specs() {
        let s = setup(&spec, kind);
        let inf = s.predict(TrainTime::Infinite);
        let mut last = f64::INFINITY;
        for t in [1e1, 1e3, 1e5, 1e7] {
            let (dm, dc) = diff(&s.predict(finite(t, 0.1, false)), &inf);
            assert!(dm.max(dc) <= last + 1e-12, "t {t}: not converging");
            last = dm.max(dc);
        }
        println!("{} {kind:?}: |t=1e7 − t=∞| {last:.1e}", spec.activation);
        assert!(last < 1e-6);
        // t = 0: mean 0, covariance = prior Σ
        let p0 = s.predict(finite(0.0, 0.1, false));
        assert!(p0.mean.abs().max() < 1e-14 && (&p0.cov - &s.s_tt).abs().max() < 1e-13);
    }
}

/// RK4 for the sensitivities of the linear ODE df/dt = −(η/d) K(·, X)(f(X) − Y):
/// G = ∂(f(X) − Y)/∂f_0(X), dG/dt = −(η/d) K_XX G; H = ∂f(x)/∂f_0(X), dH/dt = −(η/d) K_xX G,
/// so f_t(x) = f_0(x) + H (f_0(X) − Y): mean −H Y, covariance of f_0(x) + H f_0(X).
fn ode(s: &Setup, t: f64, lr: f64, steps: usize) -> GpPrediction {
    let d = s.k_xx.nrows();
    let c = lr / d as f64;
    let h = t / steps as f64;
    let mut g = DMatrix::<f64>::identity(d, d);
    let mut hm = DMatrix::<f64>::zeros(s.k_tx.nrows(), d);
    let rhs = |g: &DMatrix<f64>| (-(&s.k_xx * g) * c, -(&s.k_tx * g) * c);
    for _ in 0..steps {
        let (a1, b1) = rhs(&g);
        let (a2, b2) = rhs(&(&g + &a1 * (h / 2.0)));
        let (a3, b3) = rhs(&(&g + &a2 * (h / 2.0)));
        let (a4, b4) = rhs(&(&g + &a3 * h));
        g += (a1 + a2 * 2.0 + a3 * 2.0 + a4) * (h / 6.0);
        hm += (b1 + b2 * 2.0 + b3 * 2.0 + b4) * (h / 6.0);
    }
    let c = &hm * s.s_tx.transpose();
    GpPrediction {
        mean: -(&hm * &s.y),
        cov: &s.s_tt + &c + c.transpose() + &hm * &s.s_xx * hm.transpose(),
    }
}

#[test]
fn finite_time_matches_the_function_space_ode() {
    for (spec, kind) in specs() {
        let s = setup(&spec, kind);
        let (t, lr) = (150.0, 0.1);
        let p = s.predict(finite(t, lr, false));
        let (dm, dc) = diff(&p, &ode(&s, t, lr, 3000));
        println!(
            "{} {kind:?}: matrix exponential vs RK4 ODE at t = {t}: mean {dm:.1e}, cov {dc:.1e}",
            spec.activation
        );
        assert!(dm < 1e-6 && dc < 1e-6);
        // discrete steps vs explicit iteration f ← f − (η/d) K(·, X)(f(X) − Y)
        let steps = 40;
        let p = s.predict(finite(steps as f64, lr, true));
        let d = s.k_xx.nrows();
        let c = lr / d as f64;
        let mut g = DMatrix::<f64>::identity(d, d);
        let mut hm = DMatrix::<f64>::zeros(s.k_tx.nrows(), d);
        for _ in 0..steps {
            hm -= (&s.k_tx * &g) * c;
            g -= (&s.k_xx * &g) * c;
        }
        let cc = &hm * s.s_tx.transpose();
        let it = GpPrediction {
            mean: -(&hm * &s.y),
            cov: &s.s_tt + &cc + cc.transpose() + &hm * &s.s_xx * hm.transpose(),
        };
        let (dm, dc) = diff(&p, &it);
        assert!(dm < 1e-10 && dc < 1e-10, "discrete: {dm:e} {dc:e}");
        // and the discrete and continuous forms agree closely at η = 0.1
        let pc = s.predict(finite(steps as f64, lr, false));
        assert!(diff(&p, &pc).0 < 1e-2);
    }
}

#[test]
fn gp_predict_from_inputs_and_nngp_regression() {
    let spec = KernelSpec::paper(Activation::Sign, Surrogate::ErfPrime { a: 1.0 });
    let xtr = circle(&[-2.0, -1.0, 0.1, 1.0, 2.2], 1.0);
    let xte = circle(&[-1.5, 0.5], 1.0);
    let y = target(&xtr);
    let p = gp_predict(
        &spec,
        KernelKind::SgNtk,
        &xtr,
        &y,
        &xtr,
        TrainTime::Infinite,
    )
    .unwrap();
    assert!((&p.mean - &y).abs().max() < 1e-10);
    let r = gp_predict(&spec, KernelKind::Nngp, &xtr, &y, &xte, TrainTime::Infinite).unwrap();
    let s_xx = kernel_matrix(&spec, KernelKind::Nngp, &xtr, &xtr).unwrap();
    let s_tx = kernel_matrix(&spec, KernelKind::Nngp, &xte, &xtr).unwrap();
    let s_tt = kernel_matrix(&spec, KernelKind::Nngp, &xte, &xte).unwrap();
    let direct = nngp_regression(&s_xx, &s_tx, &s_tt, &y).unwrap();
    // against Cholesky (an independent solver)
    let want = &s_tx * s_xx.clone().cholesky().unwrap().solve(&y);
    assert!((&r.mean - &want).abs().max() < 1e-12 && (&direct.mean - &want).abs().max() < 1e-12);
    // the singular sign NTK has no GP prediction but classifies
    let e = gp_predict(&spec, KernelKind::Ntk, &xtr, &y, &xte, TrainTime::Infinite).unwrap_err();
    assert!(matches!(e, KernelError::SingularKernel { .. }), "{e}");
    assert!(e.to_string().contains("nadaraya_watson"));
}

#[test]
fn positive_definiteness_is_checked_and_reported() {
    let spec = KernelSpec::paper(Activation::Erf { m: 2.0 }, Surrogate::ErfPrime { a: 1.0 });
    let x = circle(&[-2.0, -1.0, 0.1, 1.0, 2.2], 1.0);
    let k = kernel_matrix(&spec, KernelKind::SgNtk, &x, &x).unwrap();
    let sym = (&k + k.transpose()) * 0.5;
    let lmin = check_positive_definite(&k).unwrap();
    assert!((lmin - sym.symmetric_eigenvalues().min()).abs() < 1e-12 && lmin > 0.0);
    // indefinite: an error naming the eigenvalue, never NaN
    let bad = DMatrix::from_row_slice(2, 2, &[1.0, 2.0, 2.0, 1.0]);
    let e = check_positive_definite(&bad).unwrap_err();
    assert_eq!(
        e,
        KernelError::NotPositiveDefinite {
            min_eigenvalue: -1.0,
            max_eigenvalue: 3.0
        }
    );
    assert!(e.to_string().contains("-1e0"), "{e}");
    let y = DMatrix::from_row_slice(2, 1, &[1.0, 2.0]);
    let e = predict(&bad, &bad, &bad, &bad, &bad, &y, TrainTime::Infinite).unwrap_err();
    assert!(matches!(e, KernelError::NotPositiveDefinite { .. }));
    // exactly singular (two equal points)
    let x2 = circle(&[0.3, 0.3], 1.0);
    let k2 = kernel_matrix(&spec, KernelKind::Ntk, &x2, &x2).unwrap();
    let e = predict(&k2, &k2, &k2, &k2, &k2, &y, TrainTime::Infinite).unwrap_err();
    assert!(matches!(e, KernelError::NotPositiveDefinite { .. }), "{e}");
    // shapes and parameters
    let e = predict(&k, &k, &k, &k, &k, &y, TrainTime::Infinite).unwrap_err();
    assert!(matches!(e, KernelError::Shape(_)), "{e}");
    let y5 = DMatrix::from_element(5, 1, 1.0);
    let e = predict(
        &k,
        &k,
        &k,
        &k,
        &k,
        &y5,
        TrainTime::Finite {
            t: 2.5,
            lr: 0.1,
            discrete: true,
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("whole number"), "{e}");
}

#[test]
fn nadaraya_watson_classifies_with_the_singular_sign_ntk() {
    let spec = KernelSpec::paper(Activation::Sign, Surrogate::True);
    let xtr = circle(&[-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], 1.0);
    let y = DMatrix::from_row_slice(6, 1, &[-1.0, -1.0, -1.0, 1.0, 1.0, 1.0]);
    let xte = circle(&[-2.0, -0.2, 0.2, 2.0, 0.5], 1.0);
    let k = kernel_matrix(&spec, KernelKind::Ntk, &xte, &xtr).unwrap();
    let c = nadaraya_watson(&k, &y).unwrap();
    assert_eq!(c.as_slice(), &[-1.0, -1.0, 1.0, 1.0, 1.0]);
    // independent: the weighted vote by hand for the first test point
    let vote: f64 = (0..6).map(|i| k[(0, i)] * y[(i, 0)]).sum();
    assert_eq!(vote.signum(), c[(0, 0)]);
    assert_eq!(k[(4, 3)], f64::INFINITY);
}

/// Ten target columns (the digits' one-hot classes): the GP's mean is column by column the mean
/// of ten one-output GPs, its covariance the same as each one's (it does not depend on the
/// targets), for the SG-NTK at a finite discrete time, the NTK at t = ∞ and the Σ regression;
/// and its samples' square root of the covariance squares back to it.
#[test]
fn ten_outputs_equal_ten_one_output_gps() {
    let (train, _) = sgntk_model::data::digits()
        .unwrap()
        .split(30, 5, 2)
        .unwrap();
    let (test, _) = sgntk_model::data::digits()
        .unwrap()
        .split(12, 5, 3)
        .unwrap();
    let sign = KernelSpec::paper(Activation::Sign, Surrogate::ErfPrime { a: 1.0 });
    let erf = KernelSpec::paper(Activation::Erf { m: 2.0 }, Surrogate::True);
    let cases = [
        (
            sign,
            KernelKind::SgNtk,
            TrainTime::Finite {
                t: 250.0,
                lr: 2.0,
                discrete: true,
            },
        ),
        (erf, KernelKind::Ntk, TrainTime::Infinite),
        (sign, KernelKind::Nngp, TrainTime::Infinite),
    ];
    for (spec, kind, time) in cases {
        let all = gp_predict(&spec, kind, &train.x, &train.y, &test.x, time).unwrap();
        assert_eq!(all.mean.shape(), (12, 10));
        for c in 0..10 {
            let y = train.y.columns(c, 1).into_owned();
            let one = gp_predict(&spec, kind, &train.x, &y, &test.x, time).unwrap();
            let diff = (one.mean.column(0) - all.mean.column(c)).amax();
            assert!(diff <= 1e-12, "{kind:?} column {c}: {diff:e}");
            assert_eq!(
                one.cov, all.cov,
                "{kind:?}: covariance depends on the targets"
            );
        }
        let root = all.cov_root();
        let err = (&root * &root - &all.cov).amax();
        assert!(err <= 1e-9 * all.cov.amax(), "{kind:?}: R R − Γ = {err:e}");
    }
}
