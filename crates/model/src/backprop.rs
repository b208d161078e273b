//! The explicit forward/backward recursion of an MLP ensemble, without an autodiff tape.
//!
//! Forward (rows = inputs): H^l = σw/√n_{l−1} · A^{l−1} W^lᵀ + σb · b^l, A^l = φ(H^l), A^0 = X.
//! Backward vectors (SPEC §4): δ^L = seed, δ^l = (σw/√n_l · δ^{l+1} W^{l+1}) ⊙ g(H^l).
//! With seed = 1, δ^l(x) = ∂f(x)/∂h^l computed with g in place of φ' (quasi-Jacobian, Eq. S13):
//! this gives the structured empirical (SG-)NTK. With seed = (f − Y)/d it gives the GD/SGL
//! gradient: ∇_{W^l} L = σw/√n_{l−1} · δ^lᵀ A^{l−1}, ∇_{b^l} L = σb · Σ_i δ^l_i.
//! One recursion serves both, so the kernel that is measured is the one that drives training.

use burn::tensor::Tensor;

use crate::activation::{Activation, Surrogate};
use crate::mlp::Ensemble;
use crate::op::{apply_activation, apply_surrogate};

/// Pre-activations H^l (l = 1 … L) and activations A^l (l = 0 … L−1) of a forward pass,
/// each `[E, N, n_l]`, on the inner (non-autodiff) backend.
#[derive(Clone, Debug)]
pub struct ForwardCache {
    /// H^1 … H^L; the last one is the output f.
    pub pre: Vec<Tensor<3>>,
    /// A^0 = X (broadcast to all members) … A^{L−1}.
    pub act: Vec<Tensor<3>>,
}

impl ForwardCache {
    /// The network outputs f = H^L, `[E, N, n_L]`.
    pub fn output(&self) -> &Tensor<3> {
        self.pre.last().expect("depth ≥ 1")
    }
}

/// Scale σw/√n of the layer whose input has width n.
fn weight_scale(sigma_w: f64, n_in: usize) -> f64 {
    sigma_w / (n_in as f64).sqrt()
}

/// Forward pass keeping every layer, on inputs `x: [N, n_0]` (inner backend).
pub fn forward_cache(ensemble: &Ensemble, x: &Tensor<2>) -> ForwardCache {
    let cfg = ensemble.config();
    let [n, n0] = x.dims();
    let e = ensemble.members();
    let mut act = vec![x.clone().inner().unsqueeze_dim::<3>(0).expand([e, n, n0])];
    let mut pre = Vec::with_capacity(cfg.depth());
    let depth = cfg.depth();
    for (l, layer) in ensemble.layers().iter().enumerate() {
        let w = layer.weight.clone().inner();
        let b = layer.bias.clone().inner();
        let h = act[l]
            .clone()
            .matmul(w.swap_dims(1, 2))
            .mul_scalar(weight_scale(cfg.sigma_w, cfg.widths[l]))
            + b.unsqueeze_dim::<3>(1).mul_scalar(cfg.sigma_b);
        if l + 1 < depth {
            act.push(apply_activation(h.clone(), cfg.activation));
        }
        pre.push(h);
    }
    ForwardCache { pre, act }
}

/// Backward vectors δ^1 … δ^L (`[E, N, n_l]`) from `seed` = δ^L, with derivative `g` at every
/// hidden layer ([`Surrogate::True`] = φ').
pub fn backward_deltas(
    ensemble: &Ensemble,
    cache: &ForwardCache,
    seed: Tensor<3>,
    g: Surrogate,
) -> Vec<Tensor<3>> {
    let cfg = ensemble.config();
    let depth = cfg.depth();
    let mut deltas = vec![seed];
    for l in (1..depth).rev() {
        // δ^l = (σw/√n_l · δ^{l+1} W^{l+1}) ⊙ g(H^l); layers[l] is W^{l+1}.
        let w = ensemble.layers()[l].weight.clone().inner();
        let upstream = deltas
            .last()
            .unwrap()
            .clone()
            .matmul(w)
            .mul_scalar(weight_scale(cfg.sigma_w, cfg.widths[l]));
        let gh = derivative(cfg.activation, g, cache.pre[l - 1].clone());
        deltas.push(upstream * gh);
    }
    deltas.reverse();
    deltas
}

/// g(h) with g = σ̃, or φ' for [`Surrogate::True`].
pub fn derivative<const D: usize>(activation: Activation, g: Surrogate, h: Tensor<D>) -> Tensor<D> {
    apply_surrogate(h, activation, g)
}

/// Loss gradient of every member from the backward vectors: (∇W^l `[E, n_l, n_{l−1}]`,
/// ∇b^l `[E, n_l]`) for l = 1 … L.
pub fn parameter_gradients(
    ensemble: &Ensemble,
    cache: &ForwardCache,
    deltas: &[Tensor<3>],
) -> Vec<(Tensor<3>, Tensor<2>)> {
    let cfg = ensemble.config();
    deltas
        .iter()
        .enumerate()
        .map(|(l, delta)| {
            let gw = delta
                .clone()
                .swap_dims(1, 2)
                .matmul(cache.act[l].clone())
                .mul_scalar(weight_scale(cfg.sigma_w, cfg.widths[l]));
            let gb = delta
                .clone()
                .sum_dim(1)
                .squeeze_dim::<2>(1)
                .mul_scalar(cfg.sigma_b);
            (gw, gb)
        })
        .collect()
}
