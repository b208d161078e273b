//! The training loop every engine shares (docs/MATH.md §3): settings ([`TrainConfig`]), data
//! ([`TrainSet`]), the loss, the loop contract (`run_steps`: recorded steps and hooks,
//! steps + 1 losses, the divergence error) and what a run reports. An engine only implements
//! the crate-internal `Stepper`.

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::mlp::{Ensemble, LearningRule};

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
    pub plan: PlanStats,
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
        crate::mlp::check_data(&self.y, "targets", ensemble.is_f32())
    }
}

/// The loss of every engine (docs/MATH.md §3): L = 1/(2d) Σ_i ‖f(x_i) − y_i‖² over d training points,
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

/// One training engine as the shared loop [`run_steps`] drives it: the engine only steps and
/// evaluates; the loop owns the contract.
pub(crate) trait Stepper {
    /// What recording hooks see.
    type Model;
    /// Takes steps `from..to` and returns the mean loss before each, in order; it may stop early
    /// once a returned loss is non-finite. Splitting a range into several calls gives the same
    /// numbers (the loop times its runs of steps when it has a [`Tick`]).
    fn steps(&mut self, from: usize, to: usize) -> Vec<f64>;
    /// The mean loss of the current parameters (no step).
    fn loss(&mut self) -> f64;
    /// The model after `step` steps, brought up to date and checked for non-finite parameters.
    fn model(&mut self, step: usize) -> Result<&Self::Model, ModelError>;
}

/// A callback between runs of training steps, for progress bars and interruption: `tick(done)`
/// with the number of steps done, about every [`TICK_INTERVAL`] of wall time (the loop times its
/// runs of steps to that; a single step that takes longer is not split). An error stops training
/// and is returned. Unlike a recording hook it sees no model, so it costs nothing.
pub type Tick<'a> = &'a mut dyn FnMut(usize) -> Result<(), ModelError>;

/// The wall time between two [`Tick`]s that the training loop aims at.
pub const TICK_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// The training loop of every engine: `hook(t, model)` before step t for every t in `record_at`
/// (t = steps: after the last step), and the mean loss before each step and after the last
/// (steps + 1 values). The first non-finite loss stops training with
/// [`ModelError::NonFiniteLoss`] naming its step. With a `tick`, the steps between two stops run
/// in timed runs with `tick` after each (the same steps, so the same numbers: an engine's
/// `steps` does not depend on where a run starts or ends).
pub(crate) fn run_steps<S: Stepper>(
    stepper: &mut S,
    steps: usize,
    lr: f64,
    record_at: &[usize],
    mut hook: impl FnMut(usize, &S::Model) -> Result<(), ModelError>,
    mut tick: Option<Tick>,
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
    // Steps per timed run (with a tick): doubled while a run takes under half the interval,
    // halved while it takes over twice the interval.
    let mut run = 1usize;
    for stop in stops {
        match tick.as_mut() {
            None => {
                let from = losses.len();
                push_finite(&mut losses, stepper.steps(from, stop))?;
            }
            Some(tick) => {
                while losses.len() < stop {
                    let from = losses.len();
                    let to = stop.min(from.saturating_add(run));
                    let started = std::time::Instant::now();
                    push_finite(&mut losses, stepper.steps(from, to))?;
                    if losses.len() == from {
                        break; // an engine that took no step (never with a finite loss)
                    }
                    let took = started.elapsed();
                    if took < TICK_INTERVAL / 2 {
                        run = run.saturating_mul(2);
                    } else if took > TICK_INTERVAL * 2 {
                        run = (run / 2).max(1);
                    }
                    tick(losses.len())?;
                }
            }
        }
        if record_at.contains(&stop) {
            hook(stop, stepper.model(stop)?)?;
        }
    }
    push_finite(&mut losses, vec![stepper.loss()])?;
    if !record_at.contains(&steps) {
        // The final parameter check (a recorded last step already did it for its hook).
        stepper.model(steps)?;
    }
    Ok(losses)
}

/// What the fused engine's [`crate::fused::Plan`] did, summed over networks, steps and managed layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlanStats {
    /// Forward products of managed layers carried incrementally.
    pub carried: u64,
    /// Forward products of managed layers recomputed in full.
    pub recomputed: u64,
    /// Input columns (units) whose activation changed, over the steps where this was checked.
    pub changed_columns: u64,
    /// Input columns examined in those steps (width × checks).
    pub checked_columns: u64,
    /// Folds of deferred updates into W.
    pub folds: u64,
    /// Updates added to an open deferred pair.
    pub absorbed: u64,
    /// Columns of W_base written by those (where the activation pattern had changed).
    pub absorbed_columns: u64,
}

impl PlanStats {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &PlanStats) {
        self.carried += other.carried;
        self.recomputed += other.recomputed;
        self.changed_columns += other.changed_columns;
        self.checked_columns += other.checked_columns;
        self.folds += other.folds;
        self.absorbed += other.absorbed;
        self.absorbed_columns += other.absorbed_columns;
    }
}
