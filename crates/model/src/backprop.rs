//! The explicit forward/backward recursion of an MLP ensemble, without an autodiff tape.
//!
//! With (s_w^l, s_b^l) = [`MlpConfig::layer_scales`] (σw/√n_{l−1} and σb, times κ on the last
//! layer, SPEC §1):
//! Forward (rows = inputs): H^l = s_w^l · A^{l−1} W^lᵀ + s_b^l · b^l, A^l = φ(H^l), A^0 = X.
//! Backward vectors (SPEC §4): δ^L = seed, δ^l = (s_w^{l+1} · δ^{l+1} W^{l+1}) ⊙ g(H^l).
//! With seed = 1, δ^l(x) = ∂f(x)/∂h^l computed with g in place of φ' (quasi-Jacobian, Eq. S13):
//! this gives the structured empirical (SG-)NTK. With seed = (f − Y)/d it gives the GD/SGL
//! gradient: ∇_{W^l} L = s_w^l · δ^lᵀ A^{l−1}, ∇_{b^l} L = s_b^l · Σ_i δ^l_i.
//! One recursion serves both, so the kernel that is measured is the one that drives training.

use burn::tensor::Tensor;

use crate::activation::Surrogate;
#[cfg(doc)]
use crate::mlp::MlpConfig;
use crate::mlp::{dense, Ensemble};
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

/// Forward pass keeping every layer, on inputs `x: [N, n_0]` (inner backend).
pub fn forward_cache(ensemble: &Ensemble, x: &Tensor<2>) -> ForwardCache {
    let cfg = ensemble.config();
    let [n, n0] = x.dims();
    let e = ensemble.members();
    let mut act = vec![x.clone().inner().unsqueeze_dim::<3>(0).expand([e, n, n0])];
    let mut pre = Vec::with_capacity(cfg.depth());
    let depth = cfg.depth();
    for (l, layer) in ensemble.layers().iter().enumerate() {
        let (sw, sb) = cfg.layer_scales(l);
        let w = layer.weight.clone().inner();
        let b = layer.bias.clone().inner().unsqueeze_dim::<3>(1);
        let h = dense(act[l].clone(), w, b, sw, sb);
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
        // δ^l = (s_w^{l+1} · δ^{l+1} W^{l+1}) ⊙ g(H^l); layers[l] is W^{l+1}.
        let w = ensemble.layers()[l].weight.clone().inner();
        let upstream = deltas
            .last()
            .unwrap()
            .clone()
            .matmul(w)
            .mul_scalar(cfg.layer_scales(l).0);
        // g(H^l) with g = σ̃, or φ' for Surrogate::True
        let gh = apply_surrogate(cache.pre[l - 1].clone(), cfg.activation, g);
        deltas.push(upstream * gh);
    }
    deltas.reverse();
    deltas
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
            let (sw, sb) = cfg.layer_scales(l);
            let gw = delta
                .clone()
                .swap_dims(1, 2)
                .matmul(cache.act[l].clone())
                .mul_scalar(sw);
            let gb = delta.clone().sum_dim(1).squeeze_dim::<2>(1).mul_scalar(sb);
            (gw, gb)
        })
        .collect()
}
