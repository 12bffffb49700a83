//! Data-parallel training over devices, processes and machines: every peer (a device of a rank)
//! trains a replica on its share of each global batch, the gradients are summed (through
//! burn-collective between the devices of a process, through MPI's all-reduce between the
//! processes of an `mpirun` job), and every peer takes the same optimizer step.

mod bucket;
#[cfg(feature = "mpi")]
mod hello;
#[cfg(feature = "mpi")]
mod ranks;
mod reducer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, DeviceOps};
use burn_collective::CollectiveConfig;

#[cfg(feature = "mpi")]
use bucket::sizes;
pub(crate) use bucket::{Tally, gather, scatter};
pub(crate) use reducer::Reducer;

use crate::error::{Result, TrainError};
use crate::job::TrainJob;
use reducer::Watch;

/// Each peer thread's stack: it runs a whole training run, as the main thread (8 MiB) does; an
/// unoptimised build overflowed std's default 2 MiB loading a model record.
const PEER_STACK: usize = 64 << 20;

/// One peer of a run as the training loop sees it.
pub(crate) struct Peer<'a> {
    /// Its place among all peers: rank * devices + device.
    pub index: usize,
    /// Peers in all.
    pub world: usize,
    /// The directory whose `checkpoints/latest` it resumes from: the run's on rank 0, the copy
    /// rank 0 sent elsewhere.
    pub home: &'a Path,
    /// Its link to the others (none when it trains alone).
    pub reducer: Option<&'a Reducer>,
}

impl Peer<'_> {
    /// Rank 0's first device: reports, checkpoints, validation and the trained model are its.
    pub fn leads(&self) -> bool {
        self.index == 0
    }

    /// Its contiguous share of a global batch (the first `len % world` peers take one more).
    pub fn share<'b>(&self, batch: &'b [usize]) -> &'b [usize] {
        let (base, extra) = (batch.len() / self.world, batch.len() % self.world);
        let start = self.index * base + self.index.min(extra);
        &batch[start..start + base + usize::from(self.index < extra)]
    }
}

/// `count` devices of the backend of `device`, from its index up (the CPU backends have one
/// device: their replicas share it).
pub(crate) fn devices<D: DeviceOps>(device: &D, count: usize) -> Vec<D> {
    (0..count)
        .map(|i| {
            let mut id = device.to_id();
            id.index_id += i as u16;
            D::from_id(id)
        })
        .collect()
}

/// One distributed run at a time per process: burn-collective keeps one registry per backend.
static ONE_RUN: Mutex<()> = Mutex::new(());

/// What a finished peer hands back: what its loop returned, and its link to leave by.
type Finished<T> = (Result<T>, Option<Reducer>);

/// Runs `train_peer` on every device of this rank (`cfg.devices`, threads), joined to the other
/// ranks (`cfg.nodes`) through `cluster`. Returns rank 0's first device's result on rank 0, and
/// any peer's on the others; an error of any peer stops them all.
pub(crate) fn train_peers<B, M, T, F>(model: M, job: &TrainJob<'_, B>, train_peer: F) -> Result<T>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    T: Send,
    F: Fn(M, &B::Device, &Peer<'_>) -> Result<T> + Sync,
{
    let (cfg, run, cluster) = (job.cfg, job.run, job.cluster);
    let _one = ONE_RUN.lock().unwrap_or_else(|e| e.into_inner());
    burn_collective::reset_collective::<B::InnerBackend>();
    let (nodes, per_rank, rank) = (cfg.nodes, cfg.devices, cluster.rank());
    if nodes != cluster.size() {
        return Err(TrainError::Settings(format!(
            "the settings train on {nodes} processes, but this one is a rank of {}",
            cluster.size()
        )));
    }
    if nodes > 1 && per_rank > 1 {
        return Err(TrainError::Settings(format!(
            "--devices {per_rank} under mpirun: each rank of several trains on one device (start \
             one rank per device)"
        )));
    }
    let watch = Arc::new(Watch::default());
    let home: PathBuf = if rank == 0 {
        run.to_path_buf()
    } else {
        run.join(format!("rank-{rank}"))
    };
    #[cfg(feature = "mpi")]
    let ranks = match nodes {
        1 => None,
        _ => Some(Arc::new(join_ranks(&model, job, &home)?)),
    };
    let config = CollectiveConfig::default().with_num_devices(per_rank);
    let devices = devices(job.device, per_rank);
    let results: Vec<Finished<T>> = std::thread::scope(|scope| {
        let handles: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(k, device)| {
                let (model, config, watch, home) = (
                    model.clone().fork(device),
                    config.clone(),
                    watch.clone(),
                    &home,
                );
                #[cfg(feature = "mpi")]
                let ranks = &ranks;
                let train_peer = &train_peer;
                let thread = std::thread::Builder::new()
                    .name(format!("attn device {k}"))
                    .stack_size(PEER_STACK);
                thread.spawn_scoped(scope, move || {
                    // The precision of the matrix products is thread-local: each peer sets it.
                    let _autocast = attn_transformer::autocast(cfg.precision);
                    let index = rank * per_rank + k;
                    #[cfg(feature = "mpi")]
                    let reducer = match ranks {
                        Some(ranks) => Ok(Reducer::Ranks(ranks.clone())),
                        None => Reducer::join::<B::InnerBackend>(
                            index,
                            device.clone(),
                            config,
                            watch.clone(),
                        ),
                    };
                    #[cfg(not(feature = "mpi"))]
                    let reducer = Reducer::join::<B::InnerBackend>(
                        index,
                        device.clone(),
                        config,
                        watch.clone(),
                    );
                    let reducer = match reducer {
                        Ok(reducer) => reducer,
                        Err(e) => return (Err(e), None),
                    };
                    let peer = Peer {
                        index,
                        world: nodes * per_rank,
                        home,
                        reducer: Some(&reducer),
                    };
                    let result = train_peer(model, device, &peer);
                    if let Err(e) = &result {
                        watch.lose(format!("rank {rank} device {k}: {e}"));
                    }
                    (result, Some(reducer))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    (
                        Err(TrainError::Collective("a peer thread panicked".into())),
                        None,
                    )
                }),
                Err(e) => (
                    Err(TrainError::Collective(format!("no thread for a peer: {e}"))),
                    None,
                ),
            })
            .collect()
    });
    let (results, reducers): (Vec<Result<T>>, Vec<Option<Reducer>>) = results.into_iter().unzip();
    #[cfg(feature = "mpi")]
    if let Some(ranks) = &ranks {
        let (count, own_s, fastest_s) = ranks.exchanges();
        if rank == 0 {
            job.observer.event(crate::events::Event::Exchanged {
                count,
                fastest_s,
                own_s,
                bytes: sizes(&model).bucket() * 4,
            });
        }
    }
    for reducer in reducers.into_iter().flatten() {
        reducer.leave::<B::InnerBackend>();
    }
    let mut results = results;
    match primary(&results) {
        Some(i) => results.swap_remove(i),
        None => results.swap_remove(0),
    }
}

/// Joins the other ranks through MPI: their fingerprints checked against rank 0's, rank 0's
/// checkpoint (to resume from) handed to the others' `home`.
#[cfg(feature = "mpi")]
fn join_ranks<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    job: &TrainJob<'_, B>,
    home: &Path,
) -> Result<ranks::Ranks> {
    let rank = job.cluster.rank();
    let hello = hello::Hello::of(rank, job.cfg, (job.examples, job.validation), model);
    let checkpoint = match rank {
        0 => crate::checkpoint::latest_checkpoint(job.run)?,
        _ => None,
    };
    let ranks = ranks::Ranks::start(hello, checkpoint.as_deref(), home)?;
    job.observer.event(crate::events::Event::Joined {
        rank,
        nodes: job.cfg.nodes,
        library: &mpi_library(),
        bucket_bytes: sizes(model).bucket() * 4,
    });
    Ok(ranks)
}

/// The MPI library's name and version (the first part of `MPI_Get_library_version`).
#[cfg(feature = "mpi")]
fn mpi_library() -> String {
    let version = mpi::environment::library_version().unwrap_or_else(|_| "MPI".into());
    version
        .split(',')
        .next()
        .unwrap_or("MPI")
        .trim()
        .to_string()
}

/// The first error of the peers that is not only a consequence of another's.
fn primary<T>(results: &[Result<T>]) -> Option<usize> {
    let errors = || results.iter().enumerate().filter(|(_, r)| r.is_err());
    errors()
        .find(|(_, r)| !matches!(r, Err(TrainError::PeerLost(_))))
        .or_else(|| errors().next())
        .map(|(i, _)| i)
}
