//! Synthetic media sources: audio (20 ms frames of Opus-like sizes with an audio level) and
//! simulcast video (30 fps, three layers, periodic keyframes and keyframes on request).
//! Sans-IO: a source says when its next frame is due and produces the frames due at a
//! given time. The file carousel is in [`crate::media::file`].
//!
//! The bytes are pseudo-random (a seeded generator), optionally starting with a marker so
//! that tests can look for known plaintext on the wire.

use std::time::{Duration, Instant};

use conclave_wire::media::{Layer, SILENT_LEVEL, Stream};

use crate::media::file::FileSource;

/// An encoded frame as a codec would produce it, before the media header and encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFrame {
    pub stream: Stream,
    pub keyframe: bool,
    /// A real VP8 (video) or Opus (audio) frame, sent as a codec frame (PROTOCOL §13.1)
    /// that browsers can decode; synthetic frames are not.
    pub codec: bool,
    /// −dBov, 0 … 127; 127 for video and data.
    pub audio_level: u8,
    pub data: Vec<u8>,
}

/// A small deterministic generator (xorshift64*), good enough for synthetic media.
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Prng(seed ^ 0x9e37_79b9_7f4a_7c15 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `lo..=hi` (`lo` when `hi < lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        match (hi.checked_sub(lo)).and_then(|d| d.checked_add(1)) {
            Some(span) => lo + self.next_u64() % span,
            None => lo.max(hi),
        }
    }

    /// Fills `out` with `len` bytes: `marker` first (as much as fits), then noise.
    pub fn fill(&mut self, marker: &[u8], len: usize, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(marker.get(..len.min(marker.len())).unwrap_or_default());
        while out.len() < len {
            let w = self.next_u64().to_le_bytes();
            let take = (len - out.len()).min(8);
            out.extend_from_slice(w.get(..take).unwrap_or_default());
        }
    }
}

/// Audio source settings.
#[derive(Debug, Clone)]
pub struct AudioConfig {
    pub frame: Duration,
    /// A fixed audio level; `None`: talkspurts (speech 20–45 −dBov, pauses 90–127).
    pub level: Option<u8>,
    pub seed: u64,
    pub marker: Vec<u8>,
}

impl Default for AudioConfig {
    fn default() -> Self {
        AudioConfig {
            frame: Duration::from_millis(20),
            level: None,
            seed: 1,
            marker: Vec::new(),
        }
    }
}

/// 20 ms audio frames: 60–160 bytes while talking, 8–20 in pauses (Opus at ~32 kbit/s
/// with DTX-like pauses).
#[derive(Debug)]
pub struct AudioSource {
    config: AudioConfig,
    rng: Prng,
    next: Instant,
    talking: bool,
    /// Frames left in the current talkspurt or pause.
    left: u32,
}

impl AudioSource {
    pub fn new(now: Instant, config: AudioConfig) -> Self {
        AudioSource {
            rng: Prng::new(config.seed),
            config,
            next: now,
            talking: true,
            left: 0,
        }
    }

    pub fn next_due(&self) -> Instant {
        self.next
    }

    /// The frames due at `now` (several if the caller is late, at most one second's).
    pub fn poll(&mut self, now: Instant, out: &mut Vec<SourceFrame>) {
        let step = self.config.frame.max(Duration::from_millis(1));
        let mut n = 0;
        while self.next <= now && n < 50 {
            self.next += step;
            n += 1;
            out.push(self.frame());
        }
        if self.next <= now {
            // Far behind (a suspended process): skip, do not burst.
            self.next = now + step;
        }
    }

    fn frame(&mut self) -> SourceFrame {
        if self.left == 0 {
            self.talking = !self.talking;
            self.left = if self.talking {
                self.rng.range(50, 150) as u32
            } else {
                self.rng.range(25, 100) as u32
            };
        }
        self.left -= 1;
        let (len, level) = if self.talking {
            (self.rng.range(60, 160), self.rng.range(20, 45))
        } else {
            (self.rng.range(8, 20), self.rng.range(90, 127))
        };
        let level = self
            .config
            .level
            .map_or(level as u8, |l| l.min(SILENT_LEVEL));
        let mut data = Vec::new();
        self.rng.fill(&self.config.marker, len as usize, &mut data);
        SourceFrame {
            stream: Stream::Audio,
            keyframe: false,
            codec: false,
            audio_level: level,
            data,
        }
    }
}

/// Video source settings.
#[derive(Debug, Clone)]
pub struct VideoConfig {
    pub fps: u32,
    /// Bitrate of each simulcast layer, lowest first (1 to 3 layers), bit/s.
    pub layer_bitrates: Vec<u32>,
    /// A keyframe on every layer this often.
    pub keyframe_interval: Duration,
    /// Keyframe size as a multiple of the mean delta frame.
    pub keyframe_factor: u32,
    pub seed: u64,
    pub marker: Vec<u8>,
}

impl Default for VideoConfig {
    fn default() -> Self {
        VideoConfig {
            fps: 30,
            layer_bitrates: vec![150_000, 500_000, 1_500_000],
            keyframe_interval: Duration::from_secs(4),
            keyframe_factor: 6,
            seed: 2,
            marker: Vec::new(),
        }
    }
}

/// Simulcast video: every tick, one frame per layer; keyframes periodically and on request.
#[derive(Debug)]
pub struct VideoSource {
    config: VideoConfig,
    rng: Prng,
    next: Instant,
    next_keyframe: Instant,
    want_keyframe: [bool; 3],
}

impl VideoSource {
    pub fn new(now: Instant, mut config: VideoConfig) -> Self {
        config.layer_bitrates.truncate(3);
        if config.layer_bitrates.is_empty() {
            config.layer_bitrates.push(150_000);
        }
        config.fps = config.fps.clamp(1, 240);
        VideoSource {
            rng: Prng::new(config.seed),
            next: now,
            next_keyframe: now + config.keyframe_interval,
            // The first frame of every layer is a keyframe.
            want_keyframe: [true; 3],
            config,
        }
    }

    pub fn next_due(&self) -> Instant {
        self.next
    }

    /// The layers this source sends.
    pub fn layers(&self) -> impl Iterator<Item = Layer> + '_ {
        (0..self.config.layer_bitrates.len()).filter_map(|i| Layer::from_index(i as u8))
    }

    /// The next frame of `stream` (a video layer; anything else: every layer) is a keyframe.
    pub fn request_keyframe(&mut self, stream: Stream) {
        match stream.layer() {
            Some(l) => {
                if let Some(w) = self.want_keyframe.get_mut(usize::from(l.index())) {
                    *w = true;
                }
            }
            None => self.want_keyframe = [true; 3],
        }
    }

    fn delta_len(&self, layer: usize) -> u64 {
        let bps = u64::from(self.config.layer_bitrates.get(layer).copied().unwrap_or(0));
        (bps / u64::from(self.config.fps) / 8).max(1)
    }

    pub fn poll(&mut self, now: Instant, out: &mut Vec<SourceFrame>) {
        let step = Duration::from_secs(1) / self.config.fps;
        if self.next > now {
            return;
        }
        // One tick, even when late: video does not catch up.
        self.next = (self.next + step).max(now);
        if now >= self.next_keyframe {
            self.next_keyframe = now + self.config.keyframe_interval;
            self.want_keyframe = [true; 3];
        }
        for layer in 0..self.config.layer_bitrates.len() {
            let Some(l) = Layer::from_index(layer as u8) else {
                continue;
            };
            let key = self.want_keyframe.get(layer).copied().unwrap_or(false);
            if let Some(w) = self.want_keyframe.get_mut(layer) {
                *w = false;
            }
            let mean = self.delta_len(layer);
            let len = if key {
                mean * u64::from(self.config.keyframe_factor.max(1))
            } else {
                self.rng.range(mean * 8 / 10, mean * 12 / 10).max(1)
            };
            let mut data = Vec::new();
            self.rng.fill(&self.config.marker, len as usize, &mut data);
            out.push(SourceFrame {
                stream: Stream::Video(l),
                keyframe: key,
                codec: false,
                audio_level: SILENT_LEVEL,
                data,
            });
        }
    }
}

/// Any of the sources, for a pipeline that drives several.
#[derive(Debug)]
pub enum Source {
    Audio(AudioSource),
    Video(VideoSource),
    File(FileSource),
    Codec(crate::media::codec_file::CodecFileSource),
}

impl Source {
    pub fn next_due(&self) -> Option<Instant> {
        match self {
            Source::Audio(s) => Some(s.next_due()),
            Source::Video(s) => Some(s.next_due()),
            Source::File(s) => s.next_due(),
            Source::Codec(s) => s.next_due(),
        }
    }

    pub fn poll(&mut self, now: Instant, out: &mut Vec<SourceFrame>) {
        match self {
            Source::Audio(s) => s.poll(now, out),
            Source::Video(s) => s.poll(now, out),
            Source::File(s) => s.poll(now, out),
            Source::Codec(s) => s.poll(now, out),
        }
    }

    pub fn request_keyframe(&mut self, stream: Stream) {
        if let Source::Video(s) = self {
            s.request_keyframe(stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_is_20ms_with_opus_like_sizes_and_levels() {
        let t0 = Instant::now();
        let mut a = AudioSource::new(
            t0,
            AudioConfig {
                marker: b"MARK".to_vec(),
                ..Default::default()
            },
        );
        let mut out = Vec::new();
        a.poll(t0 + Duration::from_millis(999), &mut out);
        assert_eq!(out.len(), 50);
        assert_eq!(a.next_due(), t0 + Duration::from_secs(1));
        for f in &out {
            assert_eq!(f.stream, Stream::Audio);
            assert!((8..=160).contains(&f.data.len()));
            assert!(f.audio_level <= 127);
            assert!(f.data.starts_with(b"MARK"));
        }
        // Over a minute there are both talkspurts and pauses.
        out.clear();
        a.poll(t0 + Duration::from_secs(60), &mut out);
        a.poll(t0 + Duration::from_secs(60), &mut out);
        let loud = out.iter().filter(|f| f.audio_level < 50).count();
        assert!(loud > 0 && loud < out.len());
    }

    #[test]
    fn video_has_three_layers_keyframes_and_requests() {
        let t0 = Instant::now();
        let mut v = VideoSource::new(t0, VideoConfig::default());
        let mut out = Vec::new();
        let mut t = t0;
        for _ in 0..30 {
            v.poll(t, &mut out);
            t = v.next_due();
        }
        assert_eq!(out.len(), 90);
        assert!(out[..3].iter().all(|f| f.keyframe), "starts with keyframes");
        assert!(out[3..].iter().all(|f| !f.keyframe));
        let l2: Vec<_> = out
            .iter()
            .filter(|f| f.stream == Stream::Video(Layer::L2))
            .collect();
        let delta_mean = l2[1..].iter().map(|f| f.data.len()).sum::<usize>() / (l2.len() - 1);
        let ratio = l2[0].data.len() / delta_mean;
        assert!((5..=10).contains(&ratio), "keyframe {ratio}× a delta");
        // About 1.5 Mbit/s on L2 over the second.
        let bits = l2.iter().map(|f| f.data.len()).sum::<usize>() * 8;
        assert!((1_400_000..2_000_000).contains(&bits), "{bits}");
        out.clear();
        v.request_keyframe(Stream::Video(Layer::L1));
        v.poll(t, &mut out);
        let keys: Vec<_> = out
            .iter()
            .filter(|f| f.keyframe)
            .map(|f| f.stream)
            .collect();
        assert_eq!(keys, vec![Stream::Video(Layer::L1)]);
    }

    #[test]
    fn prng_fill_respects_length_and_marker() {
        let mut r = Prng::new(5);
        let mut out = Vec::new();
        r.fill(b"abcdef", 3, &mut out);
        assert_eq!(out, b"abc");
        r.fill(b"ab", 11, &mut out);
        assert_eq!(out.len(), 11);
        assert!(out.starts_with(b"ab"));
        assert_eq!(r.range(5, 5), 5);
        assert_eq!(r.range(9, 3), 9);
    }
}
