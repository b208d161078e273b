//! # sgntk
//!
//! Surrogate gradient learning (SGL) through the neural tangent kernel: train binary / spiking-style
//! networks with surrogate derivatives, compute empirical and analytic (SG-)NTKs, and compare
//! trained ensembles with the infinite-width predictions of the SG-NTK paper (NeurIPS 2024).
//!
//! This facade re-exports the workspace crates:
//! - [`model`]: activations, surrogates, the surrogate autodiff op, NTK-parameterized MLP
//!   ensembles and GD/SGL training on flex, ndarray or wgpu;
//! - [`ntk`]: empirical kernels (structured and generic) and analytic kernels with GP predictions;
//! - [`experiments`]: drivers for the paper's figures.

pub use sgntk_experiments as experiments;
pub use sgntk_model as model;
pub use sgntk_ntk as ntk;
