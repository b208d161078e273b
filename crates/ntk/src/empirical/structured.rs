//! Structured empirical kernels of MLP ensembles (docs/MATH.md §4):
//!
//! ```text
//! Î(x, x') = Σ_l ⟨δ^l_1(x), δ^l_2(x')⟩ · ( (s_w^l)² ⟨a^{l−1}(x), a^{l−1}(x')⟩ + (s_b^l)² )
//! ```
//!
//! with (s_w^l, s_b^l) = (σw/√n_{l−1}, σb), times κ on the last layer (`MlpConfig::layer_scales`).
//!
//! with the δ-recursion of [`sgntk_model::backprop`] (the same one SGL training uses), for all
//! inputs and all members at once. Cost O(E·(N²·n + N·n²)); no P-sized Jacobian.

use burn::tensor::Tensor;
use sgntk_model::backprop::{backward_deltas, forward_cache};
use sgntk_model::nalgebra::DMatrix;
use sgntk_model::{matrix_to_tensor, Ensemble};

use super::{check_pair, DerivativePair, EmpiricalError};

/// Kernel matrices `[E, N1, N2]` of every member on the device.
pub fn ensemble_kernels(
    ensemble: &Ensemble,
    x1: &DMatrix<f64>,
    x2: &DMatrix<f64>,
    pair: DerivativePair,
) -> Result<Tensor<3>, EmpiricalError> {
    let cfg = ensemble.config();
    check_pair(pair, cfg.activation)?;
    if cfg.output_dim() != 1 {
        return Err(EmpiricalError::NotScalarOutput(cfg.output_dim()));
    }
    ensemble.check_inputs(x1)?;
    ensemble.check_inputs(x2)?;
    // The [E, N1, N2] kernels on the device (f32) and downloaded (f64), and E copies of every
    // layer's activations and deltas for both inputs.
    let (n1, n2) = (x1.nrows() as u64, x2.nrows() as u64);
    let widths: u64 = cfg.widths.iter().map(|&n| n as u64).sum();
    let per_net = n1
        .saturating_mul(n2)
        .saturating_mul(12)
        .saturating_add((n1 + n2).saturating_mul(widths).saturating_mul(16));
    sgntk_model::check_memory(
        "the empirical kernels",
        &[
            ("networks", ensemble.members() as u64),
            ("bytes each", per_net),
        ],
    )
    .map_err(sgntk_model::ModelError::from)?;
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
        let (sw, sb) = cfg.layer_scales(l);
        let aa = c1.act[l].clone().matmul(c2.act[l].clone().swap_dims(1, 2));
        let dd = d1[l].clone().matmul(d2[l].clone().swap_dims(1, 2));
        let term = dd * aa.mul_scalar(sw * sw).add_scalar(sb * sb);
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
    pair: DerivativePair,
) -> Result<Vec<DMatrix<f64>>, EmpiricalError> {
    let k = ensemble_kernels(ensemble, x1, x2, pair)?;
    let [e, n1, n2] = k.dims();
    let v: Vec<f64> = k.into_data().iter::<f64>().collect();
    // f32 arithmetic overflows for inputs that are finite in f64 (e.g. 1e20: ⟨x, x'⟩ = 2e40).
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        let (member, rest) = (i / (n1 * n2).max(1), i % (n1 * n2).max(1));
        return Err(EmpiricalError::NonFinite {
            member,
            row: rest / n2.max(1),
            col: rest % n2.max(1),
            value: v[i],
        });
    }
    Ok((0..e)
        .map(|m| DMatrix::from_row_slice(n1, n2, &v[m * n1 * n2..(m + 1) * n1 * n2]))
        .collect())
}
