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

/// The loss of every engine (SPEC §3): L = 1/(2d) Σ_i ‖f(x_i) − y_i‖² over d training points,
/// with ∂L/∂f(x_i) = (f(x_i) − y_i)/d.
pub mod loss {
    use burn::tensor::Tensor;

    /// The factor 1/(2d) of L, for d = `points`.
    pub fn scale(points: usize) -> f64 {
        1.0 / (2.0 * points as f64)
    }

    /// L from residuals r = f − y on the device, summed over every entry (over ensemble members
    /// too when `r` carries them); an autodiff graph on `r` is kept.
    pub fn of_residual<const D: usize>(r: Tensor<D>, points: usize) -> Tensor<1> {
        (r.clone() * r).sum().mul_scalar(scale(points))
    }

    /// ∂L/∂f = r/d: the output δ that starts the backward recursion.
    pub fn gradient<const D: usize>(r: Tensor<D>, points: usize) -> Tensor<D> {
        r.mul_scalar(2.0 * scale(points))
    }
}

/// Sum over members of L_k, as a 1-element tensor (autodiff graph attached).
fn total_loss(f: Tensor<3>, y: &Tensor<2>) -> Tensor<1> {
    let [_, d, _] = f.dims();
    loss::of_residual(f - y.clone().unsqueeze_dim::<3>(0), d)
}

/// One autodiff step: returns Σ_k L_k before the step (a device scalar); lr = 0 only evaluates.
fn autodiff_step(s: &mut TensorStepper, lr: f64) -> Tensor<1> {
    let (ensemble, x, y, backward) = (&mut *s.ensemble, &s.x, &s.y, s.backward);
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
fn explicit_step(s: &mut TensorStepper, lr: f64) -> Tensor<1> {
    let (ensemble, x, y, backward) = (&mut *s.ensemble, &s.x, &s.y, s.backward);
    let cache = forward_cache(ensemble, x);
    let f = cache.output().clone();
    let [_, d, _] = f.dims();
    let residual = f - y.clone().unsqueeze_dim::<3>(0);
    let value = loss::of_residual(residual.clone(), d);
    if lr == 0.0 {
        return value;
    }
    let deltas = backward_deltas(ensemble, &cache, loss::gradient(residual, d), backward);
    let grads = parameter_gradients(ensemble, &cache, &deltas);
    descend(ensemble, grads, lr);
    value
}

/// One training engine as the shared loop [`run_steps`] drives it: the engine only steps and
/// evaluates; the loop owns the contract.
pub(crate) trait Stepper {
    /// What recording hooks see.
    type Model;
    /// Takes steps `from..to` and returns the mean loss before each, in order; it may stop early
    /// once a returned loss is non-finite.
    fn steps(&mut self, from: usize, to: usize) -> Vec<f64>;
    /// The mean loss of the current parameters (no step).
    fn loss(&mut self) -> f64;
    /// The model after `step` steps, brought up to date and checked for non-finite parameters.
    fn model(&mut self, step: usize) -> Result<&Self::Model, ModelError>;
}

/// The training loop of every engine: `hook(t, model)` before step t for every t in `record_at`
/// (t = steps: after the last step), and the mean loss before each step and after the last
/// (steps + 1 values). The first non-finite loss stops training with
/// [`ModelError::NonFiniteLoss`] naming its step.
pub(crate) fn run_steps<S: Stepper>(
    stepper: &mut S,
    steps: usize,
    lr: f64,
    record_at: &[usize],
    mut hook: impl FnMut(usize, &S::Model) -> Result<(), ModelError>,
) -> Result<Vec<f64>, ModelError> {
    let mut stops: Vec<usize> = record_at.iter().copied().filter(|&t| t <= steps).collect();
    stops.push(steps);
    stops.sort_unstable();
    stops.dedup();
    let mut losses = Vec::with_capacity(steps + 1);
    let push_finite = |losses: &mut Vec<f64>, values: Vec<f64>| {
        for loss in values {
            if !loss.is_finite() {
                let step = losses.len();
                return Err(ModelError::NonFiniteLoss { step, loss, lr });
            }
            losses.push(loss);
        }
        Ok(())
    };
    for stop in stops {
        let from = losses.len();
        push_finite(&mut losses, stepper.steps(from, stop))?;
        if record_at.contains(&stop) {
            hook(stop, stepper.model(stop)?)?;
        }
    }
    push_finite(&mut losses, vec![stepper.loss()])?;
    stepper.model(steps)?;
    Ok(losses)
}

/// Losses are kept on the device and read back in batches of this many steps (and before every
/// recording hook): a GPU never waits for the host inside the loop.
const LOSS_READBACK: usize = 100;

/// The burn-tensor engines ([`Engine::Explicit`], [`Engine::Autodiff`]) as a [`Stepper`].
struct TensorStepper<'a> {
    ensemble: &'a mut Ensemble,
    x: Tensor<2>,
    y: Tensor<2>,
    backward: Surrogate,
    lr: f64,
    autodiff: bool,
}

impl TensorStepper<'_> {
    /// One step with learning rate `lr` (0: only evaluate); Σ_k L_k before it, on the device.
    fn step(&mut self, lr: f64) -> Tensor<1> {
        if self.autodiff {
            autodiff_step(self, lr)
        } else {
            explicit_step(self, lr)
        }
    }

    /// Member means of device losses.
    fn read_back(&self, pending: Vec<Tensor<1>>) -> Vec<f64> {
        let members = self.ensemble.members() as f64;
        Tensor::cat(pending, 0)
            .into_data()
            .iter::<f64>()
            .map(|v| v / members)
            .collect()
    }
}

impl Stepper for TensorStepper<'_> {
    type Model = Ensemble;

    fn steps(&mut self, from: usize, to: usize) -> Vec<f64> {
        let mut losses = Vec::with_capacity(to - from);
        let mut pending = Vec::new();
        for step in from..to {
            pending.push(self.step(self.lr));
            if pending.len() >= LOSS_READBACK || step + 1 == to {
                losses.extend(self.read_back(std::mem::take(&mut pending)));
                if losses.iter().any(|l| !l.is_finite()) {
                    break;
                }
            }
        }
        losses
    }

    fn loss(&mut self) -> f64 {
        let value = self.step(0.0);
        self.read_back(vec![value])[0]
    }

    fn model(&mut self, step: usize) -> Result<&Ensemble, ModelError> {
        self.ensemble.check_parameters_finite(step)?;
        Ok(self.ensemble)
    }
}

/// Trains `ensemble` in place for `config.steps` steps.
///
/// `hook(t, ensemble)` is called before step t for every t in `record_at` (t = steps means after
/// the last step). A non-finite loss stops training with [`ModelError::NonFiniteLoss`] naming the
/// first bad step (on a burn-tensor engine detected at the next read-back, at most 100 steps
/// later).
pub fn train<F>(
    ensemble: &mut Ensemble,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    hook: F,
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
    let mut stepper = TensorStepper {
        x: matrix_to_tensor(&data.x, &device).inner(),
        y: matrix_to_tensor(&data.y, &device).inner(),
        ensemble,
        backward: config.rule.backward_derivative(),
        lr: config.lr,
        autodiff: engine == Engine::Autodiff,
    };
    let loss = run_steps(&mut stepper, config.steps, config.lr, record_at, hook)?;
    Ok(TrainReport {
        loss,
        ..TrainReport::default()
    })
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
        .mul_scalar(loss::scale(d));
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
