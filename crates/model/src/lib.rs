//! # sgntk-model
//!
//! NTK-parameterized MLPs and ensembles on any burn device, activations and surrogate
//! derivatives, the surrogate-gradient autodiff op, and GD/SGL training (docs/MATH.md §1–3).
//!
//! Train four sign networks by SGL with the surrogate erf' on the paper's circle task:
//!
//! ```
//! use sgntk_model::{data, train, BackendKind, Ensemble, LearningRule, MlpConfig};
//! use sgntk_model::{TrainConfig, TrainSet};
//! let device = BackendKind::Flex.device()?;
//! let config = MlpConfig::paper(64, "sign".parse()?); // 2 → 64 → 64 → 1, σw = 1, σb = 0.1
//! let mut nets = Ensemble::init(&config, 4, 7, &device)?; // 4 members from seed 7
//! let x = data::circle_points(&data::PAPER_TRAIN_ANGLES);
//! let set = TrainSet { y: data::targets(&x), x };
//! let rule = LearningRule::Sgl("erf-prime:1".parse()?);
//! let cfg = TrainConfig::new(rule, 0.1, 200);
//! let report = train(&mut nets, &set, &cfg, &[], |_, _| Ok(()))?;
//! assert!(report.loss[200] < report.loss[0]); // mean loss over the 4 networks
//! assert_eq!(nets.predict(&set.x)?.len(), 4); // one output matrix per network
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod activation;
pub mod backend;
pub mod backprop;
pub mod conv;
pub mod data;
pub mod error;
pub mod flat;
pub mod fused;
pub mod limits;
pub mod mlp;
pub mod netspec;
pub mod op;
pub mod residual;
pub mod snn;
pub mod spec_ensemble;
pub mod train;

pub use activation::{Activation, Elementwise, Surrogate};
pub use backend::BackendKind;
pub use conv::{Padding, Shape};
pub use error::{ModelError, SpecError};
pub use flat::{
    flat_gradients, predict_flat, train_flat, train_flat_reporting, Architecture, FlatNet,
    FlatParamModel,
};
pub use limits::{check_memory, MemoryError};
pub use mlp::{
    check_finite, init_member, matrix_to_tensor, tensor_to_matrix, DerivativePair, DeviceLayer,
    Ensemble, HostLayer, HostParams, LearningRule, Mlp, MlpConfig,
};
pub use netspec::{Layer, NetSpec};
pub use op::surrogate_activation;
pub use residual::{ResidualConfig, ResidualNet};
pub use snn::{Snn, SnnConfig, SnnParams};
pub use spec_ensemble::{
    member_batches, train_flat_ensemble, train_flat_networks, train_spec_ensemble, EnsembleReport,
    SpecEnsemble,
};
pub use train::{
    gradients, train, train_continuing, train_reporting, Engine, Progress, TrainConfig,
    TrainReport, TrainSet,
};

/// Re-export of burn.
pub use burn;
/// Re-export of nalgebra, the host matrix type used across sgntk.
pub use nalgebra;
