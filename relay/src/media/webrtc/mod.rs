//! Browsers over WebRTC (docs/PROTOCOL.md §13), on str0m. Each media worker owns one
//! WebRTC UDP socket (ICE-lite, all its browsers multiplexed on it) beside its native
//! socket, and its browsers are participants of the same [`crate::media::router::Router`]
//! as its native sessions: a meeting's browsers and native clients receive each other.
//! The relay terminates ICE, DTLS-SRTP and RTCP hop by hop; the frames stay SFrame-encrypted
//! end to end (codec frames, §13.1) and the relay never holds a media key.
//!
//! - [`signal`]: the `Ticket` credential over the offer, and offer checks.
//! - [`channel`]: the `conclave` data channel's messages.
//! - [`peer`]: one browser around a str0m `Rtc`: renegotiation, frames, keyframe limits.
//! - [`bridge`]: native fragments ⇄ whole frames.
//! - [`stun`]: which peer a binding request from a new address is for.
//! - `worker`: the worker core's WebRTC side: offers, datagrams, routing of browser frames,
//!   control messages, membership, timeouts.

pub mod bridge;
pub mod channel;
pub mod peer;
pub mod signal;
pub mod stun;
mod worker;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::mpsc::SyncSender;
use std::time::Instant;

use conclave_wire::media::{Join, RejectReason};
use str0m::change::SdpOffer;

use crate::media::router::ParticipantId;
use bridge::Assembler;
use peer::{Peer, PeerOutput};

/// Why an offer was not answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfferRefused {
    /// A valid ticket, refused (as `JOIN_REJECT` would be).
    Rejected(RejectReason),
    /// str0m could not answer the offer.
    BadSdp(String),
    /// The worker is gone (the relay is stopping).
    Unavailable,
}

/// A browser's offer for a worker, with where to send the answer.
#[derive(Debug)]
pub struct OfferCommand {
    pub join: Join,
    pub offer: SdpOffer,
    pub reply: SyncSender<Result<String, OfferRefused>>,
}

/// Per-publisher state of frames bridged to native subscribers.
#[derive(Debug, Default, Clone, Copy)]
struct BridgeTx {
    pn: u64,
    frame_numbers: [u32; 5],
}

/// A worker's WebRTC peers and the queues between them and the sockets.
#[derive(Debug, Default)]
pub struct RtcPeers {
    candidates: Vec<SocketAddr>,
    peers: HashMap<ParticipantId, Peer>,
    by_addr: HashMap<SocketAddr, ParticipantId>,
    /// The relay's ICE ufrag of each peer (a binding request's `USERNAME` names it).
    by_ufrag: HashMap<String, ParticipantId>,
    timeouts: HashMap<ParticipantId, Instant>,
    /// Peers to poll (new input, frames written, control messages).
    dirty: Vec<ParticipantId>,
    driving: bool,
    /// Datagrams for the WebRTC socket.
    transmits: VecDeque<(SocketAddr, Vec<u8>)>,
    /// `MEDIA_FWD` datagrams of browser frames for the native socket.
    bridged: VecDeque<(SocketAddr, Vec<u8>)>,
    assembler: Assembler,
    bridge_tx: HashMap<ParticipantId, BridgeTx>,
    scratch: Vec<PeerOutput>,
    targets: Vec<ParticipantId>,
}

impl RtcPeers {
    pub fn new(candidates: Vec<SocketAddr>) -> Self {
        RtcPeers {
            candidates,
            ..RtcPeers::default()
        }
    }

    /// Is WebRTC served by this worker?
    pub fn enabled(&self) -> bool {
        !self.candidates.is_empty()
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// When the next peer wants time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timeouts.values().min().copied()
    }

    /// The next datagram for the WebRTC socket.
    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmits.pop_front()
    }

    /// The next bridged `MEDIA_FWD` for the native socket.
    pub fn poll_bridged(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.bridged.pop_front()
    }
}
