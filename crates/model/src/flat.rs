//! Any architecture as a function of flat parameter tensors: one trait that gives a new model both
//! SGL/GD training by burn's autodiff ([`train_flat`], through time for recurrent models) and its
//! empirical NTK / SG-NTK (`sgntk_ntk::empirical::jacobian_kernel`).

use burn::tensor::{Device, Tensor};

use crate::activation::{Activation, Surrogate};
use crate::error::ModelError;
use nalgebra::DMatrix;

use crate::mlp::{matrix_to_tensor, tensor_to_matrix, DeviceLayer, LearningRule, Mlp};
use crate::train::driver::{run_steps, Stepper, TrainConfig, TrainReport, TrainSet};

/// A model with [`FlatParamModel::outputs`] outputs seen as a function of a list of flat
/// parameter tensors.
///
/// Implement this for a new architecture: the forward must build its parameters from `params`
/// (reshaping is fine) and route every nonlinearity through [`crate::surrogate_activation`] with
/// the given `backward` derivative (φ' for [`Surrogate::True`], σ̃ for SGL).
pub trait FlatParamModel {
    /// Current parameter values, each flattened to rank 1 (on the autodiff device).
    fn parameters(&self) -> Vec<Tensor<1>>;
    /// Replaces the parameters (same shapes as [`FlatParamModel::parameters`]).
    fn set_parameters(&mut self, params: Vec<Tensor<1>>);
    /// Outputs `[N, n_L]` (n_L = [`FlatParamModel::outputs`]) for inputs `x: [N, n_0]`, built
    /// from `params`.
    fn forward_with(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<2>;
    /// The activation whose true derivative [`Surrogate::True`] means.
    fn activation(&self) -> Activation;
    /// Input dimension n_0.
    fn input_dim(&self) -> usize;
    /// Output dimension n_L (the number of targets per point it trains on).
    fn outputs(&self) -> usize;
    /// The (autodiff) device of the parameters.
    fn device(&self) -> Device;
}

/// A finite architecture written as a function of flat parameters: its hyper-parameters know
/// how to compute the network from a list of rank-1 parameter tensors. [`FlatNet`] pairs it with
/// parameters, which makes it a [`FlatParamModel`] (training, predictions, empirical kernels).
pub trait Architecture {
    /// Outputs `[N, n_L]` for inputs `x: [N, n_0]`, built from `params`, with every φ through
    /// [`crate::surrogate_activation`] and `backward` as its backward derivative.
    fn forward(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<2>;
    /// The activation whose true derivative [`Surrogate::True`] means.
    fn activation(&self) -> Activation;
    /// Input dimension n_0.
    fn input_dim(&self) -> usize;
    /// Output dimension n_L.
    fn outputs(&self) -> usize;
}

/// An [`Architecture`] with its flat parameters on a device.
#[derive(Clone, Debug)]
pub struct FlatNet<A> {
    config: A,
    params: Vec<Tensor<1>>,
    device: Device,
}

impl<A: Architecture> FlatNet<A> {
    /// `config` with parameters `params` (in the order its forward reads them) on `device`.
    pub(crate) fn new(config: A, params: Vec<Tensor<1>>, device: &Device) -> Self {
        FlatNet {
            config,
            params,
            device: device.clone(),
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &A {
        &self.config
    }

    /// Outputs on host inputs (`N × n_0` → `N × n_L`).
    pub fn predict(&self, x: &DMatrix<f64>) -> Result<DMatrix<f64>, ModelError> {
        predict_flat(self, x)
    }

    /// The flat parameters on the host, in order.
    pub(crate) fn host_params(&self) -> Vec<Vec<f64>> {
        self.params
            .iter()
            .map(|t| t.clone().into_data().iter::<f64>().collect())
            .collect()
    }
}

impl<A: Architecture> FlatParamModel for FlatNet<A> {
    fn parameters(&self) -> Vec<Tensor<1>> {
        self.params.clone()
    }

    fn set_parameters(&mut self, params: Vec<Tensor<1>>) {
        self.params = params;
    }

    fn forward_with(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<2> {
        self.config.forward(params, x, backward)
    }

    fn activation(&self) -> Activation {
        self.config.activation()
    }

    fn input_dim(&self) -> usize {
        self.config.input_dim()
    }

    fn outputs(&self) -> usize {
        self.config.outputs()
    }

    fn device(&self) -> Device {
        self.device.clone()
    }
}

/// A rank-1 parameter tensor on `device` from host values.
pub(crate) fn flat_tensor(values: Vec<f64>, device: &Device) -> Tensor<1> {
    let n = values.len();
    matrix_to_tensor(&DMatrix::from_vec(1, n, values), device).reshape([n])
}

/// The outputs of any [`FlatParamModel`] on host inputs (`N × n_0` → `N × n_L`), after checking
/// their shape and finiteness.
pub fn predict_flat<M: FlatParamModel>(
    model: &M,
    x: &DMatrix<f64>,
) -> Result<DMatrix<f64>, ModelError> {
    check_inputs(model, x)?;
    let xt = matrix_to_tensor(x, &model.device());
    let f = model.forward_with(&model.parameters(), &xt, Surrogate::True);
    Ok(tensor_to_matrix(f))
}

/// Inputs for `model`: n_0 columns, and [`check_data`].
pub fn check_inputs<M: FlatParamModel>(model: &M, x: &DMatrix<f64>) -> Result<(), ModelError> {
    if x.ncols() != model.input_dim() {
        return Err(ModelError::ShapeMismatch {
            what: "inputs".into(),
            expected: format!("{} columns", model.input_dim()),
            got: format!("{} columns", x.ncols()),
        });
    }
    check_data(model, x, "inputs")
}

/// [`crate::mlp::check_data`] of host data for `model`, in its parameters' precision.
pub fn check_data<M: FlatParamModel>(
    model: &M,
    x: &DMatrix<f64>,
    what: &'static str,
) -> Result<(), ModelError> {
    let f32 = model
        .parameters()
        .first()
        .is_some_and(|p| p.dtype() == burn::tensor::DType::F32);
    crate::mlp::check_data(x, what, f32)
}

/// Trains any [`FlatParamModel`] by full-batch GD / SGL with burn's autodiff, with the loss, the
/// learning rule and the report of [`crate::train()`]: L = 1/(2d) Σ_i ‖f(x_i) − y_i‖² over the
/// d points and the n_L = [`FlatParamModel::outputs`] outputs (`data.y` is d × n_L).
///
/// `hook(t, model)` is called before step t for every t in `record_at` (t = steps: after the last
/// step). A non-finite loss stops training with [`ModelError::NonFiniteLoss`].
pub fn train_flat<M: FlatParamModel>(
    model: &mut M,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    hook: impl FnMut(usize, &M) -> Result<(), ModelError>,
) -> Result<TrainReport, ModelError> {
    train_flat_reporting(model, data, config, record_at, hook, None)
}

/// [`train_flat`] with a [`crate::train::driver::Progress`] observer (see [`crate::train_reporting`]).
pub fn train_flat_reporting<M: FlatParamModel>(
    model: &mut M,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    hook: impl FnMut(usize, &M) -> Result<(), ModelError>,
    progress: Option<crate::train::driver::Progress>,
) -> Result<TrainReport, ModelError> {
    config.validate()?;
    check_train_set(model, data)?;
    let loss = train_stacked(model, data, config, record_at, hook, progress)?;
    Ok(TrainReport {
        loss,
        ..TrainReport::default()
    })
}

/// What the autodiff stepper trains: M members with their flat parameters stacked, `[M, len_i]`
/// (row k: member k's i-th flat parameter tensor), and their outputs `[M, d, n_L]` on the same d
/// inputs. A [`FlatParamModel`] is one member (M = 1); `crate::SpecEnsemble` is M networks of a
/// [`crate::NetSpec`] in one batched computation.
pub(crate) trait Stacked {
    /// The number of members M.
    fn members(&self) -> usize;
    /// The stacked parameters `[M, len_i]`.
    fn stacked(&self) -> Vec<Tensor<2>>;
    /// Replaces the stacked parameters (same shapes as [`Stacked::stacked`]).
    fn set_stacked(&mut self, params: Vec<Tensor<2>>);
    /// The (autodiff) device of the parameters.
    fn stacked_device(&self) -> Device;
    /// Outputs `[M, N, n_L]` for inputs `x: [N, n_0]`, built from `params`.
    fn forward_stacked(
        &self,
        params: &[Tensor<2>],
        x: &Tensor<2>,
        backward: Surrogate,
    ) -> Tensor<3>;
}

impl<M: FlatParamModel> Stacked for M {
    fn members(&self) -> usize {
        1
    }

    fn stacked(&self) -> Vec<Tensor<2>> {
        self.parameters()
            .into_iter()
            .map(Tensor::unsqueeze)
            .collect()
    }

    fn stacked_device(&self) -> Device {
        self.device()
    }

    fn set_stacked(&mut self, params: Vec<Tensor<2>>) {
        let flat = params.into_iter().map(|p| p.reshape([-1])).collect();
        self.set_parameters(flat);
    }

    fn forward_stacked(
        &self,
        params: &[Tensor<2>],
        x: &Tensor<2>,
        backward: Surrogate,
    ) -> Tensor<3> {
        let flat: Vec<Tensor<1>> = params.iter().map(|p| p.clone().reshape([-1])).collect();
        self.forward_with(&flat, x, backward).unsqueeze()
    }
}

/// The autodiff training loop of [`train_flat`] for any [`Stacked`] model on checked data and a
/// validated `config`: the mean loss over members before each step and after the last
/// ([`run_steps`]).
pub(crate) fn train_stacked<S: Stacked>(
    model: &mut S,
    data: &TrainSet,
    config: &TrainConfig,
    record_at: &[usize],
    hook: impl FnMut(usize, &S) -> Result<(), ModelError>,
    progress: Option<crate::train::driver::Progress>,
) -> Result<Vec<f64>, ModelError> {
    let device = model.stacked_device();
    let mut stepper = FlatStepper {
        x: matrix_to_tensor(&data.x, &device),
        y: matrix_to_tensor(&data.y, &device),
        model,
        backward: config.rule.backward_derivative(),
        lr: config.lr,
    };
    run_steps(
        &mut stepper,
        config.steps,
        config.lr,
        record_at,
        hook,
        progress,
    )
}

/// Training data for `model`: d × n_0 inputs, d × n_L targets, both finite in its precision.
fn check_train_set<M: FlatParamModel>(model: &M, data: &TrainSet) -> Result<(), ModelError> {
    check_train_shapes(model.input_dim(), model.outputs(), data)?;
    check_data(model, &data.x, "inputs")?;
    check_data(model, &data.y, "targets")
}

/// d × `inputs` inputs and d × `outputs` targets.
pub(crate) fn check_train_shapes(
    inputs: usize,
    outputs: usize,
    data: &TrainSet,
) -> Result<(), ModelError> {
    if data.x.ncols() != inputs || data.y.ncols() != outputs || data.x.nrows() != data.y.nrows() {
        return Err(ModelError::ShapeMismatch {
            what: "training data (inputs | targets)".into(),
            expected: format!(
                "N x {inputs} | N x {outputs} (the network's {inputs} inputs | {outputs} outputs)"
            ),
            got: format!(
                "{} x {} | {} x {}",
                data.x.nrows(),
                data.x.ncols(),
                data.y.nrows(),
                data.y.ncols()
            ),
        });
    }
    Ok(())
}

/// [`train_flat`]'s engine (burn's autodiff on flat parameters) as a [`Stepper`].
struct FlatStepper<'a, S> {
    model: &'a mut S,
    x: Tensor<2>,
    y: Tensor<2>,
    backward: Surrogate,
    lr: f64,
}

impl<S: Stacked> Stepper for FlatStepper<'_, S> {
    type Model = S;

    fn steps(&mut self, from: usize, to: usize) -> Vec<f64> {
        let mut losses = Vec::with_capacity(to - from);
        for _ in from..to {
            let (value, grads) =
                loss_and_gradients(self.model, &self.x, &self.y, self.backward, true);
            losses.push(value);
            if !value.is_finite() {
                break;
            }
            let updated = self
                .model
                .stacked()
                .into_iter()
                .zip(grads)
                .map(|(p, g)| Tensor::from_inner(p.inner() - g.mul_scalar(self.lr)))
                .collect();
            self.model.set_stacked(updated);
        }
        losses
    }

    fn loss(&mut self) -> f64 {
        loss_and_gradients(self.model, &self.x, &self.y, self.backward, false).0
    }

    fn model(&mut self, _step: usize) -> Result<&S, ModelError> {
        Ok(self.model)
    }
}

/// The residuals r = f − y `[M, d, n_L]` of every member of `model` with parameters `params`.
pub(crate) fn residuals<S: Stacked>(
    model: &S,
    params: &[Tensor<2>],
    x: &Tensor<2>,
    y: &Tensor<2>,
    backward: Surrogate,
) -> Tensor<3> {
    model.forward_stacked(params, x, backward) - y.clone().unsqueeze_dim::<3>(0)
}

/// The mean over members of L = 1/(2d) Σ_i ‖f(x_i) − y_i‖² ([`crate::train::driver::loss`]) and,
/// when `with_grads`, ∇ of the sum over members Σ_k L_k for every stacked parameter tensor (inner
/// backend; zeros for parameters the output does not depend on): row k is ∇L_k of member k's
/// parameters, as member k's loss is the only term that depends on them. `backward` is used in
/// the backward pass.
fn loss_and_gradients<S: Stacked>(
    model: &S,
    x: &Tensor<2>,
    y: &Tensor<2>,
    backward: Surrogate,
    with_grads: bool,
) -> (f64, Vec<Tensor<2>>) {
    let [d, _] = y.dims();
    let leaves: Vec<Tensor<2>> = model
        .stacked()
        .into_iter()
        .map(|p| Tensor::from_inner(p.inner()).require_grad())
        .collect();
    let r = residuals(model, &leaves, x, y, backward);
    let loss = crate::train::driver::loss::of_residual(r, d);
    let value = loss.clone().inner().into_scalar::<f64>() / model.members() as f64;
    if !with_grads || !value.is_finite() {
        return (value, Vec::new());
    }
    let grads = loss.backward();
    let g = leaves
        .iter()
        .map(|p| {
            p.grad(&grads)
                .unwrap_or_else(|| p.clone().inner().zeros_like())
        })
        .collect();
    (value, g)
}

/// The loss and its gradient (GD: φ', SGL: σ̃ in the backward pass, per `rule`) of any
/// [`FlatParamModel`], downloaded to the host in the layout of [`FlatParamModel::parameters`].
pub fn flat_gradients<M: FlatParamModel>(
    model: &M,
    data: &TrainSet,
    rule: LearningRule,
) -> Result<(f64, Vec<Vec<f64>>), ModelError> {
    check_train_set(model, data)?;
    let device = model.device();
    let x = matrix_to_tensor(&data.x, &device);
    let y = matrix_to_tensor(&data.y, &device);
    let (value, grads) = loss_and_gradients(model, &x, &y, rule.backward_derivative(), true);
    let host = grads
        .into_iter()
        .map(|g| g.into_data().iter::<f64>().collect())
        .collect();
    Ok((value, host))
}

impl FlatParamModel for Mlp {
    fn parameters(&self) -> Vec<Tensor<1>> {
        self.0
            .layers()
            .iter()
            .flat_map(|l| {
                let w = l.weight.clone();
                let b = l.bias.clone();
                let (nw, nb) = (
                    w.dims().iter().product::<usize>(),
                    b.dims().iter().product::<usize>(),
                );
                [w.reshape([nw]), b.reshape([nb])]
            })
            .collect()
    }

    fn set_parameters(&mut self, params: Vec<Tensor<1>>) {
        let layers = self.layers_from(&params);
        for (slot, l) in self.0.layers_mut().iter_mut().zip(layers) {
            *slot = l;
        }
    }

    fn forward_with(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<2> {
        let f = self
            .0
            .with_layers(self.layers_from(params))
            .forward(x, backward);
        let [_, n, out] = f.dims();
        f.reshape([n, out])
    }

    fn activation(&self) -> Activation {
        self.0.config().activation
    }

    fn input_dim(&self) -> usize {
        self.0.config().input_dim()
    }

    fn outputs(&self) -> usize {
        *self.0.config().widths.last().expect("validated widths")
    }

    fn device(&self) -> Device {
        self.0.device().clone()
    }
}

impl Mlp {
    /// Layers built from flat parameters (weights and biases alternating).
    fn layers_from(&self, params: &[Tensor<1>]) -> Vec<DeviceLayer> {
        self.0
            .layers()
            .iter()
            .zip(params.chunks(2))
            .map(|(l, p)| DeviceLayer {
                weight: p[0].clone().reshape(l.weight.dims()),
                bias: p[1].clone().reshape(l.bias.dims()),
            })
            .collect()
    }
}
