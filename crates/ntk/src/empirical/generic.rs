//! The generic empirical kernel: per-sample (quasi-)Jacobians through burn's autodiff, for any
//! model with a scalar output that applies its nonlinearities through sgntk's surrogate op.
//!
//! J_{φ,g}(x) = ∂f(x)/∂θ with g in the op's backward pass; Î(x, x') = J_{φ,g1}(x) · J_{φ,g2}(x')ᵀ.
//! Memory: the rows of J(X1) plus one row of J(X2) at a time.

use burn::tensor::{Device, Tensor, TensorData};
use sgntk_model::nalgebra::{DMatrix, DVector};
use sgntk_model::{check_finite, Activation, DeviceLayer, Mlp, Surrogate};

use super::{EmpiricalError, KernelPair};

/// A model seen as a function of a list of flat parameter tensors.
///
/// Implement this for a new architecture to get its empirical NTK and SG-NTK: the forward must
/// build its parameters from `params` (reshaping is fine) and route every nonlinearity through
/// [`sgntk_model::surrogate_activation`] with the given `backward` derivative.
pub trait FlatParamModel {
    /// Current parameter values, each flattened to rank 1.
    fn parameters(&self) -> Vec<Tensor<1>>;
    /// Scalar outputs `[N]` for inputs `x: [N, n_0]`, built from `params`.
    fn forward_with(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<1>;
    /// The activation whose true derivative `Surrogate::True` means.
    fn activation(&self) -> Activation;
    /// Input dimension n_0.
    fn input_dim(&self) -> usize;
    /// The (autodiff) device of the parameters.
    fn device(&self) -> Device;
}

fn row_tensor(x: &DMatrix<f64>, i: usize, device: &Device) -> Tensor<2> {
    let v: Vec<f64> = x.row(i).iter().copied().collect();
    Tensor::from_data(TensorData::new(v, [1, x.ncols()]), device)
}

fn check_inputs(model: &impl FlatParamModel, x: &DMatrix<f64>) -> Result<(), EmpiricalError> {
    if x.ncols() != model.input_dim() {
        return Err(sgntk_model::ModelError::ShapeMismatch {
            what: "inputs".into(),
            expected: format!("{} columns", model.input_dim()),
            got: format!("{} columns", x.ncols()),
        }
        .into());
    }
    check_finite(x, "inputs")?;
    Ok(())
}

/// J_{φ,g}(x_i), one P-vector (all parameters concatenated in `parameters()` order).
fn jacobian_row(
    model: &impl FlatParamModel,
    x: &DMatrix<f64>,
    i: usize,
    g: Surrogate,
) -> DVector<f64> {
    let device = model.device();
    let leaves: Vec<Tensor<1>> = model
        .parameters()
        .into_iter()
        .map(|p| Tensor::from_inner(p.inner()).require_grad())
        .collect();
    let out = model.forward_with(&leaves, &row_tensor(x, i, &device).inner(), g);
    let grads = out.sum().backward();
    let mut row = Vec::new();
    for p in &leaves {
        match p.grad(&grads) {
            Some(gp) => row.extend(gp.into_data().iter::<f64>()),
            None => row.extend(std::iter::repeat_n(0.0, p.dims()[0])),
        }
    }
    DVector::from_vec(row)
}

/// The (quasi-)Jacobian J_{φ,g}(X): one row per input, one column per parameter.
pub fn jacobian(
    model: &impl FlatParamModel,
    x: &DMatrix<f64>,
    g: Surrogate,
) -> Result<DMatrix<f64>, EmpiricalError> {
    check_inputs(model, x)?;
    let rows: Vec<DVector<f64>> = (0..x.nrows())
        .map(|i| jacobian_row(model, x, i, g))
        .collect();
    let p = rows.first().map_or(0, |r| r.len());
    Ok(DMatrix::from_fn(rows.len(), p, |i, j| rows[i][j]))
}

/// Î(X1, X2) = J_{φ,g1}(X1) · J_{φ,g2}(X2)ᵀ through per-sample autodiff Jacobians.
pub fn jacobian_kernel(
    model: &impl FlatParamModel,
    x1: &DMatrix<f64>,
    x2: &DMatrix<f64>,
    pair: KernelPair,
) -> Result<DMatrix<f64>, EmpiricalError> {
    pair.check(model.activation())?;
    check_inputs(model, x2)?;
    let j1 = jacobian(model, x1, pair.g1)?;
    let mut k = DMatrix::zeros(x1.nrows(), x2.nrows());
    for j in 0..x2.nrows() {
        let row = jacobian_row(model, x2, j, pair.g2);
        k.set_column(j, &(&j1 * row));
    }
    Ok(k)
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

    fn forward_with(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<1> {
        let layers = self
            .0
            .layers()
            .iter()
            .zip(params.chunks(2))
            .map(|(l, p)| DeviceLayer {
                weight: p[0].clone().reshape(l.weight.dims()),
                bias: p[1].clone().reshape(l.bias.dims()),
            })
            .collect();
        let f = self.0.with_layers(layers).forward(x, backward);
        let [_, n, _] = f.dims();
        f.reshape([n])
    }

    fn activation(&self) -> Activation {
        self.0.config().activation
    }

    fn input_dim(&self) -> usize {
        self.0.config().input_dim()
    }

    fn device(&self) -> Device {
        self.0.device().clone()
    }
}
