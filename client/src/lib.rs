//! The Conclave client SDK: the end-to-end encryption protocol, written only against the
//! [`conclave_crypto::CryptoProvider`] trait.
//!
//! - [`identity`]: user, app and device keys, the device certificate, signed prekeys, and
//!   their storage in a directory.
//! - [`hpke`]: RFC 9180 base mode on the provider.
//! - [`container`]: sealing and opening secure communication containers.
//! - [`meeting`]: meeting ids, meeting keys, epochs, rosters, per-sender media keys, rekey.
//! - [`sframe`]: RFC 9605 frame encryption with per-KID replay windows.
//! - [`media`]: the media plane: sources, the datagram transport, the send and receive
//!   pipelines around [`meeting::MeetingCrypto`], and a tokio client.
//! - [`api`]: the relay's control API (async, tokio): typed client, push channel, and
//!   [`api::Session`], an identity tied to a relay account.
//!
//! `docs/PROTOCOL.md` is the normative description of every byte.

pub mod api;
pub mod container;
mod error;
pub mod hpke;
pub mod identity;
pub mod media;
pub mod meeting;
pub mod sframe;

pub use error::{ClientError, Result};
