//! Real encoded media from files, sent as codec frames (PROTOCOL §13.1) that browsers can
//! decode: VP8 from an IVF file, Opus from an Ogg file. The frames are read once, checked
//! strictly, and played in a loop at their own pace (VP8 at the file's frame rate, Opus
//! at 20 ms per packet).

use std::time::{Duration, Instant};

use conclave_wire::media::{Layer, Stream};
use thiserror::Error;

use crate::media::source::SourceFrame;

/// Why a media file cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CodecFileError {
    #[error("not an IVF file (no DKIF signature)")]
    NotIvf,
    #[error("the IVF file holds {0}, not VP8")]
    NotVp8(String),
    #[error("not an Ogg Opus file")]
    NotOggOpus,
    #[error("truncated at byte {0}")]
    Truncated(usize),
    #[error("frame {0} is empty or too short for a codec frame")]
    BadFrame(usize),
    #[error("the file has no frames")]
    Empty,
    #[error("the IVF frame rate {0}/{1} is not usable")]
    FrameRate(u32, u32),
}

/// The largest frame accepted from a file (a VP8 key frame of a small test video is far
/// below this).
const MAX_FILE_FRAME: usize = 512 * 1024;

fn u16le(b: &[u8], at: usize) -> Result<u16, CodecFileError> {
    let s = b.get(at..at + 2).ok_or(CodecFileError::Truncated(at))?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32le(b: &[u8], at: usize) -> Result<u32, CodecFileError> {
    let s = b.get(at..at + 4).ok_or(CodecFileError::Truncated(at))?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// VP8 frames of an IVF file and the time between them.
#[derive(Debug, Clone)]
pub struct Vp8Frames {
    pub frames: Vec<Vec<u8>>,
    pub interval: Duration,
}

/// Parses an IVF file of VP8 frames (32-byte file header, then per frame a 12-byte
/// header: u32 size, u64 timestamp, little-endian).
pub fn parse_ivf(b: &[u8]) -> Result<Vp8Frames, CodecFileError> {
    if b.get(..4) != Some(b"DKIF") {
        return Err(CodecFileError::NotIvf);
    }
    let header_len = usize::from(u16le(b, 6)?);
    let fourcc = b.get(8..12).ok_or(CodecFileError::Truncated(8))?;
    if fourcc != b"VP80" {
        return Err(CodecFileError::NotVp8(
            String::from_utf8_lossy(fourcc).into_owned(),
        ));
    }
    // The time base is denominator (rate) / numerator (scale): frames per second.
    let (rate, scale) = (u32le(b, 16)?, u32le(b, 20)?);
    if rate == 0 || scale == 0 || rate / scale > 240 {
        return Err(CodecFileError::FrameRate(rate, scale));
    }
    let interval = Duration::from_secs_f64(f64::from(scale) / f64::from(rate));
    let mut at = header_len.max(32);
    let mut frames = Vec::new();
    while at < b.len() {
        let size = u32le(b, at)? as usize;
        let start = at + 12;
        let frame = b
            .get(start..start.saturating_add(size))
            .ok_or(CodecFileError::Truncated(start))?;
        if frame.len() < 10 || frame.len() > MAX_FILE_FRAME {
            return Err(CodecFileError::BadFrame(frames.len()));
        }
        frames.push(frame.to_vec());
        at = start + size;
    }
    if frames.is_empty() {
        return Err(CodecFileError::Empty);
    }
    Ok(Vp8Frames { frames, interval })
}

/// Parses the Opus packets of an Ogg file (RFC 7845): the pages' segments are joined into
/// packets; the first two (`OpusHead`, `OpusTags`) are checked and skipped.
pub fn parse_ogg_opus(b: &[u8]) -> Result<Vec<Vec<u8>>, CodecFileError> {
    let mut packets = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut at = 0;
    while at < b.len() {
        if b.get(at..at + 4) != Some(b"OggS") || b.get(at + 4) != Some(&0) {
            return Err(CodecFileError::NotOggOpus);
        }
        let segments = usize::from(*b.get(at + 26).ok_or(CodecFileError::Truncated(at))?);
        let table = b
            .get(at + 27..at + 27 + segments)
            .ok_or(CodecFileError::Truncated(at + 27))?;
        let mut body = at + 27 + segments;
        for &lace in table {
            let lace = usize::from(lace);
            let seg = b
                .get(body..body + lace)
                .ok_or(CodecFileError::Truncated(body))?;
            partial.extend_from_slice(seg);
            if partial.len() > MAX_FILE_FRAME {
                return Err(CodecFileError::BadFrame(packets.len()));
            }
            body += lace;
            if lace < 255 {
                packets.push(std::mem::take(&mut partial));
            }
        }
        at = body;
    }
    let mut it = packets.into_iter();
    match (it.next(), it.next()) {
        (Some(head), Some(tags))
            if head.starts_with(b"OpusHead") && tags.starts_with(b"OpusTags") => {}
        _ => return Err(CodecFileError::NotOggOpus),
    }
    let audio: Vec<Vec<u8>> = it.collect();
    if let Some(i) = audio.iter().position(Vec::is_empty) {
        return Err(CodecFileError::BadFrame(i));
    }
    if audio.is_empty() {
        return Err(CodecFileError::Empty);
    }
    Ok(audio)
}

/// One looping track of codec frames.
#[derive(Debug, Clone)]
struct Track {
    frames: Vec<Vec<u8>>,
    interval: Duration,
    next: usize,
    due: Instant,
}

impl Track {
    fn poll(&mut self, now: Instant, mut emit: impl FnMut(&[u8])) {
        // At most a second of frames at once after a stall, like the synthetic sources.
        let mut budget =
            (Duration::from_secs(1).as_nanos() / self.interval.as_nanos().max(1)).max(1) as usize;
        while self.due <= now && budget > 0 {
            if let Some(f) = self.frames.get(self.next) {
                emit(f);
            }
            self.next = (self.next + 1) % self.frames.len().max(1);
            self.due += self.interval;
            budget -= 1;
        }
        if self.due <= now {
            self.due = now + self.interval;
        }
    }
}

/// VP8 video (one layer, L0) and/or Opus audio from files, in a loop. Key frames come as
/// the file has them (a key frame request cannot make one).
#[derive(Debug, Clone)]
pub struct CodecFileSource {
    video: Option<Track>,
    audio: Option<Track>,
    /// The audio level announced for the Opus frames (−dBov).
    pub audio_level: u8,
}

impl CodecFileSource {
    pub fn new(now: Instant, video: Option<Vp8Frames>, audio: Option<Vec<Vec<u8>>>) -> Self {
        CodecFileSource {
            video: video.map(|v| Track {
                frames: v.frames,
                interval: v.interval,
                next: 0,
                due: now,
            }),
            audio: audio.map(|frames| Track {
                frames,
                interval: Duration::from_millis(20),
                next: 0,
                due: now,
            }),
            audio_level: 30,
        }
    }

    pub fn next_due(&self) -> Option<Instant> {
        [&self.video, &self.audio]
            .into_iter()
            .flatten()
            .map(|t| t.due)
            .min()
    }

    pub fn poll(&mut self, now: Instant, out: &mut Vec<SourceFrame>) {
        if let Some(v) = &mut self.video {
            v.poll(now, |f| {
                out.push(SourceFrame {
                    stream: Stream::Video(Layer::L0),
                    keyframe: f.first().is_some_and(|b| b & 1 == 0),
                    codec: true,
                    audio_level: conclave_wire::media::SILENT_LEVEL,
                    data: f.to_vec(),
                })
            });
        }
        let level = self.audio_level;
        if let Some(a) = &mut self.audio {
            a.poll(now, |f| {
                out.push(SourceFrame {
                    stream: Stream::Audio,
                    keyframe: false,
                    codec: true,
                    audio_level: level,
                    data: f.to_vec(),
                })
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IVF: &[u8] = include_bytes!("../../../web/test/fixtures/vp8.ivf");
    const OGG: &[u8] = include_bytes!("../../../web/test/fixtures/opus.ogg");

    #[test]
    fn the_fixtures_parse() {
        let v = parse_ivf(IVF).unwrap();
        assert_eq!(v.frames.len(), 120);
        assert_eq!(v.interval, Duration::from_secs_f64(1.0 / 30.0));
        // A key frame every 30 frames: the VP8 frame tag's bit 0 is 0, and the start code.
        for (i, f) in v.frames.iter().enumerate() {
            assert_eq!(f[0] & 1 == 0, i % 30 == 0, "frame {i}");
            if i % 30 == 0 {
                assert_eq!(&f[3..6], &[0x9d, 0x01, 0x2a]);
            }
        }
        let a = parse_ogg_opus(OGG).unwrap();
        assert!((195..=205).contains(&a.len()), "{} packets", a.len());
        // Every packet's TOC says 20 ms frames (config 3/11/15/19/31…: check code 0).
        assert!(a.iter().all(|p| p[0] & 0x03 == 0));
    }

    #[test]
    fn bad_files_are_refused_not_panicked_on() {
        assert_eq!(parse_ivf(b"RIFF").unwrap_err(), CodecFileError::NotIvf);
        assert!(matches!(
            parse_ivf(&IVF[..100]),
            Err(CodecFileError::Truncated(_))
        ));
        assert_eq!(parse_ogg_opus(b"").unwrap_err(), CodecFileError::NotOggOpus);
        assert!(parse_ogg_opus(&OGG[..50]).is_err());
        for cut in [0, 1, 31, 32, 44, 45, 1000] {
            let _ = parse_ivf(IVF.get(..cut).unwrap_or(IVF));
            let _ = parse_ogg_opus(OGG.get(..cut).unwrap_or(OGG));
        }
        let mut wrong = IVF.to_vec();
        wrong[8..12].copy_from_slice(b"VP90");
        assert_eq!(
            parse_ivf(&wrong).unwrap_err(),
            CodecFileError::NotVp8("VP90".into())
        );
    }

    #[test]
    fn the_source_plays_both_tracks_at_their_pace() {
        let t0 = Instant::now();
        let mut s = CodecFileSource::new(
            t0,
            Some(parse_ivf(IVF).unwrap()),
            Some(parse_ogg_opus(OGG).unwrap()),
        );
        let mut out = Vec::new();
        s.poll(t0 + Duration::from_millis(999), &mut out);
        let video = out.iter().filter(|f| f.stream.is_video()).count();
        let audio = out.iter().filter(|f| f.stream == Stream::Audio).count();
        assert_eq!(video, 30);
        assert_eq!(audio, 50);
        assert!(out.iter().all(|f| f.codec));
        assert!(out[0].keyframe || out.iter().any(|f| f.keyframe));
    }
}
