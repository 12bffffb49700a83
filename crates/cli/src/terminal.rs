//! Where a run's events go: results (report lines, accuracies) on stdout, notes on stderr.

use std::io::Write;

use attn_train::{Event, Observer};

/// The terminal as a run's observer. On the ranks other than 0 of an MPI job, whose output
/// mpirun mixes with rank 0's, it shows only what is the rank's own (rank 0 says the rest).
#[derive(Debug, Default, Clone, Copy)]
pub struct Terminal {
    /// The rank of this process (0 alone).
    pub rank: usize,
}

impl Observer for Terminal {
    fn event(&self, event: Event<'_>) {
        let own = matches!(event, Event::Joined { .. } | Event::TrainedShare { .. });
        if self.rank > 0 && !own {
            return;
        }
        // One write per line, so that the lines of ranks sharing a terminal stay whole.
        let line = format!("{event}\n");
        let _ = match event.is_result() {
            true => std::io::stdout().lock().write_all(line.as_bytes()),
            false => std::io::stderr().lock().write_all(line.as_bytes()),
        };
    }
}
