//! The native media datagram transport (docs/PROTOCOL.md §11): every datagram between a
//! native client and the relay's media workers, as strict total parsers and allocation-free
//! encoders into caller buffers.
//!
//! ```text
//! datagram = prefix (13) ‖ body ‖ tag (16, every type except MEDIA_FWD)
//! prefix   = u8 type ‖ u32 conn_id ‖ u64 pn
//! ```
//!
//! This crate holds no cryptography: [`Datagram::authenticated`] and [`Datagram::tag`] split
//! a datagram for the caller's HMAC, and [`encode_tagged`] takes the tag function as a
//! closure. [`media_to_fwd`] rewrites a verified `MEDIA` datagram into the `MEDIA_FWD` the
//! relay sends unchanged to every subscriber.
//!
//! - [`Stream`], [`Layer`], [`MediaHeader`]: the 11-byte media header (§11.3).
//! - [`Datagram`], [`Body`], [`parse`], [`encode`]: the datagram types of §11.2.
//! - [`ReceiverReport`], [`ReportEntry`]: receiver feedback.
//! - [`ReplayWindow`]: the per-session packet-number replay window (`W = 1024`).

mod datagram;
mod error;
mod header;
mod replay;
mod report;

pub use datagram::{
    Body, CloseReason, Datagram, DatagramType, Direction, Join, JoinAck, Prefix, RejectReason,
    encode, encode_tagged, media_to_fwd, parse,
};
pub use error::DatagramError;
pub use header::{Layer, MediaHeader, Stream, codec_clear_len};
pub use replay::ReplayWindow;
pub use report::{ReceiverReport, ReportEntry};

/// The largest datagram either side sends or accepts.
pub const MAX_DATAGRAM: usize = 1200;
/// `type ‖ conn_id ‖ pn`.
pub const PREFIX_LEN: usize = 13;
/// The truncated HMAC-SHA256 ingress tag at the end of every tagged datagram.
pub const TAG_LEN: usize = 16;
/// `stream ‖ flags ‖ audio_level ‖ frame_number ‖ frag_index ‖ frag_count`.
pub const MEDIA_HEADER_LEN: usize = 11;
/// The size of every fragment but the last of a frame; the largest fragment.
pub const MAX_FRAGMENT: usize = MAX_DATAGRAM - PREFIX_LEN - MEDIA_HEADER_LEN - TAG_LEN;
/// The most fragments one frame may have.
pub const MAX_FRAG_COUNT: u16 = 1024;
/// The most entries in one receiver report.
pub const MAX_REPORT_ENTRIES: usize = 64;
/// One receiver report entry: `source_id ‖ stream ‖ fraction_lost ‖ cumulative_lost ‖ jitter_us`.
pub const REPORT_ENTRY_LEN: usize = 14;
/// `audio_level` of silence, and the value every video and data header carries (−dBov).
pub const SILENT_LEVEL: u8 = 127;
/// `LAYER_PREFERENCE` byte meaning "no video".
pub const NO_VIDEO: u8 = 0xff;
/// Packet numbers the replay window remembers below the highest accepted one.
pub const REPLAY_WINDOW: u64 = 1024;
/// The label the session key is derived with (§11.1).
pub const SESSION_KEY_LABEL: &[u8] = b"conclave-v1 media-session";
/// The largest epoch a KID can carry (48 bits, §6): `EPOCH_BEHIND` values above it are invalid.
pub const MAX_EPOCH: u64 = crate::sframe::MediaKid::MAX_EPOCH;
