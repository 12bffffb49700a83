//! wgpu's adapters: listed for `attn backends`, and `--device` resolved against them before burn
//! starts one (burn panics on its server thread when the adapter it looks for is missing).

use burn::backend::wgpu::WgpuDevice;
use burn::backend::wgpu::graphics::{AutoGraphicsApi, GraphicsApi};

use crate::{BackendError, DeviceChoice};

/// One adapter wgpu can run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    /// Its place in the list: what `--device N` takes.
    pub index: usize,
    /// The adapter's name (e.g. `NVIDIA H100`, `llvmpipe (LLVM 15.0.6, 256 bits)`).
    pub name: String,
    /// Discrete, integrated, virtual, CPU or other.
    pub kind: AdapterKind,
    /// The graphics API and driver (e.g. `Vulkan, llvmpipe Mesa 22.3.6`).
    pub driver: String,
}

/// The kind of an adapter, as wgpu reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdapterKind {
    /// A GPU on its own card.
    Discrete,
    /// A GPU sharing the CPU's package and memory (laptops, Apple silicon).
    Integrated,
    /// A GPU of a virtual machine.
    Virtual,
    /// A software implementation on the CPU (Mesa's lavapipe, WARP).
    Cpu,
    /// Anything else.
    Other,
}

impl AdapterKind {
    /// The word `attn backends` prints and `--device KIND:N` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Discrete => "discrete",
            Self::Integrated => "integrated",
            Self::Virtual => "virtual",
            Self::Cpu => "cpu",
            Self::Other => "other",
        }
    }

    fn of(device_type: wgpu::DeviceType) -> Self {
        match device_type {
            wgpu::DeviceType::DiscreteGpu => Self::Discrete,
            wgpu::DeviceType::IntegratedGpu => Self::Integrated,
            wgpu::DeviceType::VirtualGpu => Self::Virtual,
            wgpu::DeviceType::Cpu => Self::Cpu,
            wgpu::DeviceType::Other => Self::Other,
        }
    }
}

/// Every adapter of the graphics API burn's wgpu backend uses on this platform, in wgpu's order.
pub fn adapters() -> Vec<Adapter> {
    let backend = AutoGraphicsApi::backend();
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends: backend.into(),
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    futures_lite::future::block_on(instance.enumerate_adapters(backend.into()))
        .iter()
        .enumerate()
        .map(|(index, adapter)| {
            let info = adapter.get_info();
            Adapter {
                index,
                name: info.name,
                kind: AdapterKind::of(info.device_type),
                driver: format!("{:?}, {} {}", info.backend, info.driver, info.driver_info)
                    .trim()
                    .to_string(),
            }
        })
        .collect()
}

/// The burn device for `choice` among `found`, or an error naming what was asked and what exists.
pub fn wgpu_device(choice: DeviceChoice, found: &[Adapter]) -> Result<WgpuDevice, BackendError> {
    let missing = || BackendError::NoAdapter {
        asked: choice,
        found: describe(found),
    };
    // burn counts the adapters of one kind; `--device N` counts them all.
    let nth_of = |kind: AdapterKind, n: usize| found.iter().filter(|a| a.kind == kind).nth(n);
    let (kind, n) = match choice {
        DeviceChoice::Auto if found.is_empty() => return Err(missing()),
        DeviceChoice::Auto => return Ok(WgpuDevice::DefaultDevice),
        DeviceChoice::Index(i) => {
            let adapter = found.get(i).ok_or_else(missing)?;
            let n = found[..i].iter().filter(|a| a.kind == adapter.kind).count();
            (adapter.kind, n)
        }
        DeviceChoice::Discrete(n) => (AdapterKind::Discrete, n),
        DeviceChoice::Integrated(n) => (AdapterKind::Integrated, n),
        DeviceChoice::Virtual(n) => (AdapterKind::Virtual, n),
        DeviceChoice::Cpu => (AdapterKind::Cpu, 0),
    };
    nth_of(kind, n).ok_or_else(missing)?;
    Ok(match kind {
        AdapterKind::Discrete => WgpuDevice::DiscreteGpu(n),
        AdapterKind::Integrated => WgpuDevice::IntegratedGpu(n),
        AdapterKind::Virtual => WgpuDevice::VirtualGpu(n),
        AdapterKind::Cpu => WgpuDevice::Cpu,
        // burn selects an adapter of no known kind only as its default device.
        AdapterKind::Other => WgpuDevice::DefaultDevice,
    })
}

/// `0: NAME (KIND), 1: …`, or `none` (with the usual reason).
fn describe(found: &[Adapter]) -> String {
    if found.is_empty() {
        return "none (no GPU driver? on Linux without a GPU, Mesa's lavapipe: the Debian package \
                mesa-vulkan-drivers)"
            .to_string();
    }
    found
        .iter()
        .map(|a| format!("{}: {} ({})", a.index, a.name, a.kind.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(index: usize, kind: AdapterKind) -> Adapter {
        Adapter {
            index,
            name: format!("gpu{index}"),
            kind,
            driver: "Vulkan".into(),
        }
    }

    #[test]
    fn indices_kinds_and_auto_resolve_to_burns_devices() {
        let found = [
            adapter(0, AdapterKind::Integrated),
            adapter(1, AdapterKind::Discrete),
            adapter(2, AdapterKind::Discrete),
            adapter(3, AdapterKind::Cpu),
        ];
        let cases = [
            (DeviceChoice::Auto, WgpuDevice::DefaultDevice),
            (DeviceChoice::Index(0), WgpuDevice::IntegratedGpu(0)),
            (DeviceChoice::Index(2), WgpuDevice::DiscreteGpu(1)),
            (DeviceChoice::Index(3), WgpuDevice::Cpu),
            (DeviceChoice::Discrete(1), WgpuDevice::DiscreteGpu(1)),
            (DeviceChoice::Integrated(0), WgpuDevice::IntegratedGpu(0)),
            (DeviceChoice::Cpu, WgpuDevice::Cpu),
        ];
        for (choice, device) in cases {
            assert_eq!(wgpu_device(choice, &found).unwrap(), device, "{choice}");
        }
    }

    #[test]
    fn a_missing_adapter_is_one_error_naming_what_exists() {
        let found = [adapter(0, AdapterKind::Cpu)];
        for choice in [
            DeviceChoice::Index(1),
            DeviceChoice::Discrete(0),
            DeviceChoice::Integrated(0),
        ] {
            let err = wgpu_device(choice, &found).unwrap_err().to_string();
            assert!(err.contains(&choice.to_string()), "{err}");
            assert!(err.contains("0: gpu0 (cpu)"), "{err}");
        }
        let none = wgpu_device(DeviceChoice::Auto, &[])
            .unwrap_err()
            .to_string();
        assert!(none.contains("mesa-vulkan-drivers"), "{none}");
    }
}
