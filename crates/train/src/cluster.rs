//! Where this process stands among the processes of a run.

use std::time::Duration;

/// Where this process stands in a run over several processes or machines (`--nodes`): its
/// rank and how to reach rank 0. The number of nodes is a training setting
/// ([`crate::TrainConfig::nodes`]).
#[derive(Debug, Clone)]
pub struct Cluster {
    /// This process's rank, 0 to nodes - 1; rank 0 coordinates, reports, checkpoints and
    /// evaluates.
    pub rank: usize,
    /// Rank 0's `HOST:PORT`, which every other rank connects to.
    pub coordinator: String,
    /// A rank silent this long is taken for dead and the run stops.
    pub peer_timeout: Duration,
    /// How long the ranks wait for each other at the start.
    pub rendezvous: Duration,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            rank: 0,
            coordinator: "127.0.0.1:29500".into(),
            peer_timeout: Duration::from_secs(60),
            rendezvous: Duration::from_secs(600),
        }
    }
}
