//! Counters of the media workers: plain integers in each worker's core, published as deltas
//! into shared atomics once per loop turn, read by the metrics exporter. No identifiers.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a datagram was dropped (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Drop {
    /// Longer than `MAX_DATAGRAM`.
    Oversized,
    /// Does not parse: truncated, unknown type, wrong direction, bad length or field.
    Malformed,
    /// No session has this connection id.
    UnknownConn,
    /// The tag does not verify (for a `JOIN`: under the recomputed session key).
    BadTag,
    /// The packet number was seen before or is too old.
    Replay,
    /// A `JOIN` whose ticket has expired.
    TicketExpired,
    /// A `JOIN` whose ticket names another worker.
    WrongWorker,
    /// The router refused to forward it (see the router's own counters).
    Routing,
    /// The socket refused to send it.
    SendError,
    /// A native frame that is not a codec frame, not forwarded to browsers (they could
    /// not decode it).
    NotCodec,
    /// A datagram on the WebRTC socket that no peer accepts (unknown ICE peer, garbage).
    RtcUnknownPeer,
    /// A data-channel message or SDP answer from a browser that was not understood.
    RtcBadMessage,
    /// A browser's keyframe request beyond its rate limit.
    KeyframeFlood,
    /// A datagram of a known browser that its WebRTC session refused (failed DTLS, SRTP
    /// that does not authenticate, a protocol error): the session ends.
    RtcBadInput,
    /// A browser frame that cannot be forwarded (too large to fragment, refused by the
    /// router).
    RtcFrame,
}

impl Drop {
    pub const ALL: [Drop; 15] = [
        Drop::Oversized,
        Drop::Malformed,
        Drop::UnknownConn,
        Drop::BadTag,
        Drop::Replay,
        Drop::TicketExpired,
        Drop::WrongWorker,
        Drop::Routing,
        Drop::SendError,
        Drop::NotCodec,
        Drop::RtcUnknownPeer,
        Drop::RtcBadMessage,
        Drop::KeyframeFlood,
        Drop::RtcBadInput,
        Drop::RtcFrame,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Drop::Oversized => "oversized",
            Drop::Malformed => "malformed",
            Drop::UnknownConn => "unknown_conn",
            Drop::BadTag => "bad_tag",
            Drop::Replay => "replay",
            Drop::TicketExpired => "ticket_expired",
            Drop::WrongWorker => "wrong_worker",
            Drop::Routing => "routing",
            Drop::SendError => "send_error",
            Drop::NotCodec => "not_codec",
            Drop::RtcUnknownPeer => "webrtc_unknown_peer",
            Drop::RtcBadMessage => "webrtc_bad_message",
            Drop::KeyframeFlood => "keyframe_flood",
            Drop::RtcBadInput => "webrtc_bad_input",
            Drop::RtcFrame => "webrtc_frame",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One worker's counters (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub datagrams_in: u64,
    pub bytes_in: u64,
    pub datagrams_out: u64,
    pub bytes_out: u64,
    pub drops: [u64; Drop::ALL.len()],
    pub joins: u64,
    pub rejects: u64,
    pub closes: u64,
}

impl Counters {
    pub fn drop(&mut self, reason: Drop) {
        if let Some(c) = self.drops.get_mut(reason.index()) {
            *c += 1;
        }
    }

    pub fn dropped(&self, reason: Drop) -> u64 {
        self.drops.get(reason.index()).copied().unwrap_or(0)
    }

    pub fn sent(&mut self, datagrams: u64, bytes: u64) {
        self.datagrams_out += datagrams;
        self.bytes_out += bytes;
    }
}

/// The counters of every worker together, and each worker's gauges.
#[derive(Debug)]
pub struct MediaStats {
    datagrams_in: AtomicU64,
    bytes_in: AtomicU64,
    datagrams_out: AtomicU64,
    bytes_out: AtomicU64,
    drops: [AtomicU64; Drop::ALL.len()],
    joins: AtomicU64,
    rejects: AtomicU64,
    closes: AtomicU64,
    sessions: Vec<AtomicU64>,
    meetings: Vec<AtomicU64>,
}

/// A snapshot of [`MediaStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub counters: Counters,
    pub sessions: u64,
    pub meetings: u64,
}

impl MediaStats {
    pub fn new(workers: usize) -> Self {
        MediaStats {
            datagrams_in: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            datagrams_out: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            joins: AtomicU64::new(0),
            rejects: AtomicU64::new(0),
            closes: AtomicU64::new(0),
            sessions: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            meetings: (0..workers).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Adds what changed since `last` and remembers `now` as published.
    pub fn publish(
        &self,
        worker: usize,
        last: &mut Counters,
        now: &Counters,
        sessions: usize,
        meetings: usize,
    ) {
        fn add(a: &AtomicU64, new: u64, old: u64) {
            if new != old {
                a.fetch_add(new.wrapping_sub(old), Ordering::Relaxed);
            }
        }
        if last != now {
            add(&self.datagrams_in, now.datagrams_in, last.datagrams_in);
            add(&self.bytes_in, now.bytes_in, last.bytes_in);
            add(&self.datagrams_out, now.datagrams_out, last.datagrams_out);
            add(&self.bytes_out, now.bytes_out, last.bytes_out);
            for ((a, n), o) in self.drops.iter().zip(now.drops).zip(last.drops) {
                add(a, n, o);
            }
            add(&self.joins, now.joins, last.joins);
            add(&self.rejects, now.rejects, last.rejects);
            add(&self.closes, now.closes, last.closes);
            *last = *now;
        }
        if let Some(s) = self.sessions.get(worker) {
            s.store(sessions as u64, Ordering::Relaxed);
        }
        if let Some(m) = self.meetings.get(worker) {
            m.store(meetings as u64, Ordering::Relaxed);
        }
    }

    pub fn totals(&self) -> Totals {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Totals {
            counters: Counters {
                datagrams_in: get(&self.datagrams_in),
                bytes_in: get(&self.bytes_in),
                datagrams_out: get(&self.datagrams_out),
                bytes_out: get(&self.bytes_out),
                drops: std::array::from_fn(|i| self.drops.get(i).map_or(0, get)),
                joins: get(&self.joins),
                rejects: get(&self.rejects),
                closes: get(&self.closes),
            },
            sessions: self.sessions.iter().map(get).sum(),
            meetings: self.meetings.iter().map(get).sum(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_add_up_over_workers() {
        let stats = MediaStats::new(2);
        let (mut l0, mut l1) = (Counters::default(), Counters::default());
        let mut c0 = Counters {
            datagrams_in: 5,
            ..Default::default()
        };
        c0.drop(Drop::BadTag);
        stats.publish(0, &mut l0, &c0, 3, 1);
        c0.datagrams_in = 7;
        stats.publish(0, &mut l0, &c0, 2, 1);
        let mut c1 = Counters {
            datagrams_in: 1,
            ..Default::default()
        };
        c1.drop(Drop::BadTag);
        stats.publish(1, &mut l1, &c1, 4, 2);
        let t = stats.totals();
        assert_eq!(t.counters.datagrams_in, 8);
        assert_eq!(t.counters.dropped(Drop::BadTag), 2);
        assert_eq!((t.sessions, t.meetings), (6, 3));
    }
}
