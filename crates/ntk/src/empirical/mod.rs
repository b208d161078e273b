//! Empirical kernels of finite networks (docs/MATH.md §4, Def. C.3, C.5):
//! Î(x, x') = J_{φ,g1}(x) · J_{φ,g2}(x')ᵀ, first argument with g1, second with g2.
//!
//! Two paths: [`structured`] for MLP ensembles (per-layer formula, no P-sized Jacobian) and
//! [`generic`] for any model through per-sample autodiff Jacobians. They agree to rounding error.

pub mod during_training;
pub mod generic;
pub mod stats;
pub mod structured;

use sgntk_model::Activation;
use thiserror::Error;

pub use during_training::{train_with_kernels, RecordedKernels};
pub use generic::{jacobian, jacobian_kernel};
pub use sgntk_model::{DerivativePair, FlatParamModel};
pub use stats::{ensemble_mean, ensemble_spread, mse};
pub use structured::{empirical_kernel, ensemble_kernels};

/// Errors if a side of `pair` needs the true Jacobian of an activation that has none (sign,
/// step).
pub fn check_pair(pair: DerivativePair, activation: Activation) -> Result<(), EmpiricalError> {
    if activation.has_degenerate_derivative() && pair.uses_true_derivative() {
        return Err(EmpiricalError::NoTrueJacobian { activation });
    }
    Ok(())
}

/// Errors of the empirical-kernel code.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum EmpiricalError {
    /// The activation's derivative is 0 almost everywhere, so J_{φ,φ'} is not the network's Jacobian.
    #[error("the empirical kernel with the true derivative does not exist for `{activation}`: its derivative is 0 almost everywhere (a Dirac delta at the jump); use the analytic kernel, or a surrogate on both sides (`KernelKind::Generalized`; CLI: `--kind generalized --g1 SPEC --g2 SPEC`)")]
    NoTrueJacobian {
        /// The activation.
        activation: Activation,
    },
    /// Only scalar-output networks have a scalar kernel.
    #[error("empirical kernels need a scalar output (n_L = 1), got n_L = {0}")]
    NotScalarOutput(usize),
    /// The kernel overflowed the f32 arithmetic of the networks.
    #[error("the empirical kernel of network {member} is {value} at ({row}, {col}): the f32 computation overflowed (inputs this large do not fit f32 arithmetic; rescale them)")]
    NonFinite {
        /// Member of the ensemble.
        member: usize,
        /// Row (first argument).
        row: usize,
        /// Column (second argument).
        col: usize,
        /// The value.
        value: f64,
    },
    /// A model error (bad inputs, shapes, …).
    #[error(transparent)]
    Model(#[from] sgntk_model::ModelError),
}
