//! WebRTC participants (docs/PROTOCOL.md §13) on str0m: what a browser does, without a
//! browser. A participant joins with the SDK's join ticket, posts its SDP offer with the
//! `Ticket` credential, completes ICE (as the controlling, full agent) and DTLS-SRTP with
//! the ICE-lite relay, answers the relay's renegotiation offers on the `conclave` data
//! channel, sends VP8- and Opus-shaped codec frames (§13.1) sealed with the meeting keys,
//! and opens and counts every frame it receives, per sender. A publisher may send video as
//! three simulcast layers (`l0`, `l1`, `l2`), and a subscriber may ask the relay for a
//! highest layer (`layer`, §13.4); every video frame's first byte after its clear bytes
//! names its layer, so a subscriber counts which layers reach it.
//!
//! The same synthetic frames ([`SyntheticMedia`]) feed a native publisher
//! ([`native_source`]), so that both transports carry identical frames in a comparison.

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use conclave_client::api::Session;
use conclave_client::media::codec_file::Vp8Frames;
use conclave_client::media::{CodecFileSource, Source};
use conclave_client::meeting::{EpochKeys, MeetingCrypto};
use conclave_client::sframe::CipherSuite;
use conclave_client::sframe::codec::{open_codec_frame, seal_codec_frame};
use hmac::{KeyInit, Mac};
use serde::Serialize;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::channel::ChannelId;
use str0m::media::{
    Direction, Frequency, MediaKind, MediaTime, Mid, Rid, Simulcast, SimulcastLayer,
};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

/// The label of the offer proof (§13.2).
const OFFER_LABEL: &[u8] = b"conclave-v1 webrtc-offer";
/// Video frames per second and the key frame period, in frames.
pub const VIDEO_FPS: u32 = 30;
pub const KEYFRAME_EVERY: usize = 30;
/// Opus frames per second (20 ms).
pub const AUDIO_FPS: u32 = 50;
/// The simulcast layers a publisher sends, lowest first (docs/PROTOCOL.md §13.3).
pub const LAYERS: [&str; 3] = ["l0", "l1", "l2"];
/// The longest a participant waits for ICE and DTLS.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Installs str0m's crypto backend once per process (a second call is harmless).
pub fn install_crypto() {
    str0m::crypto::from_feature_flags().install_process_default();
}

/// A small deterministic generator (xorshift64*): frames need bytes, not randomness.
#[derive(Debug, Clone)]
struct Prng(u64);

impl Prng {
    fn new(seed: u64) -> Self {
        Prng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi.saturating_sub(lo) as u64 + 1)) as usize
    }
}

/// VP8- and Opus-shaped frames: one second of video (a key frame first, then deltas) and
/// one second of audio, played in a loop.
#[derive(Debug, Clone)]
pub struct SyntheticMedia {
    pub video: Vec<Vec<u8>>,
    pub audio: Vec<Vec<u8>>,
}

impl SyntheticMedia {
    /// Video at `video_kbps` (a key frame is 6 mean delta frames, as the native synthetic
    /// source makes them), Opus-sized audio (a TOC byte and ~80 bytes).
    pub fn new(seed: u64, video_kbps: u32) -> Self {
        let mut rng = Prng::new(seed);
        // Mean frame size such that a second (1 key + 29 deltas) has the bitrate.
        let per_second = video_kbps as usize * 1000 / 8;
        let delta_mean = (per_second / (KEYFRAME_EVERY + 5)).max(16);
        let video = (0..KEYFRAME_EVERY)
            .map(|i| {
                if i == 0 {
                    let mut f = vec![0u8; (delta_mean * 6).max(16)];
                    rng.fill(&mut f);
                    // Frame tag with bit 0 clear (key frame), start code, 640×360.
                    f[0] &= !1;
                    f[3..10].copy_from_slice(&[0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68, 0x01]);
                    let mark = layer_mark(&f);
                    f[mark] = 0;
                    f
                } else {
                    let n = rng.range(delta_mean * 4 / 5, delta_mean * 6 / 5).max(8);
                    let mut f = vec![0u8; n];
                    rng.fill(&mut f);
                    f[0] |= 1;
                    let mark = layer_mark(&f);
                    f[mark] = 0;
                    f
                }
            })
            .collect();
        let audio = (0..AUDIO_FPS)
            .map(|_| {
                let mut f = vec![0u8; 1 + rng.range(72, 88)];
                rng.fill(&mut f);
                // TOC: config 15 (hybrid, fullband, 20 ms), mono, one frame.
                f[0] = 0x78;
                f
            })
            .collect();
        SyntheticMedia { video, audio }
    }

    /// `frame` (one of [`Self::video`], which name layer 0: a single stream is the relay's
    /// L0) as simulcast layer `layer`: a quarter of its size for layer 0, half for layer 1,
    /// all of it for layer 2, marked with the layer.
    pub fn for_layer(frame: &[u8], layer: u8) -> Vec<u8> {
        let mark = layer_mark(frame);
        let len = match layer {
            0 => frame.len() / 4,
            1 => frame.len() / 2,
            _ => frame.len(),
        };
        let mut f = frame.get(..len.max(mark + 8)).unwrap_or(frame).to_vec();
        if let Some(b) = f.get_mut(mark) {
            *b = layer;
        }
        f
    }
}

/// Where a synthetic video frame names its simulcast layer: the first byte after its clear
/// bytes (§13.1), which travels encrypted.
fn layer_mark(frame: &[u8]) -> usize {
    conclave_wire::media::codec_clear_len(false, frame.first().copied().unwrap_or(1))
}

/// The layer a decrypted synthetic video frame names.
pub fn layer_of_frame(frame: &[u8]) -> Option<u8> {
    frame.get(layer_mark(frame)).copied().filter(|l| *l <= 2)
}

/// A native SDK source sending `media`'s frames as codec frames at the same rates.
pub fn native_source(media: &SyntheticMedia, video: bool) -> Source {
    let v = video.then(|| Vp8Frames {
        frames: media.video.clone(),
        interval: Duration::from_secs(1) / VIDEO_FPS,
    });
    Source::Codec(CodecFileSource::new(
        Instant::now(),
        v,
        Some(media.audio.clone()),
    ))
}

/// What a WebRTC participant sends.
#[derive(Debug, Clone)]
pub struct RtcConfig {
    /// Send audio and video (otherwise only receive).
    pub publish: bool,
    /// Send video as the three simulcast layers of [`LAYERS`] (otherwise one stream).
    pub simulcast: bool,
    pub media: Arc<SyntheticMedia>,
}

/// Frames received from one sender (by its relay source id).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SenderStats {
    /// The SFrame sender index of its frames.
    pub sender_index: Option<u16>,
    pub audio_decrypted: u64,
    pub video_decrypted: u64,
    pub bytes_decrypted: u64,
    /// Decrypted video frames by the simulcast layer they name.
    pub video_layers: BTreeMap<u8, u64>,
    /// Frames that did not open, by reason.
    pub failures: BTreeMap<String, u64>,
}

impl SenderStats {
    pub fn decrypted(&self) -> u64 {
        self.audio_decrypted + self.video_decrypted
    }

    pub fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// What a participant did and received.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RtcStats {
    /// Its SFrame sender index in the meeting.
    pub own_index: u16,
    /// Its source id (the relay's `welcome`).
    pub source_id: Option<u32>,
    /// Milliseconds from the offer to ICE + DTLS up.
    pub connected_after_ms: Option<u64>,
    pub audio_sent: u64,
    pub video_sent: u64,
    pub send_errors: u64,
    /// Relay offers answered.
    pub renegotiations: u64,
    /// The largest relay offer and own answer, bytes of SDP.
    pub largest_offer: usize,
    pub largest_answer: usize,
    /// Answers the data channel did not take.
    pub answers_unsent: u64,
    /// Received frames per sender source id.
    pub senders: BTreeMap<u32, SenderStats>,
    /// Frames on an m-line no `tracks` message named.
    pub unknown_track: u64,
    /// The relay's `closed` reason, if it closed the session.
    pub closed: Option<u8>,
    /// Why the participant stopped early, if it did.
    pub error: Option<String>,
}

impl RtcStats {
    pub fn decrypt_failures(&self) -> u64 {
        self.senders.values().map(SenderStats::failed).sum()
    }

    pub fn decrypted(&self) -> u64 {
        self.senders.values().map(SenderStats::decrypted).sum()
    }
}

/// A running WebRTC participant (its own thread).
#[derive(Debug)]
pub struct RtcParticipant {
    stats: Arc<Mutex<RtcStats>>,
    stop: Arc<AtomicBool>,
    /// A layer preference to send (`Some(max_layer)`), taken by the thread.
    layer: Arc<Mutex<Option<Option<u8>>>>,
    thread: Option<JoinHandle<()>>,
    /// Kept for the meeting's lifetime (its membership).
    _session: Session,
}

impl RtcParticipant {
    /// A snapshot of its counters.
    pub fn stats(&self) -> RtcStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Asks the relay for video up to simulcast layer `max_layer` (`None`: no video) from
    /// every publisher (a `layer` message, §13.4), once the data channel is open.
    pub fn prefer_layer(&self, max_layer: Option<u8>) {
        if let Ok(mut l) = self.layer.lock() {
            *l = Some(max_layer);
        }
    }

    /// Leaves (a `leave` on the data channel) and returns the final counters.
    pub fn stop(mut self) -> RtcStats {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.stats()
    }
}

impl Drop for RtcParticipant {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn hex16(s: &str, what: &str) -> Result<[u8; 16], String> {
    hex::decode(s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| format!("join ticket: {what} must be 32 hex digits"))
}

/// The `Authorization` value for `offer` (§13.2).
pub fn credential(
    device_id: &[u8; 16],
    session_id: &[u8; 16],
    expires_ms: u64,
    worker: u32,
    session_key: &[u8],
    offer: &[u8],
) -> Result<String, String> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(session_key)
        .map_err(|_| "join ticket: bad session key".to_string())?;
    mac.update(OFFER_LABEL);
    mac.update(offer);
    let proof = mac.finalize().into_bytes();
    Ok(format!(
        "Ticket {}.{}.{expires_ms}.{worker}.{}",
        hex::encode(device_id),
        hex::encode(session_id),
        hex::encode(proof)
    ))
}

/// Joins the meeting of `keys` over WebRTC as `session`'s device (a member of the keys'
/// roster) at the relay `url`, and starts sending/receiving in a thread.
pub async fn start(
    url: &str,
    session: Session,
    keys: EpochKeys,
    config: RtcConfig,
) -> Result<RtcParticipant, String> {
    install_crypto();
    let own = *session.identity().device_id();
    let provider = session.identity().provider().clone();
    let meeting = keys.meeting_id().to_hex();
    let crypto = MeetingCrypto::new(provider, CipherSuite::DEFAULT, keys, &own)
        .map_err(|e| format!("meeting keys: {e}"))?;
    let ticket = session
        .accept(&meeting)
        .await
        .map_err(|e| format!("join ticket: {e}"))?;
    let session_id = hex16(&ticket.session.id, "session id")?;
    let session_key = zeroize::Zeroizing::new(
        conclave_wire::b64::decode(&ticket.session.key)
            .map_err(|_| "join ticket: session key is not base64".to_string())?,
    );

    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("UDP socket: {e}"))?;
    let local = socket
        .local_addr()
        .map_err(|e| format!("UDP socket: {e}"))?;
    let now = Instant::now();
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .build(now);
    let candidate = Candidate::host(local, "udp").map_err(|e| format!("candidate: {e}"))?;
    rtc.add_local_candidate(candidate);
    let mut change = rtc.sdp_api();
    let stream = Some("loadtest".to_string());
    let audio = change.add_media(
        MediaKind::Audio,
        Direction::SendOnly,
        stream.clone(),
        None,
        None,
    );
    let simulcast = config.simulcast.then(|| {
        let mut s = Simulcast::new();
        for rid in LAYERS {
            s.add_send_layer(SimulcastLayer::new(rid));
        }
        s
    });
    let video = change.add_media(
        MediaKind::Video,
        Direction::SendOnly,
        stream,
        None,
        simulcast,
    );
    change.add_channel("conclave".into());
    let (offer, pending) = change
        .apply()
        .ok_or_else(|| "str0m made no offer".to_string())?;
    let offer = offer.to_sdp_string();
    let auth = credential(
        &own,
        &session_id,
        ticket.session.expires_ms,
        ticket.media.worker,
        &session_key,
        offer.as_bytes(),
    )?;
    let endpoint = format!("{}/v1/meetings/{meeting}/webrtc", url.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&endpoint)
        .header("Content-Type", "application/sdp")
        .header("Authorization", auth)
        .body(offer)
        .send()
        .await
        .map_err(|e| format!("posting the offer: {e}"))?;
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?;
    if status.as_u16() != 201 {
        let first: String = body
            .lines()
            .next()
            .unwrap_or("")
            .chars()
            .take(200)
            .collect();
        return Err(format!("the offer was refused: {status}: {first}"));
    }
    let answer =
        SdpAnswer::from_sdp_string(&body).map_err(|e| format!("the answer does not parse: {e}"))?;
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .map_err(|e| format!("the answer is not acceptable: {e}"))?;

    let local_stats = RtcStats {
        own_index: crypto.own_index(),
        ..RtcStats::default()
    };
    let stats = Arc::new(Mutex::new(local_stats.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let layer = Arc::new(Mutex::new(None));
    let mut driver = Driver {
        rtc,
        socket,
        local,
        crypto,
        config,
        audio,
        video,
        channel: None,
        connected: false,
        started: now,
        tracks: HashMap::new(),
        next_audio: 0,
        next_video: 0,
        stats: stats.clone(),
        local_stats,
        last_publish: now,
        layer: layer.clone(),
    };
    let stop2 = stop.clone();
    let thread = std::thread::Builder::new()
        .name("webrtc-participant".into())
        .spawn(move || driver.run(&stop2))
        .map_err(|e| format!("thread: {e}"))?;
    Ok(RtcParticipant {
        stats,
        stop,
        layer,
        thread: Some(thread),
        _session: session,
    })
}

/// The participant's side of the connection, driven by its thread.
struct Driver {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    crypto: MeetingCrypto,
    config: RtcConfig,
    audio: Mid,
    video: Mid,
    channel: Option<ChannelId>,
    connected: bool,
    started: Instant,
    /// Received m-line → (sender source id, audio?).
    tracks: HashMap<Mid, (u32, bool)>,
    next_audio: u64,
    next_video: u64,
    stats: Arc<Mutex<RtcStats>>,
    local_stats: RtcStats,
    last_publish: Instant,
    layer: Arc<Mutex<Option<Option<u8>>>>,
}

#[derive(serde::Deserialize)]
struct Track {
    mid: String,
    source_id: u32,
    kind: String,
}

impl Driver {
    fn run(&mut self, stop: &AtomicBool) {
        let mut buf = vec![0u8; 2048];
        let audio_period = Duration::from_secs(1) / AUDIO_FPS;
        let video_period = Duration::from_secs(1) / VIDEO_FPS;
        let mut send_from: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if stop.load(Ordering::Relaxed) {
                self.leave();
                break;
            }
            if !self.connected && now.duration_since(self.started) > CONNECT_TIMEOUT {
                self.local_stats.error = Some("ICE/DTLS did not connect within 10 s".into());
                break;
            }
            if self.connected && self.config.publish {
                let t0 = *send_from.get_or_insert(now);
                while t0 + audio_period * self.next_audio as u32 <= now {
                    self.send_frame(true, now);
                }
                while t0 + video_period * self.next_video as u32 <= now {
                    self.send_frame(false, now);
                }
            }
            let timeout = match self.drain(now) {
                Some(t) => t,
                None => break,
            };
            let mut deadline = timeout.min(now + Duration::from_millis(20));
            if let (true, Some(t0)) = (self.config.publish, send_from) {
                deadline = deadline
                    .min(t0 + audio_period * self.next_audio as u32)
                    .min(t0 + video_period * self.next_video as u32);
            }
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_micros(200));
            let _ = self.socket.set_read_timeout(Some(wait));
            match self.socket.recv_from(&mut buf) {
                Ok((n, source)) => {
                    let Some(data) = buf.get(..n) else { continue };
                    let Ok(contents) = data.try_into() else {
                        continue;
                    };
                    let input = Input::Receive(
                        Instant::now(),
                        Receive {
                            proto: Protocol::Udp,
                            source,
                            destination: self.local,
                            contents,
                        },
                    );
                    if let Err(e) = self.rtc.handle_input(input) {
                        self.local_stats.error = Some(format!("str0m input: {e}"));
                        break;
                    }
                }
                Err(_) => {
                    if let Err(e) = self.rtc.handle_input(Input::Timeout(Instant::now())) {
                        self.local_stats.error = Some(format!("str0m timeout: {e}"));
                        break;
                    }
                }
            }
            if now.duration_since(self.last_publish) > Duration::from_millis(100) {
                self.publish();
                self.last_publish = now;
            }
            self.send_layer_preference();
        }
        let _ = self.drain(Instant::now());
        self.publish();
    }

    /// Copies the counters where [`RtcParticipant::stats`] reads them.
    fn publish(&self) {
        if let Ok(mut s) = self.stats.lock() {
            *s = self.local_stats.clone();
        }
    }

    /// Sends a pending layer preference once the data channel is open.
    fn send_layer_preference(&mut self) {
        let Some(mut ch) = self.channel.and_then(|c| self.rtc.channel(c)) else {
            return;
        };
        let Some(max_layer) = self.layer.lock().ok().and_then(|mut l| l.take()) else {
            return;
        };
        let msg = serde_json::json!({"type": "layer", "max_layer": max_layer}).to_string();
        if !ch.write(false, msg.as_bytes()).unwrap_or(false) {
            self.local_stats.send_errors += 1;
        }
    }

    fn leave(&mut self) {
        if let Some(mut ch) = self.channel.and_then(|c| self.rtc.channel(c)) {
            let _ = ch.write(false, br#"{"type":"leave"}"#);
        }
        let _ = self.drain(Instant::now());
        self.rtc.disconnect();
    }

    /// Sends what str0m has to send and handles its events; returns when it wants time
    /// (`None`: the connection is over).
    fn drain(&mut self, now: Instant) -> Option<Instant> {
        loop {
            if !self.rtc.is_alive() {
                return None;
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Some(t),
                Ok(Output::Transmit(t)) => {
                    if self.socket.send_to(&t.contents, t.destination).is_err() {
                        self.local_stats.send_errors += 1;
                    }
                }
                Ok(Output::Event(e)) => self.on_event(now, e),
                Err(e) => {
                    self.local_stats.error = Some(format!("str0m: {e}"));
                    return None;
                }
            }
        }
    }

    fn on_event(&mut self, now: Instant, e: Event) {
        match e {
            Event::Connected => {
                self.connected = true;
                self.local_stats.connected_after_ms =
                    Some(now.duration_since(self.started).as_millis() as u64);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                self.rtc.disconnect();
            }
            Event::ChannelOpen(id, label) if label == "conclave" => self.channel = Some(id),
            Event::ChannelData(d) if Some(d.id) == self.channel => self.on_message(&d.data),
            Event::MediaData(d) => self.on_frame(d.mid, &d.data),
            _ => {}
        }
    }

    fn on_message(&mut self, data: &[u8]) {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
            return;
        };
        match v.get("type").and_then(|t| t.as_str()) {
            Some("welcome") => {
                self.local_stats.source_id = v
                    .get("source_id")
                    .and_then(|s| s.as_u64())
                    .and_then(|s| u32::try_from(s).ok());
            }
            Some("tracks") => {
                let Some(tracks) = v
                    .get("tracks")
                    .cloned()
                    .and_then(|t| serde_json::from_value::<Vec<Track>>(t).ok())
                else {
                    return;
                };
                self.tracks.clear();
                for t in tracks {
                    self.tracks
                        .insert(Mid::from(t.mid.as_str()), (t.source_id, t.kind == "audio"));
                }
            }
            Some("offer") => {
                let Some(sdp) = v.get("sdp").and_then(|s| s.as_str()) else {
                    return;
                };
                let Ok(offer) = SdpOffer::from_sdp_string(sdp) else {
                    self.local_stats.error = Some("a relay offer does not parse".into());
                    return;
                };
                self.local_stats.largest_offer = self.local_stats.largest_offer.max(sdp.len());
                match self.rtc.sdp_api().accept_offer(offer) {
                    Ok(answer) => {
                        let sdp = answer.to_sdp_string();
                        self.local_stats.largest_answer =
                            self.local_stats.largest_answer.max(sdp.len());
                        let msg = serde_json::json!({"type": "answer", "sdp": sdp}).to_string();
                        let sent = self
                            .channel
                            .and_then(|c| self.rtc.channel(c))
                            .is_some_and(|mut ch| ch.write(false, msg.as_bytes()).unwrap_or(false));
                        if !sent {
                            self.local_stats.answers_unsent += 1;
                        }
                        self.local_stats.renegotiations += 1;
                    }
                    Err(e) => self.local_stats.error = Some(format!("a relay offer: {e}")),
                }
            }
            Some("closed") => {
                self.local_stats.closed = v
                    .get("reason")
                    .and_then(|r| r.as_u64())
                    .and_then(|r| u8::try_from(r).ok());
            }
            _ => {}
        }
    }

    fn on_frame(&mut self, mid: Mid, data: &[u8]) {
        let Some(&(source, audio)) = self.tracks.get(&mid) else {
            self.local_stats.unknown_track += 1;
            return;
        };
        let entry = self.local_stats.senders.entry(source).or_default();
        match open_codec_frame(&mut self.crypto, audio, data) {
            Ok((header, plain)) => {
                let kid = conclave_wire::sframe::MediaKid::from_kid(header.kid);
                entry.sender_index = Some(kid.sender_index);
                entry.bytes_decrypted += plain.len() as u64;
                if audio {
                    entry.audio_decrypted += 1;
                } else {
                    entry.video_decrypted += 1;
                    if let Some(l) = layer_of_frame(&plain) {
                        *entry.video_layers.entry(l).or_default() += 1;
                    }
                }
            }
            Err(e) => {
                let reason: String = format!("{e}").chars().take(60).collect();
                *entry.failures.entry(reason).or_default() += 1;
            }
        }
    }

    fn send_frame(&mut self, audio: bool, now: Instant) {
        let media = self.config.media.clone();
        let (n, frames, clock, step) = if audio {
            (
                &mut self.next_audio,
                &media.audio,
                Frequency::FORTY_EIGHT_KHZ,
                960,
            )
        } else {
            (
                &mut self.next_video,
                &media.video,
                Frequency::NINETY_KHZ,
                90_000 / u64::from(VIDEO_FPS),
            )
        };
        let index = *n;
        *n += 1;
        let Some(frame) = frames.get((index % frames.len().max(1) as u64) as usize) else {
            return;
        };
        let time = MediaTime::new(index * step, clock);
        let sent = if audio {
            self.write(self.audio, None, true, frame, now, time)
        } else if self.config.simulcast {
            // Every layer is its own SFrame frame, as a browser's encoder makes them.
            let mut all = true;
            for (layer, rid) in (0u8..).zip(LAYERS) {
                let f = SyntheticMedia::for_layer(frame, layer);
                all &= self.write(self.video, Some(Rid::from(rid)), false, &f, now, time);
            }
            all
        } else {
            self.write(self.video, None, false, frame, now, time)
        };
        match (sent, audio) {
            (false, _) => self.local_stats.send_errors += 1,
            (true, true) => self.local_stats.audio_sent += 1,
            (true, false) => self.local_stats.video_sent += 1,
        }
    }

    /// Seals `frame` and hands it to str0m on `mid` (simulcast layer `rid`).
    fn write(
        &mut self,
        mid: Mid,
        rid: Option<Rid>,
        audio: bool,
        frame: &[u8],
        now: Instant,
        time: MediaTime,
    ) -> bool {
        let mut sealed = Vec::with_capacity(frame.len() + 32);
        if seal_codec_frame(&mut self.crypto, audio, frame, &mut sealed).is_err() {
            return false;
        }
        let Some(writer) = self.rtc.writer(mid) else {
            return false;
        };
        let Some(pt) = writer.payload_params().next().map(|p| p.pt()) else {
            return false;
        };
        let writer = match (audio, rid) {
            (true, _) => writer.audio_level(-30, true),
            (false, Some(rid)) => writer.rid(rid),
            (false, None) => writer,
        };
        writer.write(pt, now, time, sealed).is_ok()
    }
}

// --- The WebRTC-path benchmark -----------------------------------------------------------

/// One publisher → `subscribers` for `duration`, on each transport.
#[derive(Debug, Clone, Serialize)]
pub struct BenchSpec {
    pub subscribers: usize,
    #[serde(rename = "duration_s", serialize_with = "seconds")]
    pub duration: Duration,
    /// The publisher's video bitrate (audio is ~35 kbit/s besides).
    pub video_kbps: u32,
    /// Seconds between the last join and the measured period.
    #[serde(rename = "warmup_s", serialize_with = "seconds")]
    pub warmup: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// One transport's figures over the measured period.
#[derive(Debug, Clone, Serialize)]
pub struct PathResult {
    /// `webrtc` or `native`.
    pub path: &'static str,
    /// Datagrams the relay sent per second (`conclave_media_datagrams_out`: media, and on
    /// the WebRTC path also RTCP, STUN and SCTP).
    pub datagrams_out_per_s: f64,
    pub bits_out_per_s: f64,
    /// Datagrams the relay received per second.
    pub datagrams_in_per_s: f64,
    /// Relay CPU, cores (1.0 = one core busy).
    pub relay_cpu_cores: f64,
    /// Relay CPU per datagram sent, µs.
    pub relay_cpu_us_per_datagram: f64,
    /// Frames the publisher sent per second.
    pub frames_sent_per_s: f64,
    /// Frames the subscribers decrypted per second, all together.
    pub frames_decrypted_per_s: f64,
    /// Subscribers that decrypted at least one frame in the period.
    pub subscribers_receiving: usize,
    pub decrypt_failures: u64,
    /// WebRTC: subscribers whose ICE and DTLS completed, and relay offers they answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscribers_connected: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renegotiations: Option<u64>,
    /// WebRTC: the largest relay offer and subscriber answer (SDP bytes; the relay takes
    /// data-channel messages of at most 64 KiB), and answers the channel did not take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub largest_offer_sdp: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub largest_answer_sdp: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answers_unsent: Option<u64>,
}

/// Both transports and their ratio.
#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub spec: BenchSpec,
    pub webrtc: PathResult,
    pub native: PathResult,
    /// WebRTC / native relay CPU per datagram sent.
    pub cpu_per_datagram_ratio: f64,
    /// WebRTC / native relay CPU (cores) for the same fan-out.
    pub cpu_ratio: f64,
    /// WebRTC / native datagrams sent per second.
    pub datagrams_ratio: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct RelayCounters {
    datagrams_out: f64,
    datagrams_in: f64,
    bytes_out: f64,
}

async fn relay_counters(url: &str) -> Result<RelayCounters, String> {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .map_err(|e| format!("scraping /metrics: {e}"))?
        .text()
        .await
        .map_err(|e| format!("scraping /metrics: {e}"))?;
    let m = crate::scrape::parse(&text);
    let get = |name: &str| {
        m.get(&format!("{name}_total"))
            .or_else(|| m.get(name))
            .copied()
            .unwrap_or(0.0)
    };
    Ok(RelayCounters {
        datagrams_out: get("conclave_media_datagrams_out"),
        datagrams_in: get("conclave_media_datagrams_in"),
        bytes_out: get("conclave_media_bytes_out"),
    })
}

/// A meeting of `1 + n` registered participants: the publisher's session and keys (it
/// initiated), its invitees' user hashes, and each subscriber's session and keys.
struct Prepared {
    publisher: Session,
    invitation: conclave_client::api::Invitation,
    subscribers: Vec<(Session, EpochKeys)>,
}

async fn prepare(
    url: &str,
    provider: Arc<dyn conclave_crypto::CryptoProvider>,
    n: usize,
    tag: &str,
) -> Result<Prepared, String> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..=n {
        let (url, provider) = (url.to_string(), provider.clone());
        let name = format!("bench-{tag}-{i}");
        set.spawn(async move { (i, crate::run::register(&url, provider, name).await) });
    }
    let mut sessions: Vec<(usize, Session)> = Vec::new();
    while let Some(r) = set.join_next().await {
        let (i, s) = r.map_err(|e| format!("a registration task failed: {e}"))?;
        sessions.push((i, s?));
    }
    sessions.sort_by_key(|(i, _)| *i);
    let mut sessions: Vec<Session> = sessions.into_iter().map(|(_, s)| s).collect();
    let mut publisher = sessions.remove(0);
    let hashes: Vec<String> = sessions.iter().map(|s| s.user_hash().to_string()).collect();
    let invitation = publisher
        .call(&hashes, conclave_client::container::CallType::Video)
        .await
        .map_err(|e| format!("inviting: {e}"))?;
    let mut subscribers = Vec::new();
    for mut s in sessions {
        let keys = s
            .receive()
            .await
            .map_err(|e| format!("fetching the invite: {e}"))?
            .into_iter()
            .find_map(|r| match r {
                conclave_client::api::Received::Opened(d) => match &d.opened.payload {
                    conclave_client::container::Payload::Invite(k) => k.to_keys().ok(),
                    _ => None,
                },
                conclave_client::api::Received::Refused(_) => None,
            })
            .ok_or_else(|| "a subscriber got no invite".to_string())?;
        subscribers.push((s, keys));
    }
    Ok(Prepared {
        publisher,
        invitation,
        subscribers,
    })
}

/// Relay counters and CPU at one instant.
struct Mark {
    counters: RelayCounters,
    proc: crate::procstat::ProcSample,
}

async fn mark(url: &str, pid: u32) -> Result<Mark, String> {
    let counters = relay_counters(url).await?;
    let proc = crate::procstat::sample(pid).ok_or("the relay process is gone")?;
    Ok(Mark { counters, proc })
}

fn figures(
    path: &'static str,
    a: &Mark,
    b: &Mark,
    frames_sent: u64,
    decrypted: u64,
    receiving: usize,
    failures: u64,
) -> PathResult {
    let wall = b.proc.at.duration_since(a.proc.at).as_secs_f64().max(1e-6);
    let out = (b.counters.datagrams_out - a.counters.datagrams_out).max(0.0);
    let cpu_s = b.proc.cpu_ticks.saturating_sub(a.proc.cpu_ticks) as f64
        / crate::procstat::ticks_per_second();
    PathResult {
        path,
        datagrams_out_per_s: out / wall,
        bits_out_per_s: (b.counters.bytes_out - a.counters.bytes_out).max(0.0) * 8.0 / wall,
        datagrams_in_per_s: (b.counters.datagrams_in - a.counters.datagrams_in).max(0.0) / wall,
        relay_cpu_cores: cpu_s / wall,
        relay_cpu_us_per_datagram: if out > 0.0 { cpu_s * 1e6 / out } else { 0.0 },
        frames_sent_per_s: frames_sent as f64 / wall,
        frames_decrypted_per_s: decrypted as f64 / wall,
        subscribers_receiving: receiving,
        decrypt_failures: failures,
        subscribers_connected: None,
        renegotiations: None,
        largest_offer_sdp: None,
        largest_answer_sdp: None,
        answers_unsent: None,
    }
}

/// The fan-out over WebRTC: str0m publisher and subscribers.
async fn bench_webrtc(
    url: &str,
    pid: u32,
    provider: Arc<dyn conclave_crypto::CryptoProvider>,
    spec: &BenchSpec,
    media: Arc<SyntheticMedia>,
) -> Result<PathResult, String> {
    let p = prepare(url, provider, spec.subscribers, "rtc").await?;
    let mut subs = Vec::new();
    for (s, keys) in p.subscribers {
        let config = RtcConfig {
            publish: false,
            simulcast: false,
            media: media.clone(),
        };
        subs.push(start(url, s, keys, config).await?);
    }
    let publisher = start(
        url,
        p.publisher,
        p.invitation.keys,
        RtcConfig {
            publish: true,
            simulcast: false,
            media,
        },
    )
    .await?;
    tokio::time::sleep(spec.warmup).await;
    let (s0, p0) = (
        subs.iter().map(RtcParticipant::stats).collect::<Vec<_>>(),
        publisher.stats(),
    );
    let a = mark(url, pid).await?;
    tokio::time::sleep(spec.duration).await;
    let b = mark(url, pid).await?;
    let (s1, p1) = (
        subs.iter().map(RtcParticipant::stats).collect::<Vec<_>>(),
        publisher.stats(),
    );
    if let Some(e) = p1
        .error
        .as_ref()
        .or(s1.iter().find_map(|s| s.error.as_ref()))
    {
        return Err(format!("a WebRTC participant failed: {e}"));
    }
    let sent = (p1.audio_sent + p1.video_sent).saturating_sub(p0.audio_sent + p0.video_sent);
    let per: Vec<u64> = s0
        .iter()
        .zip(&s1)
        .map(|(x, y)| y.decrypted().saturating_sub(x.decrypted()))
        .collect();
    let failures: u64 = s1.iter().map(RtcStats::decrypt_failures).sum();
    drop(publisher);
    drop(subs);
    let mut r = figures(
        "webrtc",
        &a,
        &b,
        sent,
        per.iter().sum(),
        per.iter().filter(|n| **n > 0).count(),
        failures,
    );
    r.subscribers_connected = Some(s1.iter().filter(|s| s.connected_after_ms.is_some()).count());
    r.renegotiations = Some(s1.iter().map(|s| s.renegotiations).sum());
    r.largest_offer_sdp = s1.iter().map(|s| s.largest_offer).max();
    r.largest_answer_sdp = s1.iter().map(|s| s.largest_answer).max();
    r.answers_unsent = Some(s1.iter().map(|s| s.answers_unsent).sum());
    Ok(r)
}

/// What a native participant's task reports: its stats at the start and end of the period.
type Snapshots = (
    Option<conclave_client::media::MediaStats>,
    Option<conclave_client::media::MediaStats>,
);

async fn drive_native(
    runner: conclave_client::api::SdkResult<conclave_client::api::MeetingRunner>,
    t0: tokio::time::Instant,
    t1: tokio::time::Instant,
) -> Result<Snapshots, String> {
    use conclave_client::api::Next;
    let mut runner = runner.map_err(|e| format!("a native participant did not join: {e}"))?;
    let mut snaps = (None, None);
    for (i, until) in [t0, t1].into_iter().enumerate() {
        loop {
            match runner.next_event_until(Some(until)).await {
                Next::Timeout | Next::Done => break,
                Next::Event(_) => {}
            }
        }
        let s = runner.stats().await;
        if i == 0 {
            snaps.0 = s;
        } else {
            snaps.1 = s;
        }
    }
    drop(runner.finish().await);
    Ok(snaps)
}

/// The same fan-out natively: a native publisher of the same codec frames.
async fn bench_native(
    url: &str,
    pid: u32,
    provider: Arc<dyn conclave_crypto::CryptoProvider>,
    spec: &BenchSpec,
    media: Arc<SyntheticMedia>,
) -> Result<PathResult, String> {
    use conclave_client::api::{MeetingOptions, MeetingRunner, Role};
    let p = prepare(url, provider, spec.subscribers, "native").await?;
    let initiator_device = p.publisher.device_id().to_string();
    let initiator_user = p.publisher.user_hash().to_string();
    // Everyone joins, then warm-up, then the measured period.
    let joins = Duration::from_millis(200) * (spec.subscribers as u32 + 1);
    let t0 = tokio::time::Instant::now() + joins + spec.warmup;
    let t1 = t0 + spec.duration;
    let mut tasks = Vec::new();
    for (s, keys) in p.subscribers {
        let role = Role::Member {
            initiator_device: initiator_device.clone(),
            initiator_user: Some(initiator_user.clone()),
        };
        tasks.push(tokio::spawn(async move {
            let r = MeetingRunner::start(s, keys, role, MeetingOptions::default()).await;
            drive_native(r, t0, t1).await
        }));
    }
    let role = Role::Initiator {
        members: p.invitation.members.clone(),
        call_type: conclave_client::container::CallType::Video,
    };
    let options = MeetingOptions {
        sources: vec![native_source(&media, true)],
        ..MeetingOptions::default()
    };
    let publisher = tokio::spawn(async move {
        let r = MeetingRunner::start(p.publisher, p.invitation.keys, role, options).await;
        drive_native(r, t0, t1).await
    });
    tokio::time::sleep_until(t0).await;
    let a = mark(url, pid).await?;
    tokio::time::sleep_until(t1).await;
    let b = mark(url, pid).await?;
    let (p0, p1) = publisher
        .await
        .map_err(|e| format!("the publisher task failed: {e}"))??;
    let own = |s: &Option<conclave_client::media::MediaStats>| {
        s.as_ref()
            .and_then(|s| s.participants.get(&s.own_index))
            .map_or(0, |p| p.frames_sent)
    };
    let sent = own(&p1).saturating_sub(own(&p0));
    let (mut decrypted, mut receiving, mut failures) = (0u64, 0usize, 0u64);
    for t in tasks {
        let (s0, s1) = t
            .await
            .map_err(|e| format!("a subscriber task failed: {e}"))??;
        let sum = |s: &Option<conclave_client::media::MediaStats>| {
            s.as_ref().map_or((0, 0), |s| {
                s.participants
                    .values()
                    .fold((0, 0), |(d, f), p| (d + p.frames_decrypted, f + p.failures))
            })
        };
        let (d0, _) = sum(&s0);
        let (d1, f1) = sum(&s1);
        let d = d1.saturating_sub(d0);
        decrypted += d;
        receiving += usize::from(d > 0);
        failures += f1;
    }
    Ok(figures(
        "native", &a, &b, sent, decrypted, receiving, failures,
    ))
}

/// Runs the WebRTC path and then the native path, each on a relay of its own started from
/// `binary` with `settings`.
pub fn bench(
    runtime: &tokio::runtime::Runtime,
    binary: &std::path::Path,
    settings: crate::relay::RelaySettings,
    provider: Arc<dyn conclave_crypto::CryptoProvider>,
    spec: &BenchSpec,
) -> Result<BenchResult, String> {
    if spec.subscribers == 0 {
        return Err("--subscribers must be at least 1".into());
    }
    install_crypto();
    let media = Arc::new(SyntheticMedia::new(42, spec.video_kbps));
    let relay = crate::relay::RelayUnderTest::start(binary, settings.clone())?;
    let pid = relay.pid().ok_or("the relay has no pid")?;
    let webrtc = runtime.block_on(bench_webrtc(
        &relay.url,
        pid,
        provider.clone(),
        spec,
        media.clone(),
    ))?;
    drop(relay);
    if webrtc.subscribers_receiving < spec.subscribers {
        return Err(format!(
            "WebRTC path: {} of {} subscribers received frames ({} connected; largest relay \
             offer {} and answer {} bytes of SDP, data-channel messages to the relay are \
             limited to 64 KiB)",
            webrtc.subscribers_receiving,
            spec.subscribers,
            webrtc.subscribers_connected.unwrap_or(0),
            webrtc.largest_offer_sdp.unwrap_or(0),
            webrtc.largest_answer_sdp.unwrap_or(0),
        ));
    }
    let relay = crate::relay::RelayUnderTest::start(binary, settings)?;
    let pid = relay.pid().ok_or("the relay has no pid")?;
    let native = runtime.block_on(bench_native(&relay.url, pid, provider, spec, media))?;
    drop(relay);
    if native.subscribers_receiving < spec.subscribers {
        return Err(format!(
            "native path: {} of {} subscribers received frames",
            native.subscribers_receiving, spec.subscribers
        ));
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    Ok(BenchResult {
        spec: spec.clone(),
        cpu_per_datagram_ratio: ratio(
            webrtc.relay_cpu_us_per_datagram,
            native.relay_cpu_us_per_datagram,
        ),
        cpu_ratio: ratio(webrtc.relay_cpu_cores, native.relay_cpu_cores),
        datagrams_ratio: ratio(webrtc.datagrams_out_per_s, native.datagrams_out_per_s),
        webrtc,
        native,
    })
}

/// The result as a text table.
pub fn table(r: &BenchResult) -> String {
    let mut out = format!(
        "1 publisher → {} subscribers, {:.0} s, video {} kbit/s + audio\n\
         {:<8} {:>12} {:>10} {:>10} {:>12} {:>12} {:>10} {:>9}\n",
        r.spec.subscribers,
        r.spec.duration.as_secs_f64(),
        r.spec.video_kbps,
        "path",
        "dgrams out/s",
        "Mbit/s",
        "relay CPU",
        "µs/dgram",
        "decrypted/s",
        "receiving",
        "failures",
    );
    for p in [&r.webrtc, &r.native] {
        out.push_str(&format!(
            "{:<8} {:>12.0} {:>10.2} {:>10.3} {:>12.2} {:>12.0} {:>10} {:>9}\n",
            p.path,
            p.datagrams_out_per_s,
            p.bits_out_per_s / 1e6,
            p.relay_cpu_cores,
            p.relay_cpu_us_per_datagram,
            p.frames_decrypted_per_s,
            p.subscribers_receiving,
            p.decrypt_failures,
        ));
    }
    out.push_str(&format!(
        "WebRTC/native: CPU per datagram ×{:.2}, CPU ×{:.2}, datagrams ×{:.2}\n",
        r.cpu_per_datagram_ratio, r.cpu_ratio, r.datagrams_ratio
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_frames_are_shaped_like_vp8_and_opus() {
        let m = SyntheticMedia::new(7, 300);
        assert_eq!(m.video.len(), KEYFRAME_EVERY);
        for (i, f) in m.video.iter().enumerate() {
            assert_eq!(f[0] & 1 == 0, i == 0, "frame {i}");
        }
        assert_eq!(&m.video[0][3..6], &[0x9d, 0x01, 0x2a]);
        let bytes: usize = m.video.iter().map(Vec::len).sum();
        // About the bitrate: 300 kbit/s is 37 500 bytes a second.
        assert!((30_000..45_000).contains(&bytes), "{bytes}");
        assert_eq!(m.audio.len(), AUDIO_FPS as usize);
        assert!(
            m.audio
                .iter()
                .all(|a| a[0] == 0x78 && (73..=89).contains(&a.len()))
        );
        // Deterministic per seed, different across seeds.
        assert_eq!(SyntheticMedia::new(7, 300).video, m.video);
        assert_ne!(SyntheticMedia::new(8, 300).video, m.video);
    }

    #[test]
    fn simulcast_layers_shrink_keep_the_vp8_header_and_name_their_layer() {
        let m = SyntheticMedia::new(7, 300);
        for (i, f) in m.video.iter().enumerate() {
            assert_eq!(layer_of_frame(f), Some(0), "frame {i}");
            let layers: Vec<Vec<u8>> = (0..3).map(|l| SyntheticMedia::for_layer(f, l)).collect();
            for (l, lf) in (0u8..).zip(&layers) {
                assert_eq!(layer_of_frame(lf), Some(l), "frame {i} layer {l}");
                // The clear bytes (key frame or not, the key frame's start code) are kept.
                let clear = layer_mark(f);
                assert_eq!(lf[..clear], f[..clear], "frame {i} layer {l}");
            }
            assert!(layers[0].len() < layers[1].len() && layers[1].len() < layers[2].len());
            assert_eq!(layers[2].len(), f.len());
        }
    }

    #[test]
    fn the_credential_has_the_ticket_fields_and_a_proof_over_the_offer() {
        let c = credential(&[1; 16], &[2; 16], 99, 1, &[3; 32], b"v=0").unwrap();
        let parts: Vec<&str> = c.strip_prefix("Ticket ").unwrap().split('.').collect();
        assert_eq!(parts.len(), 5);
        assert_eq!(parts[0], hex::encode([1u8; 16]));
        assert_eq!(parts[2], "99");
        assert_eq!(parts[3], "1");
        assert_eq!(parts[4].len(), 64);
        let other = credential(&[1; 16], &[2; 16], 99, 1, &[3; 32], b"v=1").unwrap();
        assert_ne!(c, other);
    }
}
