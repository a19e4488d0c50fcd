//! The native datagram transport (docs/PROTOCOL.md §11): UDP workers, one OS thread and one
//! socket each, that admit sessions with the control plane's join tickets, drop every
//! forged, replayed or foreign datagram before routing, and forward each `MEDIA` datagram
//! as one `MEDIA_FWD` — the same bytes to every subscriber — batched with `sendmmsg` and
//! UDP GSO when switched on.
//!
//! - [`ticket`]: the session key and the ingress tag.
//! - [`table`]: the sans-IO session table (joins, authentication, replay, timeouts).
//! - [`core`]: the sans-IO worker (session table + router): datagrams in, decisions out.
//! - [`egress`], [`sys`]: batching and the system calls (`recvmmsg`, `sendmmsg`,
//!   `UDP_SEGMENT`).
//! - [`worker`]: the I/O shell of one worker thread.
//! - [`plane`]: starting the workers, tickets, membership commands, shutdown.
//! - [`pins`], [`command`], [`stats`]: meeting → worker pinning, control-plane commands,
//!   counters.

pub mod command;
pub mod core;
pub mod egress;
pub mod pins;
pub mod plane;
pub mod stats;
pub mod sys;
pub mod table;
pub mod ticket;
pub mod worker;

#[cfg(test)]
mod testkit;

pub use plane::{MediaPlane, Ticket};
pub use stats::{Counters, Drop, MediaStats, Totals};
