//! Full-batch GD / SGL training of ensembles (SPEC §3).
//!
//! Loss of member k: L_k = 1/(2d) · Σ_i ‖f_k(x_i) − y_i‖²; one step is θ ← θ − η ∇L_k, with ∇
//! computed by backprop in which every φ'(h) is φ' (GD) or the surrogate σ̃(h) (SGL).
//! The members are independent; they train as one batched computation.

use burn::tensor::Tensor;
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::activation::Surrogate;
use crate::backprop::{backward_deltas, forward_cache, parameter_gradients};
use crate::error::ModelError;
use crate::mlp::{check_finite, matrix_to_tensor, DeviceLayer, Ensemble, LearningRule};

/// Settings of one training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// GD or SGL with a surrogate.
    pub rule: LearningRule,
    /// Learning rate η (> 0).
    pub lr: f64,
    /// Number of full-batch steps.
    pub steps: usize,
    /// How gradients are computed (both give the same numbers).
    #[serde(default)]
    pub engine: Engine,
}

/// How the training step computes gradients. All engines give the same numbers up to f32
/// rounding (tested).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// [`Engine::Lowrank`] on a CPU device with f32 parameters, else [`Engine::Explicit`].
    #[default]
    Auto,
    /// The fused host-CPU engine of [`crate::fused`] (f32, vectorized, one member per thread).
    Fused,
    /// The fused engine with deferred low-rank updates and, for sign/step networks,
    /// pre-activations updated through the units that changed ([`crate::fused::Plan::tuned`]):
    /// the same numbers up to f32 rounding, less work per step.
    Lowrank,
    /// The explicit δ-recursion of [`crate::backprop`] as burn tensor operations, without an
    /// autodiff tape: runs on any device (GPU included) and dtype.
    Explicit,
    /// burn's autodiff through the surrogate op (general; the oracle).
    Autodiff,
}

impl Engine {
    /// The concrete engine [`Engine::Auto`] stands for on `ensemble`'s device and dtype.
    pub fn resolve(self, ensemble: &Ensemble) -> Engine {
        match self {
            Engine::Auto => {
                let device = ensemble.device().clone().inner();
                #[allow(deprecated)] // burn-ndarray is deprecated but still a CPU backend
                let cpu = device == burn::tensor::Device::flex()
                    || device == burn::tensor::Device::ndarray();
                let f32_params = ensemble
                    .layers()
                    .first()
                    .is_some_and(|l| l.weight.dtype() == burn::tensor::DType::F32);
                if cpu && f32_params {
                    Engine::Lowrank
                } else {
                    Engine::Explicit
                }
            }
            other => other,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            rule: LearningRule::Gd,
            lr: 0.1,
            steps: 0,
            engine: Engine::default(),
        }
    }
}

impl TrainConfig {
    /// Checks the learning rate, and that the loss curve (steps + 1 values) fits into memory.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ModelError::NonPositiveLearningRate(self.lr));
        }
        let values = (self.steps as u64).saturating_add(1);
        crate::limits::check_memory("the loss curve", &[("loss values", values), ("bytes", 8)])?;
        Ok(())
    }

    /// Checks that every constant of a run in f32 arithmetic survives rounding to f32: η, σw, σb
    /// and κ are finite and not flushed to 0, and for the activation's and the surrogate's
    /// parameter p so are p² and 1/p (the formulas use −p²z², 2p/√π and −z/p).
    pub fn check_f32(&self, mlp: &crate::mlp::MlpConfig) -> Result<(), ModelError> {
        fn fits(v: f64) -> bool {
            let f = v as f32;
            v.is_finite() && f.is_finite() && (v == 0.0 || f.abs() >= f32::MIN_POSITIVE)
        }
        let scalars = [
            ("learning rate", self.lr),
            ("sigma_w", mlp.sigma_w),
            ("sigma_b", mlp.sigma_b),
            ("kappa", mlp.kappa),
        ];
        for (name, v) in scalars {
            if !fits(v) {
                return Err(ModelError::NotRepresentableInF32 {
                    name: name.into(),
                    value: v,
                    rule: "it must lie within f32's normal range (about 1.2e-38 to 3.4e38)",
                });
            }
        }
        let params = [
            (mlp.activation.to_string(), mlp.activation.parameter()),
            (
                self.rule.backward_derivative().to_string(),
                self.rule.backward_derivative().parameter(),
            ),
        ];
        for (spec, p) in params {
            if let Some(p) = p.filter(|p| !(fits(*p) && fits(p * p) && fits(1.0 / p))) {
                return Err(ModelError::NotRepresentableInF32 {
                    name: format!(
                        "the parameter of `{}`",
                        spec.split(':').next().unwrap_or("")
                    ),
                    value: p,
                    rule:
                        "p, p² and 1/p must lie within f32's normal range (about 1e-19 ≤ p ≤ 1e19)",
                });
            }
        }
        Ok(())
    }
}

/// What a training run returns.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Mean over members of the training loss before step t, for t = 0 … steps (steps + 1 entries).
    pub loss: Vec<f64>,
    /// What the fused engine's [`crate::fused::Plan`] did (zero for other engines).
    #[serde(default)]
    pub plan: crate::fused::PlanStats,
}

/// Training data on the host: inputs `d × n_0`, targets `d × n_L`.
#[derive(Clone, Debug)]
pub struct TrainSet {
    /// Inputs, one row per point.
    pub x: DMatrix<f64>,
    /// Targets, one row per point.
    pub y: DMatrix<f64>,
}

impl TrainSet {
    /// Checks shapes against the ensemble and finiteness of every entry.
    pub fn validate(&self, ensemble: &Ensemble) -> Result<(), ModelError> {
        ensemble.check_inputs(&self.x)?;
        let n_out = ensemble.config().output_dim();
        if self.y.nrows() != self.x.nrows() || self.y.ncols() != n_out {
            return Err(ModelError::ShapeMismatch {
                what: "targets".into(),
                expected: format!("{} × {}", self.x.nrows(), n_out),
                got: format!("{} × {}", self.y.nrows(), self.y.ncols()),
            });
        }
        if self.x.nrows() == 0 {
            return Err(ModelError::ShapeMismatch {
                what: "training set".into(),
                expected: "at least one point".into(),
                got: "0 points".into(),
            });
        }
        check_finite(&self.y, "targets")?;
        if ensemble.is_f32() {
            crate::mlp::check_fits_f32(&self.y, "targets")?;
        }
        Ok(())
    }
}

/// Sum over members of L_k, as a 1-element tensor (autodiff graph attached).
fn total_loss(f: Tensor<3>, y: &Tensor<2>) -> Tensor<1> {
    let [_, d, _] = f.dims();
    let diff = f - y.clone().unsqueeze_dim::<3>(0);
    (diff.clone() * diff)
        .sum()
        .mul_scalar(1.0 / (2.0 * d as f64))
}

/// One autodiff step: returns Σ_k L_k before the step (a device scalar); lr = 0 only evaluates.
fn autodiff_step(
    ensemble: &mut Ensemble,
    x: &Tensor<2>,
    y: &Tensor<2>,
    backward: Surrogate,
    lr: f64,
) -> Tensor<1> {
    for layer in ensemble.layers_mut() {
        layer.weight = Tensor::from_inner(layer.weight.clone().inner()).require_grad();
        layer.bias = Tensor::from_inner(layer.bias.clone().inner()).require_grad();
    }
    let f = ensemble.forward(x, backward);
    let loss = total_loss(f, y);
    let value = loss.clone().inner();
    if lr == 0.0 {
        return value;
    }
    let grads = loss.backward();
    let layer_grads: Vec<(Tensor<3>, Tensor<2>)> = ensemble
        .layers()
        .iter()
        .map(|l| {
            (
                l.weight.grad(&grads).expect("weight is a tracked leaf"),
                l.bias.grad(&grads).expect("bias is a tracked leaf"),
            )
        })
        .collect();
    descend(ensemble, layer_grads, lr);
    value
}

/// θ ← θ − η ∇θ for every layer, from (∇W, ∇b) per layer.
fn descend(ensemble: &mut Ensemble, grads: Vec<(Tensor<3>, Tensor<2>)>, lr: f64) {
    for (layer, (gw, gb)) in ensemble.layers_mut().iter_mut().zip(grads) {
        *layer = DeviceLayer {
            weight: layer.weight.clone().inner() - gw.mul_scalar(lr),
            bias: layer.bias.clone().inner() - gb.mul_scalar(lr),
        };
    }
}

/// One step of the explicit δ-recursion (no tape): returns Σ_k L_k before the step (a device
/// scalar); lr = 0 only evaluates.
fn explicit_step(
    ensemble: &mut Ensemble,
    x: &Tensor<2>,
    y: &Tensor<2>,
    backward: Surrogate,
    lr: f64,
) -> Tensor<1> {
    let cache = forward_cache(ensemble, x);
    let f = cache.output().clone();
    let [_, d, _] = f.dims();
    let residual = f - y.clone().unsqueeze_dim::<3>(0);
    let value = (residual.clone() * residual.clone())
        .sum()
        .mul_scalar(1.0 / (2.0 * d as f64));
    if lr == 0.0 {
        return value;
    }
    let deltas = backward_deltas(
        ensemble,
        &cache,
        residual.mul_scalar(1.0 / d as f64),
        backward,
    );
    let grads = parameter_gradients(ensemble, &cache, &deltas);
    descend(ensemble, grads, lr);
    value
}

/// Losses are kept on the device and read back in batches of this many steps (and before every
/// recording hook): a GPU never waits for the host inside the loop.
const LOSS_READBACK: usize = 100;

/// Trains `ensemble` in place for `config.steps` steps.
///
/// `hook(t, ensemble)` is called before step t for every t in `record_at` (t = steps means after
/// the last step). A non-finite loss stops training with [`ModelError::NonFiniteLoss`] naming the
/// first bad step (detected at the next read-back, at most 100 steps later).
pub fn train<F>(
    ensemble: &mut Ensemble,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    mut hook: F,
) -> Result<TrainReport, ModelError>
where
    F: FnMut(usize, &Ensemble) -> Result<(), ModelError>,
{
    let engine = config.engine.resolve(ensemble);
    let plan = match engine {
        Engine::Fused => Some(crate::fused::Plan::EAGER),
        Engine::Lowrank => Some(crate::fused::Plan::tuned(ensemble.config().activation)),
        _ => None,
    };
    if let Some(plan) = plan {
        // train_fused validates the same way.
        let isa = crate::fused::Isa::detect();
        return crate::fused::train_fused(ensemble, data, config, record_at, isa, plan, hook);
    }
    config.validate()?;
    if ensemble.is_f32() {
        config.check_f32(ensemble.config())?;
    }
    data.validate(ensemble)?;
    let device = ensemble.device().clone();
    let x = matrix_to_tensor(&data.x, &device).inner();
    let y = matrix_to_tensor(&data.y, &device).inner();
    let backward = config.rule.backward_derivative();
    let members = ensemble.members() as f64;
    let lr = config.lr;
    let mut report = TrainReport::default();
    let mut pending: Vec<Tensor<1>> = Vec::new();

    for step in 0..=config.steps {
        if record_at.contains(&step) {
            flush(&mut pending, &mut report, members, lr)?;
            ensemble.check_parameters_finite(step)?;
            hook(step, ensemble)?;
        }
        let last = step == config.steps;
        let step_lr = if last { 0.0 } else { lr };
        pending.push(match engine {
            Engine::Autodiff => autodiff_step(ensemble, &x, &y, backward, step_lr),
            _ => explicit_step(ensemble, &x, &y, backward, step_lr),
        });
        if last || pending.len() >= LOSS_READBACK {
            flush(&mut pending, &mut report, members, lr)?;
        }
    }
    ensemble.check_parameters_finite(config.steps)?;
    Ok(report)
}

/// Reads the pending device losses back, appends their member means to the report, and fails at
/// the first non-finite one.
fn flush(
    pending: &mut Vec<Tensor<1>>,
    report: &mut TrainReport,
    members: f64,
    lr: f64,
) -> Result<(), ModelError> {
    if pending.is_empty() {
        return Ok(());
    }
    let values: Vec<f64> = Tensor::cat(std::mem::take(pending), 0)
        .into_data()
        .iter::<f64>()
        .collect();
    for v in values {
        let value = v / members;
        if !value.is_finite() {
            return Err(ModelError::NonFiniteLoss {
                step: report.loss.len(),
                loss: value,
                lr,
            });
        }
        report.loss.push(value);
    }
    Ok(())
}

/// The loss L_k and its gradient ∇L_k (with φ' or σ̃ in the backward pass, per `rule`) of every
/// member, downloaded to the host. The gradient has the layout of the parameters.
pub fn gradients(
    ensemble: &Ensemble,
    data: &TrainSet,
    rule: LearningRule,
) -> Result<(Vec<f64>, Vec<crate::mlp::HostParams>), ModelError> {
    data.validate(ensemble)?;
    let device = ensemble.device().clone();
    let x = matrix_to_tensor(&data.x, &device).inner();
    let y = matrix_to_tensor(&data.y, &device).inner();
    let mut tracked = ensemble.clone();
    for layer in tracked.layers_mut() {
        layer.weight = Tensor::from_inner(layer.weight.clone().inner()).require_grad();
        layer.bias = Tensor::from_inner(layer.bias.clone().inner()).require_grad();
    }
    let f = tracked.forward(&x, rule.backward_derivative());
    let [_, d, _] = f.dims();
    let diff = f - y.unsqueeze_dim::<3>(0);
    let per_member = (diff.clone() * diff)
        .sum_dim(2)
        .sum_dim(1)
        .mul_scalar(1.0 / (2.0 * d as f64));
    let losses: Vec<f64> = per_member
        .clone()
        .inner()
        .into_data()
        .iter::<f64>()
        .collect();
    let grads = per_member.sum().backward();
    let mut grad_ens = tracked.clone();
    for (g, t) in grad_ens.layers_mut().iter_mut().zip(tracked.layers()) {
        g.weight = t.weight.grad(&grads).expect("weight is a tracked leaf");
        g.bias = t.bias.grad(&grads).expect("bias is a tracked leaf");
    }
    Ok((losses, grad_ens.to_host()))
}
