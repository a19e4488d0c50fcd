//! Subscriber feedback: keyframe requests, layer preferences, receiver reports; and the
//! layer (re-)evaluations they trigger.

use std::time::Instant;

use conclave_wire::media::{Layer, ReceiverReport, Stream};

use super::layer::decide;
use super::{ParticipantId, Router};

impl<D: Copy> Router<D> {
    /// `from` asks for a keyframe of `source`'s `stream` (video only, same meeting, not its
    /// own). Aggregated per (publisher, layer), forwarded at most once per throttle interval.
    pub fn on_keyframe_request(
        &mut self,
        now: Instant,
        from: ParticipantId,
        source: ParticipantId,
        stream: Stream,
    ) {
        let meeting = self.participants.get(&from).map(|p| p.meeting);
        let throttle = self.config.keyframe_throttle;
        match (meeting, stream, self.participants.get_mut(&source)) {
            (Some(m), Stream::Video(layer), Some(p)) if source != from && p.meeting == m => {
                if let Some(k) = p.keyframes.get_mut(usize::from(layer.index())) {
                    self.sink.request_keyframe(k, source, layer, now, throttle);
                }
            }
            _ => self.sink.stats.feedback_ignored += 1,
        }
    }

    /// `from`'s LAYER_PREFERENCE: the highest layer it wants (0, 1, 2), None = no video.
    pub fn on_layer_preference(
        &mut self,
        now: Instant,
        from: ParticipantId,
        max_layer: Option<u8>,
    ) {
        let layer = match max_layer {
            None => None,
            Some(i) => match Layer::from_index(i) {
                Some(l) => Some(l),
                None => {
                    self.sink.stats.feedback_ignored += 1;
                    return;
                }
            },
        };
        let Some(p) = self.participants.get_mut(&from) else {
            self.sink.stats.feedback_ignored += 1;
            return;
        };
        p.max_layer = layer;
        self.evaluate_subscriber(now, from, None);
    }

    /// `from`'s RECEIVER_REPORT: its bandwidth estimate (0 = none) and, per publisher,
    /// loss; a video entry with loss above the threshold steps that publisher down a layer.
    pub fn on_receiver_report(
        &mut self,
        now: Instant,
        from: ParticipantId,
        report: &ReceiverReport,
    ) {
        let Some(p) = self.participants.get_mut(&from) else {
            self.sink.stats.feedback_ignored += 1;
            return;
        };
        p.est_bandwidth_bps =
            (report.est_bandwidth_kbps > 0).then(|| u64::from(report.est_bandwidth_kbps) * 1000);
        self.evaluate_subscriber(now, from, Some(report));
    }

    /// Re-decides the layer `sub` receives of every publisher of its meeting.
    pub(super) fn evaluate_subscriber(
        &mut self,
        now: Instant,
        sub: ParticipantId,
        report: Option<&ReceiverReport>,
    ) {
        let Some(slot) = self.participants.get(&sub).map(|p| p.meeting) else {
            return;
        };
        self.fill_scratch(now, slot);
        let Some(view) = self.scratch_view(sub) else {
            return;
        };
        let Some(m) = self.meetings.get(slot).and_then(Option::as_ref) else {
            return;
        };
        let threshold = self.config.layer_loss_threshold;
        for &pid in &m.members {
            if pid == sub {
                continue;
            }
            let Some(p) = self.participants.get_mut(&pid) else {
                continue;
            };
            let publisher = p.publisher_view(now, &self.config);
            let loss_step = report.is_some_and(|r| {
                r.entries.iter().any(|e| {
                    e.source_id == pid && e.stream.is_video() && e.fraction_lost > threshold
                })
            });
            let Some(link) = p.link_index(sub).and_then(|i| p.fanout.get_mut(i)) else {
                continue;
            };
            if let Some(t) = decide(link, now, &self.config, &view, &publisher, loss_step)
                && let Some(k) = p.keyframes.get_mut(usize::from(t.index()))
            {
                self.sink
                    .request_keyframe(k, pid, t, now, self.config.keyframe_throttle);
            }
        }
    }

    /// Re-decides the layer every subscriber receives of `publisher`; no keyframe request
    /// for `arriving`, the layer whose keyframe is being routed.
    pub(super) fn evaluate_publisher(
        &mut self,
        now: Instant,
        publisher: ParticipantId,
        arriving: Option<Layer>,
    ) {
        let Some(slot) = self.participants.get(&publisher).map(|p| p.meeting) else {
            return;
        };
        self.fill_scratch(now, slot);
        self.evaluate_publisher_filled(now, publisher, false, arriving);
    }

    /// [`Self::evaluate_publisher`] with `scratch` already filled for its meeting. With
    /// `retry`, links still waiting for a keyframe ask again (throttled).
    pub(super) fn evaluate_publisher_filled(
        &mut self,
        now: Instant,
        publisher: ParticipantId,
        retry: bool,
        arriving: Option<Layer>,
    ) {
        let Some(p) = self.participants.get_mut(&publisher) else {
            return;
        };
        let view = p.publisher_view(now, &self.config);
        if !view.sends_video()
            && p.fanout
                .iter()
                .all(|l| l.current.is_none() && l.target.is_none())
        {
            // No video, and no link to reset: nothing to decide (audio-only publishers).
            return;
        }
        for link in p.fanout.iter_mut() {
            let Some(sub) = self
                .scratch
                .binary_search_by_key(&link.sub, |e| e.0)
                .ok()
                .and_then(|i| self.scratch.get(i))
                .map(|e| e.1)
            else {
                continue;
            };
            let changed = decide(link, now, &self.config, &sub, &view, false);
            let ask = changed.or(if retry { link.switching() } else { None });
            if let Some(t) = ask
                && Some(t) != arriving
                && let Some(k) = p.keyframes.get_mut(usize::from(t.index()))
            {
                self.sink
                    .request_keyframe(k, publisher, t, now, self.config.keyframe_throttle);
            }
        }
    }
}
