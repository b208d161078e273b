//! # sgntk-ntk
//!
//! Analytic (infinite-width) NNGP / NTK / SG-NTK kernels with their GP predictions
//! ([`analytic`]), and empirical kernels of finite networks ([`empirical`]).

pub mod analytic;
pub mod empirical;

pub use analytic::*;
