//! The generic empirical kernel: per-sample (quasi-)Jacobians through burn's autodiff, for any
//! model with a scalar output (n_L = 1; more outputs are an error) that applies its
//! nonlinearities through sgntk's surrogate op.
//!
//! J_{φ,g}(x) = ∂f(x)/∂θ with g in the op's backward pass; Î(x, x') = J_{φ,g1}(x) · J_{φ,g2}(x')ᵀ.
//! Memory: the rows of J(X1) plus one row of J(X2) at a time.

use burn::tensor::{Device, Tensor, TensorData};
use sgntk_model::nalgebra::{DMatrix, DVector};
use sgntk_model::{FlatParamModel, Surrogate};

use super::{check_pair, DerivativePair, EmpiricalError};

fn row_tensor(x: &DMatrix<f64>, i: usize, device: &Device) -> Tensor<2> {
    let v: Vec<f64> = x.row(i).iter().copied().collect();
    Tensor::from_data(TensorData::new(v, [1, x.ncols()]), device)
}

fn check_inputs(model: &impl FlatParamModel, x: &DMatrix<f64>) -> Result<(), EmpiricalError> {
    // The kernel is defined for one output: Î of n_L outputs is n_L × n_L blocks, not a sum.
    if model.outputs() != 1 {
        return Err(EmpiricalError::NotScalarOutput(model.outputs()));
    }
    sgntk_model::flat::check_inputs(model, x)?;
    // The Jacobian rows of `x`: one f64 per point and parameter.
    let params: u64 = model.parameters().iter().map(|p| p.dims()[0] as u64).sum();
    sgntk_model::check_memory(
        "the Jacobian",
        &[
            ("points", x.nrows() as u64),
            ("parameters", params),
            ("bytes", 8),
        ],
    )
    .map_err(sgntk_model::ModelError::from)?;
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
    pair: DerivativePair,
) -> Result<DMatrix<f64>, EmpiricalError> {
    check_pair(pair, model.activation())?;
    check_inputs(model, x2)?;
    let j1 = jacobian(model, x1, pair.g1)?;
    let mut k = DMatrix::zeros(x1.nrows(), x2.nrows());
    for j in 0..x2.nrows() {
        let row = jacobian_row(model, x2, j, pair.g2);
        k.set_column(j, &(&j1 * row));
    }
    Ok(k)
}
