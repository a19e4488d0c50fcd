//! Router unit tests: synthetic inputs and a fake clock (a fixed `Instant` plus offsets).

mod epoch;
mod forwarding;
mod invariants;
mod keyframes;
mod layers;
mod speaker;

use std::time::{Duration, Instant};

use conclave_wire::media::{Layer, MediaHeader, SILENT_LEVEL, Stream};
use conclave_wire::sframe::{MediaKid, SframeHeader};

use super::*;

/// Destinations are plain numbers: participant `id` lives at `1000 + id` unless moved.
pub(super) type Dest = u32;

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn meeting(n: u8) -> MeetingKey {
    MeetingKey([n; 32])
}

/// Fragment 0 of a frame: an SFrame header with the KID of (epoch, sender) and some bytes.
pub(super) fn frame(epoch: u64, ctr: u64) -> Vec<u8> {
    let kid = MediaKid::new(epoch, 1).map(MediaKid::to_kid).unwrap_or(0);
    let mut v = SframeHeader::new(kid, ctr).to_bytes();
    v.extend_from_slice(&[0x5a; 40]);
    v
}

pub(super) fn header(stream: Stream, keyframe: bool, level: u8) -> MediaHeader {
    MediaHeader {
        stream,
        keyframe,
        codec: false,
        audio_level: if stream == Stream::Audio {
            level
        } else {
            SILENT_LEVEL
        },
        frame_number: 0,
        frag_index: 0,
        frag_count: 1,
    }
}

pub(super) fn audio(level: u8) -> MediaHeader {
    header(Stream::Audio, false, level)
}

pub(super) fn video(layer: Layer, keyframe: bool) -> MediaHeader {
    header(Stream::Video(layer), keyframe, SILENT_LEVEL)
}

pub(super) fn data() -> MediaHeader {
    header(Stream::Data, false, SILENT_LEVEL)
}

/// A router under test with its clock.
pub(super) struct Harness {
    pub r: Router<Dest>,
    pub now: Instant,
    pub epoch: u64,
    out: Vec<Dest>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with(RouterConfig::default())
    }

    pub fn with(config: RouterConfig) -> Self {
        let t0 = Instant::now();
        Harness {
            r: Router::new(config),
            now: t0,
            epoch: 1,
            out: Vec::new(),
        }
    }

    /// Adds a participant to `m`, at destination 1000 + its id.
    pub fn join(&mut self, m: MeetingKey) -> ParticipantId {
        let next = self.r.next_id;
        let id = self.r.add_participant(self.now, m, 1000 + next);
        assert_eq!(id, next);
        id
    }

    /// Routes one single-fragment frame in the harness's epoch; the sorted destinations.
    pub fn send(&mut self, from: ParticipantId, h: MediaHeader) -> Vec<Dest> {
        let f = frame(self.epoch, 0);
        self.send_raw(from, h, &f).expect("routed")
    }

    pub fn send_raw(
        &mut self,
        from: ParticipantId,
        h: MediaHeader,
        fragment: &[u8],
    ) -> Result<Vec<Dest>, RouteDrop> {
        let r = self
            .r
            .route_media(self.now, from, &h, fragment, &mut self.out);
        if r.is_err() {
            assert!(self.out.is_empty(), "a dropped packet goes nowhere");
        }
        r.map(|()| {
            let mut v = self.out.clone();
            v.sort_unstable();
            v
        })
    }

    /// Advances the clock by `d`, running every timer that falls due on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.r.poll_timeout() {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.r.handle_timeout(self.now);
        }
        self.now = end;
        self.r.handle_timeout(self.now);
    }

    /// Every queued control message.
    pub fn outputs(&mut self) -> Vec<RouterOutput<Dest>> {
        std::iter::from_fn(|| self.r.poll_output()).collect()
    }

    /// Queued keyframe requests as (publisher, stream).
    pub fn keyframe_requests(&mut self) -> Vec<(ParticipantId, Stream)> {
        self.outputs()
            .into_iter()
            .filter_map(|o| match o.msg {
                ControlMsg::KeyframeRequest { stream } => Some((o.to, stream)),
                _ => None,
            })
            .collect()
    }

    /// Makes `publisher` send all three layers (delta frames), then one keyframe of
    /// `layer`, and drains the outputs.
    pub fn publish_video(&mut self, publisher: ParticipantId, key: Layer) {
        for l in Layer::ALL {
            self.send(publisher, video(l, false));
        }
        self.send(publisher, video(key, true));
        self.outputs();
    }

    pub fn layer(
        &self,
        sub: ParticipantId,
        publisher: ParticipantId,
    ) -> (Option<Layer>, Option<Layer>) {
        self.r.video_layer(sub, publisher).expect("linked")
    }
}
