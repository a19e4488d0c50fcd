//! Per-participant media statistics: frames sent, received, decrypted, failures by reason,
//! end-to-end latency percentiles from the send timestamp inside the encryption.

use std::collections::{BTreeMap, VecDeque};

use crate::media::session::SessionStats;

/// The latest latency samples of one sender (a bounded window).
#[derive(Debug, Clone, Default)]
pub struct LatencyWindow {
    samples: VecDeque<u64>,
}

/// Samples kept per participant.
pub const LATENCY_SAMPLES: usize = 1024;

impl LatencyWindow {
    pub fn record(&mut self, us: u64) {
        if self.samples.len() == LATENCY_SAMPLES {
            self.samples.pop_front();
        }
        self.samples.push_back(us);
    }

    /// The `q`-quantile (0.0–1.0) of the window, nearest rank.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let mut v: Vec<u64> = self.samples.iter().copied().collect();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let rank = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v.get(rank - 1).copied()
    }
}

/// What we know of one participant (by sender index), ourselves included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParticipantStats {
    /// The participant's source id on the relay, once a frame of it decrypted.
    pub source_id: Option<u32>,
    /// Frames we sent (our own entry only).
    pub frames_sent: u64,
    /// Complete frames whose clear KID names this sender.
    pub frames_received: u64,
    /// Frames that decrypted and were delivered.
    pub frames_decrypted: u64,
    /// Frames dropped (never delivered), all reasons.
    pub failures: u64,
    pub failures_by_reason: BTreeMap<&'static str, u64>,
    /// Plaintext media bytes delivered.
    pub bytes_delivered: u64,
    pub files_received: u64,
    /// End-to-end latency from the sender's timestamp, µs (clocks of both hosts).
    pub latency_p50_us: Option<u64>,
    pub latency_p99_us: Option<u64>,
    /// The epoch of the last frame delivered (or sent, for our own entry).
    pub last_epoch: Option<u64>,
}

/// A snapshot of a pipeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MediaStats {
    pub own_index: u16,
    pub source_id: Option<u32>,
    /// The epoch we send in, and one staged to switch to.
    pub sending_epoch: u64,
    pub pending_epoch: Option<u64>,
    pub participants: BTreeMap<u16, ParticipantStats>,
    /// Frames dropped, by reason, whoever they claim to come from.
    pub frames_dropped: BTreeMap<&'static str, u64>,
    /// Source frames not sent (not joined yet, sealing failed, …), by reason.
    pub frames_not_sent: BTreeMap<&'static str, u64>,
    pub session: SessionStats,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_window() {
        let mut w = LatencyWindow::default();
        assert_eq!(w.quantile(0.5), None);
        for i in 1..=100 {
            w.record(i);
        }
        assert_eq!(w.quantile(0.5), Some(50));
        assert_eq!(w.quantile(0.99), Some(99));
        assert_eq!(w.quantile(1.0), Some(100));
        for _ in 0..LATENCY_SAMPLES {
            w.record(7);
        }
        assert_eq!(w.quantile(0.99), Some(7));
    }
}
