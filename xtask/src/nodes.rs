//! `cargo xtask train-nodes`: a localhost demonstration of a multi-node run, N processes of the
//! release `attn train` on one machine (rank 0 in the foreground, the others logging beside the
//! run directory), each given its rank as the flags of a real cluster would.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result, ensure};

/// Starts `nodes` ranks of `attn train <kind> <args>` coordinated at `coordinator`, into `run`,
/// and waits for all of them.
pub fn run(attn: &str, nodes: usize, coordinator: &str, run: &Path, args: &[String]) -> Result<()> {
    std::fs::create_dir_all(run).with_context(|| format!("creating {}", run.display()))?;
    let rank = |r: usize| -> Result<Child> {
        let mut cmd = Command::new(attn);
        cmd.arg("train")
            .args(args)
            .args(["--nodes", &nodes.to_string(), "--node-rank", &r.to_string()])
            .args(["--coordinator", coordinator, "--output"])
            .arg(run);
        if r > 0 {
            let log = run.with_extension(format!("rank-{r}.log"));
            let file = std::fs::File::create(&log)
                .with_context(|| format!("creating {}", log.display()))?;
            eprintln!("rank {r}: {}", log.display());
            cmd.stdout(Stdio::from(file.try_clone()?))
                .stderr(Stdio::from(file));
        }
        cmd.spawn().with_context(|| format!("starting {attn}"))
    };
    let children: Vec<Child> = (0..nodes).rev().map(rank).collect::<Result<_>>()?;
    for (child, r) in children.into_iter().zip((0..nodes).rev()) {
        let status = child.wait_with_output()?.status;
        ensure!(status.success(), "rank {r} failed: {status}");
    }
    Ok(())
}
