//! Structured empirical kernels of MLP ensembles (SPEC §4):
//!
//! ```text
//! Î(x, x') = Σ_l ⟨δ^l_1(x), δ^l_2(x')⟩ · ( σw²/n_{l−1} ⟨a^{l−1}(x), a^{l−1}(x')⟩ + σb² )
//! ```
//!
//! with the δ-recursion of [`sgntk_model::backprop`] (the same one SGL training uses), for all
//! inputs and all members at once. Cost O(E·(N²·n + N·n²)); no P-sized Jacobian.

use burn::tensor::Tensor;
use sgntk_model::backprop::{backward_deltas, forward_cache};
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{matrix_to_tensor, Ensemble};

use super::{EmpiricalError, KernelPair};

/// Kernel matrices `[E, N1, N2]` of every member on the device.
pub fn ensemble_kernels(
    ensemble: &Ensemble,
    x1: &DMatrix<f64>,
    x2: &DMatrix<f64>,
    pair: KernelPair,
) -> Result<Tensor<3>, EmpiricalError> {
    let cfg = ensemble.config();
    pair.check(cfg.activation)?;
    if cfg.output_dim() != 1 {
        return Err(EmpiricalError::NotScalarOutput(cfg.output_dim()));
    }
    ensemble.check_inputs(x1)?;
    ensemble.check_inputs(x2)?;
    let device = ensemble.device();
    let t1 = matrix_to_tensor(x1, device).inner();
    let t2 = matrix_to_tensor(x2, device).inner();
    let c1 = forward_cache(ensemble, &t1);
    let c2 = forward_cache(ensemble, &t2);
    let ones = |c: &sgntk_model::backprop::ForwardCache| {
        c.output().clone().mul_scalar(0.0).add_scalar(1.0)
    };
    let d1 = backward_deltas(ensemble, &c1, ones(&c1), pair.g1);
    let d2 = backward_deltas(ensemble, &c2, ones(&c2), pair.g2);
    let mut kernel: Option<Tensor<3>> = None;
    for l in 0..cfg.depth() {
        let scale = cfg.sigma_w * cfg.sigma_w / cfg.widths[l] as f64;
        let aa = c1.act[l].clone().matmul(c2.act[l].clone().swap_dims(1, 2));
        let dd = d1[l].clone().matmul(d2[l].clone().swap_dims(1, 2));
        let term = dd * aa.mul_scalar(scale).add_scalar(cfg.sigma_b * cfg.sigma_b);
        kernel = Some(match kernel {
            None => term,
            Some(k) => k + term,
        });
    }
    Ok(kernel.expect("depth ≥ 1"))
}

/// Kernel matrices `N1 × N2` of every member, on the host.
pub fn empirical_kernel(
    ensemble: &Ensemble,
    x1: &DMatrix<f64>,
    x2: &DMatrix<f64>,
    pair: KernelPair,
) -> Result<Vec<DMatrix<f64>>, EmpiricalError> {
    let k = ensemble_kernels(ensemble, x1, x2, pair)?;
    let [e, n1, n2] = k.dims();
    let v: Vec<f64> = k.into_data().iter::<f64>().collect();
    Ok((0..e)
        .map(|m| DMatrix::from_row_slice(n1, n2, &v[m * n1 * n2..(m + 1) * n1 * n2]))
        .collect())
}
