//! [`MediaSession`]: the client side of the native datagram transport (PROTOCOL §11), sans
//! IO in the shape of quinn-proto and str0m: datagrams and the time go in
//! ([`MediaSession::handle_datagram`], [`MediaSession::handle_timeout`]), datagrams, events
//! and the next deadline come out ([`MediaSession::poll_transmit`],
//! [`MediaSession::poll_event`], [`MediaSession::poll_timeout`]).
//!
//! It joins with a ticket (JOIN every 250 ms until JOIN_ACK or JOIN_REJECT), tags every
//! datagram it sends, verifies the tag, connection id and packet number (replay window of
//! 1024) of every tagged datagram it receives, keeps the session alive (PING/PONG, with the
//! round-trip time), fragments the sealed frames it is given into MEDIA datagrams,
//! reassembles MEDIA_FWD into sealed frames, sends receiver reports and keyframe requests,
//! and reports the relay's control messages as events. It never sees a media key: frames go
//! in sealed and come out sealed.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use conclave_wire::media::{
    self, Body, CloseReason, DatagramError, DatagramType, Direction, Join, Layer, MAX_DATAGRAM,
    MediaHeader, RejectReason, ReplayWindow, Stream,
};
use thiserror::Error;

use crate::media::feedback::{Feedback, Gap};
use crate::media::packetize::{FrameMeta, PacketizeError, fragments};
use crate::media::reassembly::{CompleteFrame, Reassembler, ReassemblyConfig, ReassemblyStats};
use crate::media::tag::TagKey;

/// What a client needs to join the media plane: the fields of the control plane's join
/// ticket (`POST /v1/meetings/{id}/join`, PROTOCOL §11.1), decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaTicket {
    /// The UDP address of the worker serving the meeting.
    pub address: SocketAddr,
    pub worker: u8,
    pub session_id: [u8; 16],
    /// The 32-byte session key (secret).
    pub session_key: [u8; 32],
    pub expires_ms: u64,
    pub meeting_id: [u8; 32],
    pub device_id: [u8; 16],
}

impl fmt::Debug for MediaTicket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaTicket")
            .field("address", &self.address)
            .field("worker", &self.worker)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

impl MediaTicket {
    fn join(&self) -> Join {
        Join {
            meeting_id: self.meeting_id,
            device_id: self.device_id,
            session_id: self.session_id,
            expires_ms: self.expires_ms,
            worker: self.worker,
        }
    }
}

/// Timers and limits of a [`MediaSession`].
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// JOIN is re-sent this often until answered.
    pub join_retransmit: Duration,
    /// Give up joining after this long.
    pub join_timeout: Duration,
    /// A receiver report this often while media arrives.
    pub report_interval: Duration,
    /// At most one keyframe request per (publisher, stream) this often.
    pub keyframe_request_interval: Duration,
    /// LEAVE is re-sent this often until CLOSED, at most 3 times.
    pub leave_retransmit: Duration,
    pub reassembly: ReassemblyConfig,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            join_retransmit: Duration::from_millis(250),
            join_timeout: Duration::from_secs(10),
            report_interval: Duration::from_secs(1),
            keyframe_request_interval: Duration::from_millis(500),
            leave_retransmit: Duration::from_millis(250),
            reassembly: ReassemblyConfig::default(),
        }
    }
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub destination: SocketAddr,
    pub contents: Vec<u8>,
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// The relay refused the ticket.
    Rejected(RejectReason),
    /// The relay closed the session (after our LEAVE: `Left`).
    Closed(CloseReason),
    /// No JOIN_ACK in time.
    JoinTimedOut,
    /// Nothing heard from the relay for its timeout.
    RelayTimedOut,
    /// We left and the relay did not confirm.
    LeftUnconfirmed,
}

/// What happened, in order.
#[derive(Debug)]
pub enum SessionEvent {
    Joined {
        source_id: u32,
        keepalive: Duration,
        timeout: Duration,
    },
    /// A complete (still sealed) frame of another participant.
    Frame(CompleteFrame),
    /// The relay asks us for a keyframe of one of our streams.
    KeyframeRequested(Stream),
    ActiveSpeaker(u32),
    SourceGone(u32),
    /// We still send in an epoch older than the meeting's.
    EpochBehind(u64),
    Rtt(Duration),
    Ended(SessionEnd),
}

/// Why a frame could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SendError {
    #[error("the session is not joined")]
    NotJoined,
    #[error("the data stream carries no codec frames")]
    NotCodec,
    #[error(transparent)]
    Packetize(#[from] PacketizeError),
    #[error(transparent)]
    Encode(#[from] DatagramError),
}

/// Counters of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub datagrams_sent: u64,
    pub bytes_sent: u64,
    pub datagrams_received: u64,
    pub bytes_received: u64,
    /// Datagrams dropped, by reason (wire parse reasons, `bad_tag`, `replay`,
    /// `wrong_conn_id`, `foreign_address`, `not_joined`, `own_source`, …).
    pub dropped: BTreeMap<&'static str, u64>,
    pub frames_sent: u64,
    pub frames_received: u64,
    pub keyframe_requests_sent: u64,
    pub keyframe_requests_received: u64,
    pub reports_sent: u64,
    pub rtt: Option<Duration>,
    pub reassembly: ReassemblyStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Joining { started: Instant, next: Instant },
    Joined,
    Leaving { next: Instant, tries: u8 },
    Ended,
}

#[derive(Debug, Clone, Copy)]
struct Joined {
    conn_id: u32,
    source_id: u32,
    keepalive: Duration,
    timeout: Duration,
}

/// The client side of one media session. See the module documentation.
pub struct MediaSession {
    config: SessionConfig,
    ticket: MediaTicket,
    key: TagKey,
    state: State,
    joined: Option<Joined>,
    /// Our packet number (JOIN included).
    pn: u64,
    replay: ReplayWindow,
    /// Per stream, the next frame number.
    frame_numbers: [u32; Stream::COUNT],
    reassembler: Reassembler,
    feedback: Feedback,
    /// The time base of PING timestamps.
    epoch: Instant,
    last_heard: Option<Instant>,
    next_ping: Option<Instant>,
    next_report: Option<Instant>,
    keyframe_asked: HashMap<(u32, Stream), Instant>,
    /// The layer preference set by the application, sent once joined.
    layer_preference: Option<Option<Layer>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<SessionEvent>,
    pool: Vec<Vec<u8>>,
    stats: SessionStats,
}

impl fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaSession")
            .field("state", &self.state)
            .field("source_id", &self.source_id())
            .finish_non_exhaustive()
    }
}

const POOL_MAX: usize = 256;

impl MediaSession {
    /// A session that starts joining at `now` (the first JOIN is ready at once).
    pub fn new(now: Instant, ticket: MediaTicket, config: SessionConfig) -> Self {
        let mut s = MediaSession {
            key: TagKey::new(&ticket.session_key),
            reassembler: Reassembler::new(config.reassembly.clone()),
            config,
            ticket,
            state: State::Joining {
                started: now,
                next: now,
            },
            joined: None,
            pn: 0,
            replay: ReplayWindow::new(),
            frame_numbers: [0; Stream::COUNT],
            feedback: Feedback::default(),
            epoch: now,
            last_heard: None,
            next_ping: None,
            next_report: None,
            keyframe_asked: HashMap::new(),
            layer_preference: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            pool: Vec::new(),
            stats: SessionStats::default(),
        };
        s.handle_timeout(now);
        s
    }

    /// Our source id in the meeting, once joined.
    pub fn source_id(&self) -> Option<u32> {
        self.joined.map(|j| j.source_id)
    }

    pub fn is_joined(&self) -> bool {
        self.state == State::Joined
    }

    pub fn is_ended(&self) -> bool {
        self.state == State::Ended
    }

    pub fn relay(&self) -> SocketAddr {
        self.ticket.address
    }

    pub fn stats(&self) -> SessionStats {
        let mut s = self.stats.clone();
        s.reassembly = self.reassembler.stats();
        s
    }

    /// What we measured of a publisher's stream.
    pub fn reception(
        &self,
        source_id: u32,
        stream: Stream,
    ) -> Option<&crate::media::feedback::StreamReception> {
        self.feedback.get(source_id, stream)
    }

    fn drop_reason(&mut self, reason: &'static str) {
        *self.stats.dropped.entry(reason).or_default() += 1;
    }

    /// Gives a frame's or a datagram's buffer back for reuse.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() >= MAX_DATAGRAM && buf.capacity() <= 2 * MAX_DATAGRAM {
            if self.pool.len() < POOL_MAX {
                buf.clear();
                self.pool.push(buf);
            }
        } else {
            self.reassembler.recycle(buf);
        }
    }

    /// Encodes and queues one tagged datagram.
    fn send(&mut self, body: &Body<'_>) -> Result<(), DatagramError> {
        let conn_id = match body {
            Body::Join(_) => 0,
            _ => self.joined.map_or(0, |j| j.conn_id),
        };
        let mut buf = self.pool.pop().unwrap_or_default();
        buf.resize(MAX_DATAGRAM, 0);
        let key = &self.key;
        let len = media::encode_tagged(&mut buf, conn_id, self.pn, body, |a| key.tag(a))?;
        buf.truncate(len);
        self.pn += 1;
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += len as u64;
        self.transmits.push_back(Transmit {
            destination: self.ticket.address,
            contents: buf,
        });
        Ok(())
    }

    fn end(&mut self, why: SessionEnd) {
        if self.state != State::Ended {
            self.state = State::Ended;
            self.events.push_back(SessionEvent::Ended(why));
        }
    }

    /// Sends one sealed frame on `stream` as MEDIA datagrams; returns its frame number.
    pub fn send_frame(
        &mut self,
        stream: Stream,
        keyframe: bool,
        audio_level: u8,
        sealed: &[u8],
    ) -> Result<u32, SendError> {
        self.send_any_frame(stream, keyframe, false, audio_level, sealed)
    }

    /// Sends a sealed codec frame (PROTOCOL §13.1: `clear ‖ SFrame`, Opus on the audio
    /// stream, VP8 on video), marked with the media header's codec flag.
    pub fn send_codec_frame(
        &mut self,
        stream: Stream,
        keyframe: bool,
        audio_level: u8,
        frame: &[u8],
    ) -> Result<u32, SendError> {
        if stream == Stream::Data {
            return Err(SendError::NotCodec);
        }
        self.send_any_frame(stream, keyframe, true, audio_level, frame)
    }

    fn send_any_frame(
        &mut self,
        stream: Stream,
        keyframe: bool,
        codec: bool,
        audio_level: u8,
        sealed: &[u8],
    ) -> Result<u32, SendError> {
        if self.state != State::Joined {
            return Err(SendError::NotJoined);
        }
        let slot = stream.index();
        let frame_number = self.frame_numbers.get(slot).copied().unwrap_or(0);
        let meta = FrameMeta {
            stream,
            keyframe: keyframe && stream.is_video(),
            codec,
            audio_level: if stream == Stream::Audio {
                audio_level.min(media::SILENT_LEVEL)
            } else {
                media::SILENT_LEVEL
            },
            frame_number,
        };
        for (header, fragment) in fragments(meta, sealed)? {
            self.send(&Body::Media { header, fragment })?;
        }
        if let Some(n) = self.frame_numbers.get_mut(slot) {
            *n = frame_number.wrapping_add(1);
        }
        self.stats.frames_sent += 1;
        Ok(frame_number)
    }

    /// Asks the relay for a keyframe of a publisher's stream (throttled per stream).
    pub fn request_keyframe(&mut self, now: Instant, source_id: u32, stream: Stream) {
        if self.state != State::Joined || source_id == 0 || !stream.is_video() {
            return;
        }
        let key = (source_id, stream);
        if let Some(&t) = self.keyframe_asked.get(&key)
            && now.saturating_duration_since(t) < self.config.keyframe_request_interval
        {
            return;
        }
        self.keyframe_asked.insert(key, now);
        if self
            .send(&Body::KeyframeRequest { source_id, stream })
            .is_ok()
        {
            self.stats.keyframe_requests_sent += 1;
        }
    }

    /// The highest video layer we want (`None`: no video). Before the join completes it is
    /// sent right after.
    pub fn set_layer_preference(&mut self, max_layer: Option<Layer>) {
        self.layer_preference = Some(max_layer);
        if self.state == State::Joined {
            let _ = self.send(&Body::LayerPreference { max_layer });
        }
    }

    /// Records the send time of a frame that decrypted (from inside the encryption), for
    /// the jitter of receiver reports.
    pub fn record_timing(
        &mut self,
        now: Instant,
        source_id: u32,
        stream: Stream,
        send_time_us: u64,
        wall_now_us: u64,
    ) {
        let _ = now;
        self.feedback
            .stream(source_id, stream)
            .on_timing(send_time_us, wall_now_us);
    }

    /// Leaves the meeting: LEAVE (re-sent up to 3 times) until the relay's CLOSED.
    pub fn leave(&mut self, now: Instant) {
        match self.state {
            State::Joined => {
                let _ = self.send(&Body::Leave);
                self.state = State::Leaving {
                    next: now + self.config.leave_retransmit,
                    tries: 1,
                };
            }
            State::Joining { .. } => self.end(SessionEnd::Closed(CloseReason::Left)),
            State::Leaving { .. } | State::Ended => {}
        }
    }

    /// One datagram from `from`. Anything invalid is dropped and counted.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += datagram.len() as u64;
        if from != self.ticket.address {
            return self.drop_reason("foreign_address");
        }
        if self.state == State::Ended {
            return self.drop_reason("ended");
        }
        let d = match media::parse(datagram, Direction::ToClient) {
            Ok(d) => d,
            Err(e) => return self.drop_reason(e.reason()),
        };
        if let Body::MediaFwd { header, fragment } = d.body {
            return self.on_media(now, d.prefix.conn_id, &header, fragment);
        }
        let Some(tag) = d.tag else {
            return self.drop_reason("untagged");
        };
        let joining = matches!(self.state, State::Joining { .. });
        let pre_join = matches!(
            d.prefix.ty,
            DatagramType::JoinAck | DatagramType::JoinReject
        );
        match self.joined {
            Some(j) if j.conn_id != d.prefix.conn_id => return self.drop_reason("wrong_conn_id"),
            None if !(joining && pre_join) => return self.drop_reason("not_joined"),
            _ => {}
        }
        if !self.replay.check(d.prefix.pn) {
            return self.drop_reason("replay");
        }
        if !self.key.verify(d.authenticated, tag) {
            return self.drop_reason("bad_tag");
        }
        self.replay.update(d.prefix.pn);
        self.last_heard = Some(now);
        match d.body {
            Body::JoinAck(ack) => {
                if !joining {
                    // A re-sent JOIN_ACK after we joined: nothing to do.
                    return;
                }
                let keepalive = Duration::from_millis(u64::from(ack.keepalive_ms).max(100));
                let timeout = Duration::from_millis(u64::from(ack.timeout_ms).max(1000));
                self.joined = Some(Joined {
                    conn_id: d.prefix.conn_id,
                    source_id: ack.source_id,
                    keepalive,
                    timeout,
                });
                self.state = State::Joined;
                self.next_ping = Some(now + keepalive);
                self.next_report = Some(now + self.config.report_interval);
                self.events.push_back(SessionEvent::Joined {
                    source_id: ack.source_id,
                    keepalive,
                    timeout,
                });
                if let Some(max_layer) = self.layer_preference {
                    let _ = self.send(&Body::LayerPreference { max_layer });
                }
            }
            Body::JoinReject(reason) => {
                if joining {
                    self.end(SessionEnd::Rejected(reason));
                }
            }
            Body::KeyframeRequest { source_id, stream } => {
                if Some(source_id) == self.source_id() {
                    self.stats.keyframe_requests_received += 1;
                    self.events
                        .push_back(SessionEvent::KeyframeRequested(stream));
                } else {
                    self.drop_reason("not_our_source");
                }
            }
            Body::ActiveSpeaker { source_id } => {
                self.events
                    .push_back(SessionEvent::ActiveSpeaker(source_id));
            }
            Body::SourceGone { source_id } => {
                self.reassembler.forget_source(source_id);
                self.feedback.forget_source(source_id);
                self.keyframe_asked.retain(|(s, _), _| *s != source_id);
                self.events.push_back(SessionEvent::SourceGone(source_id));
            }
            Body::EpochBehind { meeting_epoch } => {
                self.events
                    .push_back(SessionEvent::EpochBehind(meeting_epoch));
            }
            Body::Pong { timestamp_us } => {
                let sent = self.epoch + Duration::from_micros(timestamp_us);
                if sent <= now {
                    let rtt = now - sent;
                    self.stats.rtt = Some(rtt);
                    self.events.push_back(SessionEvent::Rtt(rtt));
                }
            }
            Body::Closed(reason) => self.end(SessionEnd::Closed(reason)),
            // The parser refuses every other type in this direction.
            _ => self.drop_reason("wrong_direction"),
        }
    }

    fn on_media(&mut self, now: Instant, source_id: u32, header: &MediaHeader, fragment: &[u8]) {
        let Some(j) = self.joined.filter(|_| self.state == State::Joined) else {
            return self.drop_reason("not_joined");
        };
        if source_id == j.source_id {
            return self.drop_reason("own_source");
        }
        self.feedback.on_bytes(
            now,
            fragment.len() + media::MEDIA_HEADER_LEN + media::PREFIX_LEN,
        );
        let Some(frame) = self.reassembler.push(now, source_id, header, fragment) else {
            return;
        };
        self.stats.frames_received += 1;
        let gap = self
            .feedback
            .stream(source_id, frame.header.stream)
            .on_frame(frame.header.frame_number);
        if gap == Gap::Lost && frame.header.stream.is_video() && !frame.header.keyframe {
            self.request_keyframe(now, source_id, frame.header.stream);
        }
        self.events.push_back(SessionEvent::Frame(frame));
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Joining { started, next } => {
                if now.saturating_duration_since(started) >= self.config.join_timeout {
                    return self.end(SessionEnd::JoinTimedOut);
                }
                if next <= now {
                    let join = self.ticket.join();
                    if self.send(&Body::Join(join)).is_err() {
                        return self.end(SessionEnd::JoinTimedOut);
                    }
                    self.state = State::Joining {
                        started,
                        next: now + self.config.join_retransmit,
                    };
                }
            }
            State::Joined => {
                let Some(j) = self.joined else { return };
                if self
                    .last_heard
                    .is_some_and(|t| now.saturating_duration_since(t) >= j.timeout)
                {
                    return self.end(SessionEnd::RelayTimedOut);
                }
                if self.next_ping.is_some_and(|t| t <= now) {
                    let timestamp_us =
                        u64::try_from(now.saturating_duration_since(self.epoch).as_micros())
                            .unwrap_or(u64::MAX);
                    let _ = self.send(&Body::Ping { timestamp_us });
                    self.next_ping = Some(now + j.keepalive);
                }
                if self.next_report.is_some_and(|t| t <= now) {
                    self.next_report = Some(now + self.config.report_interval);
                    if let Some(report) = self.feedback.report(now)
                        && self.send(&Body::ReceiverReport(report)).is_ok()
                    {
                        self.stats.reports_sent += 1;
                    }
                }
                self.reassembler.handle_timeout(now);
            }
            State::Leaving { next, tries } => {
                if next <= now {
                    if tries >= 3 {
                        return self.end(SessionEnd::LeftUnconfirmed);
                    }
                    let _ = self.send(&Body::Leave);
                    self.state = State::Leaving {
                        next: now + self.config.leave_retransmit,
                        tries: tries + 1,
                    };
                }
            }
            State::Ended => {}
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Joining { started, next } => Some(next.min(started + self.config.join_timeout)),
            State::Joined => {
                let relay_timeout = self.joined.zip(self.last_heard).map(|(j, t)| t + j.timeout);
                [
                    self.next_ping,
                    self.next_report,
                    relay_timeout,
                    self.reassembler.poll_timeout(),
                ]
                .into_iter()
                .flatten()
                .min()
            }
            State::Leaving { next, .. } => Some(next),
            State::Ended => None,
        }
    }
}
