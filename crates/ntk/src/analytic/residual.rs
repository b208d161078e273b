//! Infinite-width kernels of the residual MLP `sgntk_model::ResidualNet` (no anchor — not the
//! paper, not neural-tangents — has an SG-NTK for residual networks):
//!
//! ```text
//! Input → Dense(σw, σb) → Residual(Nonlinearity(φ, g1, g2) → Dense(σw, σb))^B
//!       → Nonlinearity(φ, g1, g2) → Dense(σw, σb, κ)
//! ```
//!
//! With Σ⁰ = σw²/n0 ⟨x, x'⟩ + σb² = I⁰ and (u, v) ~ N(0, Λ^r) at each block r (docs/MATH.md §5 notation):
//!
//! ```text
//! Σ^{r+1} = Σ^r + σw² E[φ(u)φ(v)] + σb²
//! I^{r+1} = I^r (1 + σw² E[g1(u) g2(v)]) + σw² E[φ(u)φ(v)] + σb²
//! ```
//!
//! followed by the MLP's output layer (Remark E.3): Σ = κ²(σw² E\[φ(u)φ(v)\] + σb²),
//! I = κ²(Σ/κ² + σw² E\[g1(u) g2(v)\] I^B). See [`super::Residual`] for why the skip path adds no
//! cross terms.

use sgntk_model::{NetSpec, ResidualConfig, Surrogate};

use super::compose::spec_network;
use super::layers::Network;
use super::spec::{KernelKind, Method};
use super::KernelError;

/// The layer maps of the residual network `config` for the kernel `kind` (`surrogate` is σ̃ of
/// the SG-NTK); evaluate with [`super::network_kernel_matrix`].
pub fn residual_network(
    config: &ResidualConfig,
    kind: KernelKind,
    surrogate: Surrogate,
    method: Method,
) -> Result<Network, KernelError> {
    config
        .validate()
        .map_err(|e| KernelError::Unsupported(e.to_string()))?;
    spec_network(&NetSpec::residual(config), kind, surrogate, method)
}
