//! Finite convolutional networks against their analytic kernels: the mean empirical kernel of
//! wide CNNs (per-sample Jacobians through burn's autodiff) against the analytic SG-NTK, and one
//! SGL step of `train_flat` against the kernel it is driven by.

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{
    predict_flat, train_flat, Activation, BackendKind, DerivativePair, Layer, LearningRule,
    NetSpec, Padding, Surrogate, TrainConfig, TrainSet,
};
use sgntk_ntk::empirical::{jacobian, jacobian_kernel};
use sgntk_ntk::{kernel_matrix, KernelKind, Kernels, Method};

fn conv(channels: usize, filter: &[usize], padding: Padding) -> Layer {
    Layer::Conv {
        channels,
        filter: filter.to_vec(),
        padding,
    }
}

/// A 1-D CNN on signals of length 6 (global average pool) and a 2-D one on 3 × 3 images
/// (flatten), both with `channels` channels and activation `phi`.
fn cnns(channels: usize, phi: Activation) -> [NetSpec; 2] {
    let spec = |input_shape: Vec<usize>, layers| NetSpec {
        input_shape,
        layers,
        sigma_w: 1.0,
        sigma_b: 0.2,
        kappa: 1.0,
    };
    [
        spec(
            vec![6, 1],
            vec![
                conv(channels, &[3], Padding::Same),
                Layer::Act(phi),
                conv(channels, &[2], Padding::Circular),
                Layer::Act(phi),
                Layer::GlobalAveragePool,
                Layer::Dense { width: 1 },
            ],
        ),
        spec(
            vec![3, 3, 1],
            vec![
                conv(channels, &[2, 2], Padding::Same),
                Layer::Act(phi),
                conv(channels, &[2, 1], Padding::Valid),
                Layer::Act(phi),
                Layer::Flatten,
                Layer::Dense { width: 1 },
            ],
        ),
    ]
}

/// Three seeded inputs of `n0` values.
fn inputs(n0: usize) -> DMatrix<f64> {
    DMatrix::from_fn(3, n0, |i, j| ((i * 5 + j * 3) % 7) as f64 / 3.0 - 1.0)
}

/// Asserts that the mean of `samples` (one kernel matrix per network) lies within `z` standard
/// errors (sample standard deviation / √N) of `analytic` at every entry; returns the largest
/// |mean − analytic| / se.
fn assert_within_se(what: &str, samples: &[DMatrix<f64>], analytic: &DMatrix<f64>, z: f64) -> f64 {
    let n = samples.len() as f64;
    let scale = analytic.abs().max();
    let (mut worst, mut rel_se): (f64, f64) = (0.0, 0.0);
    for i in 0..analytic.nrows() {
        for j in 0..analytic.ncols() {
            let mean = samples.iter().map(|k| k[(i, j)]).sum::<f64>() / n;
            let var = samples
                .iter()
                .map(|k| (k[(i, j)] - mean).powi(2))
                .sum::<f64>()
                / (n - 1.0);
            let se = (var / n).sqrt();
            let d = (mean - analytic[(i, j)]).abs() / se;
            worst = worst.max(d);
            rel_se = rel_se.max(se / scale);
            assert!(
                d < z,
                "{what} ({i},{j}): mean {mean} vs analytic {} (se {se}, {d:.1} se)",
                analytic[(i, j)]
            );
        }
    }
    println!("{what}: largest deviation {worst:.2} se, largest se {rel_se:.4} of max |K|");
    worst
}

#[test]
fn empirical_sgntk_of_wide_cnns_matches_the_analytic_one() {
    // 32 networks with 64 channels per spec, kernels on 3 inputs, every entry within 4 standard
    // errors of the mean (sample sd/√32). Sign CNNs: the kernel with the surrogate on both sides
    // (the sign network's true Jacobian is 0 almost everywhere, so its SG-NTK's first argument
    // has no finite-network counterpart); erf_3 CNNs: the asymmetric SG-NTK (φ', σ̃). Surrogates
    // erf', fast sigmoid and triangle. Measured: se 0.9–2.6 % of max |K|, deviations ≤ 2.9 se.
    let device = BackendKind::Flex.device().unwrap();
    let (channels, nets) = (64, 32);
    let surrogates: Vec<Surrogate> = ["erf-prime:1", "fast-sigmoid:2", "triangle:1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    for (phi, sgntk) in [
        (Activation::Sign, false),
        (Activation::Erf { m: 3.0 }, true),
    ] {
        for spec in cnns(channels, phi) {
            let x = inputs(spec.input_dim());
            let members: Vec<_> = (0..nets)
                .map(|k| spec.init(11, k, &device).unwrap())
                .collect();
            // J_{φ'}(x) once per network (erf only), J_{σ̃}(x) once per surrogate.
            let true_jacobians: Vec<DMatrix<f64>> = match sgntk {
                true => (members.iter())
                    .map(|net| jacobian(net, &x, Surrogate::True).unwrap())
                    .collect(),
                false => Vec::new(),
            };
            for &g in &surrogates {
                let pair = if sgntk {
                    DerivativePair::sg_ntk(g)
                } else {
                    DerivativePair { g1: g, g2: g }
                };
                let samples: Vec<DMatrix<f64>> = (members.iter().enumerate())
                    .map(|(k, net)| {
                        let j2 = jacobian(net, &x, g).unwrap();
                        let j1 = if sgntk { &true_jacobians[k] } else { &j2 };
                        j1 * j2.transpose()
                    })
                    .collect();
                let kernels = Kernels::Spec {
                    spec: &spec,
                    surrogate: g,
                    method: Method::Auto,
                };
                let kind = KernelKind::of_pair(Some(pair));
                let analytic = kernel_matrix(kernels, kind, &x, &x).unwrap();
                let what = format!("{phi} {:?} ({}, {})", spec.input_shape, pair.g1, pair.g2);
                assert_within_se(&what, &samples, &analytic, 4.0);
            }
        }
    }
}

#[test]
fn one_sgl_step_of_a_cnn_moves_its_outputs_by_its_sgntk() {
    // One SGL step of learning rate η on L = 1/(2d) Σ (f − y)² changes the outputs by
    // −(η/d) Î(x, X) r + O(η²), with Î = J_{φ'}(x) J_{σ̃}(X)ᵀ the network's empirical SG-NTK
    // (train_flat and jacobian_kernel on the same CNN): 2e-2 relative at η = 1e-3.
    let device = BackendKind::Flex.device().unwrap();
    let g: Surrogate = "fast-sigmoid:2".parse().unwrap();
    let eta = 1e-3;
    for spec in cnns(16, Activation::Erf { m: 2.0 }) {
        let x = inputs(spec.input_dim());
        let y = DMatrix::from_column_slice(3, 1, &[0.5, -1.0, 1.5]);
        let mut net = spec.init(2, 0, &device).unwrap();
        let f0 = predict_flat(&net, &x).unwrap();
        let k = jacobian_kernel(&net, &x, &x, DerivativePair::sg_ntk(g)).unwrap();
        let want = -(&k * (&f0 - &y)) * (eta / 3.0);
        let config = TrainConfig::new(LearningRule::Sgl(g), eta, 1);
        let data = TrainSet { x: x.clone(), y };
        train_flat(&mut net, &data, &config, &[], |_, _| Ok(())).unwrap();
        let got = predict_flat(&net, &x).unwrap() - f0;
        let err = (&got - &want).abs().max() / want.abs().max();
        assert!(
            err < 2e-2,
            "{:?}: Δf {got} vs {want} ({err:e})",
            spec.input_shape
        );
    }
}

#[test]
fn sgl_steps_of_sign_cnns_follow_the_sign_sgntk_on_average() {
    // The SG-NTK of a sign network (true derivative 2δ on the first side) has no Jacobian at
    // finite width: there it acts through units that change sign during a step. One SGL step of
    // learning rate η changes network k's outputs on its training points by
    // Δf_k = −(η/d) I r_k + noise (Thm. 2.4), with I the analytic sign SG-NTK and r_k = f_k − y.
    // Over N networks with C channels the mean of D_k = Δf_k + (η/d) I r_k lies within 4 standard
    // errors of 0 for each surrogate; the NNGP Σ in place of I (the last layer's share, all a
    // sign network's Jacobian holds) is rejected by more than 4 standard errors. N = 600, C = 64,
    // η = 0.125 (measured: |z| ≤ 1.6 against I, up to 11.6 against Σ at N = 1200; at η = 0.5 the
    // O(η²) terms of one finite step show for fast-sigmoid, |z| up to 4.0 at N = 1200).
    let device = BackendKind::Flex.device().unwrap();
    let (channels, nets, eta) = (64, 600, 0.125);
    let spec = &cnns(channels, Activation::Sign)[0];
    let x = inputs(spec.input_dim());
    let y = DMatrix::from_column_slice(3, 1, &[0.5, -1.0, 1.5]);
    let data = TrainSet {
        x: x.clone(),
        y: y.clone(),
    };
    for name in ["erf-prime:1", "fast-sigmoid:2", "triangle:1"] {
        let g: Surrogate = name.parse().unwrap();
        let kernels = Kernels::Spec {
            spec,
            surrogate: g,
            method: Method::Auto,
        };
        let sgntk = kernel_matrix(kernels, KernelKind::SgNtk, &x, &x).unwrap();
        let nngp = kernel_matrix(kernels, KernelKind::Nngp, &x, &x).unwrap();
        let config = TrainConfig::new(LearningRule::Sgl(g), eta, 1);
        let (mut d_sgntk, mut d_nngp) = (Vec::new(), Vec::new());
        for k in 0..nets {
            let mut net = spec.init(30, k, &device).unwrap();
            let f0 = predict_flat(&net, &x).unwrap();
            train_flat(&mut net, &data, &config, &[], |_, _| Ok(())).unwrap();
            let df = predict_flat(&net, &x).unwrap() - &f0;
            let r = &f0 - &y;
            d_sgntk.push(&df + &sgntk * &r * (eta / 3.0));
            d_nngp.push(&df + &nngp * &r * (eta / 3.0));
        }
        let z = |d: &[DMatrix<f64>]| -> Vec<f64> {
            (0..3)
                .map(|i| {
                    let n = d.len() as f64;
                    let mean = d.iter().map(|m| m[(i, 0)]).sum::<f64>() / n;
                    let var = d.iter().map(|m| (m[(i, 0)] - mean).powi(2)).sum::<f64>() / (n - 1.0);
                    mean / (var / n).sqrt()
                })
                .collect()
        };
        let (zs, zn) = (z(&d_sgntk), z(&d_nngp));
        println!("{name}: z against the SG-NTK {zs:.2?}, against Σ {zn:.2?}");
        assert!(zs.iter().all(|v| v.abs() < 4.0), "{name}: {zs:?}");
        assert!(zn.iter().any(|v| v.abs() > 4.0), "{name}: {zn:?}");
    }
}
