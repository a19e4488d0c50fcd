use thiserror::Error;

use super::DatagramType;

/// Why a datagram (or a value to encode) is refused. Cheap to copy and allocation-free, so
/// that receivers can count drops by [`DatagramError::reason`] on the hot path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DatagramError {
    #[error("datagram of {len} bytes exceeds MAX_DATAGRAM")]
    TooLong { len: usize },
    #[error("datagram of {len} bytes is shorter than its type's minimum")]
    Truncated { len: usize },
    #[error("unknown datagram type {0:#04x}")]
    UnknownType(u8),
    #[error("{0:?} is not meant for this direction")]
    WrongDirection(DatagramType),
    #[error("{ty:?} body of {len} bytes does not match its type")]
    BodyLength { ty: DatagramType, len: usize },
    #[error("{0:?} with an invalid conn_id (0 in JOIN only)")]
    ConnId(DatagramType),
    #[error("source id 0")]
    ZeroSourceId,
    #[error("invalid stream {0}")]
    InvalidStream(u8),
    #[error("reserved flag bits set: {0:#04x}")]
    ReservedFlags(u8),
    #[error("keyframe flag on a non-video stream")]
    KeyframeNotVideo,
    #[error("audio level {0} above 127")]
    AudioLevel(u8),
    #[error("video or data header with audio level {0} (must be 127)")]
    LevelNotSilent(u8),
    #[error("frag_count {0} outside 1..=1024")]
    FragCount(u16),
    #[error("frag_index {index} not below frag_count {count}")]
    FragIndex { index: u16, count: u16 },
    #[error("empty fragment")]
    EmptyFragment,
    #[error("fragment of {0} bytes exceeds MAX_FRAGMENT")]
    FragmentTooLong(usize),
    #[error("fragment {0} bytes: every fragment but the last is exactly MAX_FRAGMENT")]
    FragmentNotFull(usize),
    #[error("receiver report with {0} entries (at most 64)")]
    ReportCount(usize),
    #[error("invalid layer preference {0}")]
    InvalidLayer(u8),
    #[error("invalid reason code {0}")]
    InvalidReason(u8),
    #[error("epoch {0} out of range")]
    EpochOutOfRange(u64),
    #[error("buffer too small: need {need} bytes")]
    BufferTooSmall { need: usize },
}

impl DatagramError {
    /// A short, stable label for counting drops by reason (metrics, logs). Carries no
    /// value from the datagram.
    pub fn reason(&self) -> &'static str {
        match self {
            DatagramError::TooLong { .. } => "too_long",
            DatagramError::Truncated { .. } => "truncated",
            DatagramError::UnknownType(_) => "unknown_type",
            DatagramError::WrongDirection(_) => "wrong_direction",
            DatagramError::BodyLength { .. } => "body_length",
            DatagramError::ConnId(_) => "conn_id",
            DatagramError::ZeroSourceId => "zero_source_id",
            DatagramError::InvalidStream(_) => "invalid_stream",
            DatagramError::ReservedFlags(_) => "reserved_flags",
            DatagramError::KeyframeNotVideo => "keyframe_not_video",
            DatagramError::AudioLevel(_) => "audio_level",
            DatagramError::LevelNotSilent(_) => "level_not_silent",
            DatagramError::FragCount(_) => "frag_count",
            DatagramError::FragIndex { .. } => "frag_index",
            DatagramError::EmptyFragment => "empty_fragment",
            DatagramError::FragmentTooLong(_) => "fragment_too_long",
            DatagramError::FragmentNotFull(_) => "fragment_not_full",
            DatagramError::ReportCount(_) => "report_count",
            DatagramError::InvalidLayer(_) => "invalid_layer",
            DatagramError::InvalidReason(_) => "invalid_reason",
            DatagramError::EpochOutOfRange(_) => "epoch_out_of_range",
            DatagramError::BufferTooSmall { .. } => "buffer_too_small",
        }
    }
}
