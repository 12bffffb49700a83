//! The processes of a run summing through MPI: every rank's fingerprint gathered and compared
//! with rank 0's (a rank that differs is refused, naming what differs), rank 0's checkpoint
//! broadcast to the others (no shared disk needed), then each step's bucket all-reduced.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::{Communicator, CommunicatorCollectives, Root};

use super::hello::Hello;
use crate::error::{Result, TrainError, io_err};

/// The largest piece of a checkpoint file broadcast at once (MPI counts are C ints).
const CHUNK: usize = 64 << 20;

/// This rank's link to the others, and how long its exchanges took.
pub(crate) struct Ranks {
    /// Seconds of each [`Ranks::sum`], in order.
    exchanges: Mutex<Vec<f64>>,
}

impl Ranks {
    /// Checks that every rank trains what rank 0 does, then hands rank 0's `checkpoint` (none:
    /// no checkpoint) to the others, which keep it in `home/checkpoints/latest`.
    pub fn start(own: Hello, checkpoint: Option<&Path>, home: &Path) -> Result<Self> {
        let world = SimpleCommunicator::world();
        let mut all = vec![0u64; Hello::WORDS * world.size() as usize];
        world.all_gather_into(&own.words()[..], &mut all[..]);
        let hellos: Vec<Hello> = all.chunks(Hello::WORDS).map(Hello::from_words).collect();
        let refusals: Vec<String> = (hellos.iter().skip(1))
            .filter_map(|hello| hello.differences(&hellos[0]))
            .collect();
        if !refusals.is_empty() {
            return Err(TrainError::RanksDiffer(refusals.join("; ")));
        }
        hand_over(&world, own.rank, checkpoint, home)?;
        Ok(Self {
            exchanges: Mutex::new(Vec::new()),
        })
    }

    /// The sum of `values` over every rank (`MPI_Allreduce`).
    pub fn sum(&self, values: &[f32]) -> Vec<f32> {
        let mut summed = vec![0f32; values.len()];
        SimpleCommunicator::world().all_reduce_into(
            values,
            &mut summed[..],
            SystemOperation::sum(),
        );
        summed
    }

    /// Counts `took` as one more exchange (a step's sum, from its gradients to their sum).
    pub fn record(&self, took: Duration) {
        let mut exchanges = self.exchanges.lock().expect("no panic holding it");
        exchanges.push(took.as_secs_f64());
    }

    /// The exchanges so far (every rank calls this, after the same number of steps): how many,
    /// the median on this rank (its waits for slower ranks included), and the median of each
    /// step's fastest rank, the one that arrived last and waited for no one: the cost of the
    /// exchange itself.
    pub fn exchanges(&self) -> (usize, f64, f64) {
        let own = self.exchanges.lock().expect("no panic holding it").clone();
        let mut fastest = vec![0f64; own.len()];
        SimpleCommunicator::world().all_reduce_into(
            &own[..],
            &mut fastest[..],
            SystemOperation::min(),
        );
        (own.len(), median(own), median(fastest))
    }
}

/// The middle value of `values` (0 for none).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// Broadcasts rank 0's checkpoint files: their names and sizes as JSON, then each file in
/// pieces; the other ranks write them into `home/checkpoints/latest` (atomically), or remove a
/// checkpoint they had when rank 0 has none.
fn hand_over(
    world: &SimpleCommunicator,
    rank: usize,
    checkpoint: Option<&Path>,
    home: &Path,
) -> Result<()> {
    let root = world.process_at_rank(0);
    let files = match rank {
        0 => checkpoint_files(checkpoint)?,
        _ => Vec::new(),
    };
    let listing: Vec<(String, u64)> = (files.iter())
        .map(|(name, _, len)| (name.clone(), *len))
        .collect();
    let mut text = serde_json::to_vec(&listing).expect("serializes");
    let mut len = text.len() as u64;
    root.broadcast_into(&mut len);
    text.resize(len as usize, 0);
    root.broadcast_into(&mut text[..]);
    let listing: Vec<(String, u64)> = serde_json::from_slice(&text)
        .map_err(|e| TrainError::Collective(format!("rank 0's checkpoint listing: {e}")))?;
    let mut buffer = vec![0u8; CHUNK.min(listing.iter().map(|f| f.1 as usize).max().unwrap_or(0))];
    if rank == 0 {
        for (_, path, len) in &files {
            let mut file = std::fs::File::open(path).map_err(io_err(path))?;
            for piece in pieces(*len) {
                file.read_exact(&mut buffer[..piece])
                    .map_err(io_err(path))?;
                root.broadcast_into(&mut buffer[..piece]);
            }
        }
        return Ok(());
    }
    std::fs::create_dir_all(home).map_err(io_err(home))?;
    let checkpoints = home.join("checkpoints");
    if listing.is_empty() {
        if checkpoints.exists() {
            std::fs::remove_dir_all(&checkpoints).map_err(io_err(&checkpoints))?;
        }
        return Ok(());
    }
    let dir = attn_atomic::Dir::new(&checkpoints.join("latest"))?;
    for (name, len) in &listing {
        let path = dir.path().join(name);
        let mut file = std::fs::File::create(&path).map_err(io_err(&path))?;
        for piece in pieces(*len) {
            root.broadcast_into(&mut buffer[..piece]);
            file.write_all(&buffer[..piece]).map_err(io_err(&path))?;
        }
    }
    dir.commit()?;
    Ok(())
}

/// The sizes of the pieces a file of `len` bytes is broadcast in.
fn pieces(len: u64) -> impl Iterator<Item = usize> {
    let len = len as usize;
    (0..len.div_ceil(CHUNK)).map(move |i| CHUNK.min(len - i * CHUNK))
}

/// The files of the checkpoint directory `dir` (name, path, bytes), sorted by name.
fn checkpoint_files(dir: Option<&Path>) -> Result<Vec<(String, PathBuf, u64)>> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        let meta = std::fs::metadata(&path).map_err(io_err(&path))?;
        if meta.is_file() {
            let name = (path.file_name().expect("a file").to_string_lossy()).into_owned();
            files.push((name, path, meta.len()));
        }
    }
    files.sort();
    Ok(files)
}
