//! One browser: a str0m [`Rtc`] (ICE-lite, DTLS-SRTP, Opus + VP8, TWCC bandwidth
//! estimation) and what the relay keeps about it: its incoming m-lines, one outgoing audio
//! and video m-line per other member of the meeting (added and stopped by relay-initiated
//! offers over the data channel), and keyframe-request rate limiting. Sans-IO like str0m:
//! inputs and time in, [`PeerOutput`]s out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use conclave_wire::media::{Layer, SILENT_LEVEL, Stream};
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::channel::ChannelId;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcError};

use super::channel::{self, FromBrowser, Parsed, ToBrowser, TrackInfo};
use crate::media::router::{MeetingKey, ParticipantId};

/// A browser must finish ICE and DTLS within this time.
pub const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// Keyframe requests a subscriber may make per second before the rest are ignored.
pub const KEYFRAME_ASKS_PER_SEC: u32 = 10;
/// The bandwidth estimate a peer starts with.
const INITIAL_BWE_KBPS: u64 = 1_500;

/// Who the peer is (from its ticket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerIdentity {
    pub meeting: MeetingKey,
    pub device: [u8; 16],
    pub session_id: [u8; 16],
    pub expires_ms: u64,
}

/// What a peer asks of the worker.
#[derive(Debug)]
pub enum PeerOutput {
    /// A datagram to send from the WebRTC socket.
    Transmit { dest: SocketAddr, data: Vec<u8> },
    /// A complete encoded frame from the browser (a codec frame, §13.1).
    Frame {
        stream: Stream,
        keyframe: bool,
        audio_level: u8,
        time: MediaTime,
        data: std::sync::Arc<[u8]>,
    },
    /// The browser wants a keyframe of `publisher`'s video.
    KeyframeRequest { publisher: ParticipantId },
    /// The browser's layer preference.
    Layer { max_layer: Option<u8> },
    /// str0m's bandwidth estimate towards the browser, in bits per second.
    Bandwidth(u64),
    /// A data-channel message that was not understood (counted).
    BadMessage,
    /// A keyframe request over the limit (counted).
    KeyframeFlood,
    /// The browser left (`leave`).
    Leave,
}

/// The outgoing m-lines for one other member.
#[derive(Debug, Clone, Copy, Default)]
struct OutTracks {
    audio: Option<Mid>,
    video: Option<Mid>,
    /// Part of an offer the browser has answered.
    open: bool,
}

/// One browser.
pub struct Peer {
    pub rtc: Rtc,
    pub id: PeerIdentity,
    pub source: ParticipantId,
    created: Instant,
    connected: bool,
    closing: bool,
    channel: Option<ChannelId>,
    audio_in: Option<Mid>,
    video_in: Option<Mid>,
    out: BTreeMap<ParticipantId, OutTracks>,
    /// The other members it should receive.
    want: BTreeSet<ParticipantId>,
    pending: Option<SdpPendingOffer>,
    /// Keyframe requests in the current one-second window.
    asks: (Instant, u32),
    /// The origin of arrival-based media times (frames from native publishers).
    epoch: Instant,
    queued: VecDeque<String>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("source", &self.source)
            .field("connected", &self.connected)
            .field("out", &self.out.len())
            .finish()
    }
}

impl Peer {
    /// A peer for `offer`, answering with host candidates at `candidates`.
    pub fn accept(
        now: Instant,
        id: PeerIdentity,
        source: ParticipantId,
        offer: SdpOffer,
        candidates: &[SocketAddr],
    ) -> Result<(Peer, SdpAnswer), RtcError> {
        let mut rtc = Rtc::builder()
            .set_ice_lite(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .enable_bwe(Some(Bitrate::kbps(INITIAL_BWE_KBPS)))
            .build(now);
        for addr in candidates {
            if let Ok(c) = Candidate::host(*addr, "udp") {
                rtc.add_local_candidate(c);
            }
        }
        let answer = rtc.sdp_api().accept_offer(offer)?;
        Ok((
            Peer {
                rtc,
                id,
                source,
                created: now,
                connected: false,
                closing: false,
                channel: None,
                audio_in: None,
                video_in: None,
                out: BTreeMap::new(),
                want: BTreeSet::new(),
                pending: None,
                asks: (now, 0),
                epoch: now,
                queued: VecDeque::new(),
            },
            answer,
        ))
    }

    pub fn is_alive(&self) -> bool {
        !self.closing && self.rtc.is_alive()
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// Feeds a datagram or the time. An input str0m refuses (a failed DTLS handshake,
    /// SRTP that does not authenticate, a protocol violation) ends the peer: false.
    pub fn handle_input(&mut self, input: Input<'_>) -> bool {
        if !self.is_alive() {
            return true;
        }
        if self.rtc.handle_input(input).is_err() {
            self.close();
            return false;
        }
        true
    }

    /// Tells the browser (when it can hear) and stops the peer.
    pub fn close_with(&mut self, reason: u8) {
        self.send(&ToBrowser::Closed { reason });
        self.close();
    }

    pub fn close(&mut self) {
        self.closing = true;
        self.rtc.disconnect();
    }

    /// A data-channel message (queued until the channel opens).
    pub fn send(&mut self, msg: &ToBrowser) {
        let text = channel::encode(msg);
        match self.channel.and_then(|c| self.rtc.channel(c)) {
            Some(mut ch) => {
                let _ = ch.write(false, text.as_bytes());
            }
            None => {
                if self.queued.len() < 256 {
                    self.queued.push_back(text);
                }
            }
        }
    }

    /// The other members this browser should receive (a renegotiation follows when the
    /// set changed and none is pending).
    pub fn set_members(&mut self, members: impl Iterator<Item = ParticipantId>) {
        let me = self.source;
        self.want = members.filter(|m| *m != me).collect();
        self.negotiate();
    }

    /// Adds and stops m-lines so that the outgoing tracks match [`Self::set_members`].
    fn negotiate(&mut self) {
        if self.channel.is_none() || self.pending.is_some() || !self.connected {
            return;
        }
        let gone: Vec<ParticipantId> = self
            .out
            .keys()
            .filter(|s| !self.want.contains(s))
            .copied()
            .collect();
        let new: Vec<ParticipantId> = self
            .want
            .iter()
            .filter(|s| !self.out.contains_key(s))
            .copied()
            .collect();
        if gone.is_empty() && new.is_empty() {
            return;
        }
        let mut change = self.rtc.sdp_api();
        for s in &gone {
            if let Some(t) = self.out.get(s) {
                for mid in [t.audio, t.video].into_iter().flatten() {
                    change.stop_media(mid);
                }
            }
        }
        let mut added = Vec::new();
        for s in &new {
            let stream = Some(format!("source-{s}"));
            let audio = change.add_media(
                MediaKind::Audio,
                Direction::SendOnly,
                stream.clone(),
                None,
                None,
            );
            let video = change.add_media(MediaKind::Video, Direction::SendOnly, stream, None, None);
            added.push((*s, audio, video));
        }
        let Some((offer, pending)) = change.apply() else {
            return;
        };
        for s in &gone {
            self.out.remove(s);
        }
        for (s, audio, video) in added {
            self.out.insert(
                s,
                OutTracks {
                    audio: Some(audio),
                    video: Some(video),
                    open: false,
                },
            );
        }
        self.pending = Some(pending);
        let tracks = self
            .out
            .iter()
            .flat_map(|(s, t)| {
                [(t.audio, "audio"), (t.video, "video")]
                    .into_iter()
                    .filter_map(move |(m, kind)| {
                        m.map(|m| TrackInfo {
                            mid: m.to_string(),
                            source_id: *s,
                            kind,
                        })
                    })
            })
            .collect();
        self.send(&ToBrowser::Tracks { tracks });
        self.send(&ToBrowser::Offer {
            sdp: offer.to_sdp_string(),
        });
    }

    /// Writes a frame of `publisher` to this browser, if its m-line is open. `time` is the
    /// publisher's media time when it is a browser; frames of native publishers get
    /// arrival times.
    pub fn write_frame(
        &mut self,
        now: Instant,
        publisher: ParticipantId,
        audio: bool,
        audio_level: u8,
        time: Option<MediaTime>,
        data: &std::sync::Arc<[u8]>,
    ) -> bool {
        if !self.connected {
            return false;
        }
        let Some(t) = self.out.get(&publisher).filter(|t| t.open) else {
            return false;
        };
        let Some(mid) = (if audio { t.audio } else { t.video }) else {
            return false;
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return false;
        };
        let Some(pt) = writer.payload_params().next().map(|p| p.pt()) else {
            return false;
        };
        let clock = if audio { 48_000 } else { 90_000 };
        let time = time.unwrap_or_else(|| {
            let us = now.saturating_duration_since(self.epoch).as_micros() as u64;
            MediaTime::from_micros(us).rebase(
                str0m::media::Frequency::new(clock).unwrap_or(str0m::media::Frequency::NINETY_KHZ),
            )
        });
        let writer = if audio {
            writer.audio_level(-(audio_level.min(SILENT_LEVEL) as i8), audio_level < 60)
        } else {
            writer
        };
        writer.write(pt, now, time, data.clone()).is_ok()
    }

    /// Asks the browser for a keyframe of its video `layer`.
    pub fn request_keyframe(&mut self, layer: Layer) {
        let Some(mid) = self.video_in else {
            return;
        };
        let rid = self
            .rtc
            .media(mid)
            .map(|m| matches!(m.rids_rx(), str0m::media::Rids::Specific(r) if !r.is_empty()))
            .unwrap_or(false)
            .then(|| str0m::media::Rid::from(rid_of(layer)));
        if let Some(mut w) = self.rtc.writer(mid) {
            let _ = w.request_keyframe(rid, KeyframeRequestKind::Pli);
        }
    }

    /// Drains str0m's outputs into `out` until it wants time; returns when.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<PeerOutput>) -> Option<Instant> {
        if !self.connected && now.saturating_duration_since(self.created) > CONNECT_WITHIN {
            self.close();
        }
        loop {
            if !self.rtc.is_alive() {
                return None;
            }
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => return Some(t),
                Ok(Output::Transmit(t)) => out.push(PeerOutput::Transmit {
                    dest: t.destination,
                    data: t.contents.to_vec(),
                }),
                Ok(Output::Event(e)) => self.on_event(now, e, out),
                Err(_) => {
                    self.close();
                    return None;
                }
            }
        }
    }

    fn on_event(&mut self, now: Instant, e: Event, out: &mut Vec<PeerOutput>) {
        match e {
            Event::Connected => {
                self.connected = true;
                self.negotiate();
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => self.close(),
            Event::MediaAdded(m) if m.direction == Direction::RecvOnly => match m.kind {
                MediaKind::Audio => self.audio_in = self.audio_in.or(Some(m.mid)),
                MediaKind::Video => self.video_in = self.video_in.or(Some(m.mid)),
            },
            Event::MediaData(d) => {
                let stream = if Some(d.mid) == self.audio_in {
                    Stream::Audio
                } else if Some(d.mid) == self.video_in {
                    Stream::Video(layer_of(d.rid.as_deref()))
                } else {
                    return;
                };
                let audio_level = match (stream, d.ext_vals.audio_level) {
                    (Stream::Audio, Some(l)) => l.unsigned_abs().min(SILENT_LEVEL),
                    _ => SILENT_LEVEL,
                };
                out.push(PeerOutput::Frame {
                    stream,
                    keyframe: stream.is_video() && d.is_keyframe(),
                    audio_level,
                    time: d.time,
                    data: d.data,
                });
            }
            Event::KeyframeRequest(req) => {
                let publisher = self
                    .out
                    .iter()
                    .find(|(_, t)| t.video == Some(req.mid))
                    .map(|(s, _)| *s);
                if let Some(publisher) = publisher {
                    if now.saturating_duration_since(self.asks.0) >= Duration::from_secs(1) {
                        self.asks = (now, 0);
                    }
                    self.asks.1 += 1;
                    if self.asks.1 > KEYFRAME_ASKS_PER_SEC {
                        out.push(PeerOutput::KeyframeFlood);
                    } else {
                        out.push(PeerOutput::KeyframeRequest { publisher });
                    }
                }
            }
            Event::ChannelOpen(id, label) if label == "conclave" => {
                self.channel = Some(id);
                self.send(&ToBrowser::Welcome {
                    source_id: self.source,
                });
                while let Some(text) = self.queued.pop_front() {
                    if let Some(mut ch) = self.rtc.channel(id) {
                        let _ = ch.write(false, text.as_bytes());
                    }
                }
                self.negotiate();
            }
            Event::ChannelData(d) if Some(d.id) == self.channel => match channel::parse(&d.data) {
                Parsed::Message(FromBrowser::Answer { sdp }) => self.on_answer(&sdp, out),
                Parsed::Message(FromBrowser::Layer { max_layer }) => {
                    out.push(PeerOutput::Layer { max_layer })
                }
                Parsed::Message(FromBrowser::Leave {}) => out.push(PeerOutput::Leave),
                Parsed::Unknown => {}
                Parsed::Invalid => out.push(PeerOutput::BadMessage),
            },
            Event::ChannelClose(id) if Some(id) == self.channel => self.close(),
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate, .. }) => {
                out.push(PeerOutput::Bandwidth(estimate.as_u64()))
            }
            _ => {}
        }
    }

    fn on_answer(&mut self, sdp: &str, out: &mut Vec<PeerOutput>) {
        let Some(pending) = self.pending.take() else {
            return out.push(PeerOutput::BadMessage);
        };
        let Ok(answer) = SdpAnswer::from_sdp_string(sdp) else {
            return out.push(PeerOutput::BadMessage);
        };
        if self.rtc.sdp_api().accept_answer(pending, answer).is_err() {
            return out.push(PeerOutput::BadMessage);
        }
        for t in self.out.values_mut() {
            t.open = true;
        }
        // Members may have come or gone meanwhile.
        self.negotiate();
    }
}

/// The relay's stream for a simulcast `rid` (`l0`, `l1`, `l2`; none: L0).
pub fn layer_of(rid: Option<&str>) -> Layer {
    match rid {
        Some("l1") => Layer::L1,
        Some("l2") => Layer::L2,
        _ => Layer::L0,
    }
}

fn rid_of(layer: Layer) -> &'static str {
    match layer {
        Layer::L0 => "l0",
        Layer::L1 => "l1",
        Layer::L2 => "l2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rids_map_to_layers() {
        assert_eq!(layer_of(None), Layer::L0);
        assert_eq!(layer_of(Some("l0")), Layer::L0);
        assert_eq!(layer_of(Some("l1")), Layer::L1);
        assert_eq!(layer_of(Some("l2")), Layer::L2);
        assert_eq!(layer_of(Some("h")), Layer::L0);
        for l in Layer::ALL {
            assert_eq!(layer_of(Some(rid_of(l))), l);
        }
    }
}
