//! The router's tunables. The defaults are PROTOCOL §11.5's reference values.

use std::time::Duration;

/// Router tunables; [`RouterConfig::default`] gives the reference values.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Keyframe requests per (publisher, layer) are forwarded at most once per interval.
    pub keyframe_throttle: Duration,
    /// A publisher still sending in an older epoch this long after the meeting's highest
    /// epoch was first seen is told `EPOCH_BEHIND`.
    pub stale_epoch_after: Duration,
    /// At most one `EPOCH_BEHIND` per publisher per interval.
    pub epoch_behind_interval: Duration,
    /// A publisher must lead this long before it is announced as the active speaker.
    pub speaker_hold: Duration,
    /// Only publishers whose smoothed level is louder than this (−dBov) can be the speaker.
    pub speaker_threshold: u8,
    /// Exponential smoothing factor of audio levels, per audio frame (0 < α ≤ 1).
    pub speaker_smoothing: f32,
    /// How often the active speaker is re-evaluated.
    pub speaker_tick: Duration,
    /// A publisher that sent no audio for this long counts as silent.
    pub speaker_silence_after: Duration,
    /// Bitrate measurement window; layers are also re-evaluated at this period.
    pub rate_window: Duration,
    /// A video layer not seen for this long is considered no longer sent.
    pub layer_inactive_after: Duration,
    /// A subscriber steps down a layer when a report's `fraction_lost` (in 1/256) is above
    /// this: 25 means from 26/256, the first value above 10 %.
    pub layer_loss_threshold: u8,
    /// After a step down for loss, no step up for this long.
    pub layer_up_hold: Duration,
    /// Bytes counted per forwarded datagram on top of its fragment (prefix, media header,
    /// UDP/IP), for the measured bitrate.
    pub packet_overhead: u32,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            keyframe_throttle: Duration::from_millis(500),
            stale_epoch_after: Duration::from_millis(2000),
            epoch_behind_interval: Duration::from_millis(1000),
            speaker_hold: Duration::from_millis(300),
            speaker_threshold: 50,
            speaker_smoothing: 0.3,
            speaker_tick: Duration::from_millis(50),
            speaker_silence_after: Duration::from_millis(500),
            rate_window: Duration::from_millis(1000),
            layer_inactive_after: Duration::from_millis(1000),
            layer_loss_threshold: 25,
            layer_up_hold: Duration::from_millis(2000),
            packet_overhead: 13 + 11 + 28,
        }
    }
}
