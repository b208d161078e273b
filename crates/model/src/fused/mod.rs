//! The fused CPU training engine for MLP ensembles ([`crate::Engine::Fused`]).
//!
//! Each member is trained on the host in f32 with the explicit δ-recursion of
//! [`crate::backprop`] (no tape), its training points held as lanes of 16-wide vectors
//! ([`lanes`]): the forward product, the transposed product Wᵀδ and the rank-d update
//! W ← W − η s δ Aᵀ run as register-tiled FMA loops ([`kernels`]), the last two in one sweep
//! over each block of W, so a width-500 layer is read from cache twice per step instead of
//! being read and written several times by separate tensor operations. Members run in parallel
//! on rayon's pool; each member's numbers do not depend on the thread count. The step is
//! compiled for AVX-512, AVX2 + FMA and portable code, chosen at run time ([`Isa`]); results
//! agree across them to f32 rounding.

pub mod kernels;
pub mod lanes;
pub mod net;
pub mod simd;

use rayon::prelude::*;

pub use net::Isa;
use net::{HostNet, Shape, StepRule, Work};

use crate::error::ModelError;
use crate::mlp::{Ensemble, HostParams};
use crate::train::{TrainConfig, TrainReport, TrainSet};

/// Trains every member of `ensemble` in place with the fused engine, on instruction set `isa`
/// (see [`crate::train`] for the meaning of the arguments).
pub fn train_fused<F>(
    ensemble: &mut Ensemble,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    isa: Isa,
    mut hook: F,
) -> Result<TrainReport, ModelError>
where
    F: FnMut(usize, &Ensemble) -> Result<(), ModelError>,
{
    config.validate()?;
    data.validate(ensemble)?;
    let mlp = ensemble.config().clone();
    let shape = Shape::new(&mlp, data.x.nrows());
    let rule = StepRule {
        sigma_w: mlp.sigma_w as f32,
        sigma_b: mlp.sigma_b as f32,
        activation: mlp.activation,
        backward: config.rule.backward_derivative(),
    };
    let lr = config.lr as f32;
    let mut members: Vec<(HostNet, Work)> = ensemble
        .to_host()
        .iter()
        .map(|p| {
            (
                HostNet::from_host(&shape, p),
                Work::new(&shape, &data.x, &data.y),
            )
        })
        .collect();
    let count = members.len();
    // Segment boundaries: every recording step, and the end.
    let mut stops: Vec<usize> = record_at
        .iter()
        .copied()
        .filter(|&t| t <= config.steps)
        .collect();
    stops.push(config.steps);
    stops.sort_unstable();
    stops.dedup();

    let mut losses = vec![0.0f64; config.steps + 1];
    let mut done = 0;
    for stop in stops {
        // Steps done..stop (exclusive) of every member; losses before each of them.
        let per_member: Vec<Vec<f64>> = members
            .par_iter_mut()
            .map(|(net, work)| {
                let mut out = Vec::with_capacity(stop - done);
                for _ in done..stop {
                    let loss = net::step(isa, &shape, &rule, net, work, lr);
                    out.push(loss);
                    if !loss.is_finite() {
                        break;
                    }
                }
                out
            })
            .collect();
        for (k, step) in (done..stop).enumerate() {
            let mut sum = 0.0;
            for m in &per_member {
                sum += m.get(k).copied().unwrap_or(f64::NAN);
            }
            let mean = sum / count as f64;
            if !mean.is_finite() {
                return Err(ModelError::NonFiniteLoss {
                    step,
                    loss: mean,
                    lr: config.lr,
                });
            }
            losses[step] = mean;
        }
        done = stop;
        if record_at.contains(&stop) || stop == config.steps {
            *ensemble = upload(ensemble, &shape, &members)?;
        }
        if record_at.contains(&stop) {
            hook(stop, ensemble)?;
        }
    }
    // The loss after the last step.
    let last: f64 = members
        .par_iter_mut()
        .map(|(net, work)| net::step(isa, &shape, &rule, net, work, 0.0))
        .sum::<f64>()
        / count as f64;
    if !last.is_finite() {
        return Err(ModelError::NonFiniteLoss {
            step: config.steps,
            loss: last,
            lr: config.lr,
        });
    }
    losses[config.steps] = last;
    Ok(TrainReport { loss: losses })
}

/// The ensemble with the members' current parameters, on the ensemble's device.
fn upload(
    ensemble: &Ensemble,
    shape: &Shape,
    members: &[(HostNet, Work)],
) -> Result<Ensemble, ModelError> {
    let params: Vec<HostParams> = members.iter().map(|(n, _)| n.to_host(shape)).collect();
    Ensemble::from_host(ensemble.config(), &params, ensemble.device())
}
