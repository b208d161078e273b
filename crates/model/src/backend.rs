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

/// The wgpu device, after a one-time probe (a tiny computation read back) that turns "no
/// adapter" into an error naming what to install instead of a panic.
#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<Device, ModelError> {
    use std::sync::OnceLock;
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    let probe = PROBE.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let result = std::panic::catch_unwind(|| {
            let device = Device::wgpu(Default::default());
            let t = burn::tensor::Tensor::<1>::from_data(
                burn::tensor::TensorData::new(vec![1.0f32, 2.0], [2]),
                &device,
            );
            t.sum().into_scalar::<f64>()
        });
        std::panic::set_hook(previous);
        match result {
            Ok(v) if (v - 3.0).abs() < 1e-6 => Ok(()),
            Ok(v) => Err(format!("the device computed 1 + 2 = {v}")),
            Err(panic) => Err(panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "the device could not be started".into())),
        }
    });
    match probe {
        Ok(()) => Ok(Device::wgpu(Default::default()).autodiff()),
        Err(reason) => Err(ModelError::Backend {
            backend: "wgpu".into(),
            reason: format!(
                "no usable GPU adapter ({}); install a GPU driver with Vulkan/Metal/DX12 support, or \
                 Mesa's software Vulkan device (Debian/Ubuntu: `apt-get install mesa-vulkan-drivers`)",
                reason.lines().next().unwrap_or("unknown reason")
            ),
        }),
    }
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
