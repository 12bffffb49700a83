//! What a run tells its user as it goes. The library hands each [`Event`] to an [`Observer`]; the
//! CLI prints them (the reference's `Loss = …, Accuracy = …` lines among them).

use std::fmt;
use std::path::Path;

use crate::report::Report;

/// Something a task shows in its own words: what its data holds, its final scores.
pub trait Summary: fmt::Display + fmt::Debug + Sync {}

impl<T: fmt::Display + fmt::Debug + Sync> Summary for T {}

/// Something a run has to say.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A report window closed: mean loss and accuracy since the last one.
    Report {
        /// The report.
        report: &'a Report,
        /// Iterations of the whole run.
        iterations: usize,
    },
    /// The model was scored on the validation rows.
    Validation {
        /// Iterations done.
        iteration: usize,
        /// Share of the scored predictions that are right.
        accuracy: f64,
        /// Validation rows.
        rows: usize,
    },
    /// The run goes on from a checkpoint.
    Resumed {
        /// The checkpoint directory.
        from: &'a Path,
        /// Iterations it had done.
        iteration: usize,
    },
    /// The data is read and tokenized.
    Prepared {
        /// What the task read, in its words (rows, classes, vocabularies).
        data: &'a dyn Summary,
        /// Seconds spent reading and tokenizing.
        seconds: f64,
    },
    /// Rows of a data file that could not be read and were left out (`skip_bad_rows`).
    SkippedRows {
        /// The file.
        path: &'a Path,
        /// How many.
        count: usize,
    },
    /// Training finished and the model was saved.
    Trained {
        /// Seconds spent training.
        seconds: f64,
        /// The run directory.
        run: &'a Path,
    },
    /// The trained model's final scores (on the test set), as the task shows them.
    Scores(&'a dyn Summary),
    /// This process joined a run over several processes or machines (an MPI job).
    Joined {
        /// Its rank.
        rank: usize,
        /// Ranks of the run.
        nodes: usize,
        /// The MPI library, in words.
        library: &'a str,
        /// Bytes each peer all-reduces per step (gradients, flags and tally).
        bucket_bytes: usize,
    },
    /// How long the gradient exchanges of an MPI job took (from a rank's gradients to their sum).
    Exchanged {
        /// Exchanges (one per step).
        count: usize,
        /// The median over the steps of the fastest rank's time (the rank that arrived last,
        /// waiting for no one): the exchange itself, in seconds.
        fastest_s: f64,
        /// The median of rank 0's own, its waits for slower ranks included, in seconds.
        own_s: f64,
        /// Bytes each exchange all-reduced.
        bytes: usize,
    },
    /// The batch shapes a run on a GPU backend met (each compiles and tunes kernels).
    BatchShapes {
        /// Distinct (rows, padded length) pairs of the training batches.
        distinct: usize,
        /// The lengths batches were padded up to.
        pad_to: &'a [usize],
    },
    /// This rank's share of the training is done; rank 0 saves and evaluates the model.
    TrainedShare {
        /// Its rank.
        rank: usize,
        /// Seconds spent training.
        seconds: f64,
    },
}

impl Event<'_> {
    /// Whether the event is a result (the CLI's stdout) rather than a note on the run (stderr).
    pub fn is_result(&self) -> bool {
        matches!(
            self,
            Self::Report { .. } | Self::Validation { .. } | Self::Scores(_)
        )
    }
}

impl fmt::Display for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Report { report, iterations } => write!(
                f,
                "Loss = {:.4}, Accuracy = {:.4}  (iteration {}/{iterations}, lr {:.2e}, {:.1} samples/s)",
                report.loss,
                report.train_accuracy,
                report.iteration,
                report.lr,
                report.samples_per_s
            ),
            Self::Validation {
                iteration,
                accuracy,
                rows,
            } => write!(
                f,
                "Validation accuracy = {accuracy:.4}  (iteration {iteration}, {rows} rows)"
            ),
            Self::Resumed { from, iteration } => {
                write!(
                    f,
                    "Resuming from {} at iteration {iteration}",
                    from.display()
                )
            }
            Self::Prepared { data, seconds } => {
                write!(f, "Data: {data}, tokenized in {seconds:.1}s")
            }
            Self::SkippedRows { path, count } => {
                write!(f, "{}: skipped {count} bad rows", path.display())
            }
            Self::Trained { seconds, run } => write!(
                f,
                "Trained in {seconds:.1}s; model saved to {}",
                run.display()
            ),
            Self::Joined {
                rank,
                nodes,
                library,
                bucket_bytes,
            } => write!(
                f,
                "Rank {rank} of {nodes} joined the run ({library}); each step all-reduces {:.2} MB",
                bucket_bytes as f64 / 1e6
            ),
            Self::Exchanged {
                count,
                fastest_s,
                own_s,
                bytes,
            } => write!(
                f,
                "Gradient exchanges: {count} of {:.2} MB, {:.2} ms each (median of each step's \
                 last rank to arrive; {:.2} ms on rank 0 with its waits)",
                bytes as f64 / 1e6,
                fastest_s * 1e3,
                own_s * 1e3
            ),
            Self::BatchShapes { distinct, pad_to } => write!(
                f,
                "Batch shapes: {distinct} distinct (rows x padded length; --pad-to {})",
                pad_to
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Self::TrainedShare { rank, seconds } => write!(
                f,
                "Rank {rank} trained its share in {seconds:.1}s; rank 0 saves and evaluates the model"
            ),
            Self::Scores(scores) => write!(f, "{scores}"),
        }
    }
}

/// Who hears of a run's [`Event`]s.
pub trait Observer: Send + Sync {
    /// Takes one event (called between progress-bar redraws).
    fn event(&self, event: Event<'_>);
}

/// An observer that drops every event (benches, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn event(&self, _event: Event<'_>) {}
}
