//! Where a run's events go: results (report lines, accuracies) on stdout, notes on stderr.

use attn_train::{Event, Observer};

/// The terminal as a run's observer.
pub struct Terminal;

impl Observer for Terminal {
    fn event(&self, event: Event<'_>) {
        if event.is_result() {
            println!("{event}");
        } else {
            eprintln!("{event}");
        }
    }
}
