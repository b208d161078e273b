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
//! Every parameter is drawn i.i.d. N(0, 1); κ is the output scale of docs/MATH.md §1 (g = κ f). Every φ
//! goes through the surrogate op, so SGL uses σ̃ in each block's branch while the skip path passes
//! gradients unchanged. With B = 0 this is the MLP 2 → n → 1 of [`crate::MlpConfig`] (tested). Its
//! infinite-width kernels: `sgntk_ntk::analytic::residual_network`. Draws and forward are those of
//! [`NetSpec::residual`], the one description of this network. It is also the MLP
//! n_0 → n → … → n → 1 whose hidden-to-hidden layers 1 … B skip (`MlpConfig::try_from` of that
//! description, [`crate::MlpConfig::skips`]), so ensembles of it train on the MLP engines
//! (fused, lowrank, explicit, autodiff) with the same draws.

use burn::tensor::{Device, Tensor};
use nalgebra::DVector;

use crate::activation::{Activation, Surrogate};
use crate::error::ModelError;
use crate::flat::{Architecture, FlatNet, FlatParamModel};
use crate::netspec::{Layer, NetSpec};

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
}

impl NetSpec {
    /// The residual MLP of `config`: Dense{n} → Residual(Act → Dense{n})^B → Act → Dense{1}
    /// (the network of [`crate::ResidualNet`], parameters in the same order).
    pub fn residual(config: &ResidualConfig) -> Self {
        let n = config.width;
        let block = vec![Layer::Act(config.activation), Layer::Dense { width: n }];
        let mut layers = vec![Layer::Dense { width: n }];
        layers.extend((0..config.blocks).map(|_| Layer::Residual(block.clone())));
        layers.extend([Layer::Act(config.activation), Layer::Dense { width: 1 }]);
        NetSpec {
            input_shape: vec![config.input_dim],
            layers,
            sigma_w: config.sigma_w,
            sigma_b: config.sigma_b,
            kappa: config.kappa,
        }
    }
}

/// A residual MLP with its parameters on a device.
pub type ResidualNet = FlatNet<ResidualConfig>;

impl ResidualNet {
    /// Member `k` of an ensemble seeded with `seed`: the draws of [`NetSpec::init`] of
    /// [`NetSpec::residual`] (every parameter i.i.d. N(0, 1), ChaCha8 on stream `k`).
    pub fn init(
        config: &ResidualConfig,
        seed: u64,
        k: usize,
        device: &Device,
    ) -> Result<Self, ModelError> {
        config.validate()?;
        let net = NetSpec::residual(config).init(seed, k, device)?;
        Ok(FlatNet::new(config.clone(), net.parameters(), device))
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
    /// The forward of [`NetSpec::residual`] of these hyper-parameters.
    fn forward(&self, params: &[Tensor<1>], x: &Tensor<2>, backward: Surrogate) -> Tensor<2> {
        NetSpec::residual(self).forward(params, x, backward)
    }

    fn outputs(&self) -> usize {
        1
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn input_dim(&self) -> usize {
        self.input_dim
    }
}
