//! The media frame plaintext (PROTOCOL §12.1): a 20-byte header inside the SFrame
//! encryption, then the encoded media.
//!
//! ```text
//! plaintext = u8 version (1) ‖ u8 stream ‖ u8 flags ‖ u8 reserved (0) ‖ u64 sequence
//!           ‖ u64 send_time_us ‖ data
//! ```

use conclave_wire::media::Stream;
use thiserror::Error;

/// Length of the plaintext header.
pub const FRAME_HEADER_LEN: usize = 20;
/// The only version.
pub const FRAME_VERSION: u8 = 1;

const FLAG_KEYFRAME: u8 = 0x01;

/// Why a decrypted plaintext is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    #[error("media frame shorter than its header ({0} bytes)")]
    Truncated(usize),
    #[error("unknown media frame version {0}")]
    Version(u8),
    #[error("invalid stream {0}")]
    Stream(u8),
    #[error("reserved bits or bytes set")]
    Reserved,
    #[error("keyframe flag on a non-video stream")]
    KeyframeNotVideo,
}

/// The encrypted header of a media frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    pub stream: Stream,
    /// Video only.
    pub keyframe: bool,
    /// The publisher's frames on this stream, counted from 0.
    pub sequence: u64,
    /// The publisher's clock (µs since the Unix epoch) when the frame was sealed.
    pub send_time_us: u64,
}

impl FrameHeader {
    /// The 20 header bytes.
    pub fn to_bytes(&self) -> [u8; FRAME_HEADER_LEN] {
        let mut out = [0u8; FRAME_HEADER_LEN];
        out[0] = FRAME_VERSION;
        out[1] = self.stream.to_byte();
        out[2] = if self.keyframe { FLAG_KEYFRAME } else { 0 };
        out[4..12].copy_from_slice(&self.sequence.to_be_bytes());
        out[12..20].copy_from_slice(&self.send_time_us.to_be_bytes());
        out
    }

    /// Writes `header ‖ data` into `out` (cleared first).
    pub fn write_plaintext(&self, data: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.reserve(FRAME_HEADER_LEN + data.len());
        out.extend_from_slice(&self.to_bytes());
        out.extend_from_slice(data);
    }

    /// Parses a plaintext strictly and returns the header and the data after it.
    pub fn parse(plaintext: &[u8]) -> Result<(FrameHeader, &[u8]), FrameError> {
        let Some((h, data)) = plaintext.split_first_chunk::<FRAME_HEADER_LEN>() else {
            return Err(FrameError::Truncated(plaintext.len()));
        };
        let [v, s, flags, reserved, q @ .., _, _, _, _, _, _, _, _] = *h;
        if v != FRAME_VERSION {
            return Err(FrameError::Version(v));
        }
        let stream = Stream::from_byte(s).map_err(|_| FrameError::Stream(s))?;
        if reserved != 0 || flags & !FLAG_KEYFRAME != 0 {
            return Err(FrameError::Reserved);
        }
        let keyframe = flags & FLAG_KEYFRAME != 0;
        if keyframe && !stream.is_video() {
            return Err(FrameError::KeyframeNotVideo);
        }
        let mut t = [0u8; 8];
        t.copy_from_slice(&h[12..20]);
        Ok((
            FrameHeader {
                stream,
                keyframe,
                sequence: u64::from_be_bytes(q),
                send_time_us: u64::from_be_bytes(t),
            },
            data,
        ))
    }
}

#[cfg(test)]
mod tests {
    use conclave_wire::media::Layer;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let h = FrameHeader {
            stream: Stream::Video(Layer::L2),
            keyframe: true,
            sequence: 0x0102_0304_0506_0708,
            send_time_us: 42,
        };
        let mut pt = Vec::new();
        h.write_plaintext(b"data", &mut pt);
        assert_eq!(pt.len(), FRAME_HEADER_LEN + 4);
        assert_eq!(&pt[..4], &[1, 3, 1, 0]);
        assert_eq!(FrameHeader::parse(&pt).unwrap(), (h, &b"data"[..]));

        let bad = |i: usize, v: u8| {
            let mut p = pt.clone();
            p[i] = v;
            FrameHeader::parse(&p).unwrap_err()
        };
        assert_eq!(bad(0, 2), FrameError::Version(2));
        assert_eq!(bad(1, 5), FrameError::Stream(5));
        assert_eq!(bad(2, 2), FrameError::Reserved);
        assert_eq!(bad(3, 1), FrameError::Reserved);
        assert_eq!(bad(1, 0), FrameError::KeyframeNotVideo);
        assert_eq!(
            FrameHeader::parse(&pt[..19]),
            Err(FrameError::Truncated(19))
        );
        assert!(FrameHeader::parse(&pt[..20]).unwrap().1.is_empty());
    }

    proptest! {
        #[test]
        fn parse_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok((h, data)) = FrameHeader::parse(&bytes) {
                let mut again = Vec::new();
                h.write_plaintext(data, &mut again);
                prop_assert_eq!(again, bytes);
            }
        }
    }
}
