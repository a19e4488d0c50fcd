//! What one participant measures while it runs: every frame it decrypts is counted against
//! the measured window (by the send timestamp inside the encrypted payload), per sender
//! and stream (sequence gaps → loss, RFC 3550 jitter), latency overall and per second,
//! join and first-frame times, and the gaps around rekeys.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use conclave_client::media::{DeliveredFrame, MediaStats};

use crate::stats::{Jitter, Latency, SequenceTracker};

/// Microseconds since the Unix epoch.
pub fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The measured period and the rekey windows, in Unix µs.
#[derive(Debug, Clone)]
pub struct Windows {
    /// Frames sent in `[start, end)` count.
    pub start_us: u64,
    pub end_us: u64,
    /// Around each scheduled leave: `[leave − 500 ms, leave + 3 s)`.
    pub rekeys: Vec<(u64, u64)>,
}

impl Windows {
    fn measured(&self, send_us: u64) -> bool {
        (self.start_us..self.end_us).contains(&send_us)
    }

    fn in_rekey(&self, t_us: u64) -> bool {
        self.rekeys.iter().any(|&(a, b)| (a..b).contains(&t_us))
    }

    /// The per-second row of a time, if inside the measured period.
    fn second(&self, t_us: u64) -> Option<usize> {
        (t_us >= self.start_us && t_us < self.end_us)
            .then(|| ((t_us - self.start_us) / 1_000_000) as usize)
    }

    pub fn seconds(&self) -> usize {
        (self.end_us.saturating_sub(self.start_us)).div_ceil(1_000_000) as usize
    }
}

/// The audio stream's wire byte.
const AUDIO: u8 = 0;

#[derive(Debug, Default)]
struct StreamRecord {
    seq: SequenceTracker,
    jitter: Jitter,
    last_arrival_us: Option<u64>,
    /// Longest gap between consecutive arrivals inside a rekey window.
    rekey_gap_us: u64,
}

/// Per-second figures of one participant (merged across participants later).
#[derive(Debug, Default, Clone)]
pub struct SecondRecord {
    pub frames: u64,
    pub bytes: u64,
    pub latency: Latency,
}

/// Everything one participant measured.
#[derive(Debug)]
pub struct Recorder {
    windows: Windows,
    started_us: u64,
    streams: HashMap<(u16, u8), StreamRecord>,
    /// The video layer (stream byte) last received from each sender.
    video_layer: HashMap<u16, u8>,
    pub latency: Latency,
    pub per_second: Vec<SecondRecord>,
    /// Start of the join (control plane) → JOIN_ACK.
    pub join: Option<Duration>,
    /// Start of the join → first decrypted frame.
    pub first_frame: Option<Duration>,
    /// Epoch → when its keys were installed here (Unix µs).
    rekeyed_at: HashMap<u64, u64>,
    /// (epoch, sender) pairs already seen after a rekey.
    seen_after_rekey: std::collections::HashSet<(u64, u16)>,
    /// Install of a new epoch → first frame of that epoch, per sender.
    pub first_after_rekey: Vec<Duration>,
    pub decrypt_failures: u64,
    /// Decrypt failures by reason (`unknown_kid`, `replay`, `auth_failed`, …).
    pub failures_by_reason: BTreeMap<String, u64>,
    /// Where else frames were lost on this client: datagrams its session dropped, frames
    /// its reassembly abandoned, media events the application did not read in time.
    pub client_drops: BTreeMap<String, u64>,
    pub frames_sent: u64,
}

impl Recorder {
    pub fn new(windows: Windows, started_us: u64) -> Self {
        let seconds = windows.seconds();
        Recorder {
            windows,
            started_us,
            streams: HashMap::new(),
            video_layer: HashMap::new(),
            latency: Latency::new(),
            per_second: vec![SecondRecord::default(); seconds],
            join: None,
            first_frame: None,
            rekeyed_at: HashMap::new(),
            seen_after_rekey: Default::default(),
            first_after_rekey: Vec::new(),
            decrypt_failures: 0,
            failures_by_reason: BTreeMap::new(),
            client_drops: BTreeMap::new(),
            frames_sent: 0,
        }
    }

    fn since_start(&self, now_us: u64) -> Duration {
        Duration::from_micros(now_us.saturating_sub(self.started_us))
    }

    pub fn joined(&mut self, now_us: u64) {
        if self.join.is_none() {
            self.join = Some(self.since_start(now_us));
        }
    }

    pub fn rekeyed(&mut self, epoch: u64, now_us: u64) {
        self.rekeyed_at.entry(epoch).or_insert(now_us);
    }

    pub fn frame(&mut self, f: &DeliveredFrame, now_us: u64) {
        if self.first_frame.is_none() {
            self.first_frame = Some(self.since_start(now_us));
        }
        if let Some(&at) = self.rekeyed_at.get(&f.epoch)
            && self.seen_after_rekey.insert((f.epoch, f.sender_index))
        {
            self.first_after_rekey
                .push(Duration::from_micros(now_us.saturating_sub(at)));
        }
        let stream = f.stream.to_byte();
        // The relay forwards one video layer per sender and switches at keyframes: frames of
        // a layer sent while another one was forwarded are not expected, so coming back to a
        // layer starts a new loss segment.
        let switched = f.stream.is_video()
            && self
                .video_layer
                .insert(f.sender_index, stream)
                .is_some_and(|last| last != stream);
        let s = self.streams.entry((f.sender_index, stream)).or_default();
        if switched {
            s.seq.restart();
        }
        if let Some(last) = s.last_arrival_us
            && self.windows.in_rekey(now_us)
        {
            s.rekey_gap_us = s.rekey_gap_us.max(now_us.saturating_sub(last));
        }
        s.last_arrival_us = Some(now_us);
        if !self.windows.measured(f.send_time_us) {
            return;
        }
        s.seq.record(f.sequence);
        s.jitter.record(f.send_time_us, now_us);
        self.latency.record_us(f.latency_us);
        if let Some(row) = self
            .windows
            .second(now_us)
            .and_then(|i| self.per_second.get_mut(i))
        {
            row.frames += 1;
            row.bytes += f.data().len() as u64;
            row.latency.record_us(f.latency_us);
        }
    }

    /// Takes the final counters of this participant's media client.
    pub fn final_stats(&mut self, stats: &MediaStats, events_dropped: u64) {
        self.decrypt_failures = stats.participants.values().map(|p| p.failures).sum();
        for p in stats.participants.values() {
            for (&reason, &n) in &p.failures_by_reason {
                *self.failures_by_reason.entry(reason.into()).or_default() += n;
            }
        }
        let drops = &mut self.client_drops;
        for (&reason, &n) in &stats.session.dropped {
            *drops.entry(format!("datagram_{reason}")).or_default() += n;
        }
        let r = &stats.session.reassembly;
        for (what, n) in [
            ("frame_timed_out", r.timed_out),
            ("frame_evicted", r.evicted),
            ("fragment_over_budget", r.over_budget),
            ("event_not_read", events_dropped),
        ] {
            if n > 0 {
                *drops.entry(what.into()).or_default() += n;
            }
        }
    }

    /// Frames expected and delivered in the measured period (from sequence numbers).
    pub fn expected_delivered(&self) -> (u64, u64) {
        self.streams.values().fold((0, 0), |(e, d), s| {
            (e + s.seq.expected(), d + s.seq.received())
        })
    }

    /// Mean RFC 3550 jitter over this participant's streams, ms.
    pub fn mean_jitter_ms(&self) -> Option<f64> {
        let js: Vec<f64> = self
            .streams
            .values()
            .filter(|s| s.seq.received() > 1)
            .map(|s| s.jitter.jitter_ms())
            .collect();
        (!js.is_empty()).then(|| js.iter().sum::<f64>() / js.len() as f64)
    }

    /// Longest gap between audio frames of one sender inside a rekey window, minus the
    /// 20 ms frame interval. (Audio flows without pause; video gaps also come from layer
    /// switches, so they are not counted.)
    pub fn rekey_glitch(&self) -> Option<Duration> {
        self.streams
            .iter()
            .filter(|((_, stream), s)| *stream == AUDIO && s.rekey_gap_us > 0)
            .map(|(_, s)| Duration::from_micros(s.rekey_gap_us.saturating_sub(20_000)))
            .max()
    }
}
