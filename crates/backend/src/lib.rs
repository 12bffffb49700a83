//! Run-time selection of the burn tensor backend.
//!
//! Model code is generic over `B: Backend`; this crate turns a `--backend NAME --device D` choice into
//! a call of that generic code with a concrete backend type (wrapped in [`Autodiff`] so that the same
//! task can train or infer). Backends are cargo features: `flex` (default, CPU), `ndarray`, `wgpu`,
//! `cuda`. Asking for one that this build lacks is an error naming the feature to enable. The
//! fused CPU kernels are the `attn-kernels` crate's.

#![forbid(unsafe_code)]

#[cfg(feature = "wgpu")]
pub mod adapters;
#[cfg(any(feature = "wgpu", feature = "cuda"))]
mod caches;
mod device;

use std::fmt;
use std::str::FromStr;

#[cfg(any(feature = "wgpu", feature = "cuda"))]
pub use caches::use_kernel_caches;
pub use device::DeviceChoice;

pub use burn::backend::Autodiff;
pub use burn::tensor::backend::{AutodiffBackend, Backend};

/// A tensor backend this project knows, compiled in or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendKind {
    /// burn's `Flex` CPU backend (the default: the fastest CPU backend of burn 0.21).
    #[default]
    Flex,
    /// burn's `NdArray` CPU backend.
    NdArray,
    /// burn's `Wgpu` backend (Vulkan, Metal, DirectX 12 or WebGPU).
    Wgpu,
    /// burn's `Cuda` backend (NVIDIA GPUs).
    Cuda,
}

/// Every backend kind, in the order `attn backends` lists them.
pub const ALL_BACKENDS: [BackendKind; 4] = [
    BackendKind::Flex,
    BackendKind::NdArray,
    BackendKind::Wgpu,
    BackendKind::Cuda,
];

/// Whether `B` is one of the CPU backends, with or without autodiff. Their kernels are compiled
/// ahead of time, so a tensor of a new shape costs nothing extra; burn's GPU backends compile and
/// autotune kernels for each new shape.
pub fn is_cpu<B: Backend>() -> bool {
    #[cfg(feature = "flex")]
    if is_either::<B, burn::backend::Flex>() {
        return true;
    }
    #[cfg(feature = "ndarray")]
    if is_either::<B, burn::backend::NdArray>() {
        return true;
    }
    false
}

/// Whether `B` is `C` or `Autodiff<C>`.
#[cfg(any(feature = "flex", feature = "ndarray"))]
fn is_either<B: Backend, C: Backend>() -> bool {
    use std::any::TypeId;
    [TypeId::of::<C>(), TypeId::of::<Autodiff<C>>()].contains(&TypeId::of::<B>())
}

/// Errors of backend selection.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The name is not a backend this project knows.
    #[error("unknown backend `{0}`: expected one of flex, ndarray, wgpu, cuda")]
    Unknown(String),
    /// The backend exists but this binary was built without it.
    #[error(
        "backend `{kind}` is not compiled into this build: rebuild with `--features {feature}` \
         (e.g. `cargo build --release -p attn-cli --features {feature}`)"
    )]
    NotCompiled {
        /// The backend asked for.
        kind: BackendKind,
        /// The cargo feature that enables it.
        feature: &'static str,
    },
    /// The backend has no device of the kind asked for.
    #[error("backend `{kind}` has no device `{asked}`: {has}")]
    NoSuchDevice {
        /// The backend asked for.
        kind: BackendKind,
        /// The device asked for.
        asked: DeviceChoice,
        /// What it has instead.
        has: &'static str,
    },
    /// `--device` is not one of the forms this project knows.
    #[error("unknown device `{0}`: expected auto, N, discrete:N, integrated:N, virtual:N or cpu")]
    BadDevice(String),
    /// No wgpu adapter matches `--device`.
    #[error("no wgpu adapter `{asked}` on this machine; adapters found: {found}")]
    NoAdapter {
        /// The device asked for.
        asked: DeviceChoice,
        /// The adapters found, with their indices and kinds.
        found: String,
    },
}

impl BackendKind {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::NdArray => "ndarray",
            Self::Wgpu => "wgpu",
            Self::Cuda => "cuda",
        }
    }

    /// The cargo feature (of `attn-backend` and `attn-cli`) that compiles this backend in.
    pub fn feature(self) -> &'static str {
        self.name()
    }

    /// Whether this build has the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Self::Flex => cfg!(feature = "flex"),
            Self::NdArray => cfg!(feature = "ndarray"),
            Self::Wgpu => cfg!(feature = "wgpu"),
            Self::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// Whether the backend runs on the host CPU.
    pub fn is_cpu(self) -> bool {
        matches!(self, Self::Flex | Self::NdArray)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL_BACKENDS
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| BackendError::Unknown(s.to_string()))
    }
}

/// A backend and the device to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackendSpec {
    /// Which backend.
    pub kind: BackendKind,
    /// Which of its devices.
    pub device: DeviceChoice,
}

/// Work that is generic over the backend; [`dispatch`] runs it on the chosen one.
///
/// `B` is an autodiff backend so that a task can train; inference code uses `B::InnerBackend`.
pub trait BackendTask {
    /// What the task returns.
    type Output;
    /// Runs the task on backend `B` and its device.
    fn run<B: AutodiffBackend>(self, device: B::Device) -> Self::Output;
}

/// Runs `task` on the backend and device named by `spec`.
pub fn dispatch<T: BackendTask>(spec: BackendSpec, task: T) -> Result<T::Output, BackendError> {
    let not_compiled = BackendError::NotCompiled {
        kind: spec.kind,
        feature: spec.kind.feature(),
    };
    let no_such = |has| BackendError::NoSuchDevice {
        kind: spec.kind,
        asked: spec.device,
        has,
    };
    let cpu_device = matches!(
        spec.device,
        DeviceChoice::Auto | DeviceChoice::Index(0) | DeviceChoice::Cpu
    );
    if spec.kind.is_cpu() && !cpu_device {
        return Err(no_such("a CPU backend has one device: auto, 0 or cpu"));
    }
    match spec.kind {
        BackendKind::Flex => {
            #[cfg(feature = "flex")]
            return Ok(task.run::<Autodiff<burn::backend::Flex>>(Default::default()));
        }
        BackendKind::NdArray => {
            #[cfg(feature = "ndarray")]
            return Ok(task.run::<Autodiff<burn::backend::NdArray>>(Default::default()));
        }
        BackendKind::Wgpu => {
            #[cfg(feature = "wgpu")]
            {
                let device = adapters::wgpu_device(spec.device, &adapters::adapters())?;
                return Ok(task.run::<Autodiff<burn::backend::Wgpu>>(device));
            }
        }
        BackendKind::Cuda => {
            #[cfg(feature = "cuda")]
            {
                let index = match spec.device {
                    DeviceChoice::Auto => 0,
                    DeviceChoice::Index(n) | DeviceChoice::Discrete(n) => n,
                    _ => return Err(no_such("CUDA devices are numbered: auto or N")),
                };
                return Ok(task.run::<Autodiff<burn::backend::Cuda>>(
                    burn::backend::cuda::CudaDevice::new(index),
                ));
            }
        }
    }
    #[allow(unreachable_code)]
    {
        drop((task, no_such));
        Err(not_compiled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{ElementConversion, Tensor};

    struct SumTask;

    impl BackendTask for SumTask {
        type Output = f32;
        fn run<B: AutodiffBackend>(self, device: B::Device) -> f32 {
            Tensor::<B, 1>::from_floats([1.0, 2.0, 3.5], &device)
                .sum()
                .into_scalar()
                .elem()
        }
    }

    #[test]
    fn parses_names_case_insensitively() {
        assert_eq!("FLEX".parse::<BackendKind>().unwrap(), BackendKind::Flex);
        assert_eq!("cuda".parse::<BackendKind>().unwrap(), BackendKind::Cuda);
        let err = "tpu".parse::<BackendKind>().unwrap_err().to_string();
        assert!(err.contains("flex, ndarray, wgpu, cuda"), "{err}");
    }

    #[test]
    fn runs_generic_code_on_the_default_backend() {
        let out = dispatch(BackendSpec::default(), SumTask).unwrap();
        assert_eq!(out, 6.5);
    }

    #[test]
    fn a_missing_backend_names_its_feature() {
        for kind in ALL_BACKENDS {
            let feature = kind.feature();
            let err = BackendError::NotCompiled { kind, feature }.to_string();
            assert!(err.contains(&format!("--features {feature}")), "{err}");
            // The builds without it answer with that error (`--all-features` has none).
            if !kind.is_compiled() {
                let spec = BackendSpec {
                    kind,
                    device: DeviceChoice::Auto,
                };
                let dispatched = dispatch(spec, SumTask).unwrap_err().to_string();
                assert_eq!(dispatched, err);
            }
        }
    }

    #[test]
    fn the_cpu_backends_are_told_apart_from_the_others() {
        #[cfg(feature = "flex")]
        assert!(is_cpu::<burn::backend::Flex>() && is_cpu::<Autodiff<burn::backend::Flex>>());
        #[cfg(feature = "ndarray")]
        assert!(is_cpu::<Autodiff<burn::backend::NdArray>>());
        #[cfg(feature = "wgpu")]
        assert!(!is_cpu::<burn::backend::Wgpu>() && !is_cpu::<Autodiff<burn::backend::Wgpu>>());
    }

    #[test]
    fn cpu_backends_have_one_device() {
        for device in [DeviceChoice::Index(1), DeviceChoice::Discrete(0)] {
            let spec = BackendSpec {
                kind: BackendKind::Flex,
                device,
            };
            let err = dispatch(spec, SumTask).unwrap_err().to_string();
            assert!(err.contains(&format!("no device `{device}`")), "{err}");
        }
        for device in [
            DeviceChoice::Auto,
            DeviceChoice::Index(0),
            DeviceChoice::Cpu,
        ] {
            let spec = BackendSpec {
                kind: BackendKind::Flex,
                device,
            };
            assert_eq!(dispatch(spec, SumTask).unwrap(), 6.5);
        }
    }
}
