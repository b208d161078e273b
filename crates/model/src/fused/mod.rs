//! The fused CPU training engine for MLP ensembles ([`crate::Engine::Fused`]), skip connections
//! ([`crate::MlpConfig::skips`], residual MLPs of dense blocks) included: the skip adds H_{l−1}
//! after the layer's own product (carried or not) and δ_l to the gated pull-back.
//!
//! Each member is trained on the host in f32 with the explicit δ-recursion of
//! [`crate::backprop`] (no tape), its training points held as lanes of 16-wide vectors
//! (`lanes`): the forward product, the transposed product Wᵀδ and the rank-d update
//! W ← W − η s δ Aᵀ run as register-tiled FMA loops (`kernels`), the last two in one sweep
//! over each block of W, so a width-500 layer is read from cache twice per step instead of
//! being read and written several times by separate tensor operations. Members run in parallel
//! on rayon's pool; each member's numbers do not depend on the thread count. The step is
//! compiled for AVX-512, AVX2 + FMA and portable code, chosen at run time ([`Isa`]); results
//! agree across them to f32 rounding.
//!
//! A [`Plan`] rearranges the hidden-to-hidden layers without changing the network computed
//! ([`crate::Engine::Lowrank`]): deferred low-rank updates W = W_base + S Bᵀ, absorbed while the
//! sign pattern holds, and pre-activations carried through the units that flip. For sign
//! networks late in training a step then reads W once (Wᵀδ, `kernels::transposed_product`) and
//! writes nothing; [`PlanStats`] counts what the plan did.

// Crate-private: the SIMD types execute AVX instructions in safe methods, which is sound only
// inside the step compiled for them and entered after feature detection (see `net::Step::run_on`).
pub(crate) mod kernels;
pub(crate) mod lanes;
pub(crate) mod net;
pub mod peak;
pub(crate) mod simd;
pub mod state;

use rayon::prelude::*;

pub use crate::train::driver::PlanStats;
use net::{HostNet, Shape, StepRule, Work};
pub use net::{Isa, Plan};
pub use peak::fma_peak_gflops;
pub use state::{EngineState, LayerState, StateArray, StateHeader};

use crate::error::ModelError;
use burn::tensor::{Tensor, TensorData};

use crate::mlp::{DeviceLayer, Ensemble};
use crate::train::driver::{run_steps, Stepper, TrainConfig, TrainReport, TrainSet};

/// Trains every member of `ensemble` in place with the fused engine, on instruction set `isa`,
/// arranged as `plan` says (see [`crate::train()`] for the meaning of the other arguments).
pub fn train_fused<F>(
    ensemble: &mut Ensemble,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    isa: Isa,
    plan: Plan,
    hook: F,
) -> Result<TrainReport, ModelError>
where
    F: FnMut(usize, &Ensemble) -> Result<(), ModelError>,
{
    train_fused_reporting(ensemble, data, config, record_at, isa, plan, hook, None)
}

/// [`train_fused`] with a [`crate::train::driver::Progress`] observer (see [`crate::train_reporting`]).
#[allow(clippy::too_many_arguments)]
pub fn train_fused_reporting<F>(
    ensemble: &mut Ensemble,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    isa: Isa,
    plan: Plan,
    hook: F,
    progress: Option<crate::train::driver::Progress>,
) -> Result<TrainReport, ModelError>
where
    F: FnMut(usize, &Ensemble) -> Result<(), ModelError>,
{
    let run = Run {
        ensemble,
        data,
        config,
        isa,
        plan,
    };
    train_fused_continuing(run, record_at, hook, progress, None)
}

/// The arguments of one fused run that every entry point shares.
pub(crate) struct Run<'a> {
    pub ensemble: &'a mut Ensemble,
    pub data: &'a TrainSet,
    pub config: &'a TrainConfig,
    pub isa: Isa,
    pub plan: Plan,
}

/// [`train_fused_reporting`] starting from and leaving `state`: with `Some(Some(s))` the run
/// starts from the carried state `s` (of the same plan, shape and members, see [`state`]) and
/// with `Some(_)` the state after the last step is left there (`None` when the plan carries
/// nothing on this network).
pub(crate) fn train_fused_continuing<F>(
    run: Run,
    record_at: &[usize],
    hook: F,
    progress: Option<crate::train::driver::Progress>,
    state: Option<&mut Option<EngineState>>,
) -> Result<TrainReport, ModelError>
where
    F: FnMut(usize, &Ensemble) -> Result<(), ModelError>,
{
    let Run {
        ensemble,
        data,
        config,
        isa,
        plan,
    } = run;
    config.validate()?;
    config.check_f32(ensemble.config())?;
    data.validate(ensemble)?;
    if !isa.is_supported() {
        return Err(ModelError::Backend {
            backend: format!("fused ({isa:?})"),
            reason: format!("this CPU cannot run {isa:?} code; use Isa::detect()"),
        });
    }
    let mlp = ensemble.config().clone();
    let shape = Shape::new(&mlp, data.x.nrows());
    let rule = StepRule {
        scales: (0..mlp.depth())
            .map(|l| {
                let (sw, sb) = mlp.layer_scales(l);
                (sw as f32, sb as f32)
            })
            .collect(),
        activation: mlp.activation,
        backward: config.rule.backward_derivative(),
    };
    let mut stepper = FusedStepper {
        members: download(ensemble, &shape, &data.x, &data.y),
        ensemble,
        shape,
        rule,
        plan,
        isa,
        lr: config.lr as f32,
        uploaded: 0,
    };
    let managed = plan.managed(&stepper.shape);
    if let Some(Some(saved)) = state.as_deref() {
        import_state(&mut stepper, &managed, saved)?;
    }
    let loss = run_steps(
        &mut stepper,
        config.steps,
        config.lr,
        record_at,
        hook,
        progress,
    )?;
    let mut plan_stats = PlanStats::default();
    for (_, work) in &stepper.members {
        plan_stats.add(&work.stats);
    }
    if let Some(out) = state {
        *out = (!managed.is_empty()).then(|| export_state(&stepper, &managed));
    }
    Ok(TrainReport {
        loss,
        plan: plan_stats,
    })
}

/// The fused engine as a [`Stepper`]: every member on the host, one rayon task per member.
struct FusedStepper<'a> {
    ensemble: &'a mut Ensemble,
    members: Vec<(HostNet, Work)>,
    shape: Shape,
    rule: StepRule,
    plan: Plan,
    isa: Isa,
    lr: f32,
    /// The step the ensemble's device parameters are from.
    uploaded: usize,
}

impl FusedStepper<'_> {
    /// Every member's loss over `steps` steps of learning rate `lr` (stopping a member at its
    /// first non-finite loss), then their means in member order (so a run's loss at t depends
    /// neither on where t falls nor on the thread count).
    fn run(&mut self, steps: usize, lr: f32) -> Vec<f64> {
        let (shape, rule, plan, isa) = (&self.shape, &self.rule, &self.plan, self.isa);
        let per_member: Vec<Vec<f64>> = self
            .members
            .par_iter_mut()
            .map(|(net, work)| {
                let mut out = Vec::with_capacity(steps);
                for _ in 0..steps {
                    let loss = net::Step {
                        shape,
                        rule,
                        plan,
                        net,
                        work,
                        lr,
                    }
                    .run_on(isa);
                    out.push(loss);
                    if !loss.is_finite() {
                        break;
                    }
                }
                out
            })
            .collect();
        (0..steps)
            .map(|k| {
                let mut sum = 0.0;
                for m in &per_member {
                    sum += m.get(k).copied().unwrap_or(f64::NAN);
                }
                sum / per_member.len() as f64
            })
            .collect()
    }
}

impl Stepper for FusedStepper<'_> {
    type Model = Ensemble;

    fn steps(&mut self, from: usize, to: usize) -> Vec<f64> {
        self.run(to - from, self.lr)
    }

    fn loss(&mut self) -> f64 {
        if self.plan.refresh_every == 0 {
            return self.run(1, 0.0)[0];
        }
        // A forward pass advances the carried pre-activations (their age, and U itself on
        // changed columns): put them back after evaluating, so that the state after the last
        // step is the one the next step of an uninterrupted run would see (a continued run is
        // exact).
        let kept: Vec<_> = self.members.iter().map(|(_, w)| w.carried()).collect();
        let loss = self.run(1, 0.0)[0];
        for ((_, work), carried) in self.members.iter_mut().zip(kept) {
            work.restore_carried(carried);
        }
        loss
    }

    fn model(&mut self, step: usize) -> Result<&Ensemble, ModelError> {
        if step > self.uploaded {
            *self.ensemble = upload(self.ensemble, &self.shape, self.isa, &self.members);
            self.uploaded = step;
        }
        self.ensemble.check_parameters_finite(step)?;
        Ok(self.ensemble)
    }
}

/// The state every member carries into its next step on the `managed` layers.
fn export_state(stepper: &FusedStepper, managed: &[usize]) -> EngineState {
    let shape = &stepper.shape;
    let header = StateHeader {
        plan: stepper.plan,
        widths: shape.widths.clone(),
        points: shape.points,
        members: stepper.members.len(),
        layers: managed.to_vec(),
    };
    let layers = managed
        .iter()
        .map(|&l| {
            let mut out = LayerState {
                w_base: Vec::new(),
                factors: Vec::new(),
                factors_t: Vec::new(),
                pattern: Vec::new(),
                carried: Vec::new(),
                previous: Vec::new(),
                counters: Vec::new(),
            };
            for (net, work) in &stepper.members {
                net::export_layer(shape, &stepper.plan, l, net, work, &mut out);
            }
            out
        })
        .collect();
    EngineState { header, layers }
}

/// Restores every member's carried state from `saved` (see [`state`]); an error when it is
/// not of this plan, shape and number of members.
fn import_state(
    stepper: &mut FusedStepper,
    managed: &[usize],
    saved: &EngineState,
) -> Result<(), ModelError> {
    let shape = &stepper.shape;
    let expected = StateHeader {
        plan: stepper.plan,
        widths: shape.widths.clone(),
        points: shape.points,
        members: stepper.members.len(),
        layers: managed.to_vec(),
    };
    let mismatch = |got: String| ModelError::ShapeMismatch {
        what: "the lowrank engine's saved state".into(),
        expected: format!("{expected:?}"),
        got,
    };
    if saved.header != expected {
        return Err(mismatch(format!("{:?}", saved.header)));
    }
    if saved.layers.len() != managed.len() {
        return Err(mismatch(format!("{} layers", saved.layers.len())));
    }
    for (name, len, values) in saved.arrays() {
        if values.len() != len * expected.members {
            return Err(mismatch(format!("{} values of {name}", values.len())));
        }
    }
    for (&l, layer) in managed.iter().zip(&saved.layers) {
        for (k, (net, work)) in stepper.members.iter_mut().enumerate() {
            net::import_layer(shape, &stepper.plan, l, layer, k, net, work).map_err(mismatch)?;
        }
    }
    Ok(())
}

/// Every member's parameters as a [`HostNet`] with its step buffers.
fn download(
    ensemble: &Ensemble,
    shape: &Shape,
    x: &nalgebra::DMatrix<f64>,
    y: &nalgebra::DMatrix<f64>,
) -> Vec<(HostNet, Work)> {
    let rows = |t: TensorData| -> Vec<f32> { t.iter::<f32>().collect() };
    let weights: Vec<Vec<f32>> = ensemble
        .layers()
        .iter()
        .map(|l| rows(l.weight.to_data()))
        .collect();
    let biases: Vec<Vec<f32>> = ensemble
        .layers()
        .iter()
        .map(|l| rows(l.bias.to_data()))
        .collect();
    (0..ensemble.members())
        .map(|k| {
            (
                HostNet::from_rows(shape, &weights, &biases, k),
                Work::new(shape, x, y),
            )
        })
        .collect()
}

/// The ensemble with the members' current parameters, on the ensemble's device.
fn upload(ensemble: &Ensemble, shape: &Shape, isa: Isa, members: &[(HostNet, Work)]) -> Ensemble {
    let e = members.len();
    let nets: Vec<HostNet> = members
        .par_iter()
        .map(|(net, _)| net::effective(isa, shape, net))
        .collect();
    let device = ensemble.device();
    let layers = (0..ensemble.layers().len())
        .map(|l| {
            let (n_out, n_in) = (shape.widths[l + 1], shape.widths[l]);
            let mut w = Vec::with_capacity(e * n_out * n_in);
            let mut b = Vec::with_capacity(e * n_out);
            for net in &nets {
                net.push_rows(shape, l, &mut w, &mut b);
            }
            DeviceLayer {
                weight: Tensor::from_data(TensorData::new(w, [e, n_out, n_in]), device),
                bias: Tensor::from_data(TensorData::new(b, [e, n_out]), device),
            }
        })
        .collect();
    ensemble.with_layers(layers)
}
