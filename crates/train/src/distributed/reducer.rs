//! How a peer sums its gradient bucket with the others': through burn-collective between the
//! devices of one process (registration and all-reduce each on a thread of its own, waited for
//! while watching the other peers, so that one that fails stops the rest instead of a hang), or
//! through MPI between processes (where a rank that dies ends the job through mpirun).

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_collective::{CollectiveConfig, CollectiveError, PeerId, ReduceOperation};

#[cfg(feature = "mpi")]
use super::ranks::Ranks;
use crate::error::{Result, TrainError};

/// What stopped a run over several devices, once something has: set by a peer thread that
/// failed.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    lost: Mutex<Option<String>>,
}

impl Watch {
    /// Records why the run stops (the first reason is kept).
    pub fn lose(&self, why: impl Into<String>) {
        let mut lost = self.lost.lock().expect("no panic holding it");
        lost.get_or_insert_with(|| why.into());
    }

    /// Why the run stops, once it does.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().expect("no panic holding it").clone()
    }
}

/// How often a waiting peer looks at the [`Watch`].
const POLL: Duration = Duration::from_millis(50);

/// Runs `op` on a thread of its own and waits for it, giving up when `watch` says the run stops
/// or after `limit`.
fn guarded<T: Send + 'static>(
    watch: &Watch,
    what: &str,
    limit: Duration,
    op: impl FnOnce() -> std::result::Result<T, CollectiveError> + Send + 'static,
) -> Result<T> {
    let (send, receive) = mpsc::channel();
    std::thread::Builder::new()
        .name(format!("attn {what}"))
        .spawn(move || {
            // The receiver is gone when the run stopped waiting: nothing to tell.
            let _ = send.send(op());
        })
        .map_err(|e| TrainError::Collective(format!("{what}: no thread: {e}")))?;
    let started = Instant::now();
    loop {
        match receive.recv_timeout(POLL) {
            Ok(result) => {
                return result.map_err(|e| TrainError::Collective(format!("{what}: {e:?}")));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(TrainError::Collective(format!(
                    "{what}: the thread panicked"
                )));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(why) = watch.lost() {
            return Err(TrainError::PeerLost(why));
        }
        if started.elapsed() > limit {
            return Err(TrainError::PeerLost(format!(
                "{what} did not complete within {} s",
                limit.as_secs()
            )));
        }
    }
}

/// How one peer sums with the others.
pub(crate) enum Reducer {
    /// A device of this process, a peer of burn-collective's local all-reduce.
    Devices {
        /// Its peer id.
        id: PeerId,
        /// What stops the run.
        watch: Arc<Watch>,
    },
    /// The one device of a rank of several, summing through MPI.
    #[cfg(feature = "mpi")]
    Ranks(Arc<Ranks>),
}

/// How long registering may wait for the other peers (they start together, so this is only
/// reached when the collective itself is stuck).
const REGISTER_LIMIT: Duration = Duration::from_secs(600);

/// How long one all-reduce may take before the run is declared stuck (a failed peer is noticed
/// through the watch far sooner).
const ALL_REDUCE_LIMIT: Duration = Duration::from_secs(1800);

impl Reducer {
    /// Registers peer `index` on `device` with `config` (every peer's config is the same).
    pub fn join<B: Backend>(
        index: usize,
        device: B::Device,
        config: CollectiveConfig,
        watch: Arc<Watch>,
    ) -> Result<Self> {
        let id = PeerId::from(index);
        guarded(
            &watch,
            "registering with the collective",
            REGISTER_LIMIT,
            move || burn_collective::register::<B>(id, device, config),
        )?;
        Ok(Self::Devices { id, watch })
    }

    /// The sum of `tensor` over every peer.
    pub fn sum<B: Backend>(&self, tensor: Tensor<B, 1>) -> Result<Tensor<B, 1>> {
        match self {
            Self::Devices { id, watch } => {
                let (id, primitive) = (*id, tensor.into_primitive().tensor());
                let summed = guarded(watch, "all-reduce", ALL_REDUCE_LIMIT, move || {
                    burn_collective::all_reduce::<B>(id, primitive, ReduceOperation::Sum)
                })?;
                Ok(Tensor::from_primitive(TensorPrimitive::Float(summed)))
            }
            #[cfg(feature = "mpi")]
            Self::Ranks(ranks) => {
                let started = Instant::now();
                let device = tensor.device();
                let values: Vec<f32> = tensor.into_data().into_vec().expect("f32 gradients");
                let n = values.len();
                let summed = burn::tensor::TensorData::new(ranks.sum(&values), [n]);
                let summed = Tensor::from_data(summed, &device);
                ranks.record(started.elapsed());
                Ok(summed)
            }
        }
    }

    /// Leaves the collective.
    pub fn leave<B: Backend>(self) {
        match self {
            Self::Devices { id, .. } => {
                // Leaving fails only when the collective is already torn down: nothing left to do.
                let _ = burn_collective::finish_collective::<B>(id);
            }
            #[cfg(feature = "mpi")]
            Self::Ranks(_) => {}
        }
    }
}
