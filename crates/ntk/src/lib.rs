//! # sgntk-ntk
//!
//! Analytic (infinite-width) NNGP / NTK / SG-NTK kernels with their GP predictions
//! ([`analytic`]), and empirical kernels of finite networks ([`empirical`]).
//!
//! The analytic SG-NTK of the paper's sign network with the surrogate erf' (asymmetric off the
//! diagonal, docs/MATH.md §4), and the SG-NTK GP's prediction after 1000 SGL steps (docs/MATH.md §6):
//!
//! ```
//! use sgntk_model::data::{circle_points, targets};
//! use sgntk_ntk::{gp_predict, kernel_matrix, KernelKind, KernelSpec, TrainTime};
//! let spec = KernelSpec::paper("sign".parse()?, "erf-prime:1".parse()?);
//! let x = circle_points(&[-1.0, 0.0, 0.5, 2.0]);
//! let k = kernel_matrix(&spec, KernelKind::SgNtk, &x, &x)?;
//! assert!((k[(0, 1)] - k[(1, 0)]).abs() < 1e-9 * k[(0, 1)].abs()); // symmetric for g1 = g2
//! let time = TrainTime::Finite { t: 1000.0, lr: 0.1, discrete: true };
//! let test = circle_points(&[0.25]);
//! let gp = gp_predict(&spec, KernelKind::SgNtk, &x, &targets(&x), &test, time)?;
//! assert!(gp.std()[0] > 0.0); // the networks' spread at a test point
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod analytic;
pub mod empirical;

pub use analytic::*;
