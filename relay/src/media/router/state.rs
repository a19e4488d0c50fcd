//! Per-participant and per-meeting state.

use std::time::{Duration, Instant};

use conclave_wire::media::{Layer, Stream};

use super::ParticipantId;
use super::config::RouterConfig;
use super::keyframe::KeyframeState;
use super::layer::{Link, PublisherView};
use super::{MeetingKey, SILENT};

/// What the router knows of one published stream.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StreamStat {
    pub last_seen: Option<Instant>,
    /// Bytes since the last rate tick.
    pub bytes: u64,
    /// Measured over the last rate window.
    pub bitrate_bps: u64,
}

impl StreamStat {
    pub(super) fn active(&self, now: Instant, inactive_after: Duration) -> bool {
        self.last_seen
            .is_some_and(|t| now.saturating_duration_since(t) < inactive_after)
    }
}

/// One participant: what it publishes (streams, fan-out, keyframes, epoch, audio level)
/// and what it wants as a subscriber (layer preference, bandwidth).
#[derive(Debug)]
pub(super) struct Participant<D> {
    pub meeting: usize,
    pub dest: D,
    /// One link per other member (its subscriber), sorted by subscriber id.
    pub fanout: Vec<Link<D>>,
    pub streams: [StreamStat; Stream::COUNT],
    pub keyframes: [KeyframeState; 3],
    /// The highest epoch seen in this publisher's frames.
    pub epoch: Option<u64>,
    pub epoch_behind_sent: Option<Instant>,
    /// Smoothed audio level, −dBov (127 = silence).
    pub audio_dbov: f32,
    pub last_audio: Option<Instant>,
    /// Subscriber side: LAYER_PREFERENCE (None = no video).
    pub max_layer: Option<Layer>,
    /// Subscriber side: estimated downlink bandwidth from RECEIVER_REPORT.
    pub est_bandwidth_bps: Option<u64>,
}

impl<D: Copy> Participant<D> {
    pub(super) fn new(meeting: usize, dest: D) -> Self {
        Participant {
            meeting,
            dest,
            fanout: Vec::new(),
            streams: [StreamStat::default(); Stream::COUNT],
            keyframes: [KeyframeState::default(); 3],
            epoch: None,
            epoch_behind_sent: None,
            audio_dbov: f32::from(SILENT),
            last_audio: None,
            max_layer: Some(Layer::L2),
            est_bandwidth_bps: None,
        }
    }

    pub(super) fn video(&self, layer: Layer) -> &StreamStat {
        let i = Stream::Video(layer).index();
        // Stream::index is below Stream::COUNT by construction.
        &self.streams[i]
    }

    pub(super) fn publisher_view(&self, now: Instant, config: &RouterConfig) -> PublisherView {
        let mut v = PublisherView::default();
        for l in Layer::ALL {
            let s = self.video(l);
            let i = usize::from(l.index());
            v.active[i] = s.active(now, config.layer_inactive_after);
            v.bitrate_bps[i] = s.bitrate_bps;
        }
        v
    }

    pub(super) fn link_index(&self, sub: ParticipantId) -> Option<usize> {
        self.fanout.binary_search_by_key(&sub, |l| l.sub).ok()
    }
}

/// One meeting.
#[derive(Debug)]
pub(super) struct Meeting {
    pub key: MeetingKey,
    /// Members in join order (= increasing id).
    pub members: Vec<ParticipantId>,
    /// The highest epoch seen in any frame of the meeting, and when it was first seen.
    pub max_epoch: Option<(u64, Instant)>,
    /// The announced active speaker.
    pub speaker: Option<ParticipantId>,
    /// The current leader and since when it leads.
    pub candidate: Option<(ParticipantId, Instant)>,
}

impl Meeting {
    pub(super) fn new(key: MeetingKey) -> Self {
        Meeting {
            key,
            members: Vec::new(),
            max_epoch: None,
            speaker: None,
            candidate: None,
        }
    }
}
