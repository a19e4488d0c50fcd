//! The media plane (docs/PROTOCOL.md §11–12): the sans-IO router that decides who receives
//! each media datagram, and the transports that feed it.
//!
//! - [`router`]: meetings, participants, forwarding decisions, keyframes, layers, speaker,
//!   epochs.
//! - [`native`]: the native datagram transport (§11): UDP workers, one router each.
//! - [`webrtc`]: browsers over WebRTC (§13), on str0m, in the same workers and routers.

pub mod router;

pub mod native;
pub mod webrtc;

use std::net::SocketAddr;

use router::ParticipantId;

/// Where a router participant's media goes: a native session's UDP address, or a WebRTC
/// peer (by its source id) of the same worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dest {
    Udp(SocketAddr),
    Rtc(ParticipantId),
}
