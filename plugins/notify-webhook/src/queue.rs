//! The bounded queue between `deliver` and the worker thread, with the counters.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use conclave_plugin_api::PluginError;
use conclave_plugin_api::notify::NotifierStats;

/// One event to send: its rendered body.
pub(crate) struct Job {
    pub(crate) body: Vec<u8>,
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Delivered,
    Failed,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    /// The worker holds a job it has not finished.
    in_flight: bool,
    shutdown: bool,
    delivered: u64,
    failed: u64,
    dropped: u64,
}

/// The state shared by the plugin and its worker. One condition variable signals every
/// change (new job, job finished, shutdown); waiters re-check their own condition.
#[derive(Default)]
pub(crate) struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent under every panic point: keep going.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `job`, or counts it dropped when `capacity` jobs are waiting.
    pub(crate) fn push(&self, job: Job, capacity: usize) -> Result<(), PluginError> {
        let mut state = self.lock();
        if state.queue.len() >= capacity {
            state.dropped += 1;
            return Err(PluginError::unavailable("queue full"));
        }
        state.queue.push_back(job);
        drop(state);
        self.changed.notify_all();
        Ok(())
    }

    pub(crate) fn stats(&self) -> NotifierStats {
        let state = self.lock();
        NotifierStats {
            delivered: state.delivered,
            failed: state.failed,
            dropped: state.dropped,
            queued: state.queue.len() as u64 + u64::from(state.in_flight),
        }
    }

    /// Waits up to `timeout` for the queue to drain and the worker to go idle.
    pub(crate) fn wait_drained(&self, timeout: Duration) -> Result<(), PluginError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        loop {
            let pending = state.queue.len() + usize::from(state.in_flight);
            if pending == 0 {
                return Ok(());
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Err(PluginError::unavailable(format!(
                    "flush timed out with {pending} events pending"
                )));
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The worker's next job, waiting for one; `None` once shut down.
    pub(crate) fn next_job(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if state.shutdown {
                return None;
            }
            if let Some(job) = state.queue.pop_front() {
                state.in_flight = true;
                return Some(job);
            }
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Records the outcome of the job in flight.
    pub(crate) fn finish(&self, outcome: Outcome) {
        let mut state = self.lock();
        state.in_flight = false;
        match outcome {
            Outcome::Delivered => state.delivered += 1,
            Outcome::Failed => state.failed += 1,
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Sleeps for `duration` unless shut down meanwhile; `false` when shut down.
    pub(crate) fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now().checked_add(duration);
        let mut state = self.lock();
        loop {
            if state.shutdown {
                return false;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return true;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Tells the worker to stop; events still queued are abandoned.
    pub(crate) fn shutdown(&self) {
        self.lock().shutdown = true;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            body: b"{}".to_vec(),
        }
    }

    #[test]
    fn bounded_and_counted() {
        let shared = Shared::default();
        shared.push(job(), 2).unwrap();
        shared.push(job(), 2).unwrap();
        let e = shared.push(job(), 2).unwrap_err();
        assert_eq!(e.message.as_str(), "queue full");
        let s = shared.stats();
        assert_eq!((s.queued, s.dropped), (2, 1));
        assert!(shared.next_job().is_some());
        // In flight still counts as queued; it frees a slot in the queue.
        assert_eq!(shared.stats().queued, 2);
        shared.push(job(), 2).unwrap();
        assert!(shared.wait_drained(Duration::from_millis(20)).is_err());
        shared.finish(Outcome::Delivered);
        assert_eq!(shared.stats().delivered, 1);
        shared.shutdown();
        assert!(shared.next_job().is_none());
        assert!(!shared.sleep(Duration::from_secs(60)));
    }
}
