//! Splitting a sealed frame into fragments (PROTOCOL §11.3): every fragment but the last
//! carries exactly [`MAX_FRAGMENT`] bytes, none is empty, at most [`MAX_FRAG_COUNT`].

use conclave_wire::media::{MAX_FRAG_COUNT, MAX_FRAGMENT, MediaHeader, Stream};
use thiserror::Error;

/// The largest frame that fits in [`MAX_FRAG_COUNT`] fragments.
pub const MAX_FRAME: usize = MAX_FRAGMENT * MAX_FRAG_COUNT as usize;

/// Why a frame cannot be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PacketizeError {
    #[error("empty frame")]
    Empty,
    #[error("frame of {0} bytes exceeds the largest fragmentable frame")]
    TooLarge(usize),
}

/// The clear fields of a frame, common to its fragments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameMeta {
    pub stream: Stream,
    pub keyframe: bool,
    /// A codec frame (PROTOCOL §13.1).
    pub codec: bool,
    pub audio_level: u8,
    pub frame_number: u32,
}

/// How many fragments a frame of `len` bytes takes.
pub fn fragment_count(len: usize) -> Result<u16, PacketizeError> {
    if len == 0 {
        return Err(PacketizeError::Empty);
    }
    u16::try_from(len.div_ceil(MAX_FRAGMENT))
        .ok()
        .filter(|&n| n <= MAX_FRAG_COUNT)
        .ok_or(PacketizeError::TooLarge(len))
}

/// The fragments of `frame` with their media headers, in order.
pub fn fragments<'a>(
    meta: FrameMeta,
    frame: &'a [u8],
) -> Result<impl ExactSizeIterator<Item = (MediaHeader, &'a [u8])> + 'a, PacketizeError> {
    let frag_count = fragment_count(frame.len())?;
    Ok(frame
        .chunks(MAX_FRAGMENT)
        .enumerate()
        .map(move |(i, chunk)| {
            (
                MediaHeader {
                    stream: meta.stream,
                    keyframe: meta.keyframe,
                    codec: meta.codec,
                    audio_level: meta.audio_level,
                    frame_number: meta.frame_number,
                    // `fragment_count` bounds the index by MAX_FRAG_COUNT.
                    frag_index: u16::try_from(i).unwrap_or(u16::MAX),
                    frag_count,
                },
                chunk,
            )
        }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn meta() -> FrameMeta {
        FrameMeta {
            stream: Stream::Data,
            keyframe: false,
            codec: false,
            audio_level: 127,
            frame_number: 9,
        }
    }

    #[test]
    fn bounds() {
        assert_eq!(fragment_count(0), Err(PacketizeError::Empty));
        assert_eq!(fragment_count(1), Ok(1));
        assert_eq!(fragment_count(MAX_FRAGMENT), Ok(1));
        assert_eq!(fragment_count(MAX_FRAGMENT + 1), Ok(2));
        assert_eq!(fragment_count(MAX_FRAME), Ok(MAX_FRAG_COUNT));
        assert_eq!(
            fragment_count(MAX_FRAME + 1),
            Err(PacketizeError::TooLarge(MAX_FRAME + 1))
        );
    }

    proptest! {
        #[test]
        fn fragments_are_valid_and_rebuild_the_frame(len in 1usize..20_000, seed: u8) {
            let frame: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
            let mut rebuilt = Vec::new();
            let frags: Vec<_> = fragments(meta(), &frame).unwrap().collect();
            prop_assert_eq!(frags.len(), len.div_ceil(MAX_FRAGMENT));
            for (i, (h, f)) in frags.iter().enumerate() {
                prop_assert_eq!(usize::from(h.frag_index), i);
                prop_assert!(h.validate().is_ok());
                prop_assert!(h.validate_fragment(f.len()).is_ok());
                rebuilt.extend_from_slice(f);
            }
            prop_assert_eq!(rebuilt, frame);
        }
    }
}
