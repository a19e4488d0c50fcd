//! Keyframe-request aggregation and throttling per (publisher, video layer).

use std::time::{Duration, Instant};

/// What to do with a keyframe request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyframeDecision {
    /// Send it to the publisher now.
    Send,
    /// Merged: one was sent less than a throttle interval ago; one more goes out at
    /// `due` unless a keyframe arrives first.
    Pending { due: Instant },
}

/// The throttle state of one (publisher, layer).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct KeyframeState {
    last_sent: Option<Instant>,
    pending: bool,
}

impl KeyframeState {
    pub(super) fn request(&mut self, now: Instant, throttle: Duration) -> KeyframeDecision {
        match self.last_sent {
            Some(t) if now < t + throttle => {
                self.pending = true;
                KeyframeDecision::Pending { due: t + throttle }
            }
            _ => {
                self.last_sent = Some(now);
                self.pending = false;
                KeyframeDecision::Send
            }
        }
    }

    /// A keyframe of this layer arrived: pending requests are answered.
    pub(super) fn satisfied(&mut self) {
        self.pending = false;
    }

    /// When the pending request is due, if any.
    pub(super) fn due(&self, throttle: Duration) -> Option<Instant> {
        match (self.pending, self.last_sent) {
            (true, Some(t)) => Some(t + throttle),
            _ => None,
        }
    }

    /// Whether a pending request must go out now (and records it as sent).
    pub(super) fn fire(&mut self, now: Instant, throttle: Duration) -> bool {
        if self.due(throttle).is_some_and(|d| now >= d) {
            self.pending = false;
            self.last_sent = Some(now);
            true
        } else {
            false
        }
    }
}
