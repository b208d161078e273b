//! Ensembles of one [`NetSpec`] as one batched computation: M members (networks k ∈ `members`,
//! each drawn as [`NetSpec::init`]`(seed, k)` draws it) with every flat parameter tensor stacked
//! along a leading member axis, `[M, len]`, and the finite forward of [`NetSpec::forward_members`]
//! (the one `apply` of `netspec.rs`: Dense as a batched matmul `[M, d, n_in] × [M, n_in, n_out]`,
//! Act elementwise, Residual an add, Conv one grouped convolution with the members as its groups,
//! Flatten / GlobalAveragePool per member).
//!
//! Training (docs/MATH.md §3) is [`crate::train_flat`]'s autodiff loop on the sum of the members'
//! losses, Σ_k L_k with L_k = 1/(2d) Σ_i ‖f_k(x_i) − y_i‖²: member k's parameters enter only L_k,
//! so each member's gradient is its own and the step θ_k ← θ_k − η ∇L_k is member k's step alone.
//! The report gives the mean of L_k over members per step (as every engine) and each member's
//! loss before and after training. The results equal training the members one after the other
//! up to rounding (the batched matmuls and grouped convolutions may sum in another order).

use std::ops::Range;

use burn::tensor::{Device, Tensor, TensorData};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::activation::Surrogate;
use crate::conv::Shape;
use crate::error::ModelError;
use crate::flat::{check_train_shapes, residuals, train_stacked, FlatNet, FlatParamModel, Stacked};
use crate::mlp::{matrix_to_tensor, tensor_to_matrix, BYTES_PER_PARAMETER};
use crate::netspec::{Layer, NetSpec};
use crate::train::driver::{loss, Progress, TrainConfig, TrainSet};

/// Networks `members` of one [`NetSpec`] with their parameters stacked along a leading member
/// axis, trained and evaluated as one batched computation (see the module docs).
#[derive(Clone, Debug)]
pub struct SpecEnsemble {
    spec: NetSpec,
    /// The index of the first member (member j of the ensemble is network `first + j`).
    first: usize,
    /// `[M, len_i]` per flat parameter tensor, in [`NetSpec::init`]'s order.
    params: Vec<Tensor<2>>,
    device: Device,
}

/// What [`train_spec_ensemble`] reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnsembleReport {
    /// The mean over members of the training loss before step t, for t = 0 … steps (steps + 1
    /// entries, as [`crate::TrainReport::loss`]).
    pub loss: Vec<f64>,
    /// Per member: its loss L_k before the first step and after the last.
    pub member_loss: Vec<(f64, f64)>,
}

impl SpecEnsemble {
    /// Networks `members` (non-empty) of `spec` seeded with `seed`: network k's parameters are
    /// [`NetSpec::init`]`(seed, k)`'s draws.
    pub fn init(
        spec: &NetSpec,
        seed: u64,
        members: Range<usize>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        spec.validate()?;
        if members.is_empty() {
            return Err(ModelError::EmptyEnsemble);
        }
        let count = members.len();
        let first = spec.draw(seed, members.start);
        let per_network = first.iter().map(|p| p.len() as u64).sum::<u64>();
        crate::limits::check_memory(
            "the ensemble",
            &[
                ("networks", count as u64),
                ("parameters", per_network),
                ("bytes each", BYTES_PER_PARAMETER),
            ],
        )?;
        let draws: Vec<Vec<Vec<f64>>> = std::iter::once(first)
            .chain((members.start + 1..members.end).map(|k| spec.draw(seed, k)))
            .collect();
        let params = (0..draws[0].len())
            .map(|i| {
                let len = draws[0][i].len();
                let values: Vec<f64> = draws.iter().flat_map(|d| d[i].iter().copied()).collect();
                Tensor::from_data(TensorData::new(values, [count, len]), device)
            })
            .collect();
        Ok(SpecEnsemble {
            spec: spec.clone(),
            first: members.start,
            params,
            device: device.clone(),
        })
    }

    /// The ensemble of given networks of one spec, in order (member j is network j).
    pub fn from_members(nets: &[FlatNet<NetSpec>]) -> Result<Self, ModelError> {
        let Some(first) = nets.first() else {
            return Err(ModelError::EmptyEnsemble);
        };
        if let Some(j) = nets.iter().position(|n| n.config() != first.config()) {
            return Err(ModelError::ShapeMismatch {
                what: format!("network {j} of an ensemble"),
                expected: "the description of network 0".into(),
                got: "another description".into(),
            });
        }
        let per_net: Vec<Vec<Tensor<1>>> = nets.iter().map(|n| n.parameters()).collect();
        let params = (0..per_net[0].len())
            .map(|i| {
                let rows = per_net.iter().map(|p| p[i].clone().unsqueeze()).collect();
                Tensor::cat(rows, 0)
            })
            .collect();
        Ok(SpecEnsemble {
            spec: first.config().clone(),
            first: 0,
            params,
            device: first.device(),
        })
    }

    /// The network description.
    pub fn spec(&self) -> &NetSpec {
        &self.spec
    }

    /// The networks this ensemble holds (member j is network `range().start + j`).
    pub fn range(&self) -> Range<usize> {
        self.first..self.first + self.members()
    }

    /// The number of members M.
    pub fn members(&self) -> usize {
        self.params.first().map_or(0, |p| p.dims()[0])
    }

    /// Member j (network `range().start + j`) as a network of its own.
    pub fn member(&self, j: usize) -> FlatNet<NetSpec> {
        let params = self
            .params
            .iter()
            .map(|p| {
                let [_, len] = p.dims();
                p.clone().narrow(0, j, 1).reshape([len])
            })
            .collect();
        FlatNet::new(self.spec.clone(), params, &self.device)
    }

    /// Every member as a network of its own, in order (for saving, kernels, predictions).
    pub fn split(&self) -> Vec<FlatNet<NetSpec>> {
        (0..self.members()).map(|j| self.member(j)).collect()
    }

    /// Outputs `[M, N, n_L]` on device inputs `x: [N, n_0]` ([`NetSpec::forward_members`]).
    pub fn forward(&self, x: &Tensor<2>, backward: Surrogate) -> Tensor<3> {
        self.spec.forward_members(&self.params, x, backward)
    }

    /// Every member's outputs on host inputs: one `N × n_L` matrix per member.
    pub fn predict(&self, x: &DMatrix<f64>) -> Result<Vec<DMatrix<f64>>, ModelError> {
        if x.ncols() != self.spec.input_dim() {
            return Err(ModelError::ShapeMismatch {
                what: "inputs".into(),
                expected: format!("{} columns", self.spec.input_dim()),
                got: format!("{} columns", x.ncols()),
            });
        }
        self.check_data(x, "inputs")?;
        let f = self.forward(&matrix_to_tensor(x, &self.device), Surrogate::True);
        let [m, n, out] = f.dims();
        let rows = tensor_to_matrix(f.reshape([m * n, out]));
        Ok((0..m).map(|k| rows.rows(k * n, n).into_owned()).collect())
    }

    /// [`crate::mlp::check_data`] of host data in the parameters' precision.
    fn check_data(&self, x: &DMatrix<f64>, what: &'static str) -> Result<(), ModelError> {
        let f32 = self
            .params
            .first()
            .is_some_and(|p| p.dtype() == burn::tensor::DType::F32);
        crate::mlp::check_data(x, what, f32)
    }

    /// Every member's loss L_k on device data (no step).
    fn member_losses(&self, x: &Tensor<2>, y: &Tensor<2>) -> Vec<f64> {
        let [d, _] = y.dims();
        let r = residuals(self, &self.params, x, y, Surrogate::True);
        let per_member = (0..self.members())
            .map(|k| loss::of_residual(r.clone().narrow(0, k, 1), d))
            .collect();
        Tensor::cat(per_member, 0)
            .into_data()
            .iter::<f64>()
            .collect()
    }
}

impl Stacked for SpecEnsemble {
    fn members(&self) -> usize {
        SpecEnsemble::members(self)
    }

    fn stacked(&self) -> Vec<Tensor<2>> {
        self.params.clone()
    }

    fn stacked_device(&self) -> Device {
        self.device.clone()
    }

    fn set_stacked(&mut self, params: Vec<Tensor<2>>) {
        self.params = params;
    }

    fn forward_stacked(
        &self,
        params: &[Tensor<2>],
        x: &Tensor<2>,
        backward: Surrogate,
    ) -> Tensor<3> {
        self.spec.forward_members(params, x, backward)
    }
}

/// Trains every member of `ensemble` by full-batch GD / SGL with burn's autodiff, all in one
/// batched computation (see the module docs): the loss, learning rule, hooks (`hook(t,
/// ensemble)` before step t for every t in `record_at`), progress and divergence error of
/// [`crate::train_flat_reporting`], which it equals member by member up to rounding.
pub fn train_spec_ensemble(
    ensemble: &mut SpecEnsemble,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    hook: impl FnMut(usize, &SpecEnsemble) -> Result<(), ModelError>,
    progress: Option<Progress>,
) -> Result<EnsembleReport, ModelError> {
    config.validate()?;
    check_train_shapes(ensemble.spec.input_dim(), ensemble.spec.outputs(), data)?;
    ensemble.check_data(&data.x, "inputs")?;
    ensemble.check_data(&data.y, "targets")?;
    let (x, y) = (
        matrix_to_tensor(&data.x, &ensemble.device),
        matrix_to_tensor(&data.y, &ensemble.device),
    );
    let before = ensemble.member_losses(&x, &y);
    let loss = train_stacked(ensemble, data, config, record_at, hook, progress)?;
    let after = ensemble.member_losses(&x, &y);
    Ok(EnsembleReport {
        loss,
        member_loss: before.into_iter().zip(after).collect(),
    })
}

/// Bytes a batched training step holds per hidden value of one member at one point: the forward
/// values autodiff keeps, their gradients, and a convolution's member-major ⇄ channel-major
/// copies, in f64 (an upper estimate for [`member_batches`]).
const BYTES_PER_HIDDEN_VALUE: u64 = 32;

/// The number of hidden values one member computes per input point: the input and every layer's
/// output (a residual branch's layers and its sum included).
fn hidden_values(layers: &[Layer], mut shape: Shape) -> u64 {
    let mut total = 0u64;
    for layer in layers {
        if let Layer::Residual(inner) = layer {
            total = total.saturating_add(hidden_values(inner, shape.clone()));
        }
        shape = layer.output_shape(&shape).expect("validated");
        total = total.saturating_add(shape.len() as u64);
    }
    total
}

/// `members` split into consecutive batches that are trained one after the other, each as one
/// [`SpecEnsemble`]: as many members per batch as fit into a quarter of the available memory
/// ([`crate::limits::available_memory`]) at an estimated 32 bytes per hidden value per member
/// and training point (at least one member per batch). `spec` must be valid.
pub fn member_batches(spec: &NetSpec, points: usize, members: Range<usize>) -> Vec<Range<usize>> {
    let input = spec.input();
    let per_member = hidden_values(&spec.layers, input.clone())
        .saturating_add(input.len() as u64)
        .saturating_mul(points.max(1) as u64)
        .saturating_mul(BYTES_PER_HIDDEN_VALUE);
    let budget = crate::limits::available_memory() / 4;
    let size = (budget / per_member.max(1)).clamp(1, members.len().max(1) as u64) as usize;
    members
        .clone()
        .step_by(size)
        .map(|start| start..(start + size).min(members.end))
        .collect()
}

/// Networks `members` of `spec` seeded with `seed` ([`NetSpec::init`]`(seed, k)` for network
/// k), trained on `data` with `config` as batched ensembles ([`train_spec_ensemble`]) in the
/// batches of [`member_batches`], and returned one network per member, in order, with the report
/// (the mean loss over all members; each member's first and last loss). `progress` sees the steps
/// of batch i as i · steps + t (a bar of steps × batches fits).
pub fn train_flat_ensemble(
    spec: &NetSpec,
    seed: u64,
    members: Range<usize>,
    data: &TrainSet,
    config: &TrainConfig,
    device: &Device,
    progress: Option<Progress>,
) -> Result<(Vec<FlatNet<NetSpec>>, EnsembleReport), ModelError> {
    spec.validate()?;
    if members.is_empty() {
        return Err(ModelError::EmptyEnsemble);
    }
    let batches = member_batches(spec, data.x.nrows(), members);
    train_batches(
        batches,
        |range| SpecEnsemble::init(spec, seed, range, device),
        data,
        config,
        progress,
    )
}

/// [`train_flat_ensemble`] of given networks of one spec (e.g. loaded from a file), in order.
pub fn train_flat_networks(
    nets: Vec<FlatNet<NetSpec>>,
    data: &TrainSet,
    config: &TrainConfig,
    progress: Option<Progress>,
) -> Result<(Vec<FlatNet<NetSpec>>, EnsembleReport), ModelError> {
    let Some(first) = nets.first() else {
        return Err(ModelError::EmptyEnsemble);
    };
    let batches = member_batches(first.config(), data.x.nrows(), 0..nets.len());
    train_batches(
        batches,
        |range| SpecEnsemble::from_members(&nets[range]),
        data,
        config,
        progress,
    )
}

/// Trains the members of each batch (made by `make`) as one ensemble, one batch after the other.
fn train_batches(
    batches: Vec<Range<usize>>,
    mut make: impl FnMut(Range<usize>) -> Result<SpecEnsemble, ModelError>,
    data: &TrainSet,
    config: &TrainConfig,
    mut progress: Option<Progress>,
) -> Result<(Vec<FlatNet<NetSpec>>, EnsembleReport), ModelError> {
    let total: usize = batches.iter().map(|b| b.len()).sum();
    let mut nets = Vec::with_capacity(total);
    let mut report = EnsembleReport {
        loss: vec![0.0; config.steps.saturating_add(1)],
        member_loss: Vec::with_capacity(total),
    };
    let observed = progress.is_some();
    for (i, batch) in batches.into_iter().enumerate() {
        let mut ensemble = make(batch)?;
        let offset = i.saturating_mul(config.steps);
        let mut shifted = |t: usize, loss: f64| match progress.as_mut() {
            Some(outer) => outer(offset + t, loss),
            None => Ok(()),
        };
        let observer: Option<Progress> = match observed {
            true => Some(&mut shifted),
            false => None,
        };
        let part = train_spec_ensemble(&mut ensemble, data, config, &[], |_, _| Ok(()), observer)?;
        let weight = ensemble.members() as f64 / total as f64;
        for (mean, l) in report.loss.iter_mut().zip(&part.loss) {
            *mean += l * weight;
        }
        report.member_loss.extend(part.member_loss);
        nets.extend(ensemble.split());
    }
    Ok((nets, report))
}
