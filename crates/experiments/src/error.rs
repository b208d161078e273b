//! Errors of the experiment drivers and the CLI. Every message is one line that names the problem.

use sgntk_model::{ModelError, SpecError};
use sgntk_ntk::empirical::EmpiricalError;
use sgntk_ntk::KernelError;
use thiserror::Error;

use crate::io::IoError;

/// Anything that can stop an experiment or a CLI command.
#[derive(Debug, Error)]
pub enum ExpError {
    /// A data file could not be read or written, or has the wrong shape.
    #[error(transparent)]
    Io(#[from] IoError),
    /// Bad model or training settings, or training diverged.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// An unknown activation / surrogate spec string.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// An analytic kernel or GP prediction failed.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// An empirical kernel failed.
    #[error(transparent)]
    Empirical(#[from] EmpiricalError),
    /// A config file is unreadable or has unknown keys / bad values.
    #[error("config {}: {reason}", sgntk_model::error::excerpt_path(std::path::Path::new(.path)))]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An output file or directory could not be written.
    #[error("{}: {reason}", sgntk_model::error::excerpt_path(std::path::Path::new(.path)))]
    Output {
        /// The path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// Command-line arguments that parse but do not fit together.
    #[error("{0}")]
    Usage(String),
    /// A [`crate::compute::Monitor`] stopped the computation (e.g. Ctrl-C in Python).
    #[error("interrupted")]
    Interrupted,
}

impl ExpError {
    /// An [`ExpError::Output`] for `path`.
    pub fn output(path: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        ExpError::Output {
            path: path.display().to_string(),
            reason: reason.to_string(),
        }
    }
}
