//! Batched ensembles of one NetSpec (`SpecEnsemble`, `train_flat_ensemble`) in f64 on flex
//! against the same networks trained one after the other (`NetSpec::init(seed, k)` +
//! `train_flat`): a residual MLP (sign + SGL erf', erf + GD) and small CNNs (grouped
//! convolutions), 20 steps each on 3–4 networks. Outputs, parameters and loss curves agree to
//! 1e-10 relative. Measured on flex (burn 0.22.1): the residual MLPs bitwise (the batched matmul
//! runs each member's product as one network's), the CNNs to ≤ 1e-14 relative (the grouped
//! convolution sums in another order than one network's), the mean loss curves to ≤ 1e-15 (the
//! mean over members is summed in another order); bitwise equality is not asserted, as it rests
//! on the backend's kernels. Member k's draws are compared bitwise with
//! `init(seed, k)` and must differ from `init(seed, k')`, k' ≠ k.
//! (Own test binary: the float dtype is configured once per process.)

mod common;
use common::finite_differences::f64_flex_autodiff;

use burn::tensor::Device;
use nalgebra::DMatrix;
use sgntk_model::{
    predict_flat, train_flat, train_flat_ensemble, train_spec_ensemble, Activation, FlatParamModel,
    Layer, LearningRule, ModelError, NetSpec, Padding, ResidualConfig, SpecEnsemble, TrainConfig,
    TrainSet,
};

/// The f64 flex device, configured once for the whole test binary.
fn device() -> Device {
    static DEVICE: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
    DEVICE.get_or_init(f64_flex_autodiff).clone()
}

fn host(net: &impl FlatParamModel) -> Vec<Vec<f64>> {
    net.parameters()
        .into_iter()
        .map(|t| t.into_data().iter::<f64>().collect())
        .collect()
}

/// max |a − b| / max(|b|, 1e-3) over matching entries.
fn worst(a: impl IntoIterator<Item = f64>, b: impl IntoIterator<Item = f64>) -> f64 {
    a.into_iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs() / b.abs().max(1e-3))
        .fold(0.0, f64::max)
}

/// Trains networks `members` of `spec` as one batched ensemble and one after the other, and
/// checks outputs on `test`, parameters, loss curves (mean over members) and per-member losses.
fn batched_equals_one_at_a_time(
    spec: &NetSpec,
    seed: u64,
    members: std::ops::Range<usize>,
    data: &TrainSet,
    test: &DMatrix<f64>,
    config: &TrainConfig,
) {
    let dev = device();
    let (nets, report) =
        train_flat_ensemble(spec, seed, members.clone(), data, config, &dev, None).unwrap();
    assert_eq!(nets.len(), members.len());
    assert_eq!(report.loss.len(), config.steps + 1);
    let mut mean = vec![0.0; config.steps + 1];
    for (j, k) in members.clone().enumerate() {
        let mut one = spec.init(seed, k, &dev).unwrap();
        let alone = train_flat(&mut one, data, config, &[], |_, _| Ok(())).unwrap();
        for (m, l) in mean.iter_mut().zip(&alone.loss) {
            *m += l / members.len() as f64;
        }
        let (first, last) = report.member_loss[j];
        let loss_err = worst([first, last], [alone.loss[0], alone.loss[config.steps]]);
        assert!(loss_err < 1e-10, "member {k}: losses off by {loss_err:e}");
        let out = predict_flat(&nets[j], test).unwrap();
        let want = predict_flat(&one, test).unwrap();
        let out_err = worst(out.iter().copied(), want.iter().copied());
        assert!(out_err < 1e-10, "member {k}: outputs off by {out_err:e}");
        let p_err = worst(host(&nets[j]).concat(), host(&one).concat());
        assert!(p_err < 1e-10, "member {k}: parameters off by {p_err:e}");
    }
    let curve_err = worst(report.loss.iter().copied(), mean);
    assert!(curve_err < 1e-10, "mean loss curve off by {curve_err:e}");
    // Training moved the networks (the comparison is not between two untrained copies).
    assert!(
        report.loss[config.steps] < 0.99 * report.loss[0],
        "{:?}",
        report.loss
    );
}

fn circle_task() -> (TrainSet, DMatrix<f64>) {
    let x = sgntk_model::data::circle_points(&sgntk_model::data::uniform_angles(6, 3));
    let test = sgntk_model::data::circle_points(&sgntk_model::data::uniform_angles(7, 5));
    (
        TrainSet {
            y: sgntk_model::data::targets(&x),
            x,
        },
        test,
    )
}

#[test]
fn residual_sign_sgl_ensemble_equals_networks_trained_one_at_a_time() {
    let spec = NetSpec::residual(&ResidualConfig::new(12, 2, Activation::Sign));
    let (data, test) = circle_task();
    let rule = LearningRule::Sgl("erf-prime:2".parse().unwrap());
    let config = TrainConfig::new(rule, 0.1, 20);
    batched_equals_one_at_a_time(&spec, 5, 2..6, &data, &test, &config);
}

#[test]
fn residual_erf_gd_ensemble_equals_networks_trained_one_at_a_time() {
    let spec = NetSpec::residual(&ResidualConfig::new(10, 1, Activation::Erf { m: 1.5 }));
    let (data, test) = circle_task();
    let config = TrainConfig::new(LearningRule::Gd, 0.2, 20);
    batched_equals_one_at_a_time(&spec, 9, 0..3, &data, &test, &config);
}

/// conv(3, 3×3, same) → φ → conv(2, 2×2, valid) → φ → flatten → Dense{3} on 5×4×2 images.
fn cnn(phi: Activation) -> NetSpec {
    let conv = |channels, filter: [usize; 2], padding| Layer::Conv {
        channels,
        filter: filter.to_vec(),
        padding,
    };
    NetSpec {
        input_shape: vec![5, 4, 2],
        layers: vec![
            conv(3, [3, 3], Padding::Same),
            Layer::Act(phi),
            conv(2, [2, 2], Padding::Valid),
            Layer::Act(phi),
            Layer::Flatten,
            Layer::Dense { width: 3 },
        ],
        sigma_w: 1.3,
        sigma_b: 0.2,
        kappa: 1.0,
    }
}

fn image_task() -> (TrainSet, DMatrix<f64>) {
    let x = DMatrix::from_fn(6, 40, |i, j| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0);
    let y = DMatrix::from_fn(6, 3, |i, j| ((i * 3 + j * 5) % 7) as f64 / 4.0 - 0.7);
    let test = DMatrix::from_fn(4, 40, |i, j| ((i * 5 + j * 2) % 9) as f64 / 4.0 - 1.0);
    (TrainSet { x, y }, test)
}

#[test]
fn cnn_ensemble_equals_networks_trained_one_at_a_time() {
    let (data, test) = image_task();
    let rule = LearningRule::Sgl("erf-prime:1".parse().unwrap());
    let config = TrainConfig::new(rule, 0.05, 20);
    batched_equals_one_at_a_time(
        &cnn(Activation::Erf { m: 2.0 }),
        3,
        1..4,
        &data,
        &test,
        &config,
    );
}

#[test]
fn circular_and_pooled_1d_cnn_ensemble_equals_one_at_a_time() {
    let spec = NetSpec {
        input_shape: vec![6, 2],
        layers: vec![
            Layer::Conv {
                channels: 3,
                filter: vec![3],
                padding: Padding::Circular,
            },
            Layer::Residual(vec![
                Layer::Act(Activation::Tanh),
                Layer::Conv {
                    channels: 3,
                    filter: vec![2],
                    padding: Padding::Same,
                },
            ]),
            Layer::Act(Activation::Tanh),
            Layer::GlobalAveragePool,
            Layer::Dense { width: 2 },
        ],
        sigma_w: 1.1,
        sigma_b: 0.3,
        kappa: 0.8,
    };
    let x = DMatrix::from_fn(5, 12, |i, j| ((i * 5 + j * 7) % 13) as f64 / 6.0 - 1.0);
    let y = DMatrix::from_fn(5, 2, |i, j| ((i + 2 * j) % 5) as f64 / 3.0 - 0.6);
    let config = TrainConfig::new(LearningRule::Gd, 0.2, 20);
    batched_equals_one_at_a_time(&spec, 1, 0..3, &TrainSet { x: x.clone(), y }, &x, &config);
}

#[test]
fn member_j_of_an_ensemble_is_network_start_plus_j() {
    let dev = device();
    let spec = cnn(Activation::Sign);
    let ens = SpecEnsemble::init(&spec, 11, 4..7, &dev).unwrap();
    assert_eq!(ens.members(), 3);
    assert_eq!(ens.range(), 4..7);
    for j in 0..3 {
        let member = host(&ens.member(j));
        assert_eq!(member, host(&spec.init(11, 4 + j, &dev).unwrap()));
        // A wrong stream (member j drawn as network j, or as a neighbour) would differ.
        assert_ne!(member, host(&spec.init(11, j, &dev).unwrap()));
        assert_ne!(member, host(&spec.init(11, 5 + j, &dev).unwrap()));
    }
    // The batched forward of member j is network 4 + j's forward.
    let (_, test) = image_task();
    let outs = ens.predict(&test).unwrap();
    for (j, out) in outs.iter().enumerate() {
        let want = predict_flat(&spec.init(11, 4 + j, &dev).unwrap(), &test).unwrap();
        assert!(worst(out.iter().copied(), want.iter().copied()) < 1e-12);
    }
}

#[test]
fn ensemble_errors_are_one_line() {
    let dev = device();
    let spec = cnn(Activation::Sign);
    let empty = SpecEnsemble::init(&spec, 0, 3..3, &dev).unwrap_err();
    assert!(matches!(empty, ModelError::EmptyEnsemble), "{empty}");
    let mut ens = SpecEnsemble::init(&spec, 0, 0..2, &dev).unwrap();
    let (mut data, _) = image_task();
    data.y = DMatrix::zeros(6, 1);
    let config = TrainConfig::new(LearningRule::Gd, 0.1, 2);
    let err = train_spec_ensemble(&mut ens, &data, &config, &[], |_, _| Ok(()), None).unwrap_err();
    assert!(matches!(err, ModelError::ShapeMismatch { .. }), "{err}");
    assert!(!err.to_string().contains('\n'), "{err}");
    let bad = ens.predict(&DMatrix::zeros(2, 7)).unwrap_err();
    assert!(bad.to_string().contains("40 columns"), "{bad}");
}
