//! [`MediaPipeline`]: a [`MediaSession`] with the media around it, still sans IO.
//!
//! - **Send**: the sources' due frames get the §12.1 plaintext header (stream, flags,
//!   sequence, send time), are sealed with our current-epoch SFrame key through the crypto
//!   provider ([`MeetingCrypto::seal_batch`], one provider call when several frames are due),
//!   and are fragmented into MEDIA datagrams.
//! - **Receive**: reassembled frames are opened in place ([`MeetingCrypto::open_in_place`]);
//!   a frame that fails (unknown KID, replay, authentication, a malformed plaintext, clear
//!   and encrypted headers that differ) is dropped and counted by reason, never delivered.
//!   Data frames go to a [`FileAssembler`] per sender.
//! - **Epochs**: [`MediaPipeline::install_epoch`] stages a new epoch (receive at once, send
//!   after the overlap, PROTOCOL §12.3); when sending switches, every video source starts
//!   with a keyframe.
//! - **Frames ahead of their keys**: a frame whose clear KID names an epoch newer than every
//!   installed one (a sender switched before our rekey container arrived) is held, still
//!   sealed and bounded ([`HOLD_MAX_AGE`], [`HOLD_MAX_PER_SENDER`], [`HOLD_MAX_FRAMES`],
//!   [`HOLD_MAX_BYTES`]), and opened through the normal path when that epoch is installed;
//!   frames still held when their time runs out are dropped as `key_pending_expired`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use conclave_wire::media::{Layer, Stream, codec_clear_len};
use conclave_wire::sframe::{MediaKid, SframeHeader};

use crate::ClientError;
use crate::media::file::{FileAssembler, ReceivedFile};
use crate::media::frame::{FRAME_HEADER_LEN, FrameHeader};
use crate::media::reassembly::CompleteFrame;
use crate::media::session::{
    MediaSession, MediaTicket, SessionConfig, SessionEnd, SessionEvent, Transmit,
};
use crate::media::source::{Source, SourceFrame};
use crate::media::stats::{LatencyWindow, MediaStats, ParticipantStats};
use crate::meeting::{EpochKeys, MeetingCrypto};
use crate::sframe::{FrameRef, SealedFrames};

/// Settings of a [`MediaPipeline`].
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub session: SessionConfig,
    /// The wall clock (µs since the Unix epoch) at the pipeline's creation; `None`: read
    /// the system clock. Send timestamps and latencies use it.
    pub wall_clock_us: Option<u64>,
    /// Largest file accepted from the data stream.
    pub max_file_size: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            session: SessionConfig::default(),
            wall_clock_us: None,
            max_file_size: 64 << 20,
        }
    }
}

/// A frame delivered to the application: decrypted, authenticated, parsed.
pub struct DeliveredFrame {
    pub source_id: u32,
    pub sender_index: u16,
    pub epoch: u64,
    pub stream: Stream,
    pub keyframe: bool,
    /// The sender's frame count on this stream.
    pub sequence: u64,
    pub send_time_us: u64,
    /// `now − send_time_us` (0 when the clocks disagree that way).
    pub latency_us: u64,
    /// A codec frame (PROTOCOL §13.1): no §12.1 header, so `sequence`, `send_time_us`
    /// and `latency_us` are 0.
    pub codec: bool,
    /// The plaintext; [`Self::data`] is the media after the 20-byte header (a codec
    /// frame's plaintext is the whole frame, its clear bytes included).
    plaintext: Vec<u8>,
}

impl fmt::Debug for DeliveredFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveredFrame")
            .field("source_id", &self.source_id)
            .field("sender_index", &self.sender_index)
            .field("epoch", &self.epoch)
            .field("stream", &self.stream)
            .field("keyframe", &self.keyframe)
            .field("sequence", &self.sequence)
            .field("len", &self.data().len())
            .finish()
    }
}

impl DeliveredFrame {
    /// The media bytes.
    pub fn data(&self) -> &[u8] {
        if self.codec {
            return &self.plaintext;
        }
        self.plaintext.get(FRAME_HEADER_LEN..).unwrap_or_default()
    }

    /// The buffer, to hand back with [`MediaPipeline::recycle`].
    pub fn into_buffer(self) -> Vec<u8> {
        self.plaintext
    }
}

/// What the application sees.
#[derive(Debug)]
pub enum MediaEvent {
    Joined {
        source_id: u32,
    },
    Frame(DeliveredFrame),
    /// A file from the data stream, complete and matching its SHA-256.
    FileReceived {
        sender_index: u16,
        source_id: u32,
        file: ReceivedFile,
    },
    ActiveSpeaker {
        source_id: u32,
        sender_index: Option<u16>,
    },
    SourceGone {
        source_id: u32,
        sender_index: Option<u16>,
    },
    /// Sending switched to a new epoch.
    EpochSwitched {
        epoch: u64,
    },
    /// The relay says we send in an old epoch.
    EpochBehind {
        meeting_epoch: u64,
    },
    Rtt(Duration),
    Ended(SessionEnd),
}

/// How long a frame of a future epoch waits for its keys (PROTOCOL §12.3).
pub const HOLD_MAX_AGE: Duration = Duration::from_secs(1);
/// Most frames of future epochs held per claimed sender (about a second of audio and one
/// video layer).
pub const HOLD_MAX_PER_SENDER: usize = 128;
/// Most frames of future epochs held in all.
pub const HOLD_MAX_FRAMES: usize = 2_048;
/// Most bytes of future-epoch frames held in all.
pub const HOLD_MAX_BYTES: usize = 8 << 20;
/// How far ahead of the latest installed epoch a frame may be and still be held: a rekey
/// moves one epoch at a time, so a frame further ahead has no keys coming soon.
pub const HOLD_MAX_EPOCHS_AHEAD: u64 = 2;

/// A frame of a future epoch waiting for its keys, still sealed.
struct HeldFrame {
    frame: CompleteFrame,
    kid: u64,
    sender: u16,
    arrived: Instant,
}

/// Why a received frame was dropped: the label it is counted under.
fn failure_reason(e: &ClientError) -> &'static str {
    match e {
        ClientError::UnknownKid(_) => "unknown_kid",
        ClientError::FrameReplay { .. } => "replay",
        ClientError::FrameAuthFailed => "auth_failed",
        ClientError::Wire(_) => "bad_sframe_header",
        _ => "other",
    }
}

/// See the module documentation.
pub struct MediaPipeline {
    session: MediaSession,
    crypto: MeetingCrypto,
    sources: Vec<Source>,
    base: Instant,
    wall_base_us: u64,
    sequences: [u64; Stream::COUNT],
    files: HashMap<u16, FileAssembler>,
    max_file_size: u64,
    participants: BTreeMap<u16, ParticipantStats>,
    latency: HashMap<u16, LatencyWindow>,
    source_index: HashMap<u32, u16>,
    dropped: BTreeMap<&'static str, u64>,
    not_sent: BTreeMap<&'static str, u64>,
    events: VecDeque<MediaEvent>,
    /// Frames of future epochs, in arrival order, with their total size.
    held: VecDeque<HeldFrame>,
    held_bytes: usize,
    /// The epoch this device joined the meeting in: frames of earlier epochs were never
    /// meant for it (a late joiner hears them until the others switch) and are dropped as
    /// `before_join`, not counted as anyone's decrypt failure.
    joined_epoch: u64,
    // Scratch buffers, reused.
    due: Vec<SourceFrame>,
    plaintexts: Vec<Vec<u8>>,
    /// `clear ‖ sealed` of the codec frame being sent.
    codec_wire: Vec<u8>,
    sealed: SealedFrames,
}

impl fmt::Debug for MediaPipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaPipeline")
            .field("session", &self.session)
            .field("epoch", &self.crypto.epoch())
            .finish_non_exhaustive()
    }
}

impl MediaPipeline {
    /// Starts joining at `now` with `crypto`'s keys and the given sources.
    pub fn new(
        now: Instant,
        ticket: MediaTicket,
        crypto: MeetingCrypto,
        sources: Vec<Source>,
        config: PipelineConfig,
    ) -> Self {
        let wall_base_us = config.wall_clock_us.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        });
        let own_index = crypto.own_index();
        let joined_epoch = crypto.epoch();
        let mut participants = BTreeMap::new();
        participants.insert(own_index, ParticipantStats::default());
        let mut p = MediaPipeline {
            session: MediaSession::new(now, ticket, config.session),
            crypto,
            sources,
            base: now,
            wall_base_us,
            sequences: [0; Stream::COUNT],
            files: HashMap::new(),
            max_file_size: config.max_file_size,
            participants,
            latency: HashMap::new(),
            source_index: HashMap::new(),
            dropped: BTreeMap::new(),
            not_sent: BTreeMap::new(),
            events: VecDeque::new(),
            held: VecDeque::new(),
            joined_epoch,
            held_bytes: 0,
            due: Vec::new(),
            plaintexts: Vec::new(),
            codec_wire: Vec::new(),
            sealed: SealedFrames::new(),
        };
        p.drain_session(now);
        p
    }

    fn now_ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    /// The wall clock at `now`, µs since the Unix epoch.
    pub fn wall_us(&self, now: Instant) -> u64 {
        let d =
            u64::try_from(now.saturating_duration_since(self.base).as_micros()).unwrap_or(u64::MAX);
        self.wall_base_us.saturating_add(d)
    }

    pub fn session(&self) -> &MediaSession {
        &self.session
    }

    pub fn session_mut(&mut self) -> &mut MediaSession {
        &mut self.session
    }

    pub fn crypto(&self) -> &MeetingCrypto {
        &self.crypto
    }

    pub fn add_source(&mut self, source: Source) {
        self.sources.push(source);
    }

    /// Stops every file carousel.
    pub fn stop_files(&mut self) {
        for s in &mut self.sources {
            if let Source::File(f) = s {
                f.stop();
            }
        }
    }

    /// Installs a new epoch: its receive keys now, sending after `overlap` (0: at once).
    pub fn install_epoch(
        &mut self,
        now: Instant,
        keys: EpochKeys,
        overlap: Duration,
    ) -> crate::Result<()> {
        let now_ms = self.now_ms(now);
        let overlap_ms = u64::try_from(overlap.as_millis()).unwrap_or(u64::MAX);
        self.crypto.install_staged(keys, now_ms, overlap_ms)?;
        self.expire_held(now);
        self.release_held(now);
        self.handle_timeout(now);
        Ok(())
    }

    /// Leaves the meeting (LEAVE until the relay's CLOSED).
    pub fn leave(&mut self, now: Instant) {
        self.session.leave(now);
    }

    pub fn set_layer_preference(&mut self, max_layer: Option<Layer>) {
        self.session.set_layer_preference(max_layer);
    }

    /// Gives a delivered frame's buffer back.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        self.session.recycle(buf);
    }

    /// A datagram from the network.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.session.handle_datagram(now, from, datagram);
        self.drain_session(now);
    }

    /// Timers: the epoch switch and grace periods, the sources, the session's timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.expire_held(now);
        if let Some(epoch) = self.crypto.poll(self.now_ms(now)) {
            for s in &mut self.sources {
                s.request_keyframe(Stream::Data);
            }
            self.events.push_back(MediaEvent::EpochSwitched { epoch });
        }
        self.run_sources(now);
        self.session.handle_timeout(now);
        self.drain_session(now);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.session.poll_transmit()
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let crypto = self
            .crypto
            .poll_timeout()
            .map(|ms| self.base + Duration::from_millis(ms));
        let sources = if self.session.is_ended() {
            None
        } else {
            self.sources.iter().filter_map(Source::next_due).min()
        };
        let held = self.held.front().map(|h| h.arrived + HOLD_MAX_AGE);
        [self.session.poll_timeout(), crypto, sources, held]
            .into_iter()
            .flatten()
            .min()
    }

    fn not_sent(&mut self, reason: &'static str, n: usize) {
        *self.not_sent.entry(reason).or_default() += n as u64;
    }

    /// Seals and sends a batch of frames (the sources' due frames, or the application's).
    pub fn send_frames(&mut self, now: Instant, frames: &[SourceFrame]) {
        if frames.is_empty() {
            return;
        }
        if !self.session.is_joined() {
            return self.not_sent("not_joined", frames.len());
        }
        if frames
            .iter()
            .any(|f| f.codec && f.data.len() <= codec_clear(f).len())
        {
            // Not a VP8/Opus frame (PROTOCOL §13.1 needs at least one byte after the clear ones).
            return self.not_sent("codec_frame_too_short", frames.len());
        }
        let wall = self.wall_us(now);
        while self.plaintexts.len() < frames.len() {
            self.plaintexts.push(Vec::new());
        }
        for (f, pt) in frames.iter().zip(self.plaintexts.iter_mut()) {
            if f.codec {
                // PROTOCOL §13.1: the clear bytes become metadata, the rest is sealed.
                let n = codec_clear_len(
                    f.stream == Stream::Audio,
                    f.data.first().copied().unwrap_or(0),
                );
                pt.clear();
                pt.extend_from_slice(f.data.get(n..).unwrap_or_default());
                continue;
            }
            let slot = f.stream.index();
            let sequence = self.sequences.get(slot).copied().unwrap_or(0);
            if let Some(s) = self.sequences.get_mut(slot) {
                *s += 1;
            }
            FrameHeader {
                stream: f.stream,
                keyframe: f.keyframe && f.stream.is_video(),
                sequence,
                send_time_us: wall,
            }
            .write_plaintext(&f.data, pt);
        }
        let refs: Vec<FrameRef<'_>> = self
            .plaintexts
            .iter()
            .take(frames.len())
            .zip(frames)
            .map(|(pt, f)| (codec_clear(f), pt.as_slice()))
            .collect();

        self.sealed.clear();
        if self.crypto.seal_batch(&refs, &mut self.sealed).is_err() {
            return self.not_sent("seal_failed", frames.len());
        }
        let epoch = self.crypto.epoch();
        let mut sent = 0u64;
        let mut failed = 0;
        for (f, sealed) in frames.iter().zip(self.sealed.iter()) {
            let r = if f.codec {
                self.codec_wire.clear();
                self.codec_wire.extend_from_slice(codec_clear(f));
                self.codec_wire.extend_from_slice(sealed);
                self.session
                    .send_codec_frame(f.stream, f.keyframe, f.audio_level, &self.codec_wire)
            } else {
                self.session
                    .send_frame(f.stream, f.keyframe, f.audio_level, sealed)
            };
            match r {
                Ok(_) => sent += 1,
                Err(_) => failed += 1,
            }
        }
        if failed > 0 {
            self.not_sent("send_failed", failed);
        }
        let own = self
            .participants
            .entry(self.crypto.own_index())
            .or_default();
        own.frames_sent += sent;
        own.last_epoch = Some(epoch);
        own.source_id = self.session.source_id();
    }

    fn run_sources(&mut self, now: Instant) {
        if self.session.is_ended() {
            return;
        }
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        for s in &mut self.sources {
            if s.next_due().is_some_and(|t| t <= now) {
                s.poll(now, &mut due);
            }
        }
        self.send_frames(now, &due);
        self.due = due;
    }

    fn drain_session(&mut self, now: Instant) {
        while let Some(ev) = self.session.poll_event() {
            match ev {
                SessionEvent::Joined { source_id, .. } => {
                    self.events.push_back(MediaEvent::Joined { source_id });
                    // Frames that were due while joining are not sent; start video afresh.
                    for s in &mut self.sources {
                        s.request_keyframe(Stream::Data);
                    }
                }
                SessionEvent::Frame(frame) => self.on_frame(now, frame),
                SessionEvent::KeyframeRequested(stream) => {
                    for s in &mut self.sources {
                        s.request_keyframe(stream);
                    }
                }
                SessionEvent::ActiveSpeaker(source_id) => {
                    self.events.push_back(MediaEvent::ActiveSpeaker {
                        source_id,
                        sender_index: self.source_index.get(&source_id).copied(),
                    });
                }
                SessionEvent::SourceGone(source_id) => {
                    let sender_index = self.source_index.remove(&source_id);
                    self.events.push_back(MediaEvent::SourceGone {
                        source_id,
                        sender_index,
                    });
                }
                SessionEvent::EpochBehind(meeting_epoch) => {
                    self.events
                        .push_back(MediaEvent::EpochBehind { meeting_epoch });
                }
                SessionEvent::Rtt(rtt) => self.events.push_back(MediaEvent::Rtt(rtt)),
                SessionEvent::Ended(end) => self.events.push_back(MediaEvent::Ended(end)),
            }
        }
    }

    fn fail(&mut self, claimed: Option<u16>, reason: &'static str) {
        *self.dropped.entry(reason).or_default() += 1;
        if let Some(p) = claimed.and_then(|i| self.participants.get_mut(&i)) {
            p.failures += 1;
            *p.failures_by_reason.entry(reason).or_default() += 1;
        }
    }

    fn on_frame(&mut self, now: Instant, frame: CompleteFrame) {
        // The clear KID names the claimed sender (counted as received; not yet trusted).
        let kid = frame
            .header
            .sframe_offset(&frame.data)
            .and_then(|at| SframeHeader::parse(frame.data.get(at..)?).ok())
            .map(|(h, _)| h.kid);
        if kid.is_some_and(|k| MediaKid::from_kid(k).epoch < self.joined_epoch) {
            *self.dropped.entry("before_join").or_default() += 1;
            return;
        }
        let claimed = kid.map(|k| MediaKid::from_kid(k).sender_index);
        if let Some(i) = claimed
            && (self.participants.contains_key(&i) || self.crypto.roster().get(i).is_some())
        {
            self.participants.entry(i).or_default().frames_received += 1;
        }
        if let Some(kid) = kid
            && self.awaits_keys(kid)
        {
            return self.hold(now, frame, kid);
        }
        self.open_frame(now, frame, claimed);
    }

    /// Whether a frame with this (clear, unauthenticated) KID may wait for its keys: it
    /// names another sender in an epoch newer than every installed one, but not far ahead.
    fn awaits_keys(&self, kid: u64) -> bool {
        let k = MediaKid::from_kid(kid);
        let latest = self.crypto.latest_epoch();
        k.epoch > latest
            && k.epoch - latest <= HOLD_MAX_EPOCHS_AHEAD
            && k.sender_index != self.crypto.own_index()
            && !self.crypto.can_open(kid)
    }

    /// Holds a frame of a future epoch, within the bounds; beyond them the newest frame is
    /// the one dropped (a sender's first frames in a new epoch start with its keyframe).
    fn hold(&mut self, now: Instant, frame: CompleteFrame, kid: u64) {
        let sender = MediaKid::from_kid(kid).sender_index;
        let len = frame.data.len();
        let of_sender = self.held.iter().filter(|h| h.sender == sender).count();
        if of_sender >= HOLD_MAX_PER_SENDER
            || self.held.len() >= HOLD_MAX_FRAMES
            || self.held_bytes.saturating_add(len) > HOLD_MAX_BYTES
        {
            self.fail(Some(sender), "key_pending_full");
            return self.session.recycle(frame.data);
        }
        self.held_bytes += len;
        self.held.push_back(HeldFrame {
            frame,
            kid,
            sender,
            arrived: now,
        });
    }

    /// Opens, in arrival order, the held frames that have keys now or no longer name a
    /// future epoch (those fail as usual).
    fn release_held(&mut self, now: Instant) {
        if self.held.is_empty() {
            return;
        }
        let held = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        for h in held {
            if self.awaits_keys(h.kid) {
                self.held_bytes += h.frame.data.len();
                self.held.push_back(h);
            } else {
                self.open_frame(now, h.frame, Some(h.sender));
            }
        }
    }

    /// Drops the held frames whose time to wait for keys has run out.
    fn expire_held(&mut self, now: Instant) {
        while let Some(h) = self.held.front()
            && now.saturating_duration_since(h.arrived) >= HOLD_MAX_AGE
        {
            let Some(h) = self.held.pop_front() else {
                break;
            };
            self.held_bytes -= h.frame.data.len();
            self.fail(Some(h.sender), "key_pending_expired");
            self.session.recycle(h.frame.data);
        }
    }

    /// Frames held waiting for the keys of a future epoch.
    pub fn held_frames(&self) -> usize {
        self.held.len()
    }

    /// Opens a frame through the normal path (replay window included) and delivers it.
    fn open_frame(&mut self, now: Instant, frame: CompleteFrame, claimed: Option<u16>) {
        let CompleteFrame {
            source_id,
            header,
            mut data,
            ..
        } = frame;
        if header.codec {
            return self.open_codec_frame(source_id, header.stream, data, claimed);
        }
        let info = match self.crypto.open_in_place(b"", &mut data) {
            Ok(info) => info,
            Err(e) => {
                self.fail(claimed, failure_reason(&e));
                return self.session.recycle(data);
            }
        };
        let (fh, media_len) = match FrameHeader::parse(&data) {
            Ok((fh, media)) => (fh, media.len()),
            Err(_) => {
                self.fail(Some(info.sender_index), "bad_plaintext");
                return self.session.recycle(data);
            }
        };
        if fh.stream != header.stream || fh.keyframe != header.keyframe {
            self.fail(Some(info.sender_index), "header_mismatch");
            return self.session.recycle(data);
        }
        let wall = self.wall_us(now);
        let latency_us = wall.saturating_sub(fh.send_time_us);
        self.session
            .record_timing(now, source_id, fh.stream, fh.send_time_us, wall);
        self.source_index.insert(source_id, info.sender_index);
        self.latency
            .entry(info.sender_index)
            .or_default()
            .record(latency_us);
        let p = self.participants.entry(info.sender_index).or_default();
        p.source_id = Some(source_id);
        p.frames_decrypted += 1;
        p.bytes_delivered += media_len as u64;
        p.last_epoch = Some(info.epoch);

        if fh.stream == Stream::Data {
            let max = self.max_file_size;
            let assembler = self
                .files
                .entry(info.sender_index)
                .or_insert_with(|| FileAssembler::new(max, 4));
            match assembler.push(data.get(FRAME_HEADER_LEN..).unwrap_or_default()) {
                Ok(Some(file)) => {
                    p.files_received += 1;
                    self.events.push_back(MediaEvent::FileReceived {
                        sender_index: info.sender_index,
                        source_id,
                        file,
                    });
                }
                Ok(None) => {}
                Err(_) => {
                    *self.dropped.entry("bad_file_chunk").or_default() += 1;
                }
            }
        }
        self.events.push_back(MediaEvent::Frame(DeliveredFrame {
            source_id,
            sender_index: info.sender_index,
            epoch: info.epoch,
            stream: fh.stream,
            keyframe: fh.keyframe,
            sequence: fh.sequence,
            send_time_us: fh.send_time_us,
            latency_us,
            codec: false,
            plaintext: data,
        }));
    }

    /// Opens a codec frame (PROTOCOL §13.1): `clear ‖ SFrame` with `clear` as metadata;
    /// delivers `clear ‖ plaintext`, the original VP8/Opus frame.
    fn open_codec_frame(
        &mut self,
        source_id: u32,
        stream: Stream,
        mut data: Vec<u8>,
        claimed: Option<u16>,
    ) {
        let n = codec_clear_len(stream == Stream::Audio, data.first().copied().unwrap_or(0));
        if data.len() <= n {
            self.fail(claimed, "frame_auth_failed");
            return self.session.recycle(data);
        }
        let clear: Vec<u8> = data.drain(..n).collect();
        let info = match self.crypto.open_in_place(&clear, &mut data) {
            Ok(info) => info,
            Err(e) => {
                self.fail(claimed, failure_reason(&e));
                return self.session.recycle(data);
            }
        };
        data.splice(0..0, clear);
        self.source_index.insert(source_id, info.sender_index);
        let p = self.participants.entry(info.sender_index).or_default();
        p.source_id = Some(source_id);
        p.frames_decrypted += 1;
        p.bytes_delivered += data.len() as u64;
        p.last_epoch = Some(info.epoch);
        self.events.push_back(MediaEvent::Frame(DeliveredFrame {
            source_id,
            sender_index: info.sender_index,
            epoch: info.epoch,
            stream,
            keyframe: stream.is_video() && data.first().is_some_and(|b| b & 1 == 0),
            sequence: 0,
            send_time_us: 0,
            latency_us: 0,
            codec: true,
            plaintext: data,
        }));
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MediaStats {
        let mut participants = self.participants.clone();
        for (i, p) in participants.iter_mut() {
            if let Some(w) = self.latency.get(i) {
                p.latency_p50_us = w.quantile(0.5);
                p.latency_p99_us = w.quantile(0.99);
            }
        }
        MediaStats {
            own_index: self.crypto.own_index(),
            source_id: self.session.source_id(),
            sending_epoch: self.crypto.epoch(),
            pending_epoch: self.crypto.pending_epoch(),
            participants,
            frames_dropped: self.dropped.clone(),
            frames_not_sent: self.not_sent.clone(),
            session: self.session.stats(),
        }
    }
}

/// The clear bytes of a codec frame (its metadata), empty for other frames.
fn codec_clear(f: &SourceFrame) -> &[u8] {
    if !f.codec {
        return b"";
    }
    let n = codec_clear_len(
        f.stream == Stream::Audio,
        f.data.first().copied().unwrap_or(0),
    );
    f.data.get(..n).unwrap_or(&f.data)
}
