//! What to compute: the kernel kind and the network's parameters.

use serde::{Deserialize, Serialize};
use sgntk_model::{Activation, DerivativePair, MlpConfig, NetSpec, Surrogate};

use super::KernelError;

/// Which analytic kernel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum KernelKind {
    /// The NNGP Σ^L (times κ²): the covariance of f_0 (Thm. 2.1).
    Nngp,
    /// The NTK Θ: g1 = g2 = φ' (Thm. 2.2).
    Ntk,
    /// The SG-NTK I: g1 = φ' (first argument), g2 = σ̃ (second argument) (Thm. 2.4).
    SgNtk,
    /// The generalized kernel with any pair of derivatives (g1 first argument, g2 second).
    Generalized {
        /// Derivative used for the first argument.
        g1: Surrogate,
        /// Derivative used for the second argument.
        g2: Surrogate,
    },
}

impl KernelKind {
    /// The derivative pair (g1, g2), or `None` for the NNGP.
    pub fn derivatives(&self, surrogate: Surrogate) -> Option<DerivativePair> {
        match *self {
            KernelKind::Nngp => None,
            KernelKind::Ntk => Some(DerivativePair::NTK),
            KernelKind::SgNtk => Some(DerivativePair::sg_ntk(surrogate)),
            KernelKind::Generalized { g1, g2 } => Some(DerivativePair { g1, g2 }),
        }
    }

    /// The kernel of a derivative pair (`None`: the NNGP).
    pub fn of_pair(pair: Option<DerivativePair>) -> KernelKind {
        match pair {
            None => KernelKind::Nngp,
            Some(DerivativePair { g1, g2 }) => KernelKind::Generalized { g1, g2 },
        }
    }
}

/// How the Gaussian expectations are evaluated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub enum Method {
    /// Closed forms and 1-D expectations where available, otherwise the nested adaptive 2-D
    /// quadrature of [`Method::Adaptive`] (accurate to ~1e-13; tensor Gauss–Hermite is not, for
    /// sharp integrands such as erf(m z), m ≥ 2, or tanh' at large variance).
    #[default]
    Auto,
    /// 2-D Gauss–Hermite quadrature with `degree` nodes per dimension for every expectation.
    /// Fails for Dirac-delta derivatives (sign, step). Accurate for smooth integrands on the scale
    /// of the Gaussian (tanh, erf(m z) with m ≲ 1); erf(m z) with m ≥ 2 needs [`Method::Adaptive`].
    Quadrature {
        /// Gauss–Hermite nodes per dimension.
        degree: usize,
    },
    /// Nested adaptive Gauss–Legendre quadrature in 2-D for every expectation (the test oracle
    /// for the closed forms; accurate to ~1e-13 for sharp and kinked integrands, but slow).
    /// Fails for Dirac-delta derivatives.
    Adaptive,
}

impl Method {
    /// The Gauss–Hermite degree (1 for the methods that do not use Gauss–Hermite).
    pub fn degree(&self) -> usize {
        match *self {
            Method::Quadrature { degree } => degree,
            Method::Auto | Method::Adaptive => 1,
        }
    }
}

/// The infinite-width network: depth L, scales, activation, surrogate, last-layer scale κ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KernelSpec {
    /// Number of weight layers L (L − 1 hidden layers).
    pub depth: usize,
    /// Weight scale σw (> 0).
    pub sigma_w: f64,
    /// Bias scale σb (≥ 0).
    pub sigma_b: f64,
    /// Activation φ.
    pub activation: Activation,
    /// Surrogate derivative σ̃ (used by [`KernelKind::SgNtk`]).
    pub surrogate: Surrogate,
    /// Last-layer scale κ (> 0), g = κ f (docs/MATH.md §1/§5): the driving kernel is κ² I^L and
    /// f_0 ~ GP(0, κ² Σ^L).
    pub kappa: f64,
    /// Closed forms or quadrature.
    pub method: Method,
}

impl KernelSpec {
    /// The paper's network: L = 3, σw = 1, σb = 0.1, κ = 1, [`Method::default`].
    pub fn paper(activation: Activation, surrogate: Surrogate) -> Self {
        KernelSpec {
            depth: 3,
            sigma_w: 1.0,
            sigma_b: 0.1,
            activation,
            surrogate,
            kappa: 1.0,
            method: Method::default(),
        }
    }

    /// The infinite-width limit of a finite [`MlpConfig`] (its widths only fix the depth).
    pub fn from_mlp(config: &MlpConfig, surrogate: Surrogate) -> Self {
        KernelSpec {
            depth: config.widths.len().saturating_sub(1),
            sigma_w: config.sigma_w,
            sigma_b: config.sigma_b,
            activation: config.activation,
            surrogate,
            kappa: config.kappa,
            method: Method::default(),
        }
    }

    /// Same spec with another method.
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Same spec with another depth.
    pub fn with_depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// Same spec with another κ.
    pub fn with_kappa(mut self, kappa: f64) -> Self {
        self.kappa = kappa;
        self
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), KernelError> {
        if self.depth == 0 {
            return Err(KernelError::ZeroDepth);
        }
        // The layer stack: 2L − 1 boxed maps of at most a few hundred bytes.
        let maps = (self.depth as u64).saturating_mul(2);
        sgntk_model::check_memory(
            "the analytic layer stack",
            &[("layers", maps), ("bytes", 256)],
        )?;
        let bad = |name, value, requirement| {
            Err(KernelError::BadParameter {
                name,
                value,
                requirement,
            })
        };
        sgntk_model::mlp::check_scales(self.sigma_w, self.sigma_b, self.kappa)?;
        if self.method.degree() == 0 {
            return bad("quadrature degree", 0.0, "must be >= 1");
        }
        Ok(())
    }

    /// This MLP as a [`NetSpec`] on `input_dim` inputs with hidden width `width`:
    /// Dense → (Act(φ) → Dense)^{L−1}, scalar output. The infinite-width kernels do not depend
    /// on the widths. Fails if the spec is invalid ([`KernelSpec::validate`]).
    pub fn net_spec(&self, input_dim: usize, width: usize) -> Result<NetSpec, KernelError> {
        self.validate()?;
        let mut widths = vec![width; self.depth + 1];
        widths[0] = input_dim;
        widths[self.depth] = 1;
        Ok(NetSpec::mlp(&MlpConfig {
            widths,
            sigma_w: self.sigma_w,
            sigma_b: self.sigma_b,
            activation: self.activation,
            kappa: self.kappa,
            skips: Vec::new(),
        }))
    }
}
