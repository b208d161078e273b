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
//!
//! One network description for both widths: a sign residual network's SG-NTK at infinite width,
//! and the same network at width 64 trained by SGL with the surrogate erf':
//!
//! ```
//! use sgntk::model::{data, train_flat, Activation, BackendKind, LearningRule, NetSpec};
//! use sgntk::model::{ResidualConfig, TrainConfig, TrainSet};
//! use sgntk::ntk::{network_kernel_matrix, spec_network, KernelKind, Method};
//! let spec = NetSpec::residual(&ResidualConfig::new(64, 1, Activation::Sign));
//! let x = data::circle_points(&data::PAPER_TRAIN_ANGLES);
//! let set = TrainSet { y: data::targets(&x), x };
//! let g = "erf-prime:1".parse()?;
//! let maps = spec_network(&spec, KernelKind::SgNtk, g, Method::Auto)?;
//! let k = network_kernel_matrix(&maps, KernelKind::SgNtk, &set.x, &set.x)?; // 15 × 15
//! let mut net = spec.init(0, 0, &BackendKind::Flex.device()?)?;
//! let cfg = TrainConfig::new(LearningRule::Sgl(g), 0.1, 50);
//! let report = train_flat(&mut net, &set, &cfg, &[], |_, _| Ok(()))?;
//! assert!(report.loss[50] < report.loss[0] && k.nrows() == 15);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[doc(inline)]
pub use sgntk_experiments as experiments;
#[doc(inline)]
pub use sgntk_model as model;
#[doc(inline)]
pub use sgntk_ntk as ntk;

/// The README's Rust program, compiled and run as a doctest so that it cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeProgram;
