//! The media plane (docs/PROTOCOL.md §11–12): the sans-IO router that decides who receives
//! each media datagram, and the transports that feed it.
//!
//! - [`router`]: meetings, participants, forwarding decisions, keyframes, layers, speaker,
//!   epochs.

pub mod router;

pub mod native;
