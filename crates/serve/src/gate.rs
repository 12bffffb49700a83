//! The door every request passes: it counts what is accepted and answered, and once the server
//! is stopping it refuses new requests (503) and tells the shutdown when nothing accepted is
//! left unanswered.

use std::sync::Mutex;

use axum::http::StatusCode;
use tokio::sync::Notify;

use crate::error::{ApiError, ErrorType};

/// What a server did, told when it stops.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Requests let in.
    pub accepted: u64,
    /// Requests let in and answered.
    pub answered: u64,
    /// Requests let in whose client left before the answer.
    pub abandoned: u64,
    /// Requests refused because the server was stopping.
    pub refused: u64,
}

#[derive(Default)]
struct State {
    tally: Tally,
    in_flight: u64,
    closed: bool,
}

/// The door: counts in-flight requests and closes for shutdown.
#[derive(Default)]
pub struct Gate {
    state: Mutex<State>,
    idle: Notify,
}

/// An accepted request; dropped unanswered, it counts as abandoned by its client.
pub struct Pass<'a> {
    gate: &'a Gate,
    answered: bool,
}

impl Gate {
    /// Lets a request in, or refuses it with 503 once the server is stopping.
    pub fn enter(&self) -> Result<Pass<'_>, ApiError> {
        let mut state = self.state.lock().expect("the gate's lock");
        if state.closed {
            state.tally.refused += 1;
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorType::Unhealthy,
                "the server is stopping",
            ));
        }
        state.tally.accepted += 1;
        state.in_flight += 1;
        Ok(Pass {
            gate: self,
            answered: false,
        })
    }

    /// Refuses every request from now on and waits until those accepted are answered.
    pub async fn close(&self) {
        loop {
            let idle = self.idle.notified();
            {
                let mut state = self.state.lock().expect("the gate's lock");
                state.closed = true;
                if state.in_flight == 0 {
                    return;
                }
            }
            idle.await;
        }
    }

    /// The counts so far.
    pub fn tally(&self) -> Tally {
        self.state.lock().expect("the gate's lock").tally
    }
}

impl Pass<'_> {
    /// Marks the request answered.
    pub fn answered(mut self) {
        self.answered = true;
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        let mut state = self.gate.state.lock().expect("the gate's lock");
        state.in_flight -= 1;
        match self.answered {
            true => state.tally.answered += 1,
            false => state.tally.abandoned += 1,
        }
        if state.in_flight == 0 {
            self.gate.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Gate;

    #[tokio::test]
    async fn closing_waits_for_the_accepted_and_refuses_the_rest() {
        let gate = std::sync::Arc::new(Gate::default());
        let pass = gate.enter().expect("open");
        let closing = {
            let gate = gate.clone();
            tokio::spawn(async move { gate.close().await })
        };
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!closing.is_finished(), "a request is still in flight");
        assert!(gate.enter().is_err(), "closed to new requests");
        pass.answered();
        closing.await.expect("closed");
        let dropped = gate.tally();
        assert_eq!(
            (dropped.accepted, dropped.answered, dropped.refused),
            (1, 1, 1)
        );
    }
}
