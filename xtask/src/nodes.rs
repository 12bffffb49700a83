//! `cargo xtask train-nodes`: a localhost demonstration of a run across processes, N ranks of the
//! release `attn train` started by OpenMPI's `mpirun`, as on a cluster (where `-H host1,host2`
//! or `--hostfile` spreads them over machines).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, ensure};

/// Runs `mpirun -np nodes attn train <args> --output run` and waits for it.
pub fn run(attn: &str, nodes: usize, run: &Path, args: &[String]) -> Result<()> {
    let status = Command::new("mpirun")
        .args(["-np", &nodes.to_string(), attn, "train"])
        .args(args)
        .arg("--output")
        .arg(run)
        .envs(OPENMPI_LOCAL)
        .status()
        .context("starting mpirun (OpenMPI: apt-get install openmpi-bin libopenmpi-dev)")?;
    ensure!(status.success(), "mpirun -np {nodes} failed: {status}");
    Ok(())
}

/// OpenMPI's settings for a demonstration on one machine: as root too (a container's user), and
/// more ranks than cores allowed.
const OPENMPI_LOCAL: [(&str, &str); 3] = [
    ("OMPI_ALLOW_RUN_AS_ROOT", "1"),
    ("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"),
    ("OMPI_MCA_rmaps_base_oversubscribe", "1"),
];
