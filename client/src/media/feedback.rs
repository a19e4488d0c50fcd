//! Receiver feedback (PROTOCOL §11.3): per (publisher, stream) loss from frame numbers and
//! RFC 3550 §6.4.1 interarrival jitter of frames; the downlink bandwidth estimate; and the
//! receiver report built from them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use conclave_wire::media::{MAX_REPORT_ENTRIES, ReceiverReport, ReportEntry, Stream};

/// What one subscriber measured of one publisher's stream.
#[derive(Debug, Clone, Default)]
pub struct StreamReception {
    /// Extended (unwrapped) highest frame number, and the first one.
    base: Option<u64>,
    highest: u64,
    received: u64,
    /// At the last report.
    expected_prior: u64,
    received_prior: u64,
    /// RFC 3550 jitter, in µs (as a float, scaled like the RFC's integer form).
    jitter_us: f64,
    last_transit_us: Option<i64>,
}

impl StreamReception {
    /// A frame was completed (reassembled).
    pub fn on_frame(&mut self, frame_number: u32) -> Gap {
        let ext = match self.base {
            None => {
                self.base = Some(u64::from(frame_number));
                self.highest = u64::from(frame_number);
                self.received = 1;
                return Gap::None;
            }
            Some(_) => extend(self.highest, frame_number),
        };
        self.received += 1;
        if ext > self.highest {
            let gap = ext - self.highest > 1;
            self.highest = ext;
            if gap { Gap::Lost } else { Gap::None }
        } else {
            Gap::None
        }
    }

    /// A frame with `send_time_us` (the sender's clock) arrived at `arrival_us` (ours).
    pub fn on_timing(&mut self, send_time_us: u64, arrival_us: u64) {
        let transit = arrival_us as i64 - send_time_us as i64;
        if let Some(prev) = self.last_transit_us {
            let d = (transit - prev).unsigned_abs() as f64;
            self.jitter_us += (d - self.jitter_us) / 16.0;
        }
        self.last_transit_us = Some(transit);
    }

    pub fn expected(&self) -> u64 {
        self.base.map_or(0, |b| self.highest - b + 1)
    }

    pub fn received(&self) -> u64 {
        self.received
    }

    pub fn cumulative_lost(&self) -> u64 {
        self.expected().saturating_sub(self.received)
    }

    pub fn jitter_us(&self) -> u32 {
        self.jitter_us.min(f64::from(u32::MAX)) as u32
    }

    /// The loss fraction since the last call, in 1/256 (RFC 3550 §6.4.1).
    pub fn take_fraction_lost(&mut self) -> u8 {
        let expected = self.expected() - self.expected_prior;
        let received = self.received - self.received_prior;
        self.expected_prior = self.expected();
        self.received_prior = self.received;
        let lost = expected.saturating_sub(received);
        (lost * 256)
            .checked_div(expected)
            .map_or(0, |f| f.min(255) as u8)
    }
}

/// Whether a completed frame showed frames missing before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gap {
    None,
    Lost,
}

/// The 64-bit frame number nearest to `highest` whose low 32 bits are `n`.
fn extend(highest: u64, n: u32) -> u64 {
    let cycle = highest & !0xffff_ffff;
    let cand = cycle | u64::from(n);
    let half = 1u64 << 31;
    if cand + half < highest {
        cand + (1 << 32)
    } else if cand > highest + half && cand >= (1 << 32) {
        cand - (1 << 32)
    } else {
        cand
    }
}

/// Every (publisher, stream) received, plus the bandwidth estimate.
#[derive(Debug, Default)]
pub struct Feedback {
    streams: HashMap<(u32, Stream), StreamReception>,
    bytes_since: u64,
    since: Option<Instant>,
    est_kbps: u32,
}

impl Feedback {
    pub fn stream(&mut self, source_id: u32, stream: Stream) -> &mut StreamReception {
        self.streams.entry((source_id, stream)).or_default()
    }

    pub fn get(&self, source_id: u32, stream: Stream) -> Option<&StreamReception> {
        self.streams.get(&(source_id, stream))
    }

    pub fn forget_source(&mut self, source_id: u32) {
        self.streams.retain(|(s, _), _| *s != source_id);
    }

    /// Bytes of media that arrived.
    pub fn on_bytes(&mut self, now: Instant, n: usize) {
        self.since.get_or_insert(now);
        self.bytes_since += n as u64;
    }

    /// The estimated downlink bandwidth, kbit/s: the received rate over the last interval,
    /// with headroom when there is no loss (so the relay may try a higher layer) and less
    /// under loss.
    pub fn estimate(&mut self, now: Instant, loss_256: u8) -> u32 {
        if let Some(since) = self.since {
            let dt = now
                .saturating_duration_since(since)
                .max(Duration::from_millis(100));
            let kbps = (self.bytes_since * 8) as f64 / dt.as_secs_f64() / 1000.0;
            let factor = if loss_256 < 5 {
                1.5
            } else if loss_256 < 26 {
                1.0
            } else {
                0.85
            };
            // Never report less than enough for the lowest layer.
            self.est_kbps = ((kbps * factor) as u32).max(300);
        }
        self.since = Some(now);
        self.bytes_since = 0;
        self.est_kbps
    }

    /// A receiver report of every stream (at most 64 entries: those with most loss first),
    /// or `None` when nothing was received.
    pub fn report(&mut self, now: Instant) -> Option<ReceiverReport> {
        if self.streams.is_empty() {
            return None;
        }
        let mut entries: Vec<ReportEntry> = self
            .streams
            .iter_mut()
            .map(|(&(source_id, stream), s)| ReportEntry {
                source_id,
                stream,
                fraction_lost: s.take_fraction_lost(),
                cumulative_lost: u32::try_from(s.cumulative_lost()).unwrap_or(u32::MAX),
                jitter_us: s.jitter_us(),
            })
            .collect();
        entries.sort_by_key(|e| (std::cmp::Reverse(e.fraction_lost), e.source_id, e.stream));
        entries.truncate(MAX_REPORT_ENTRIES);
        let worst = entries.first().map_or(0, |e| e.fraction_lost);
        Some(ReceiverReport::new(self.estimate(now, worst), entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_from_frame_numbers_with_wrap() {
        let mut s = StreamReception::default();
        let start = u32::MAX - 2;
        for i in 0..10u32 {
            if i == 4 || i == 5 {
                continue;
            }
            let gap = s.on_frame(start.wrapping_add(i));
            assert_eq!(gap == Gap::Lost, i == 6);
        }
        assert_eq!(
            (s.expected(), s.received(), s.cumulative_lost()),
            (10, 8, 2)
        );
        assert_eq!(s.take_fraction_lost(), (2 * 256 / 10) as u8);
        assert_eq!(s.take_fraction_lost(), 0);
        // A late, reordered frame counts as received.
        s.on_frame(start.wrapping_add(4));
        assert_eq!(s.cumulative_lost(), 1);
    }

    #[test]
    fn jitter_follows_rfc3550() {
        let mut s = StreamReception::default();
        // Constant transit: no jitter.
        for i in 0..10 {
            s.on_timing(i * 20_000, i * 20_000 + 5_000);
        }
        assert_eq!(s.jitter_us(), 0);
        // Transit alternating by 2 ms: every |D| is 2 ms, and J converges to it.
        for i in 10..400u64 {
            let wobble = if i % 2 == 0 { 2_000 } else { 0 };
            s.on_timing(i * 20_000, i * 20_000 + 5_000 + wobble);
        }
        assert!(
            (1_900..=2_000).contains(&s.jitter_us()),
            "{}",
            s.jitter_us()
        );
    }

    #[test]
    fn reports_and_bandwidth() {
        let t0 = Instant::now();
        let mut f = Feedback::default();
        assert!(f.report(t0).is_none());
        f.stream(5, Stream::Audio).on_frame(0);
        f.on_bytes(t0, 125_000);
        let r = f.report(t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(r.entries.len(), 1);
        assert_eq!(
            r.est_bandwidth_kbps, 1500,
            "1 Mbit/s received, no loss: 1.5×"
        );
        for s in 1..=70 {
            f.stream(s, Stream::Data).on_frame(0);
        }
        assert_eq!(
            f.report(t0 + Duration::from_secs(2)).unwrap().entries.len(),
            64
        );
    }
}
