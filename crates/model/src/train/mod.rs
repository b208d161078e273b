//! Full-batch GD / SGL training of ensembles (docs/MATH.md §3).
//!
//! Loss of member k: L_k = 1/(2d) · Σ_i ‖f_k(x_i) − y_i‖²; one step is θ ← θ − η ∇L_k, with ∇
//! computed by backprop in which every φ'(h) is φ' (GD) or the surrogate σ̃(h) (SGL).
//! The members are independent; they train as one batched computation.

use burn::tensor::Tensor;

use crate::activation::Surrogate;
use crate::backprop::{backward_deltas, forward_cache, parameter_gradients};
use crate::error::ModelError;
use crate::mlp::{matrix_to_tensor, DeviceLayer, Ensemble, LearningRule};

pub mod driver;
pub use driver::PROGRESS_INTERVAL;
pub use driver::{loss, Engine, PlanStats, Progress, TrainConfig, TrainReport, TrainSet};
pub(crate) use driver::{run_steps, Stepper};

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
                let batch = self.read_back(std::mem::take(&mut pending));
                let diverged = batch.iter().any(|l| !l.is_finite());
                losses.extend(batch);
                if diverged {
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
    train_reporting(ensemble, data, config, record_at, hook, None)
}

/// [`train()`] telling `progress` how far it is about every [`PROGRESS_INTERVAL`] (steps done and
/// the last mean loss; the model is not touched, so this costs nothing measurable). The trained
/// parameters and losses are the same as without it, to the bit.
pub fn train_reporting<F>(
    ensemble: &mut Ensemble,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    hook: F,
    progress: Option<Progress>,
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
        return crate::fused::train_fused_reporting(
            ensemble, data, config, record_at, isa, plan, hook, progress,
        );
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
    let loss = run_steps(
        &mut stepper,
        config.steps,
        config.lr,
        record_at,
        hook,
        progress,
    )?;
    Ok(TrainReport {
        loss,
        ..TrainReport::default()
    })
}

/// [`train_reporting`] without recording hooks, starting from and leaving the engine's carried
/// state in `state`, so that a run can be saved and continued bit for bit: with `Some(s)` in
/// `state` the run starts from `s` (which must come from the same engine and plan, network
/// shape, number of training points and members; an error otherwise), and afterwards `state`
/// holds what the next step would start from — `None` on engines that carry nothing between
/// steps (every engine but [`Engine::Lowrank`] on sign/step layers of ≥ 256 units, see
/// [`crate::fused::Plan::tuned`]). The parameters in `ensemble` are the networks computed, with
/// the state's deferred updates folded in.
pub fn train_continuing(
    ensemble: &mut Ensemble,
    data: &TrainSet,
    config: &TrainConfig,
    progress: Option<Progress>,
    state: &mut Option<crate::fused::EngineState>,
) -> Result<TrainReport, ModelError> {
    let engine = config.engine.resolve(ensemble);
    if engine == Engine::Lowrank {
        let run = crate::fused::Run {
            isa: crate::fused::Isa::detect(),
            plan: crate::fused::Plan::tuned(ensemble.config().activation),
            ensemble,
            data,
            config,
        };
        return crate::fused::train_fused_continuing(
            run,
            &[],
            |_, _| Ok(()),
            progress,
            Some(state),
        );
    }
    if state.is_some() {
        return Err(ModelError::ShapeMismatch {
            what: "the engine state to continue from".into(),
            expected: "none (only the lowrank engine carries state between steps)".into(),
            got: format!("a lowrank state, for the {engine:?} engine"),
        });
    }
    train_reporting(ensemble, data, config, &[], |_, _| Ok(()), progress)
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
