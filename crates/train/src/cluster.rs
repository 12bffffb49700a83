//! Where this process stands among the processes of a run: alone, or one rank of an MPI job
//! (started by `mpirun` or Slurm's `srun`, which give every process its rank and the size).

use crate::error::{Result, TrainError};

/// Variables a launcher sets in each process it starts, and the one holding the number of
/// processes (PMIx has none of its own: Slurm's task count stands in).
const LAUNCHERS: [(&str, &str, &str); 3] = [
    (
        "OMPI_COMM_WORLD_SIZE",
        "OMPI_COMM_WORLD_SIZE",
        "OpenMPI's mpirun",
    ),
    ("PMI_SIZE", "PMI_SIZE", "an MPICH mpirun or srun"),
    (
        "PMIX_RANK",
        "SLURM_NTASKS",
        "a PMIx launcher (srun --mpi=pmix)",
    ),
];

/// This process's place in the run: its rank and the number of ranks. With the `mpi` feature
/// it holds MPI's environment, which ends (`MPI_Finalize`) when it is dropped.
pub struct Cluster {
    rank: usize,
    size: usize,
    #[cfg(feature = "mpi")]
    universe: Option<mpi::environment::Universe>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cluster {{ rank: {}, size: {} }}", self.rank, self.size)
    }
}

impl Cluster {
    /// This process alone: rank 0 of 1.
    pub fn alone() -> Self {
        Self {
            rank: 0,
            size: 1,
            #[cfg(feature = "mpi")]
            universe: None,
        }
    }

    /// The job this process was started in: a rank of MPI's world when a launcher started it
    /// (with the `mpi` feature; without it, an error when the launcher started several), else
    /// alone.
    pub fn from_launcher() -> Result<Self> {
        let Some((size, launcher)) = launched() else {
            return Ok(Self::alone());
        };
        #[cfg(feature = "mpi")]
        {
            let _ = (size, launcher);
            joined()
        }
        #[cfg(not(feature = "mpi"))]
        match size {
            None | Some(0 | 1) => Ok(Self::alone()),
            Some(size) => Err(TrainError::Settings(format!(
                "started by {launcher} as one of {size} processes, but this build has no MPI: \
                 build with `--features mpi` (OpenMPI's libopenmpi-dev) to train across them"
            ))),
        }
    }

    /// This process's rank, 0 to size - 1; rank 0 writes the run.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The number of ranks.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Ends every rank of the job (`MPI_Abort`) after a failure of this one that the others
    /// cannot know of, so that none waits for it forever; alone, exits with `code`.
    pub fn abort(&self, code: i32) -> ! {
        #[cfg(feature = "mpi")]
        if self.universe.is_some() {
            use mpi::traits::Communicator;
            mpi::topology::SimpleCommunicator::world().abort(code)
        }
        std::process::exit(code)
    }
}

/// The number of processes (when the launcher says) and the launcher's name, when a launcher
/// started this one.
fn launched() -> Option<(Option<usize>, &'static str)> {
    LAUNCHERS.iter().find_map(|(var, size, who)| {
        std::env::var_os(var)?;
        let size = std::env::var(size).ok().and_then(|s| s.trim().parse().ok());
        Some((size, *who))
    })
}

/// Joins MPI's world (each rank's one training thread calls MPI, others may too).
#[cfg(feature = "mpi")]
fn joined() -> Result<Cluster> {
    use mpi::traits::Communicator;
    let (universe, threading) = mpi::initialize_with_threading(mpi::Threading::Multiple)
        .ok_or_else(|| TrainError::Collective("MPI was initialized twice".into()))?;
    if matches!(threading, mpi::Threading::Single | mpi::Threading::Funneled) {
        return Err(TrainError::Collective(format!(
            "the MPI library grants threading {threading:?}; training calls it from a thread of \
             its own, which needs at least Serialized"
        )));
    }
    let world = universe.world();
    Ok(Cluster {
        rank: world.rank() as usize,
        size: world.size() as usize,
        universe: Some(universe),
    })
}
