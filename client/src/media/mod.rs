//! The media plane of a client (PROTOCOL §11–12): end-to-end encrypted audio, video and
//! files through the relay's native datagram transport.
//!
//! Layers, each sans IO but the last:
//! - [`frame`]: the plaintext header inside the encryption (§12.1).
//! - [`source`], [`file`]: synthetic audio and simulcast video, the file carousel and its
//!   receiver-side assembler (§12.2).
//! - [`codec_file`]: real VP8 (IVF) and Opus (Ogg) frames, sent as codec frames (§13.1).
//! - [`packetize`], [`reassembly`]: fragments of at most one datagram (§11.3).
//! - [`session`]: [`MediaSession`], the transport: join, tags, replay window, keepalive,
//!   feedback, control messages. Sealed frames in, sealed frames out.
//! - [`pipeline`]: [`MediaPipeline`], the session with the sources, SFrame through
//!   [`crate::meeting::MeetingCrypto`], the staged epoch switch and per-participant stats.
//! - [`client`]: [`MediaClient`], a tokio task running a pipeline on a UDP socket.

pub mod client;
pub mod codec_file;
pub mod feedback;
pub mod file;
pub mod frame;
pub mod packetize;
pub mod pipeline;
pub mod reassembly;
pub mod session;
pub mod source;
pub mod stats;
pub mod tag;

pub use client::{MediaClient, MediaClientConfig, MediaCommandError};
pub use codec_file::{CodecFileError, CodecFileSource, parse_ivf, parse_ogg_opus};
pub use file::{FileAssembler, FileSource, ReceivedFile};
pub use frame::FrameHeader;
pub use pipeline::{DeliveredFrame, MediaEvent, MediaPipeline, PipelineConfig};
pub use session::{
    MediaSession, MediaTicket, SessionConfig, SessionEnd, SessionEvent, SessionStats, Transmit,
};
pub use source::{AudioConfig, AudioSource, Source, SourceFrame, VideoConfig, VideoSource};
pub use stats::{MediaStats, ParticipantStats};

pub use conclave_wire::media::{CloseReason, Layer, RejectReason, Stream};

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod fake_relay;
#[cfg(test)]
mod loopback_tests;
