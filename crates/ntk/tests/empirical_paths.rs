//! Structured vs generic empirical kernels, and convergence to the infinite-width limit.

mod common;
use common::assert_mse_falls_like_one_over_width;

use std::f64::consts::PI;

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{data, Activation, BackendKind, Ensemble, HostParams, Mlp, MlpConfig, Surrogate};
use sgntk_ntk::empirical::{
    empirical_kernel, ensemble_mean, jacobian_kernel, mse, DerivativePair, EmpiricalError,
};

/// Points of different norms (the SG-NTK is asymmetric there).
fn probe_points(n0: usize) -> DMatrix<f64> {
    DMatrix::from_fn(5, n0, |i, j| {
        ((i * 7 + j * 3) as f64 * 0.91).sin() * (0.4 + 0.5 * i as f64)
    })
}

fn rel(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
    (a - b).amax() / b.amax()
}

#[test]
fn structured_equals_generic_for_ntk_and_sg_ntk() {
    let device = BackendKind::Flex.device().unwrap();
    let cases: [(Vec<usize>, &str); 4] = [
        (vec![2, 3, 1], "erf:2"),
        (vec![3, 16, 8, 1], "erf:5"),
        (vec![2, 64, 64, 1], "tanh"),
        (vec![2, 12, 24, 10, 1], "erf:3"),
    ];
    let pairs = [
        DerivativePair::NTK,
        DerivativePair::sg_ntk("erf-prime".parse().unwrap()),
        DerivativePair::sg_ntk("fast-sigmoid:3".parse().unwrap()),
        DerivativePair::sg_ntk("triangle:1".parse().unwrap()),
        DerivativePair {
            g1: "atan:2".parse().unwrap(),
            g2: "sigmoid:2".parse().unwrap(),
        },
    ];
    for (k, (widths, act)) in cases.into_iter().enumerate() {
        let config = MlpConfig::new(widths.clone(), act.parse().unwrap());
        let mlp = Mlp::init(&config, 100 + k as u64, &device).unwrap();
        let x1 = probe_points(widths[0]);
        let x2 = x1.rows(1, 3).into_owned();
        for pair in pairs {
            let structured = empirical_kernel(&mlp.0, &x1, &x2, pair).unwrap().remove(0);
            let generic = jacobian_kernel(&mlp, &x1, &x2, pair).unwrap();
            let err = rel(&structured, &generic);
            assert!(err < 1e-4, "{widths:?} {act} {pair:?}: rel diff {err:e}");
        }
        // the SG-NTK is genuinely asymmetric on points of different norms
        let sg = empirical_kernel(&mlp.0, &x1, &x1, pairs[1])
            .unwrap()
            .remove(0);
        let asym = rel(&sg, &sg.transpose());
        assert!(
            asym > 1e-5,
            "{widths:?} {act}: SG-NTK asymmetry only {asym:e}"
        );
    }
}

#[test]
fn sign_networks_have_no_true_jacobian() {
    let device = BackendKind::Flex.device().unwrap();
    let mlp = Mlp::init(&MlpConfig::paper(8, Activation::Sign), 0, &device).unwrap();
    let x = probe_points(2);
    let e = empirical_kernel(
        &mlp.0,
        &x,
        &x,
        DerivativePair::sg_ntk(Surrogate::ErfPrime { a: 1.0 }),
    )
    .unwrap_err();
    assert!(matches!(e, EmpiricalError::NoTrueJacobian { .. }));
    assert!(e.to_string().contains("does not exist for `sign`"), "{e}");
    assert!(jacobian_kernel(&mlp, &x, &x, DerivativePair::NTK).is_err());
    // surrogates on both sides are fine
    let both = DerivativePair {
        g1: Surrogate::ErfPrime { a: 1.0 },
        g2: Surrogate::ErfPrime { a: 1.0 },
    };
    assert!(empirical_kernel(&mlp.0, &x, &x, both).is_ok());
}

/// Analytic NTK / SG-NTK (erf' surrogate) of an erf_m MLP, σw = 1, σb = 0.1 (docs/MATH.md §5 closed forms).
fn analytic(x: &[f64], y: &[f64], m: f64, depth: usize, sg: bool) -> f64 {
    let s = 1.0 / (2.0 * m * m);
    let dot = |a: &[f64], b: &[f64]| {
        a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>() / a.len() as f64 + 0.01
    };
    let (mut l11, mut l12, mut l22) = (dot(x, x), dot(x, y), dot(y, y));
    let mut ntk = l12;
    for _ in 1..depth {
        let nngp =
            |a: f64, b: f64, c: f64| 2.0 / PI * (b / ((a + s) * (c + s)).sqrt()).asin() + 0.01;
        let s2 = if sg { 0.5 } else { s };
        let dot_dot = 2.0 / PI / ((l11 + s) * (l22 + s2) - l12 * l12).sqrt();
        let n12 = nngp(l11, l12, l22);
        ntk = n12 + ntk * dot_dot;
        (l11, l12, l22) = (nngp(l11, l11, l11), n12, nngp(l22, l22, l22));
    }
    ntk
}

fn slice_inputs(count: usize) -> (DMatrix<f64>, DMatrix<f64>) {
    let angles: Vec<f64> = (0..count)
        .map(|i| -PI + (i as f64 + 0.5) * 2.0 * PI / count as f64)
        .collect();
    (data::circle_points(&[0.0]), data::circle_points(&angles))
}

fn analytic_slice(x0: &DMatrix<f64>, xs: &DMatrix<f64>, m: f64, sg: bool) -> DMatrix<f64> {
    let a: Vec<f64> = x0.row(0).iter().copied().collect();
    DMatrix::from_fn(1, xs.nrows(), |_, j| {
        let b: Vec<f64> = xs.row(j).iter().copied().collect();
        analytic(&a, &b, m, 3, sg)
    })
}

/// The empirical kernels of members `members` of the seed-77 ensemble of `config` on flex.
fn member_kernels(
    config: &MlpConfig,
    members: std::ops::Range<usize>,
    pair: DerivativePair,
    x0: &DMatrix<f64>,
    xs: &DMatrix<f64>,
) -> Vec<DMatrix<f64>> {
    let device = BackendKind::Flex.device().unwrap();
    let params: Vec<HostParams> = members
        .map(|k| sgntk_model::init_member(config, 77, k))
        .collect();
    let ens = Ensemble::from_host(config, &params, &device).unwrap();
    empirical_kernel(&ens, x0, xs, pair).unwrap()
}

fn kernels(
    width: usize,
    m: f64,
    nets: usize,
    pair: DerivativePair,
    x0: &DMatrix<f64>,
    xs: &DMatrix<f64>,
) -> Vec<DMatrix<f64>> {
    let config = MlpConfig::paper(width, Activation::Erf { m });
    member_kernels(&config, 0..nets, pair, x0, xs)
}

/// Asserts that every entry of the one-row `mean` is within 5 % of `want`, relative to `want`.
fn assert_within_5_percent(mean: &DMatrix<f64>, want: &DMatrix<f64>, what: &str) {
    for j in 0..want.ncols() {
        let r = (mean[(0, j)] - want[(0, j)]).abs() / want[(0, j)].abs();
        assert!(
            r < 0.05,
            "{what}angle {j}: {} vs {} ({:.1}%)",
            mean[(0, j)],
            want[(0, j)],
            100.0 * r
        );
    }
}

fn check_wide_mean(m: f64, sg: bool) {
    // Δα ∈ {−π/4, −π/8, 0, π/8, π/4}: around the peak, away from the zero crossings
    let x0 = data::circle_points(&[0.0]);
    let xs = data::circle_points(&[-PI / 4.0, -PI / 8.0, 0.0, PI / 8.0, PI / 4.0]);
    let pair = if sg {
        DerivativePair::sg_ntk(Surrogate::ErfPrime { a: 1.0 })
    } else {
        DerivativePair::NTK
    };
    let mean = ensemble_mean(&kernels(2048, m, 8, pair, &x0, &xs));
    let want = analytic_slice(&x0, &xs, m, sg);
    assert_within_5_percent(&mean, &want, &format!("m={m} sg={sg} "));
}

#[test]
fn wide_ensemble_mean_matches_analytic_kernels() {
    check_wide_mean(2.0, false);
    check_wide_mean(2.0, true);
    check_wide_mean(5.0, true);
}

/// erf:5 NTK. Resolved open point: 8 nets of width 2048 deviated 6–14 % from the closed form, but
/// that is sampling noise, not bias. Measured here (seed 77, relative deviation of the mean ±
/// standard error at the 5 angles): width 1024 × 32 nets within ±0.047 with s.e. 0.023–0.035;
/// 2048 × 16 within ±0.075 with s.e. 0.021–0.040; 4096 × 8 within ±0.043 with s.e. 0.027–0.046 —
/// both signs, no trend with width. The per-net spread of the erf:5 NTK at width 2048 is ≈ 10 %
/// (its φ' term is peaky), so a mean of 8 nets has a standard error ≈ 4 % and cannot meet 5 % at five
/// angles reliably. The library's analytic kernel agrees with the in-test closed form. This test
/// averages 64 nets (s.e. ≈ 1.4 %), so 5 % is a > 3σ bound.
#[test]
fn wide_ensemble_mean_matches_analytic_ntk_erf5() {
    use sgntk_ntk::{kernel_matrix, KernelKind, KernelSpec};
    let x0 = data::circle_points(&[0.0]);
    let xs = data::circle_points(&[-PI / 4.0, -PI / 8.0, 0.0, PI / 8.0, PI / 4.0]);
    let spec = KernelSpec::paper(Activation::Erf { m: 5.0 }, Surrogate::ErfPrime { a: 1.0 });
    let lib = kernel_matrix(&spec, KernelKind::Ntk, &x0, &xs).unwrap();
    let closed = analytic_slice(&x0, &xs, 5.0, false);
    assert!(
        rel(&lib, &closed) < 1e-12,
        "library {lib} vs closed form {closed}"
    );
    let config = MlpConfig::paper(2048, Activation::Erf { m: 5.0 });
    let mut all = Vec::new();
    for chunk in 0..8 {
        let members = 8 * chunk..8 * chunk + 8;
        all.extend(member_kernels(
            &config,
            members,
            DerivativePair::NTK,
            &x0,
            &xs,
        ));
    }
    let mean = ensemble_mean(&all);
    assert_within_5_percent(&mean, &lib, "");
}

#[test]
fn mse_to_analytic_kernel_falls_like_one_over_width() {
    let (x0, xs) = slice_inputs(24);
    let widths = [64usize, 128, 256, 512, 1024, 2048];
    for m in [2.0, 5.0] {
        for (sg, pair) in [
            (false, DerivativePair::NTK),
            (true, DerivativePair::sg_ntk(Surrogate::ErfPrime { a: 1.0 })),
        ] {
            let want = analytic_slice(&x0, &xs, m, sg);
            let mse_by_width: Vec<f64> = widths
                .iter()
                .map(|&n| {
                    let nets = if n <= 512 { 32 } else { 8 };
                    let ks = kernels(n, m, nets, pair, &x0, &xs);
                    ks.iter().map(|k| mse(k, &want)).sum::<f64>() / nets as f64
                })
                .collect();
            assert_mse_falls_like_one_over_width(&format!("m={m} sg={sg}"), &widths, &mse_by_width);
        }
    }
}

#[test]
fn kernels_recorded_during_training_equal_separate_runs() {
    use sgntk_model::{train, LearningRule, TrainConfig, TrainSet};
    use sgntk_ntk::empirical::train_with_kernels;
    let device = BackendKind::Flex.device().unwrap();
    let config = MlpConfig::paper(24, Activation::Erf { m: 2.0 });
    let x = data::circle_points(&data::uniform_angles(6, 5));
    let set = TrainSet {
        y: data::targets(&x),
        x,
    };
    let (x0, xs) = slice_inputs(7);
    let g = Surrogate::FastSigmoid { k: 2.0 };
    let pair = DerivativePair::sg_ntk(g);
    let cfg = |steps| TrainConfig::new(LearningRule::Sgl(g), 0.1, steps);
    let mut ens = Ensemble::init(&config, 3, 9, &device).unwrap();
    let mut ticks = Vec::new();
    let (report, rec) = train_with_kernels(
        &mut ens,
        &set,
        &cfg(40),
        &[0, 15, 40],
        &xs,
        &x0,
        pair,
        10,
        |t| ticks.push(t),
    )
    .unwrap();
    assert_eq!(ticks, vec![0, 10, 15, 20, 30, 40]);
    assert_eq!(
        rec.iter().map(|r| r.step).collect::<Vec<_>>(),
        vec![0, 15, 40]
    );
    for r in &rec {
        let mut other = Ensemble::init(&config, 3, 9, &device).unwrap();
        let rep = train(&mut other, &set, &cfg(r.step), &[], |_, _| Ok(())).unwrap();
        assert_eq!(rep.loss[..], report.loss[..=r.step]);
        let want = empirical_kernel(&other, &xs, &x0, pair).unwrap();
        for (a, b) in r.kernels.iter().zip(&want) {
            assert_eq!(a, b, "step {}", r.step);
        }
    }
    // Training moved the kernel, and the last record is the trained ensemble's kernel.
    assert!(rel(&rec[2].kernels[0], &rec[0].kernels[0]) > 1e-3);
    assert_eq!(
        rec[2].kernels,
        empirical_kernel(&ens, &xs, &x0, pair).unwrap()
    );
    // Sign networks: the true-derivative side does not exist — an error, before any training.
    let sign = MlpConfig::paper(8, Activation::Sign);
    let mut s = Ensemble::init(&sign, 1, 0, &device).unwrap();
    let err =
        train_with_kernels(&mut s, &set, &cfg(5), &[0], &xs, &x0, pair, 1, |_| {}).unwrap_err();
    assert!(matches!(err, EmpiricalError::NoTrueJacobian { .. }));
}

/// κ (g = κ f, docs/MATH.md §1): the structured kernel of a κ = 0.3 network equals the brute-force
/// Jacobian kernel through the autodiff forward (which carries κ), and for the same draw every
/// empirical kernel is κ² times the κ = 1 one (f32: relative 1e-5).
#[test]
fn kappa_multiplies_empirical_kernels_by_kappa_squared() {
    let device = BackendKind::Flex.device().unwrap();
    let x1 = probe_points(2);
    let x2 = x1.rows(1, 3).into_owned();
    let plain = MlpConfig::new(vec![2, 48, 32, 1], Activation::Erf { m: 2.0 });
    for kappa in [0.3, 0.2] {
        let scaled = MlpConfig {
            kappa,
            ..plain.clone()
        };
        let a = Mlp::init(&plain, 7, &device).unwrap();
        let b = Mlp::init(&scaled, 7, &device).unwrap();
        for pair in [
            DerivativePair::NTK,
            DerivativePair::sg_ntk("erf-prime".parse().unwrap()),
        ] {
            let ka = empirical_kernel(&a.0, &x1, &x2, pair).unwrap().remove(0);
            let kb = empirical_kernel(&b.0, &x1, &x2, pair).unwrap().remove(0);
            let generic = jacobian_kernel(&b, &x1, &x2, pair).unwrap();
            assert!(
                rel(&kb, &generic) < 1e-4,
                "κ = {kappa} {pair:?}: structured vs generic"
            );
            let ratio = rel(&kb, &(&ka * (kappa * kappa)));
            assert!(
                ratio < 1e-5,
                "κ = {kappa} {pair:?}: K_κ vs κ² K_1 off by {ratio:e}"
            );
        }
    }
}
