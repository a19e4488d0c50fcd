//! Conclave's wire formats: everything that crosses the network in clear, as strict,
//! panic-free parsers and their encoders. This crate depends on nothing else of Conclave's,
//! so that the relay can read clear headers without linking any cryptography.
//!
//! - [`sframe`]: the SFrame (RFC 9605) header and Conclave's KID layout (epoch, sender index).
//! - [`container`]: the secure communication container and the device certificate, as bytes.
//! - [`bundle`]: the public bundle JSON (certified device keys plus signed one-time prekeys).
//! - [`media`]: the native media datagrams (join, media fragments, feedback, control).
//!
//! The normative description of every byte is `docs/PROTOCOL.md`.

pub mod b64;
pub mod bundle;
mod codec;
pub mod container;
mod error;
pub mod media;
pub mod sframe;

pub use codec::{Reader, Writer};
pub use error::WireError;
