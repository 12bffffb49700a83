//! `attn backends`: what this build has, the devices each backend sees, and a probe of the one
//! `--device` names.

use anyhow::Result;
use attn_backend::{
    ALL_BACKENDS, AutodiffBackend, BackendKind, BackendSpec, BackendTask, DeviceChoice, dispatch,
};
use burn::tensor::{ElementConversion, Tensor};

/// Runs a tiny computation and describes the device.
struct Probe;

impl BackendTask for Probe {
    type Output = String;
    fn run<B: AutodiffBackend>(self, device: B::Device) -> String {
        let sum: f32 = Tensor::<B, 1>::from_floats([1.0, 2.0], &device)
            .sum()
            .into_scalar()
            .elem();
        format!("{device:?}: ok (1 + 2 = {sum})")
    }
}

/// Lists every backend; the device probed is `device` for the `--backend` named, `auto` for
/// the others.
pub fn run(spec: BackendSpec) -> Result<()> {
    for kind in ALL_BACKENDS {
        if !kind.is_compiled() {
            println!(
                "{:<8} not compiled (cargo feature `{}`)",
                kind.name(),
                kind.feature()
            );
            continue;
        }
        list_devices(kind);
        let device = if kind == spec.kind {
            spec.device
        } else {
            DeviceChoice::Auto
        };
        let probe = BackendSpec { kind, device };
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let report = std::panic::catch_unwind(|| dispatch(probe, Probe));
        std::panic::set_hook(hook);
        let name = kind.name();
        match report {
            Ok(Ok(line)) => println!("{name:<8} compiled; device {device} {line}"),
            Ok(Err(e)) => println!("{name:<8} compiled; device {device} unavailable: {e}"),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                println!("{name:<8} compiled; device {device} unavailable: {msg}");
            }
        }
    }
    Ok(())
}

/// wgpu's adapters, one line each: what `--device N` (or `KIND:N`) selects.
fn list_devices(kind: BackendKind) {
    #[cfg(feature = "wgpu")]
    if kind == BackendKind::Wgpu {
        use attn_backend::adapters::AdapterKind;
        let found = attn_backend::adapters::adapters();
        println!("wgpu     adapters: {}", found.len());
        let mut per_kind = std::collections::HashMap::new();
        for a in found {
            let n = per_kind.entry(a.kind).or_insert(0usize);
            let by_kind = match a.kind {
                AdapterKind::Cpu => "cpu".to_string(),
                AdapterKind::Other => "auto".to_string(),
                kind => format!("{}:{n}", kind.name()),
            };
            println!(
                "  --device {} (or {by_kind}): {} [{}]",
                a.index, a.name, a.driver
            );
            *n += 1;
        }
    }
    let _ = kind;
}

/// Points CubeCL's kernel caches (GPU backends) at `$ATTN_HOME/cubecl`.
pub fn use_kernel_caches(kind: BackendKind) {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if !kind.is_cpu() {
        attn_backend::use_kernel_caches(&attn_hub::attn_home().join("cubecl"));
    }
    let _ = kind;
}
