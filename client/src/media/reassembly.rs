//! Rebuilding frames from fragments (PROTOCOL §11.3), keyed by `(source_id, stream,
//! frame_number)`. Bounded everywhere, since `MEDIA_FWD` carries no tag: frames in flight
//! per stream, their age, the streams tracked and the bytes buffered. Total: any input is
//! either used or dropped and counted, never a panic. Buffers are recycled.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use conclave_wire::media::{MAX_FRAG_COUNT, MAX_FRAGMENT, MediaHeader, Stream};

/// Limits of a [`Reassembler`].
#[derive(Debug, Clone)]
pub struct ReassemblyConfig {
    /// Incomplete frames kept per (source, stream); the oldest is dropped for a new one.
    pub max_in_flight: usize,
    /// An incomplete frame is dropped this long after its first fragment.
    pub timeout: Duration,
    /// (source, stream) pairs tracked; the least recently used is forgotten for a new one.
    pub max_streams: usize,
    /// Bytes held by incomplete frames in total; fragments beyond are dropped.
    pub max_buffered: usize,
}

impl Default for ReassemblyConfig {
    fn default() -> Self {
        ReassemblyConfig {
            max_in_flight: 8,
            timeout: Duration::from_secs(2),
            max_streams: 1024,
            max_buffered: 32 << 20,
        }
    }
}

/// Counters of a [`Reassembler`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    pub fragments: u64,
    pub frames_completed: u64,
    /// Fragments of a frame already completed or abandoned, or seen twice.
    pub duplicates: u64,
    /// Fragments that disagree with earlier ones of their frame (count, flags, level).
    pub inconsistent: u64,
    /// Incomplete frames dropped after the timeout.
    pub timed_out: u64,
    /// Incomplete frames dropped to make room (in-flight bound, stream bound).
    pub evicted: u64,
    /// Fragments dropped because the buffered-bytes budget was spent.
    pub over_budget: u64,
}

/// A complete frame: the sealed SFrame bytes.
#[derive(Debug)]
pub struct CompleteFrame {
    pub source_id: u32,
    /// The header of the frame (its `frag_index` is 0).
    pub header: MediaHeader,
    pub data: Vec<u8>,
    /// When its first fragment arrived.
    pub first_arrival: Instant,
}

const WORDS: usize = MAX_FRAG_COUNT as usize / 64;
const RECENT: usize = 16;

#[derive(Debug)]
struct Partial {
    header: MediaHeader,
    started: Instant,
    received: [u64; WORDS],
    got: u16,
    /// Length of the last fragment, once it arrived.
    last_len: Option<usize>,
    buf: Vec<u8>,
}

impl Partial {
    fn has(&self, i: u16) -> bool {
        let i = usize::from(i);
        self.received
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    fn mark(&mut self, i: u16) {
        let i = usize::from(i);
        if let Some(w) = self.received.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
}

#[derive(Debug)]
struct StreamState {
    partials: Vec<Partial>,
    /// Frame numbers recently completed or abandoned (a ring).
    recent: [Option<u32>; RECENT],
    next_recent: usize,
    last_used: Instant,
}

impl StreamState {
    fn new(now: Instant) -> Self {
        StreamState {
            partials: Vec::new(),
            recent: [None; RECENT],
            next_recent: 0,
            last_used: now,
        }
    }

    fn is_recent(&self, frame_number: u32) -> bool {
        self.recent.contains(&Some(frame_number))
    }

    fn remember(&mut self, frame_number: u32) {
        if let Some(slot) = self.recent.get_mut(self.next_recent) {
            *slot = Some(frame_number);
        }
        self.next_recent = (self.next_recent + 1) % RECENT;
    }
}

/// Reassembles the fragments of every (source, stream) the client receives.
#[derive(Debug)]
pub struct Reassembler {
    config: ReassemblyConfig,
    streams: HashMap<(u32, Stream), StreamState>,
    pool: Vec<Vec<u8>>,
    buffered: usize,
    stats: ReassemblyStats,
}

const POOL_MAX: usize = 64;

impl Reassembler {
    pub fn new(config: ReassemblyConfig) -> Self {
        Reassembler {
            config,
            streams: HashMap::new(),
            pool: Vec::new(),
            buffered: 0,
            stats: ReassemblyStats::default(),
        }
    }

    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Bytes held by incomplete frames.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Gives a frame's buffer back for reuse.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.pool.len() < POOL_MAX && buf.capacity() <= 64 * MAX_FRAGMENT {
            buf.clear();
            self.pool.push(buf);
        }
    }

    /// Forgets a source's incomplete frames (it left).
    pub fn forget_source(&mut self, source_id: u32) {
        let keys: Vec<_> = self
            .streams
            .keys()
            .filter(|(s, _)| *s == source_id)
            .copied()
            .collect();
        for key in keys {
            if let Some(state) = self.streams.remove(&key) {
                for p in state.partials {
                    self.release(p.buf);
                }
            }
        }
    }

    fn release(&mut self, buf: Vec<u8>) {
        self.buffered = self.buffered.saturating_sub(buf.len());
        self.recycle(buf);
    }

    /// One fragment (its header already validated by the wire parser). Returns the frame
    /// when this fragment completes it.
    pub fn push(
        &mut self,
        now: Instant,
        source_id: u32,
        header: &MediaHeader,
        fragment: &[u8],
    ) -> Option<CompleteFrame> {
        self.stats.fragments += 1;
        if fragment.is_empty()
            || fragment.len() > MAX_FRAGMENT
            || header.frag_index >= header.frag_count
            || (!header.is_last_fragment() && fragment.len() != MAX_FRAGMENT)
        {
            self.stats.inconsistent += 1;
            return None;
        }
        let key = (source_id, header.stream);
        if !self.streams.contains_key(&key) && self.streams.len() >= self.config.max_streams {
            self.evict_stalest_stream();
        }
        let state = self
            .streams
            .entry(key)
            .or_insert_with(|| StreamState::new(now));
        state.last_used = now;
        if state.is_recent(header.frame_number) {
            self.stats.duplicates += 1;
            return None;
        }

        // A frame of one fragment needs no state but the ring.
        if header.frag_count == 1 {
            state.remember(header.frame_number);
            let mut data = self.pool.pop().unwrap_or_default();
            data.clear();
            data.extend_from_slice(fragment);
            self.stats.frames_completed += 1;
            return Some(CompleteFrame {
                source_id,
                header: MediaHeader {
                    frag_index: 0,
                    ..*header
                },
                data,
                first_arrival: now,
            });
        }

        let pos = state
            .partials
            .iter()
            .position(|p| p.header.frame_number == header.frame_number);
        let idx = match pos {
            Some(i) => i,
            None => {
                let mut evicted = None;
                if state.partials.len() >= self.config.max_in_flight.max(1) {
                    let oldest = state
                        .partials
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, p)| p.started)
                        .map(|(i, _)| i);
                    if let Some(i) = oldest {
                        let p = state.partials.swap_remove(i);
                        state.remember(p.header.frame_number);
                        evicted = Some(p.buf);
                    }
                }
                let buf = self.pool.pop().unwrap_or_default();
                let state = self.streams.get_mut(&key)?;
                state.partials.push(Partial {
                    header: MediaHeader {
                        frag_index: 0,
                        ..*header
                    },
                    started: now,
                    received: [0; WORDS],
                    got: 0,
                    last_len: None,
                    buf,
                });
                if let Some(buf) = evicted {
                    self.stats.evicted += 1;
                    self.release(buf);
                }
                self.streams
                    .get(&key)
                    .map_or(0, |s| s.partials.len().saturating_sub(1))
            }
        };

        let budget_left = self.config.max_buffered.saturating_sub(self.buffered);
        let state = self.streams.get_mut(&key)?;
        let partial = state.partials.get_mut(idx)?;
        let same = partial.header.frag_count == header.frag_count
            && partial.header.keyframe == header.keyframe
            && partial.header.audio_level == header.audio_level;
        if !same {
            self.stats.inconsistent += 1;
            return None;
        }
        if partial.has(header.frag_index) {
            self.stats.duplicates += 1;
            return None;
        }
        let offset = usize::from(header.frag_index) * MAX_FRAGMENT;
        let end = offset + fragment.len();
        let grow = end.saturating_sub(partial.buf.len());
        if grow > budget_left {
            self.stats.over_budget += 1;
            return None;
        }
        if grow > 0 {
            partial.buf.resize(end, 0);
        }
        let dst = partial.buf.get_mut(offset..end)?;
        dst.copy_from_slice(fragment);
        self.buffered += grow;
        partial.mark(header.frag_index);
        partial.got += 1;
        if header.is_last_fragment() {
            partial.last_len = Some(fragment.len());
        }
        if partial.got < partial.header.frag_count {
            return None;
        }
        let p = state.partials.swap_remove(idx);
        state.remember(p.header.frame_number);
        let mut data = p.buf;
        self.buffered = self.buffered.saturating_sub(data.len());
        let full = (usize::from(p.header.frag_count) - 1) * MAX_FRAGMENT + p.last_len.unwrap_or(0);
        data.truncate(full);
        self.stats.frames_completed += 1;
        Some(CompleteFrame {
            source_id,
            header: p.header,
            data,
            first_arrival: p.started,
        })
    }

    fn evict_stalest_stream(&mut self) {
        let stalest = self
            .streams
            .iter()
            .min_by_key(|(_, s)| s.last_used)
            .map(|(k, _)| *k);
        if let Some(state) = stalest.and_then(|k| self.streams.remove(&k)) {
            for p in state.partials {
                self.stats.evicted += 1;
                self.release(p.buf);
            }
        }
    }

    /// Drops incomplete frames older than the timeout, and streams idle for long.
    pub fn handle_timeout(&mut self, now: Instant) {
        let timeout = self.config.timeout;
        let mut freed = Vec::new();
        for state in self.streams.values_mut() {
            let mut i = 0;
            while i < state.partials.len() {
                let expired = state
                    .partials
                    .get(i)
                    .is_some_and(|p| now.saturating_duration_since(p.started) >= timeout);
                if expired {
                    let p = state.partials.swap_remove(i);
                    state.remember(p.header.frame_number);
                    freed.push(p.buf);
                } else {
                    i += 1;
                }
            }
        }
        self.stats.timed_out += freed.len() as u64;
        for buf in freed {
            self.release(buf);
        }
        // Streams silent for a long time hold only their ring: forget them.
        let idle = timeout.saturating_mul(30);
        self.streams.retain(|_, s| {
            !s.partials.is_empty() || now.saturating_duration_since(s.last_used) < idle
        });
    }

    /// When the next incomplete frame times out.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.streams
            .values()
            .flat_map(|s| s.partials.iter())
            .map(|p| p.started + self.config.timeout)
            .min()
    }

    /// Incomplete frames held now.
    pub fn in_flight(&self) -> usize {
        self.streams.values().map(|s| s.partials.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::media::packetize::{FrameMeta, fragments};

    fn meta(frame_number: u32) -> FrameMeta {
        FrameMeta {
            stream: Stream::Data,
            keyframe: false,
            codec: false,
            audio_level: 127,
            frame_number,
        }
    }

    fn frame(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_add(seed)).collect()
    }

    #[test]
    fn out_of_order_fragments_complete_once() {
        let now = Instant::now();
        let mut r = Reassembler::new(ReassemblyConfig::default());
        let f = frame(3 * MAX_FRAGMENT + 7, 1);
        let mut frags: Vec<_> = fragments(meta(5), &f).unwrap().collect();
        frags.reverse();
        let mut done = None;
        for (h, b) in &frags {
            assert!(done.is_none());
            done = r.push(now, 7, h, b);
        }
        let done = done.unwrap();
        assert_eq!(done.data, f);
        assert_eq!((done.source_id, done.header.frag_index), (7, 0));
        assert_eq!(r.buffered(), 0);
        // Late duplicates of a completed frame start nothing.
        for (h, b) in &frags {
            assert!(r.push(now, 7, h, b).is_none());
        }
        assert_eq!(r.in_flight(), 0);
        assert_eq!(r.stats().duplicates, 4);
    }

    #[test]
    fn in_flight_bound_and_timeout() {
        let t0 = Instant::now();
        let mut r = Reassembler::new(ReassemblyConfig::default());
        for n in 0..20u32 {
            let f = frame(2 * MAX_FRAGMENT, n as u8);
            let (h, b) = fragments(meta(n), &f).unwrap().next().unwrap();
            assert!(
                r.push(t0 + Duration::from_millis(n.into()), 1, &h, b)
                    .is_none()
            );
        }
        assert_eq!(r.in_flight(), 8);
        assert_eq!(r.stats().evicted, 12);
        assert_eq!(
            r.poll_timeout(),
            Some(t0 + Duration::from_millis(12) + Duration::from_secs(2))
        );
        r.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!((r.in_flight(), r.buffered()), (0, 0));
        assert_eq!(r.stats().timed_out, 8);
        assert_eq!(r.poll_timeout(), None);
    }

    #[test]
    fn inconsistent_fragments_and_budget() {
        let now = Instant::now();
        let mut r = Reassembler::new(ReassemblyConfig {
            max_buffered: 2 * MAX_FRAGMENT,
            ..ReassemblyConfig::default()
        });
        let f = frame(4 * MAX_FRAGMENT, 0);
        let frags: Vec<_> = fragments(meta(1), &f).unwrap().collect();
        assert!(r.push(now, 1, &frags[0].0, frags[0].1).is_none());
        let mut other = frags[1].0;
        other.frag_count = 5;
        assert!(r.push(now, 1, &other, frags[1].1).is_none());
        assert_eq!(r.stats().inconsistent, 1);
        assert!(r.push(now, 1, &frags[1].0, frags[1].1).is_none());
        assert!(r.push(now, 1, &frags[2].0, frags[2].1).is_none());
        assert_eq!(r.stats().over_budget, 1);
        assert!(r.buffered() <= 2 * MAX_FRAGMENT);
    }

    fn header() -> impl Strategy<Value = MediaHeader> {
        (0u8..5, any::<bool>(), 0u32..4, 1u16..6, 0u16..6).prop_map(|(s, k, n, c, i)| {
            let stream = Stream::from_byte(s).unwrap();
            MediaHeader {
                stream,
                keyframe: k && stream.is_video(),
                codec: false,
                audio_level: 127,
                frame_number: n,
                frag_index: i,
                frag_count: c,
            }
        })
    }

    proptest! {
        /// Arbitrary fragment sequences never panic, stay within bounds, and every frame
        /// that comes out is exactly as long as its fragments say.
        #[test]
        fn hostile_fragments_stay_bounded(
            input in proptest::collection::vec((1u32..4, header(), 0usize..=MAX_FRAGMENT, 0u64..3000), 0..200)
        ) {
            let t0 = Instant::now();
            let mut r = Reassembler::new(ReassemblyConfig {
                max_in_flight: 3,
                max_streams: 4,
                max_buffered: 5 * MAX_FRAGMENT,
                ..ReassemblyConfig::default()
            });
            let payload = vec![0xab; MAX_FRAGMENT];
            let mut now = t0;
            for (source, h, len, dt) in input {
                now += Duration::from_millis(dt / 10);
                if let Some(done) = r.push(now, source, &h, &payload[..len]) {
                    prop_assert!(!done.data.is_empty());
                    prop_assert!(done.data.len() <= usize::from(h.frag_count) * MAX_FRAGMENT);
                    r.recycle(done.data);
                }
                if dt > 2900 {
                    r.handle_timeout(now);
                }
                prop_assert!(r.buffered() <= 5 * MAX_FRAGMENT);
                prop_assert!(r.in_flight() <= 3 * 4);
            }
        }

        /// Any delivery order of a frame's fragments (with duplicates) rebuilds it.
        #[test]
        fn any_order_rebuilds(len in 1usize..(6 * MAX_FRAGMENT), order in proptest::collection::vec(0usize..6, 0..30)) {
            let now = Instant::now();
            let mut r = Reassembler::new(ReassemblyConfig::default());
            let f = frame(len, 3);
            let frags: Vec<_> = fragments(meta(2), &f).unwrap().collect();
            let mut out = None;
            for i in order.into_iter().chain(0..frags.len()) {
                if let Some((h, b)) = frags.get(i % frags.len())
                    && let Some(done) = r.push(now, 1, h, b)
                {
                    prop_assert!(out.is_none());
                    out = Some(done.data);
                }
            }
            prop_assert_eq!(out, Some(f));
        }
    }
}
