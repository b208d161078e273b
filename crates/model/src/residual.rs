//! A residual MLP in NTK parameterization, as an [`Architecture`] ([`FlatNet`] makes it a
//! [`crate::FlatParamModel`]: training by GD/SGL through burn's autodiff with
//! [`crate::train_flat`], empirical kernels through per-sample Jacobians):
//!
//! ```text
//! h^0     = σw/√n_0 · W^0 x + σb · b^0                                  (n units)
//! h^{r+1} = h^r + σw/√n · W^{r+1} φ(h^r) + σb · b^{r+1},   r = 0 … B−1   (B residual blocks)
//! f(x)    = κ (σw/√n · w_outᵀ φ(h^B) + σb · b_out)
//! ```
//!
//! Every parameter is drawn i.i.d. N(0, 1); κ is the output scale of SPEC §1 (g = κ f). Every φ
//! goes through the surrogate op, so SGL uses σ̃ in each block's branch while the skip path passes
//! gradients unchanged. With B = 0 this is the MLP 2 → n → 1 of [`crate::MlpConfig`] (tested). Its
//! infinite-width kernels: `sgntk_ntk::analytic::residual_network`.

use burn::tensor::{Device, Tensor};
use nalgebra::DVector;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::activation::{Activation, Surrogate};
use crate::error::ModelError;
use crate::flat::{flat_tensor, Architecture, FlatNet};
use crate::mlp::dense;
use crate::op::surrogate_activation;

/// Hyper-parameters of a residual MLP.
#[derive(Clone, Debug, PartialEq)]
pub struct ResidualConfig {
    /// Input dimension n_0.
    pub input_dim: usize,
    /// Width n of every hidden layer.
    pub width: usize,
    /// Residual blocks B.
    pub blocks: usize,
    /// σw.
    pub sigma_w: f64,
    /// σb.
    pub sigma_b: f64,
    /// Output scale κ (g = κ f).
    pub kappa: f64,
    /// φ.
    pub activation: Activation,
}

impl ResidualConfig {
    /// 2 → n → (B blocks) → 1 with σw = 1, σb = 0.1, κ = 1 (the paper's scales).
    pub fn new(width: usize, blocks: usize, activation: Activation) -> Self {
        ResidualConfig {
            input_dim: 2,
            width,
            blocks,
            sigma_w: 1.0,
            sigma_b: 0.1,
            kappa: 1.0,
            activation,
        }
    }

    /// Checks the hyper-parameters.
    pub fn validate(&self) -> Result<(), ModelError> {
        if self.input_dim == 0 || self.width == 0 {
            return Err(ModelError::ShapeMismatch {
                what: "residual network (input_dim, width)".into(),
                expected: "both ≥ 1".into(),
                got: format!("{}, {}", self.input_dim, self.width),
            });
        }
        crate::mlp::check_scales(self.sigma_w, self.sigma_b, self.kappa)?;
        let n = self.width as u64;
        let params = (self.blocks as u64)
            .checked_add(1)
            .and_then(|b| b.checked_mul(n.saturating_mul(n)))
            .unwrap_or(u64::MAX);
        crate::check_memory("residual network", &[("weights", params), ("bytes", 8)])?;
        Ok(())
    }

    /// The shapes of the flat parameters: W^0, b^0, (W^r, b^r) per block, w_out, b_out.
    fn shapes(&self) -> Vec<usize> {
        let (n, n0) = (self.width, self.input_dim);
        let mut s = vec![n * n0, n];
        for _ in 0..self.blocks {
            s.extend([n * n, n]);
        }
        s.extend([n, 1]);
        s
    }
}

/// A residual MLP with its parameters on a device.
pub type ResidualNet = FlatNet<ResidualConfig>;

impl ResidualNet {
    /// Member `k` of an ensemble seeded with `seed`: every parameter i.i.d. N(0, 1) from ChaCha8
    /// seeded with `seed` on stream `k`, in the order of the flat parameters.
    pub fn init(
        config: &ResidualConfig,
        seed: u64,
        k: usize,
        device: &Device,
    ) -> Result<Self, ModelError> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(k as u64);
        let params = config
            .shapes()
            .into_iter()
            .map(|len| {
                flat_tensor(
                    (0..len).map(|_| StandardNormal.sample(&mut rng)).collect(),
                    device,
                )
            })
            .collect();
        Ok(FlatNet::new(config.clone(), params, device))
    }

    /// The flat parameters on the host, in order (W row-major).
    pub fn to_host(&self) -> Vec<DVector<f64>> {
        self.host_params()
            .into_iter()
            .map(DVector::from_vec)
            .collect()
    }
}

impl Architecture for ResidualConfig {
    fn forward(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<1> {
        let c = self;
        let (n, n0) = (c.width, c.input_dim);
        let [d, _] = x.dims();
        let s_in = c.sigma_w / (n0 as f64).sqrt();
        let s_hid = c.sigma_w / (n as f64).sqrt();
        let dense =
            |a: Tensor<2>, w: &Tensor<1>, b: &Tensor<1>, rows: usize, cols: usize, s: f64| {
                let w = w.clone().reshape([rows, cols]);
                dense(a, w, b.clone().reshape([1, rows]), s, c.sigma_b)
            };
        let phi = |h: Tensor<2>| surrogate_activation(h, c.activation, backward);
        let mut h = dense(x.clone(), &params[0], &params[1], n, n0, s_in);
        for r in 0..c.blocks {
            let (w, b) = (&params[2 + 2 * r], &params[3 + 2 * r]);
            h = h.clone() + dense(phi(h), w, b, n, n, s_hid);
        }
        let last = 2 + 2 * c.blocks;
        let f = dense(phi(h), &params[last], &params[last + 1], 1, n, s_hid);
        f.mul_scalar(c.kappa).reshape([d])
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn input_dim(&self) -> usize {
        self.input_dim
    }
}
