//! Run-time choice of compute backend. Every backend is wrapped in burn's autodiff.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::ModelError;

/// The compute backends sgntk can run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// burn's Flex CPU backend (multi-threaded, SIMD): the default.
    #[default]
    Flex,
    /// burn-ndarray CPU backend.
    Ndarray,
    /// burn-wgpu GPU backend (cargo feature `wgpu`; any Vulkan/Metal/DX12 device, or lavapipe).
    Wgpu,
}

impl BackendKind {
    /// All backends, compiled in or not.
    pub const ALL: [BackendKind; 3] = [BackendKind::Flex, BackendKind::Ndarray, BackendKind::Wgpu];

    /// Whether this build includes the backend.
    pub fn is_available(self) -> bool {
        match self {
            BackendKind::Flex | BackendKind::Ndarray => true,
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// The autodiff-enabled device of this backend.
    pub fn device(self) -> Result<Device, ModelError> {
        match self {
            BackendKind::Flex => Ok(Device::flex().autodiff()),
            #[allow(deprecated)]
            BackendKind::Ndarray => Ok(Device::ndarray().autodiff()),
            BackendKind::Wgpu => wgpu_device(),
        }
    }
}

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, ModelError> {
    Ok(Device::wgpu(Default::default()).autodiff())
}

#[cfg(not(feature = "wgpu"))]
fn wgpu_device() -> Result<Device, ModelError> {
    Err(ModelError::Backend {
        backend: "wgpu".into(),
        reason: "this build has no GPU support; rebuild with `--features wgpu`".into(),
    })
}

impl FromStr for BackendKind {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flex" | "cpu" => Ok(BackendKind::Flex),
            "ndarray" => Ok(BackendKind::Ndarray),
            "wgpu" | "gpu" => Ok(BackendKind::Wgpu),
            other => Err(ModelError::Backend {
                backend: other.to_string(),
                reason: "unknown backend (expected flex, ndarray or wgpu)".into(),
            }),
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Flex => "flex",
            BackendKind::Ndarray => "ndarray",
            BackendKind::Wgpu => "wgpu",
        })
    }
}
