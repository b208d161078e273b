//! Empirical kernels at recorded training steps (t = 0 and later): the kernel of the network as it
//! is trained, for the "after training" panels of Fig. 1/2.

use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{train, Ensemble, ModelError, TrainConfig, TrainReport, TrainSet};

use super::{check_pair, empirical_kernel, DerivativePair, EmpiricalError};

/// The kernels of every member at one training step.
#[derive(Clone, Debug)]
pub struct RecordedKernels {
    /// Step t (0 = initialization, `config.steps` = after the last step).
    pub step: usize,
    /// One N1 × N2 kernel per member.
    pub kernels: Vec<DMatrix<f64>>,
}

/// Trains `ensemble` like [`sgntk_model::train()`] and records the structured empirical kernel
/// Î(x1, x2) (`pair`) of every member at each step in `record_at`.
///
/// `on_step(t)` is called at every recorded step and every `tick` steps (for progress bars);
/// pass `usize::MAX` as `tick` for none.
#[allow(clippy::too_many_arguments)]
pub fn train_with_kernels(
    ensemble: &mut Ensemble,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    x1: &DMatrix<f64>,
    x2: &DMatrix<f64>,
    pair: DerivativePair,
    tick: usize,
    mut on_step: impl FnMut(usize),
) -> Result<(TrainReport, Vec<RecordedKernels>), EmpiricalError> {
    check_pair(pair, ensemble.config().activation)?;
    if ensemble.config().output_dim() != 1 {
        return Err(EmpiricalError::NotScalarOutput(
            ensemble.config().output_dim(),
        ));
    }
    ensemble.check_inputs(x1)?;
    ensemble.check_inputs(x2)?;
    let tick = tick.max(1);
    let hooks: Vec<usize> = (0..=config.steps)
        .filter(|t| record_at.contains(t) || t % tick == 0)
        .collect();
    let mut recorded = Vec::new();
    let mut failure: Option<EmpiricalError> = None;
    let report = train(ensemble, data, config, &hooks, |t, ens| {
        on_step(t);
        if record_at.contains(&t) {
            match empirical_kernel(ens, x1, x2, pair) {
                Ok(kernels) => recorded.push(RecordedKernels { step: t, kernels }),
                Err(e) => {
                    failure = Some(e);
                    return Err(ModelError::Backend {
                        backend: "kernel".into(),
                        reason: "stopped: the empirical kernel failed".into(),
                    });
                }
            }
        }
        Ok(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    Ok((report?, recorded))
}
