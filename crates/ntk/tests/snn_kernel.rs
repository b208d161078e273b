//! The empirical kernel of the LIF spiking network through the generic per-sample-Jacobian path
//! (no SNN-specific kernel code): it concentrates as the width grows and moves less in training.

use std::f64::consts::PI;

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{
    data, train_flat, BackendKind, LearningRule, Snn, SnnConfig, Surrogate, TrainConfig, TrainSet,
};
use sgntk_ntk::empirical::{
    ensemble_mean, ensemble_spread, jacobian_kernel, DerivativePair, EmpiricalError,
};

const G: Surrogate = Surrogate::ErfPrime { a: 1.0 };

fn config(width: usize) -> SnnConfig {
    let mut c = SnnConfig::new(width, 4);
    c.beta = 0.8;
    c.theta = 0.5;
    c
}

/// Kernels K(x(0), x(α)) at init and after 150 SGL steps, for 8 seeds.
fn kernels(width: usize) -> (Vec<DMatrix<f64>>, Vec<DMatrix<f64>>) {
    let device = BackendKind::Flex.device().unwrap();
    let x0 = data::circle_points(&[0.0]);
    let xs = data::circle_points(&[-PI / 2.0, -PI / 4.0, 0.0, PI / 4.0, PI / 2.0, PI]);
    let x = data::circle_points(&data::uniform_angles(15, data::DEFAULT_DATA_SEED));
    let set = TrainSet {
        y: data::targets(&x),
        x,
    };
    // the spike function has no true derivative: the surrogate on both sides
    let pair = DerivativePair { g1: G, g2: G };
    let cfg = TrainConfig::new(LearningRule::Sgl(G), 0.1, 150);
    let (mut init, mut trained) = (Vec::new(), Vec::new());
    for seed in 0..8 {
        let mut snn = Snn::init(&config(width), seed, &device).unwrap();
        init.push(jacobian_kernel(&snn, &x0, &xs, pair).unwrap());
        train_flat(&mut snn, &set, &cfg, &[], |_, _| Ok(())).unwrap();
        trained.push(jacobian_kernel(&snn, &x0, &xs, pair).unwrap());
    }
    (init, trained)
}

fn rel_spread(ks: &[DMatrix<f64>]) -> f64 {
    ensemble_spread(ks).norm() / ensemble_mean(ks).norm()
}

fn rel_change(a: &[DMatrix<f64>], b: &[DMatrix<f64>]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (q - p).norm() / p.norm())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn lif_kernel_concentrates_with_width_and_moves_less_when_wide() {
    let (i32_, t32) = kernels(32);
    let (i256, t256) = kernels(256);
    let (s32, s256) = (rel_spread(&i32_), rel_spread(&i256));
    let (c32, c256) = (rel_change(&i32_, &t32), rel_change(&i256, &t256));
    println!("LIF kernel: relative spread over 8 seeds {s32:.3} (n=32) vs {s256:.3} (n=256); relative change in 150 SGL steps {c32:.3} vs {c256:.3}");
    assert!(s256 < 0.7 * s32, "spread {s32} -> {s256}");
    assert!(c256 < c32, "change {c32} -> {c256}");
    // a kernel: symmetric in the argument order when both sides use the surrogate
    let device = BackendKind::Flex.device().unwrap();
    let snn = Snn::init(&config(16), 0, &device).unwrap();
    let xs = data::circle_points(&[0.3, 1.0, 2.0]);
    let k = jacobian_kernel(&snn, &xs, &xs, DerivativePair { g1: G, g2: G }).unwrap();
    assert!((&k - k.transpose()).amax() < 1e-5 * k.amax());
}

#[test]
fn lif_true_jacobian_does_not_exist() {
    let device = BackendKind::Flex.device().unwrap();
    let snn = Snn::init(&config(8), 0, &device).unwrap();
    let x = data::circle_points(&[0.0]);
    let err = jacobian_kernel(&snn, &x, &x, DerivativePair::sg_ntk(G)).unwrap_err();
    assert!(matches!(err, EmpiricalError::NoTrueJacobian { .. }));
}
