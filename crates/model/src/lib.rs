//! # sgntk-model
//!
//! NTK-parameterized MLPs and ensembles on any burn device, activations and surrogate
//! derivatives, the surrogate-gradient autodiff op, and GD/SGL training (SPEC §1–3).
//!
//! ```
//! use sgntk_model::{Activation, BackendKind, Ensemble, MlpConfig};
//! let device = BackendKind::Flex.device().unwrap();
//! let config = MlpConfig::paper(16, "erf:2".parse::<Activation>().unwrap());
//! let nets = Ensemble::init(&config, 4, 7, &device).unwrap();
//! let x = nalgebra::DMatrix::from_row_slice(1, 2, &[0.0, 1.0]);
//! assert_eq!(nets.predict(&x).unwrap().len(), 4);
//! ```
#![warn(missing_docs)]

pub mod activation;
pub mod backend;
pub mod backprop;
pub mod data;
pub mod error;
pub mod flat;
pub mod fused;
pub mod limits;
pub mod mlp;
pub mod op;
pub mod snn;
pub mod train;

pub use activation::{Activation, Elementwise, Surrogate};
pub use backend::BackendKind;
pub use error::{ModelError, SpecError};
pub use flat::{flat_gradients, train_flat, FlatParamModel};
pub use limits::{check_memory, MemoryError};
pub use mlp::{
    check_finite, init_member, matrix_to_tensor, tensor_to_matrix, DeviceLayer, Ensemble,
    HostLayer, HostParams, LearningRule, Mlp, MlpConfig,
};
pub use op::surrogate_activation;
pub use snn::{Snn, SnnConfig, SnnParams};
pub use train::{gradients, train, Engine, TrainConfig, TrainReport, TrainSet};

/// Re-export of burn.
pub use burn;
/// Re-export of nalgebra, the host matrix type used across sgntk.
pub use nalgebra;
