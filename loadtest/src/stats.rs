//! Measurements of one receive stream and their aggregation: latency percentiles
//! (HdrHistogram, microsecond resolution), RFC 3550 interarrival jitter, loss.

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms record (longer values are clamped): 60 s.
const MAX_LATENCY_US: u64 = 60_000_000;

/// A latency distribution in microseconds.
#[derive(Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Latency::new()
    }
}

impl std::fmt::Debug for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Latency({} samples)", self.0.len())
    }
}

impl Latency {
    pub fn new() -> Self {
        // Three significant digits from 1 µs to 60 s.
        match Histogram::new_with_bounds(1, MAX_LATENCY_US, 3) {
            Ok(h) => Latency(h),
            Err(_) => unreachable!("constant histogram bounds are valid"),
        }
    }

    pub fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, MAX_LATENCY_US));
    }

    pub fn merge(&mut self, other: &Latency) {
        // Same bounds on both sides: adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    pub fn summary(&self) -> LatencySummary {
        if self.0.is_empty() {
            return LatencySummary::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        LatencySummary {
            samples: self.0.len(),
            p50_ms: ms(self.0.value_at_quantile(0.50)),
            p90_ms: ms(self.0.value_at_quantile(0.90)),
            p99_ms: ms(self.0.value_at_quantile(0.99)),
            max_ms: ms(self.0.max()),
        }
    }
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    pub samples: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// RFC 3550 §6.4.1 interarrival jitter over frames: for consecutive frames i, j with send
/// times S and arrival times R, `D = (Rj − Ri) − (Sj − Si)` and `J += (|D| − J) / 16`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Jitter {
    last_transit_us: Option<i64>,
    jitter_us: f64,
}

impl Jitter {
    /// Records one frame sent at `send_us` and received at `recv_us` (any common epoch;
    /// clock offsets cancel out).
    pub fn record(&mut self, send_us: u64, recv_us: u64) {
        let transit = recv_us as i64 - send_us as i64;
        if let Some(last) = self.last_transit_us {
            let d = (transit - last).unsigned_abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit_us = Some(transit);
    }

    pub fn jitter_ms(&self) -> f64 {
        self.jitter_us / 1000.0
    }
}

/// Loss of one stream from the frame sequence numbers carried inside the encrypted payload:
/// expected = highest − first + 1 over the frames seen, as RFC 3550 counts packets.
#[derive(Debug, Clone, Copy, Default)]
pub struct SequenceTracker {
    first: Option<u64>,
    highest: u64,
    received: u64,
    /// Expected and received of the segments before the current one.
    done_expected: u64,
    done_received: u64,
}

impl SequenceTracker {
    pub fn record(&mut self, seq: u64) {
        match self.first {
            None => {
                self.first = Some(seq);
                self.highest = seq;
            }
            Some(first) if seq < first => self.first = Some(seq),
            Some(_) => self.highest = self.highest.max(seq),
        }
        self.received += 1;
    }

    /// Starts a new segment: frames between the last one recorded and the next one are not
    /// expected (e.g. a simulcast layer the receiver was not subscribed to meanwhile).
    pub fn restart(&mut self) {
        self.done_expected += self.segment_expected();
        self.done_received += self.received;
        self.first = None;
        self.highest = 0;
        self.received = 0;
    }

    fn segment_expected(&self) -> u64 {
        self.first.map_or(0, |f| self.highest - f + 1)
    }

    pub fn received(&self) -> u64 {
        self.done_received + self.received
    }

    pub fn expected(&self) -> u64 {
        self.done_expected + self.segment_expected()
    }

    /// Frames missing between the first and the highest seen.
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.received())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut l = Latency::new();
        for us in 1..=1000u64 {
            l.record_us(us * 100); // 0.1 ms … 100 ms
        }
        let s = l.summary();
        assert_eq!(s.samples, 1000);
        assert!((s.p50_ms - 50.0).abs() < 0.1, "{s:?}");
        assert!((s.p99_ms - 99.0).abs() < 0.1, "{s:?}");
        assert!((s.max_ms - 100.0).abs() < 0.1, "{s:?}");
    }

    #[test]
    fn jitter_follows_rfc3550() {
        let mut j = Jitter::default();
        // Constant transit: no jitter, whatever the clock offset.
        for i in 0..50u64 {
            j.record(1_000_000 + i * 20_000, 9_000_000 + i * 20_000);
        }
        assert_eq!(j.jitter_ms(), 0.0);
        // Transit alternating between 5 and 6 ms: |D| = 1 ms each time, J converges to 1 ms.
        for i in 0..400u64 {
            let extra = if i % 2 == 0 { 1000 } else { 0 };
            j.record(i * 20_000, i * 20_000 + 5_000 + extra);
        }
        assert!((j.jitter_ms() - 1.0).abs() < 0.01, "{}", j.jitter_ms());
    }

    #[test]
    fn loss_counts_the_gaps() {
        // Delivered frames are never duplicates (SFrame's replay window drops them).
        let mut s = SequenceTracker::default();
        for seq in [5, 6, 8, 9, 12] {
            s.record(seq);
        }
        assert_eq!(s.expected(), 8);
        assert_eq!(s.received(), 5);
        assert_eq!(s.lost(), 3);
        // A new segment (the receiver came back to this layer): the frames in between are
        // not expected, gaps inside the new segment are.
        s.restart();
        for seq in [40, 42] {
            s.record(seq);
        }
        assert_eq!(s.expected(), 8 + 3);
        assert_eq!(s.received(), 5 + 2);
        assert_eq!(s.lost(), 4);
    }
}
