//! The forward pass and the δ-recursion of an MLP, written once for every engine.
//!
//! Layer l = 0 … L−1 (weight layer l + 1 of docs/MATH.md §1) maps its input A_l (A_0 = X) to
//! H_l = s_w^l · A_l W_lᵀ + s_b^l · b_l, with (s_w^l, s_b^l) = [`MlpConfig::layer_scales`]
//! (σw/√n_l and σb, times κ on the last layer); A_{l+1} = φ(H_l), and f = H_{L−1}. A skip
//! layer l ([`MlpConfig::skips`], 1 ≤ l < L − 1: a residual block) adds its input's
//! pre-activation, H_l = s_w^l · A_l W_lᵀ + s_b^l · b_l + H_{l−1}.
//! The backward vectors (docs/MATH.md §4) are δ_{L−1} = seed and
//!
//! ```text
//! t_l     = s_w^l · δ_l W_l                 (the pull-back, with W_l before any update)
//! δ_{l−1} = t_l ⊙ g(H_{l−1})  [+ δ_l if layer l skips]
//! ∇W_l = s_w^l · δ_lᵀ A_l,   ∇b_l = s_b^l · Σ_points δ_l
//! ```
//!
//! With seed = 1, δ_l(x) = ∂f(x)/∂H_l computed with g in place of φ' (quasi-Jacobian, Eq. S13):
//! this gives the structured empirical (SG-)NTK. With seed = (f − Y)/d it gives the GD/SGL
//! gradient. [`forward`] and [`backward`] are this recursion; an engine only supplies the
//! per-layer products on its storage ([`LayerProducts`]): burn tensors here (the explicit engine
//! and the structured empirical kernel) and f32 lanes in the fused engine, which also applies
//! the gradient inside the pull-back's pass over W. So the kernel that is measured is the one
//! that drives training, on every engine.

use burn::tensor::Tensor;

use crate::activation::Surrogate;
#[cfg(doc)]
use crate::mlp::MlpConfig;
use crate::mlp::{dense, Ensemble};
use crate::op::{apply_activation, apply_surrogate};

/// The per-layer products of one engine (layer indices as in the module docs).
pub trait LayerProducts {
    /// The backward vectors of one layer for every point, as the engine stores them.
    type Delta;
    /// Number of weight layers L.
    fn depth(&self) -> usize;
    /// Whether layer l adds H_{l−1} (a skip connection; never for l = 0 or l = L − 1).
    fn skip(&self, l: usize) -> bool;
    /// H_l = s_w^l · A_l W_lᵀ + s_b^l · b_l from the stored input A_l.
    fn dense(&mut self, l: usize);
    /// H_l ← H_{l−1} + H_l for a skip layer l (after [`LayerProducts::dense`]).
    fn skip_forward(&mut self, l: usize);
    /// A_{l+1} = φ(H_l) (l < L − 1); an engine may keep g(H_l) here for [`LayerProducts::gate`].
    fn activate(&mut self, l: usize);
    /// Takes δ_l (to record it, or to apply its gradient ∇W_l, ∇b_l as a GD/SGL update) and with
    /// `pull_back` returns t_l = s_w^l · δ_l W_l computed with W_l before any update (`None`
    /// without). For a skip layer l the engine keeps δ_l for [`LayerProducts::skip_backward`].
    fn through(&mut self, l: usize, delta: Self::Delta, pull_back: bool) -> Option<Self::Delta>;
    /// δ_l = t ⊙ g(H_l) for a hidden layer l < L − 1.
    fn gate(&mut self, l: usize, t: Self::Delta) -> Self::Delta;
    /// δ_{l−1} = `gated` + δ_l for a skip layer l (`gated` = t_l ⊙ g(H_{l−1}) from
    /// [`LayerProducts::gate`], δ_l as kept by [`LayerProducts::through`]).
    fn skip_backward(&mut self, l: usize, gated: Self::Delta) -> Self::Delta;
}

/// The forward pass: H_0, A_1, H_1, …, H_{L−1}.
#[inline(always)]
pub fn forward<N: LayerProducts>(net: &mut N) {
    let depth = net.depth();
    for l in 0..depth {
        net.dense(l);
        if net.skip(l) {
            net.skip_forward(l);
        }
        if l + 1 < depth {
            net.activate(l);
        }
    }
}

/// The δ-recursion from δ_{L−1} = `seed` down to layer 0, each layer's δ handed to
/// [`LayerProducts::through`] once.
#[inline(always)]
pub fn backward<N: LayerProducts>(net: &mut N, seed: N::Delta) {
    let mut delta = seed;
    for l in (0..net.depth()).rev() {
        let Some(t) = net.through(l, delta, l > 0) else {
            debug_assert!(l == 0, "through(l > 0, pull_back) must return t");
            return;
        };
        delta = net.gate(l - 1, t);
        if net.skip(l) {
            delta = net.skip_backward(l, delta);
        }
    }
}

/// Pre-activations H_l (l = 0 … L−1) and layer inputs A_l (l = 0 … L−1) of a forward pass,
/// each `[E, N, n]`, on the inner (non-autodiff) backend.
#[derive(Clone, Debug)]
pub struct ForwardCache {
    /// H_0 … H_{L−1}; the last one is the output f.
    pub pre: Vec<Tensor<3>>,
    /// A_0 = X (broadcast to all members) … A_{L−1}.
    pub act: Vec<Tensor<3>>,
}

impl ForwardCache {
    /// The network outputs f = H_{L−1}, `[E, N, n_L]`.
    pub fn output(&self) -> &Tensor<3> {
        self.pre.last().expect("depth ≥ 1")
    }
}

/// [`LayerProducts`] of a burn [`Ensemble`]: every member at once, δ recorded per layer.
struct TensorProducts<'a> {
    ensemble: &'a Ensemble,
    cache: ForwardCache,
    /// g of [`LayerProducts::gate`] ([`Surrogate::True`] = φ').
    g: Surrogate,
    /// δ_{L−1}, δ_{L−2}, … in the order [`backward`] hands them over.
    deltas: Vec<Tensor<3>>,
}

impl TensorProducts<'_> {
    fn weight(&self, l: usize) -> Tensor<3> {
        self.ensemble.layers()[l].weight.clone().inner()
    }
}

impl LayerProducts for TensorProducts<'_> {
    type Delta = Tensor<3>;

    fn depth(&self) -> usize {
        self.ensemble.config().depth()
    }

    fn skip(&self, l: usize) -> bool {
        self.ensemble.config().skip(l)
    }

    fn dense(&mut self, l: usize) {
        let (sw, sb) = self.ensemble.config().layer_scales(l);
        let b = self.ensemble.layers()[l].bias.clone().inner();
        let h = dense(
            self.cache.act[l].clone(),
            self.weight(l),
            b.unsqueeze_dim(1),
            sw,
            sb,
        );
        self.cache.pre.push(h);
    }

    fn skip_forward(&mut self, l: usize) {
        let h = self.cache.pre.pop().expect("H_l was just pushed");
        let skipped = self.cache.pre[l - 1].clone();
        self.cache.pre.push(skipped + h);
    }

    fn activate(&mut self, l: usize) {
        let phi = self.ensemble.config().activation;
        let a = apply_activation(self.cache.pre[l].clone(), phi);
        self.cache.act.push(a);
    }

    fn through(&mut self, l: usize, delta: Tensor<3>, pull_back: bool) -> Option<Tensor<3>> {
        let sw = self.ensemble.config().layer_scales(l).0;
        let t = pull_back.then(|| delta.clone().matmul(self.weight(l)).mul_scalar(sw));
        self.deltas.push(delta);
        t
    }

    fn gate(&mut self, l: usize, t: Tensor<3>) -> Tensor<3> {
        let phi = self.ensemble.config().activation;
        t * apply_surrogate(self.cache.pre[l].clone(), phi, self.g)
    }

    fn skip_backward(&mut self, _l: usize, gated: Tensor<3>) -> Tensor<3> {
        // δ_l is the last one recorded by `through`.
        gated + self.deltas.last().expect("through recorded δ_l").clone()
    }
}

/// Forward pass keeping every layer, on inputs `x: [N, n_0]` (inner backend).
pub fn forward_cache(ensemble: &Ensemble, x: &Tensor<2>) -> ForwardCache {
    let [n, n0] = x.dims();
    let depth = ensemble.config().depth();
    let mut act = Vec::with_capacity(depth);
    act.push(
        x.clone()
            .inner()
            .unsqueeze_dim::<3>(0)
            .expand([ensemble.members(), n, n0]),
    );
    let mut products = TensorProducts {
        ensemble,
        cache: ForwardCache {
            pre: Vec::with_capacity(depth),
            act,
        },
        g: Surrogate::True,
        deltas: Vec::new(),
    };
    forward(&mut products);
    products.cache
}

/// Backward vectors δ_0 … δ_{L−1} (`[E, N, n_{l+1}]`) from `seed` = δ_{L−1}, with derivative
/// `g` at every hidden layer ([`Surrogate::True`] = φ').
pub fn backward_deltas(
    ensemble: &Ensemble,
    cache: &ForwardCache,
    seed: Tensor<3>,
    g: Surrogate,
) -> Vec<Tensor<3>> {
    let mut products = TensorProducts {
        ensemble,
        cache: cache.clone(),
        g,
        deltas: Vec::with_capacity(cache.pre.len()),
    };
    backward(&mut products, seed);
    let mut deltas = products.deltas;
    deltas.reverse();
    deltas
}

/// Loss gradient of every member from the backward vectors: (∇W_l `[E, n_{l+1}, n_l]`,
/// ∇b_l `[E, n_{l+1}]`) for l = 0 … L−1.
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
