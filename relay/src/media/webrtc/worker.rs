//! The worker core's WebRTC side: offers become peers and router participants; datagrams
//! of the WebRTC socket go to the peer that accepts them; browser frames are routed like
//! native ones (the same router decides who receives them) and reach native subscribers
//! as `MEDIA_FWD` fragments; native codec frames reach browsers whole; the router's
//! control messages become data-channel messages and keyframe requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use conclave_wire::media::{
    Body, CloseReason, MAX_DATAGRAM, MAX_FRAGMENT, MediaHeader, ReceiverReport, SILENT_LEVEL,
    Stream, encode,
};
use str0m::Input;
use str0m::media::MediaTime;
use str0m::net::{Protocol, Receive};

use super::channel::ToBrowser;
use super::peer::{Peer, PeerIdentity, PeerOutput};
use super::{BridgeTx, OfferCommand, OfferRefused};
use crate::media::Dest;
use crate::media::native::core::WorkerCore;
use crate::media::native::pins::MeetingBytes;
use crate::media::native::stats::Drop;
use crate::media::router::{ControlMsg, MeetingKey, ParticipantId};

/// Peers polled per drive before the worker turns to its sockets again.
const MAX_DRIVE_STEPS: usize = 100_000;

impl WorkerCore {
    /// A browser's offer: admitted like a `JOIN` (same refusals), answered by a new peer.
    pub(crate) fn on_webrtc_offer(&mut self, now: Instant, wall_ms: u64, cmd: OfferCommand) {
        let OfferCommand { join, offer, reply } = cmd;
        let refused = if !self.rtc.enabled() {
            Some(OfferRefused::Unavailable)
        } else if join.expires_ms <= wall_ms {
            Some(OfferRefused::Rejected(
                conclave_wire::media::RejectReason::TicketExpired,
            ))
        } else if join.worker != self.table.config().worker {
            Some(OfferRefused::Rejected(
                conclave_wire::media::RejectReason::WrongWorker,
            ))
        } else if self
            .rtc
            .peers
            .values()
            .any(|p| p.id.session_id == join.session_id)
        {
            Some(OfferRefused::Rejected(
                conclave_wire::media::RejectReason::SessionClosed,
            ))
        } else {
            self.table
                .refusal(&join, self.rtc.len())
                .map(OfferRefused::Rejected)
        };
        if let Some(r) = refused {
            let _ = reply.send(Err(r));
            return;
        }
        let meeting = MeetingKey(join.meeting_id);
        let source = self.router.add_participant(now, meeting, Dest::Rtc(0));
        self.router.set_dest(source, Dest::Rtc(source));
        let id = PeerIdentity {
            meeting,
            device: join.device_id,
            session_id: join.session_id,
            expires_ms: join.expires_ms,
        };
        match Peer::accept(now, id, source, offer, &self.rtc.candidates) {
            Ok((mut peer, answer)) => {
                let ufrag = peer.rtc.direct_api().local_ice_credentials().ufrag;
                self.rtc.by_ufrag.insert(ufrag, source);
                self.rtc.peers.insert(source, peer);
                self.table.add_other(join.meeting_id);
                self.rtc.bridge_tx.insert(source, BridgeTx::default());
                self.counters.joins += 1;
                let _ = reply.send(Ok(answer.to_sdp_string()));
                self.rtc.dirty.push(source);
                self.drain_router();
                self.members_changed(now, meeting);
            }
            Err(e) => {
                self.router.remove_participant(now, source);
                self.drain_router();
                self.table.release_pin(&join.meeting_id);
                let _ = reply.send(Err(OfferRefused::BadSdp(e.to_string())));
            }
        }
    }

    /// One datagram on the WebRTC socket.
    pub fn on_rtc_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: SocketAddr,
        buf: &[u8],
    ) {
        self.counters.datagrams_in += 1;
        self.counters.bytes_in += buf.len() as u64;
        let Ok(contents) = buf.try_into() else {
            self.counters.drop(Drop::RtcUnknownPeer);
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: local,
                contents,
            },
        );
        // A known address, else the peer a binding request names; nothing else from a new
        // address is read (ICE precedes DTLS and SRTP).
        let accepts = |id: &ParticipantId| {
            self.rtc
                .peers
                .get(id)
                .is_some_and(|p| p.rtc.accepts(&input))
        };
        let id = self
            .rtc
            .by_addr
            .get(&from)
            .copied()
            .filter(accepts)
            .or_else(|| {
                super::stun::local_ufrag(buf)
                    .and_then(|u| self.rtc.by_ufrag.get(u).copied())
                    .filter(accepts)
            });
        let Some(id) = id else {
            self.counters.drop(Drop::RtcUnknownPeer);
            return;
        };
        self.rtc.by_addr.insert(from, id);
        if let Some(p) = self.rtc.peers.get_mut(&id)
            && !p.handle_input(input)
        {
            self.counters.drop(Drop::RtcBadInput);
        }
        self.rtc.dirty.push(id);
        self.drive(now);
    }

    /// Time for the peers whose timers are due (and for frames stuck in reassembly).
    pub(crate) fn rtc_timeout(&mut self, now: Instant) {
        if self.rtc.is_empty() {
            return;
        }
        let due: Vec<ParticipantId> = self
            .rtc
            .timeouts
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(p) = self.rtc.peers.get_mut(&id) {
                let _ = p.handle_input(Input::Timeout(now));
            }
            self.rtc.dirty.push(id);
        }
        self.rtc.assembler.expire(now, None);
        self.drive(now);
    }

    /// Polls every dirty peer and acts on what it says, until none is dirty.
    pub(crate) fn drive(&mut self, now: Instant) {
        if self.rtc.driving {
            return;
        }
        self.rtc.driving = true;
        let mut steps = 0;
        while let Some(id) = self.rtc.dirty.pop() {
            steps += 1;
            if steps > MAX_DRIVE_STEPS {
                break;
            }
            let mut outs = std::mem::take(&mut self.rtc.scratch);
            let alive = match self.rtc.peers.get_mut(&id) {
                Some(p) => {
                    match p.poll(now, &mut outs) {
                        Some(t) => self.rtc.timeouts.insert(id, t),
                        None => self.rtc.timeouts.remove(&id),
                    };
                    p.is_alive()
                }
                None => false,
            };
            for o in outs.drain(..) {
                self.on_peer_output(now, id, o);
            }
            self.rtc.scratch = outs;
            if !alive && self.rtc.peers.contains_key(&id) {
                self.remove_peer(now, id, None);
            }
        }
        self.rtc.driving = false;
    }

    fn on_peer_output(&mut self, now: Instant, id: ParticipantId, o: PeerOutput) {
        match o {
            PeerOutput::Transmit { dest, data } => self.rtc.transmits.push_back((dest, data)),
            PeerOutput::Frame {
                stream,
                keyframe,
                audio_level,
                time,
                data,
            } => self.route_browser_frame(now, id, stream, keyframe, audio_level, time, data),
            PeerOutput::KeyframeRequest { publisher } => {
                // The layer the browser decodes now (its decoder is what asks), and the one
                // it waits to switch to, if another.
                let (current, target) = self.router.video_layer(id, publisher).unwrap_or_default();
                let first = current
                    .or(target)
                    .unwrap_or(conclave_wire::media::Layer::L0);
                self.router
                    .on_keyframe_request(now, id, publisher, Stream::Video(first));
                if let Some(t) = target.filter(|t| *t != first) {
                    self.router
                        .on_keyframe_request(now, id, publisher, Stream::Video(t));
                }
                self.drain_router();
            }
            PeerOutput::Layer { max_layer } => {
                self.router.on_layer_preference(now, id, max_layer);
                self.drain_router();
            }
            PeerOutput::Bandwidth(bps) => {
                let kbps = u32::try_from(bps / 1000).unwrap_or(u32::MAX);
                self.router
                    .on_receiver_report(now, id, &ReceiverReport::new(kbps, Vec::new()));
                self.drain_router();
            }
            PeerOutput::BadMessage => self.counters.drop(Drop::RtcBadMessage),
            PeerOutput::KeyframeFlood => self.counters.drop(Drop::KeyframeFlood),
            PeerOutput::Leave => self.remove_peer(now, id, Some(CloseReason::Left)),
        }
    }

    /// A browser's frame: fragments routed one by one (as if a native client had sent
    /// them); native subscribers get each fragment as `MEDIA_FWD`, the browsers chosen for
    /// fragment 0 the whole frame.
    #[allow(clippy::too_many_arguments)]
    fn route_browser_frame(
        &mut self,
        now: Instant,
        from: ParticipantId,
        stream: Stream,
        keyframe: bool,
        audio_level: u8,
        time: MediaTime,
        data: Arc<[u8]>,
    ) {
        let Ok(frag_count) = u16::try_from(data.len().div_ceil(MAX_FRAGMENT)) else {
            return self.counters.drop(Drop::RtcFrame);
        };
        if frag_count == 0 || frag_count > conclave_wire::media::MAX_FRAG_COUNT {
            return self.counters.drop(Drop::RtcFrame);
        }
        let tx = self.rtc.bridge_tx.entry(from).or_default();
        let slot = stream.index();
        let frame_number = tx.frame_numbers.get(slot).copied().unwrap_or(0);
        if let Some(n) = tx.frame_numbers.get_mut(slot) {
            *n = frame_number.wrapping_add(1);
        }
        let mut targets = std::mem::take(&mut self.rtc.targets);
        targets.clear();
        let mut buf = [0u8; MAX_DATAGRAM];
        for (i, chunk) in data.chunks(MAX_FRAGMENT).enumerate() {
            let header = MediaHeader {
                stream,
                keyframe,
                codec: true,
                audio_level: if stream == Stream::Audio {
                    audio_level
                } else {
                    SILENT_LEVEL
                },
                frame_number,
                frag_index: i as u16,
                frag_count,
            };
            let mut dests = std::mem::take(&mut self.route_dests);
            if self
                .router
                .route_media(now, from, &header, chunk, &mut dests)
                .is_err()
            {
                self.route_dests = dests;
                self.counters.drop(Drop::RtcFrame);
                break;
            }
            if i == 0 {
                targets.extend(dests.iter().filter_map(|d| match d {
                    Dest::Rtc(p) => Some(*p),
                    Dest::Udp(_) => None,
                }));
            }
            if dests.iter().any(|d| matches!(d, Dest::Udp(_))) {
                let pn = {
                    let tx = self.rtc.bridge_tx.entry(from).or_default();
                    tx.pn += 1;
                    tx.pn - 1
                };
                let body = Body::MediaFwd {
                    header,
                    fragment: chunk,
                };
                if let Ok(n) = encode(&mut buf, from, pn, &body) {
                    for d in &dests {
                        if let (Dest::Udp(a), Some(bytes)) = (d, buf.get(..n)) {
                            self.rtc.bridged.push_back((*a, bytes.to_vec()));
                        }
                    }
                }
            }
            self.route_dests = dests;
        }
        self.drain_router();
        let audio = stream == Stream::Audio;
        for t in &targets {
            if let Some(p) = self.rtc.peers.get_mut(t)
                && p.write_frame(now, from, audio, audio_level, Some(time), &data)
            {
                self.rtc.dirty.push(*t);
            }
        }
        self.rtc.targets = targets;
    }

    /// A native fragment that the router sent (also) to browsers: codec frames are
    /// reassembled and written to them whole; other frames cannot be decoded by a browser.
    pub(crate) fn native_to_rtc(
        &mut self,
        now: Instant,
        source: ParticipantId,
        header: &MediaHeader,
        fragment: &[u8],
    ) {
        if !header.codec {
            if header.is_first_fragment() {
                self.counters.drop(Drop::NotCodec);
            }
            return;
        }
        let targets = self.route_dests.iter().filter_map(|d| match d {
            Dest::Rtc(p) => Some(*p),
            Dest::Udp(_) => None,
        });
        let Some((frame, targets)) = self
            .rtc
            .assembler
            .push(now, source, header, fragment, targets)
        else {
            return;
        };
        let audio = header.stream == Stream::Audio;
        for t in targets {
            if let Some(p) = self.rtc.peers.get_mut(&t)
                && p.write_frame(now, source, audio, header.audio_level, None, &frame)
            {
                self.rtc.dirty.push(t);
            }
        }
        self.drive(now);
    }

    /// A router control message for a participant that has no native session.
    pub(crate) fn control_to_peer(&mut self, to: ParticipantId, msg: ControlMsg) {
        let Some(p) = self.rtc.peers.get_mut(&to) else {
            return;
        };
        match msg {
            ControlMsg::KeyframeRequest {
                stream: Stream::Video(layer),
            } => p.request_keyframe(layer),
            ControlMsg::KeyframeRequest { .. } => return,
            ControlMsg::ActiveSpeaker { source } => {
                p.send(&ToBrowser::ActiveSpeaker { source_id: source })
            }
            ControlMsg::SourceGone { source } => {
                p.send(&ToBrowser::SourceGone { source_id: source })
            }
            ControlMsg::EpochBehind { meeting_epoch } => {
                p.send(&ToBrowser::EpochBehind { meeting_epoch })
            }
        }
        self.rtc.dirty.push(to);
    }

    /// Someone joined or left `meeting`: its browsers renegotiate their received tracks.
    pub(crate) fn members_changed(&mut self, now: Instant, meeting: MeetingKey) {
        if self.rtc.is_empty() {
            return;
        }
        let members = self.router.members(&meeting).to_vec();
        for (id, p) in self.rtc.peers.iter_mut() {
            if p.id.meeting == meeting {
                p.set_members(members.iter().copied());
                self.rtc.dirty.push(*id);
            }
        }
        self.drive(now);
    }

    /// Ends a peer: `closed(reason)` to the browser when there is a reason, out of the
    /// router, its session id remembered as closed.
    pub(crate) fn remove_peer(
        &mut self,
        now: Instant,
        id: ParticipantId,
        reason: Option<CloseReason>,
    ) {
        let Some(mut p) = self.rtc.peers.remove(&id) else {
            return;
        };
        if let Some(r) = reason {
            p.send(&ToBrowser::Closed { reason: r as u8 });
            let mut outs = Vec::new();
            let _ = p.poll(now, &mut outs);
            for o in outs {
                if let PeerOutput::Transmit { dest, data } = o {
                    self.rtc.transmits.push_back((dest, data));
                }
            }
        }
        p.close();
        self.rtc.by_addr.retain(|_, v| *v != id);
        self.rtc.by_ufrag.retain(|_, v| *v != id);
        self.rtc.timeouts.remove(&id);
        self.rtc.bridge_tx.remove(&id);
        self.rtc.assembler.expire(now, Some(id));
        self.table.record_closed(p.id.session_id, p.id.expires_ms);
        self.router.remove_participant(now, id);
        self.counters.closes += 1;
        self.drain_router();
        let meeting = p.id.meeting;
        self.table.remove_other(&meeting.0);
        self.members_changed(now, meeting);
    }

    /// The control plane refused `device`'s tickets in `meeting` (see `Command::Refuse`).
    pub(crate) fn refuse_peers(
        &mut self,
        now: Instant,
        meeting: MeetingBytes,
        device: Option<[u8; 16]>,
        expiring_by: u64,
        reason: CloseReason,
    ) {
        let gone: Vec<ParticipantId> = self
            .rtc
            .peers
            .iter()
            .filter(|(_, p)| {
                p.id.meeting.0 == meeting
                    && device.is_none_or(|d| d == p.id.device)
                    && p.id.expires_ms <= expiring_by
            })
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.remove_peer(now, id, Some(reason));
        }
    }

    /// `DELETE` of a browser's session.
    pub(crate) fn close_peer_session(
        &mut self,
        now: Instant,
        meeting: MeetingBytes,
        session_id: [u8; 16],
    ) {
        let id = self
            .rtc
            .peers
            .iter()
            .find(|(_, p)| p.id.meeting.0 == meeting && p.id.session_id == session_id)
            .map(|(id, _)| *id);
        if let Some(id) = id {
            self.remove_peer(now, id, Some(CloseReason::Left));
        }
    }

    /// Every peer, at shutdown.
    pub(crate) fn close_all_peers(&mut self, now: Instant, reason: CloseReason) {
        let ids: Vec<ParticipantId> = self.rtc.peers.keys().copied().collect();
        for id in ids {
            self.remove_peer(now, id, Some(reason));
        }
    }

    /// The next datagram for the WebRTC socket.
    pub fn poll_rtc_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.rtc.poll_transmit()
    }

    /// The next bridged `MEDIA_FWD` for the native socket.
    pub fn poll_bridged(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.rtc.poll_bridged()
    }
}
