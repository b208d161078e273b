//! Multi-output flat models (a CNN with a final Dense{10}) in f64 on flex: the loss
//! L = 1/(2d) Σ_i ‖f(x_i) − y_i‖² (docs/MATH.md §3) against the outputs of `predict_flat`, its GD
//! gradient against central finite differences, its SGL gradient against the sum of the ten
//! one-output networks' (each output is a network of its own sharing the hidden layers), and
//! `train_flat`'s steps against plain steps along `flat_gradients`.
//! (Own test binary: the float dtype is configured once per process.)

mod common;
use common::finite_differences::f64_flex_autodiff;

use burn::tensor::{Device, Tensor};
use nalgebra::DMatrix;
use sgntk_model::{
    flat_gradients, matrix_to_tensor, predict_flat, train_flat, Activation, FlatParamModel, Layer,
    LearningRule, NetSpec, Padding, Surrogate, TrainConfig, TrainSet,
};

const OUTPUTS: usize = 10;

/// The f64 flex device, configured once for the whole test binary.
fn device() -> Device {
    static DEVICE: std::sync::OnceLock<Device> = std::sync::OnceLock::new();
    DEVICE.get_or_init(f64_flex_autodiff).clone()
}

/// conv(3, 3×3, same) → φ → conv(3, 3×3, same) → φ → flatten → Dense{outputs} on 4×4×1 images.
fn cnn(phi: Activation, outputs: usize) -> NetSpec {
    let conv = |channels| Layer::Conv {
        channels,
        filter: vec![3, 3],
        padding: Padding::Same,
    };
    NetSpec {
        input_shape: vec![4, 4, 1],
        layers: vec![
            conv(3),
            Layer::Act(phi),
            conv(3),
            Layer::Act(phi),
            Layer::Flatten,
            Layer::Dense { width: outputs },
        ],
        sigma_w: 1.3,
        sigma_b: 0.2,
        kappa: 1.0,
    }
}

/// Five images and ten targets per image (deterministic, not one-hot: every output is pulled).
fn task() -> TrainSet {
    let x = DMatrix::from_fn(5, 16, |i, j| ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0);
    let y = DMatrix::from_fn(5, OUTPUTS, |i, j| ((i * 3 + j * 5) % 7) as f64 / 4.0 - 0.7);
    TrainSet { x, y }
}

fn host(net: &impl FlatParamModel) -> Vec<Vec<f64>> {
    net.parameters()
        .into_iter()
        .map(|t| t.into_data().iter::<f64>().collect())
        .collect()
}

fn tensors(values: &[Vec<f64>], device: &Device) -> Vec<Tensor<1>> {
    values
        .iter()
        .map(|v| {
            matrix_to_tensor(&DMatrix::from_row_slice(1, v.len(), v), device).reshape([v.len()])
        })
        .collect()
}

/// L computed by hand from the outputs `predict_flat` gives (d × 10).
fn hand_loss(net: &impl FlatParamModel, set: &TrainSet) -> f64 {
    let f = predict_flat(net, &set.x).unwrap();
    assert_eq!(f.shape(), (set.x.nrows(), OUTPUTS));
    (f - &set.y).norm_squared() / (2.0 * set.x.nrows() as f64)
}

#[test]
fn ten_output_cnn_loss_and_gd_gradient_match_hand_and_finite_differences() {
    let device = device();
    let set = task();
    let mut net = cnn(Activation::Tanh, OUTPUTS).init(4, 0, &device).unwrap();
    assert_eq!(net.outputs(), OUTPUTS);
    let (loss, grads) = flat_gradients(&net, &set, LearningRule::Gd).unwrap();
    assert!(
        (loss - hand_loss(&net, &set)).abs() < 1e-12 * loss,
        "{loss}"
    );
    // Central differences of the hand loss, ε = 1e-5, over every 13th parameter of each tensor
    // (47 of the 604; every readout row among them) and every readout bias.
    let p = host(&net);
    let eps = 1e-5;
    let mut worst: f64 = 0.0;
    let last = p.len() - 1;
    for (i, layer) in p.iter().enumerate() {
        let stride = if i == last { 1 } else { 13 };
        for k in (0..layer.len()).step_by(stride) {
            let mut at = |delta: f64| {
                let mut q = p.clone();
                q[i][k] += delta;
                net.set_parameters(tensors(&q, &device));
                hand_loss(&net, &set)
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            worst = worst.max((grads[i][k] - fd).abs() / (1e-3 + fd.abs()));
        }
    }
    assert!(worst < 1e-6, "worst relative error {worst}");
}

#[test]
fn ten_output_sgl_gradient_is_the_sum_over_one_output_networks() {
    // L = Σ_j L_j with L_j the loss of output j alone: the network of output j is the same
    // hidden layers with the readout row W[j], b[j]. So the SGL (sign, erf') gradient of the
    // hidden parameters is Σ_j of the one-output gradients, and the readout's row j is output
    // j's readout gradient (f64, 1e-10 relative).
    let device = device();
    let set = task();
    let rule = LearningRule::Sgl(Surrogate::ErfPrime { a: 1.0 });
    let net = cnn(Activation::Sign, OUTPUTS).init(6, 1, &device).unwrap();
    let (loss, grads) = flat_gradients(&net, &set, rule).unwrap();
    assert!(
        (loss - hand_loss(&net, &set)).abs() < 1e-12 * loss,
        "{loss}"
    );
    let p = host(&net);
    let readout = p.len() - 2;
    let hidden = p[readout].len() / OUTPUTS;
    let mut one = cnn(Activation::Sign, 1).init(0, 0, &device).unwrap();
    let mut sum_loss = 0.0;
    let mut sum_hidden: Vec<Vec<f64>> = p[..readout].iter().map(|v| vec![0.0; v.len()]).collect();
    for j in 0..OUTPUTS {
        let mut q = p[..readout].to_vec();
        q.push(p[readout][j * hidden..(j + 1) * hidden].to_vec());
        q.push(vec![p[readout + 1][j]]);
        one.set_parameters(tensors(&q, &device));
        let single = TrainSet {
            x: set.x.clone(),
            y: set.y.columns(j, 1).into_owned(),
        };
        let (l, g) = flat_gradients(&one, &single, rule).unwrap();
        sum_loss += l;
        for (s, gi) in sum_hidden.iter_mut().zip(&g) {
            s.iter_mut().zip(gi).for_each(|(a, b)| *a += b);
        }
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-10);
        assert!(close(
            &g[readout],
            &grads[readout][j * hidden..(j + 1) * hidden]
        ));
        assert!((g[readout + 1][0] - grads[readout + 1][j]).abs() < 1e-10);
    }
    assert!(
        (sum_loss - loss).abs() < 1e-12 * loss,
        "{sum_loss} vs {loss}"
    );
    for (s, g) in sum_hidden.iter().zip(&grads[..readout]) {
        let scale = g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(scale > 0.0);
        for (a, b) in s.iter().zip(g) {
            assert!((a - b).abs() < 1e-10 * scale, "{a} vs {b}");
        }
    }
}

#[test]
fn train_flat_steps_along_the_multi_output_gradient() {
    // Three SGL steps of train_flat equal three plain steps θ ← θ − η ∇L along flat_gradients,
    // and its loss curve is the hand loss before each step (f64, 1e-12 relative).
    let device = device();
    let set = task();
    let rule = LearningRule::Sgl(Surrogate::ErfPrime { a: 1.0 });
    let spec = cnn(Activation::Sign, OUTPUTS);
    let lr = 0.3;
    let mut trained = spec.init(8, 2, &device).unwrap();
    let config = TrainConfig::new(rule, lr, 3);
    let report = train_flat(&mut trained, &set, &config, &[], |_, _| Ok(())).unwrap();
    let mut manual = spec.init(8, 2, &device).unwrap();
    for t in 0..3 {
        let h = hand_loss(&manual, &set);
        assert!((report.loss[t] - h).abs() < 1e-12 * h, "step {t}");
        let (_, g) = flat_gradients(&manual, &set, rule).unwrap();
        let mut p = host(&manual);
        for (pi, gi) in p.iter_mut().zip(&g) {
            pi.iter_mut().zip(gi).for_each(|(a, b)| *a -= lr * b);
        }
        manual.set_parameters(tensors(&p, &device));
    }
    let (a, b) = (
        predict_flat(&trained, &set.x).unwrap(),
        predict_flat(&manual, &set.x).unwrap(),
    );
    assert!((a - b).abs().max() < 1e-12, "trained outputs differ");
}

#[test]
fn targets_must_match_the_output_count() {
    // One line naming both numbers, from training and from the gradient alike.
    let device = device();
    let set = task();
    let mut net = cnn(Activation::Tanh, 3).init(0, 0, &device).unwrap();
    let e = flat_gradients(&net, &set, LearningRule::Gd)
        .unwrap_err()
        .to_string();
    assert!(e.contains("N x 3") && e.contains("5 x 10"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let config = TrainConfig::new(LearningRule::Gd, 0.1, 1);
    let e = train_flat(&mut net, &set, &config, &[], |_, _| Ok(())).unwrap_err();
    assert!(e.to_string().contains("3 outputs"), "{e}");
}
