//! `attn backends`: what this build has, and what each backend's device says.

use anyhow::Result;
use attn_backend::{ALL_BACKENDS, AutodiffBackend, BackendSpec, BackendTask, dispatch};
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

pub fn run() -> Result<()> {
    for kind in ALL_BACKENDS {
        if !kind.is_compiled() {
            println!(
                "{:<8} not compiled (cargo feature `{}`)",
                kind.name(),
                kind.feature()
            );
            continue;
        }
        let spec = BackendSpec { kind, device: 0 };
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let report = std::panic::catch_unwind(|| dispatch(spec, Probe));
        std::panic::set_hook(hook);
        match report {
            Ok(Ok(line)) => println!("{:<8} compiled; device 0 {line}", kind.name()),
            Ok(Err(e)) => println!("{:<8} compiled; unavailable: {e}", kind.name()),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                println!("{:<8} compiled; device 0 unavailable: {msg}", kind.name());
            }
        }
    }
    Ok(())
}
