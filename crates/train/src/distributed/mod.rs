//! Data-parallel training over devices, processes and machines: every peer (a device of a rank)
//! trains a replica on its share of each global batch, the gradients are summed (through
//! burn-collective between the devices of a process, through rank 0 between processes), and
//! every peer takes the same optimizer step.

mod bucket;
mod control;
mod reducer;

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use attn_data::Example;
use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, DeviceOps};
use burn_collective::CollectiveConfig;

pub(crate) use bucket::{Tally, gather, scatter, sizes};
pub(crate) use reducer::Reducer;

use crate::checkpoint::latest_checkpoint;
use crate::config::TrainConfig;
use crate::error::{Result, TrainError};
use crate::events::Event;
use crate::job::TrainJob;
use control::{Control, Hello};
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
    let (nodes, per_rank, rank) = (cfg.nodes, cfg.devices, cluster.rank);
    if nodes > 1 && per_rank > 1 {
        // burn-collective 0.21's all-reduce between processes never completed here (docs/architecture.md).
        return Err(TrainError::Settings(format!(
            "--nodes {nodes} with --devices {per_rank}: a rank of several trains on one device"
        )));
    }
    if rank >= nodes {
        return Err(TrainError::Settings(format!(
            "--node-rank {rank} is not a rank of --nodes {nodes} (0 to {})",
            nodes - 1
        )));
    }
    let watch = Arc::new(Watch::default());
    let home: PathBuf = if rank == 0 {
        run.to_path_buf()
    } else {
        run.join(format!("rank-{rank}"))
    };
    let control = if nodes > 1 {
        let hello = Hello {
            rank,
            nodes,
            devices: per_rank,
            settings: settings_hash(cfg),
            data: data_hash(job.examples, job.validation),
            model: model_hash(&model),
        };
        let checkpoint = if rank == 0 {
            latest_checkpoint(run)?
        } else {
            None
        };
        let control = Control::start(cluster, hello, checkpoint.as_deref(), &home, watch.clone())?;
        job.observer.event(Event::Joined {
            rank,
            nodes,
            coordinator: &cluster.coordinator,
            bucket_bytes: sizes(&model).bucket() * 4,
        });
        Some(Arc::new(control))
    } else {
        None
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
                let (train_peer, control) = (&train_peer, &control);
                let thread = std::thread::Builder::new()
                    .name(format!("attn device {k}"))
                    .stack_size(PEER_STACK);
                thread.spawn_scoped(scope, move || {
                    // The precision of the matrix products is thread-local: each peer sets it.
                    let _autocast = attn_transformer::autocast(cfg.precision);
                    let index = rank * per_rank + k;
                    let reducer = match &control {
                        Some(control) => Reducer::Ranks(control.clone()),
                        None => match Reducer::join::<B::InnerBackend>(
                            index,
                            device.clone(),
                            config,
                            watch.clone(),
                        ) {
                            Ok(reducer) => reducer,
                            Err(e) => return (Err(e), None),
                        },
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
    let failed = primary(&results);
    let finished = match (&control, failed) {
        (Some(control), Some(i)) => {
            control.fail(&results[i].as_ref().err().expect("an error").to_string());
            Ok(())
        }
        (Some(control), None) => control.finish(),
        (None, _) => Ok(()),
    };
    for reducer in reducers.into_iter().flatten() {
        reducer.leave::<B::InnerBackend>();
    }
    let mut results = results;
    match failed {
        Some(i) => results.swap_remove(i),
        None => finished.and_then(|()| results.swap_remove(0)),
    }
}

/// The first error of the peers that is not only a consequence of another's.
fn primary<T>(results: &[Result<T>]) -> Option<usize> {
    let errors = || results.iter().enumerate().filter(|(_, r)| r.is_err());
    errors()
        .find(|(_, r)| !matches!(r, Err(TrainError::PeerLost(_))))
        .or_else(|| errors().next())
        .map(|(i, _)| i)
}

/// A hasher whose output is the same in every process and build (not randomly seeded).
fn stable_hasher() -> impl Hasher {
    // FNV-1a, 64 bits.
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    Fnv(0xcbf2_9ce4_8422_2325)
}

/// The run's settings that must agree between ranks (paths and reporting may differ).
fn settings_hash(cfg: &TrainConfig) -> u64 {
    let mut value = serde_json::to_value(cfg).expect("serializes");
    if let Some(map) = value.as_object_mut() {
        for local in [
            "model",
            "data_dir",
            "eval_limit",
            "eval_batch_size",
            "report_every",
            "checkpoint_every",
            "eval_every",
        ] {
            map.remove(local);
        }
    }
    let mut hasher = stable_hasher();
    value.to_string().hash(&mut hasher);
    hasher.finish()
}

/// The ids, labels and targets of the training and validation examples.
fn data_hash(train: &[Example], validation: &[Example]) -> u64 {
    let mut hasher = stable_hasher();
    for set in [train, validation] {
        set.len().hash(&mut hasher);
        for example in set {
            example.ids.hash(&mut hasher);
            example.label.hash(&mut hasher);
            example.target.hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// The shapes of the model's parameters, in order.
fn model_hash<B: AutodiffBackend, M: AutodiffModule<B>>(model: &M) -> u64 {
    struct Shapes<H>(H);
    impl<B: AutodiffBackend, H: Hasher> ModuleVisitor<B> for Shapes<H> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            param.lazy_shape().dims::<D>().hash(&mut self.0);
        }
    }
    let mut shapes = Shapes(stable_hasher());
    model.visit(&mut shapes);
    shapes.0.finish()
}
