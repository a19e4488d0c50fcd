//! The 11-byte media header (PROTOCOL §11.3).

use super::{DatagramError, MAX_FRAG_COUNT, MAX_FRAGMENT, MEDIA_HEADER_LEN, SILENT_LEVEL};

/// A video simulcast layer, L0 (lowest) … L2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Layer {
    L0 = 0,
    L1 = 1,
    L2 = 2,
}

impl Layer {
    /// Every layer, lowest first.
    pub const ALL: [Layer; 3] = [Layer::L0, Layer::L1, Layer::L2];

    /// 0, 1 or 2.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The layer of index 0..=2.
    pub fn from_index(i: u8) -> Option<Layer> {
        match i {
            0 => Some(Layer::L0),
            1 => Some(Layer::L1),
            2 => Some(Layer::L2),
            _ => None,
        }
    }

    /// The next lower layer, if any.
    pub fn lower(self) -> Option<Layer> {
        self.index().checked_sub(1).and_then(Layer::from_index)
    }

    /// The next higher layer, if any.
    pub fn higher(self) -> Option<Layer> {
        Layer::from_index(self.index() + 1)
    }
}

/// A publisher's media stream: its audio, one of its video layers, or its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stream {
    Audio,
    Video(Layer),
    Data,
}

impl Stream {
    /// How many streams a publisher can have ([`Stream::index`] is below this).
    pub const COUNT: usize = 5;
    /// Every stream, in wire order.
    pub const ALL: [Stream; 5] = [
        Stream::Audio,
        Stream::Video(Layer::L0),
        Stream::Video(Layer::L1),
        Stream::Video(Layer::L2),
        Stream::Data,
    ];

    /// The wire byte: 0 audio, 1–3 video L0–L2, 4 data.
    pub fn to_byte(self) -> u8 {
        match self {
            Stream::Audio => 0,
            Stream::Video(l) => 1 + l.index(),
            Stream::Data => 4,
        }
    }

    pub fn from_byte(b: u8) -> Result<Stream, DatagramError> {
        match b {
            0 => Ok(Stream::Audio),
            1..=3 => Layer::from_index(b - 1)
                .map(Stream::Video)
                .ok_or(DatagramError::InvalidStream(b)),
            4 => Ok(Stream::Data),
            _ => Err(DatagramError::InvalidStream(b)),
        }
    }

    /// A dense index in `0..Stream::COUNT` (the wire byte), for per-stream arrays.
    pub fn index(self) -> usize {
        usize::from(self.to_byte())
    }

    pub fn is_video(self) -> bool {
        matches!(self, Stream::Video(_))
    }

    /// The video layer, if this is a video stream.
    pub fn layer(self) -> Option<Layer> {
        match self {
            Stream::Video(l) => Some(l),
            _ => None,
        }
    }
}

/// The clear media header of `MEDIA` and `MEDIA_FWD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MediaHeader {
    pub stream: Stream,
    /// Video only; always false for audio and data.
    pub keyframe: bool,
    /// A codec frame (PROTOCOL §13.1: Opus on stream 0, VP8 on streams 1–3) whose first
    /// fragment starts with the codec's clear bytes; never set on the data stream.
    pub codec: bool,
    /// −dBov, 0 (loudest) … 127 (silence); 127 for video and data.
    pub audio_level: u8,
    /// Per (publisher, stream), +1 per frame, wrapping.
    pub frame_number: u32,
    pub frag_index: u16,
    pub frag_count: u16,
}

const FLAG_KEYFRAME: u8 = 0x01;
const FLAG_CODEC: u8 = 0x02;

/// The clear bytes in front of the SFrame header of a codec frame (PROTOCOL §13.1):
/// 1 for Opus (audio), 10 for a VP8 key frame (`first_byte & 1 == 0`), 3 for a VP8 inter
/// frame.
pub fn codec_clear_len(audio: bool, first_byte: u8) -> usize {
    if audio {
        1
    } else if first_byte & 1 == 0 {
        10
    } else {
        3
    }
}

impl MediaHeader {
    /// Checks every rule of §11.3 that concerns the header alone.
    pub fn validate(&self) -> Result<(), DatagramError> {
        if self.keyframe && !self.stream.is_video() {
            return Err(DatagramError::KeyframeNotVideo);
        }
        if self.codec && self.stream == Stream::Data {
            return Err(DatagramError::ReservedFlags(FLAG_CODEC));
        }
        if self.audio_level > SILENT_LEVEL {
            return Err(DatagramError::AudioLevel(self.audio_level));
        }
        if self.stream != Stream::Audio && self.audio_level != SILENT_LEVEL {
            return Err(DatagramError::LevelNotSilent(self.audio_level));
        }
        if self.frag_count == 0 || self.frag_count > MAX_FRAG_COUNT {
            return Err(DatagramError::FragCount(self.frag_count));
        }
        if self.frag_index >= self.frag_count {
            return Err(DatagramError::FragIndex {
                index: self.frag_index,
                count: self.frag_count,
            });
        }
        Ok(())
    }

    /// Checks a fragment's length against the header: never empty, at most
    /// [`MAX_FRAGMENT`], and exactly [`MAX_FRAGMENT`] unless it is the last.
    pub fn validate_fragment(&self, len: usize) -> Result<(), DatagramError> {
        if len == 0 {
            return Err(DatagramError::EmptyFragment);
        }
        if len > MAX_FRAGMENT {
            return Err(DatagramError::FragmentTooLong(len));
        }
        if self.frag_index.saturating_add(1) < self.frag_count && len != MAX_FRAGMENT {
            return Err(DatagramError::FragmentNotFull(len));
        }
        Ok(())
    }

    /// Where the SFrame header starts in the first fragment of a frame: 0, or after a
    /// codec frame's clear bytes (`None` if the fragment is too short to hold them).
    pub fn sframe_offset(&self, first_fragment: &[u8]) -> Option<usize> {
        if !self.codec {
            return Some(0);
        }
        let n = codec_clear_len(self.stream == Stream::Audio, *first_fragment.first()?);
        (first_fragment.len() > n).then_some(n)
    }

    /// Whether this fragment is the first of its frame (it starts with the SFrame header,
    /// or with a codec frame's clear bytes).
    pub fn is_first_fragment(&self) -> bool {
        self.frag_index == 0
    }

    /// Whether this is the last fragment of its frame.
    pub fn is_last_fragment(&self) -> bool {
        self.frag_index.saturating_add(1) == self.frag_count
    }

    /// Parses and validates the 11 header bytes.
    pub fn parse(b: &[u8; MEDIA_HEADER_LEN]) -> Result<MediaHeader, DatagramError> {
        let [s, flags, level, f0, f1, f2, f3, i0, i1, c0, c1] = *b;
        let stream = Stream::from_byte(s)?;
        if flags & !(FLAG_KEYFRAME | FLAG_CODEC) != 0 {
            return Err(DatagramError::ReservedFlags(flags));
        }
        let h = MediaHeader {
            stream,
            keyframe: flags & FLAG_KEYFRAME != 0,
            codec: flags & FLAG_CODEC != 0,
            audio_level: level,
            frame_number: u32::from_be_bytes([f0, f1, f2, f3]),
            frag_index: u16::from_be_bytes([i0, i1]),
            frag_count: u16::from_be_bytes([c0, c1]),
        };
        h.validate()?;
        Ok(h)
    }

    /// The 11 header bytes (no validation; encoders call [`Self::validate`] first).
    pub fn to_bytes(&self) -> [u8; MEDIA_HEADER_LEN] {
        let f = self.frame_number.to_be_bytes();
        let i = self.frag_index.to_be_bytes();
        let c = self.frag_count.to_be_bytes();
        [
            self.stream.to_byte(),
            (if self.keyframe { FLAG_KEYFRAME } else { 0 })
                | (if self.codec { FLAG_CODEC } else { 0 }),
            self.audio_level,
            f[0],
            f[1],
            f[2],
            f[3],
            i[0],
            i[1],
            c[0],
            c[1],
        ]
    }
}
