//! Time-driven work: pending keyframe requests, active-speaker ticks, bitrate windows and
//! the periodic layer re-evaluation.

use std::time::{Duration, Instant};

use conclave_wire::media::{Layer, Stream};

use super::speaker::{leader, step};
use super::{ControlMsg, Router};

/// The next deadline of a periodic timer after it fired at `now`.
fn advance(next: Instant, period: Duration, now: Instant) -> Instant {
    let n = next + period;
    if n <= now { now + period } else { n }
}

impl<D: Copy> Router<D> {
    /// Runs whatever is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.sink.keyframe_due.is_some_and(|d| now >= d) {
            self.fire_keyframes(now);
        }
        if let Some(t) = self.next_speaker_tick
            && now >= t
        {
            self.speaker_tick(now);
            self.next_speaker_tick = Some(advance(t, self.config.speaker_tick, now));
        }
        if let Some(t) = self.next_rate_tick
            && now >= t
        {
            self.rate_tick(now);
            self.next_rate_tick = Some(advance(t, self.config.rate_window, now));
        }
    }

    fn fire_keyframes(&mut self, now: Instant) {
        let throttle = self.config.keyframe_throttle;
        let mut next: Option<Instant> = None;
        for (&id, p) in self.participants.iter_mut() {
            for layer in Layer::ALL {
                let Some(k) = p.keyframes.get_mut(usize::from(layer.index())) else {
                    continue;
                };
                if k.fire(now, throttle) {
                    self.sink.stats.keyframe_requests_forwarded += 1;
                    self.sink.send(
                        id,
                        ControlMsg::KeyframeRequest {
                            stream: Stream::Video(layer),
                        },
                    );
                }
                if let Some(d) = k.due(throttle) {
                    next = Some(next.map_or(d, |n| n.min(d)));
                }
            }
        }
        self.sink.keyframe_due = next;
    }

    fn speaker_tick(&mut self, now: Instant) {
        let silence = self.config.speaker_silence_after;
        for m in self.meetings.iter_mut().flatten() {
            let levels = m.members.iter().filter_map(|id| {
                let p = self.participants.get(id)?;
                let recent = p
                    .last_audio
                    .is_some_and(|t| now.saturating_duration_since(t) < silence);
                recent.then_some((*id, p.audio_dbov))
            });
            let lead = leader(levels, self.config.speaker_threshold);
            if let Some(s) = step(
                &mut m.candidate,
                m.speaker,
                lead,
                now,
                self.config.speaker_hold,
            ) {
                m.speaker = Some(s);
                self.sink.stats.active_speaker_changes += 1;
                for &to in &m.members {
                    self.sink.send(to, ControlMsg::ActiveSpeaker { source: s });
                }
            }
        }
    }

    /// Closes a bitrate window and re-evaluates every layer choice.
    fn rate_tick(&mut self, now: Instant) {
        let elapsed = self.last_rate_tick.map_or(self.config.rate_window, |t| {
            now.saturating_duration_since(t)
        });
        self.last_rate_tick = Some(now);
        let micros = elapsed.as_micros().max(1);
        for p in self.participants.values_mut() {
            for s in p.streams.iter_mut() {
                let bps = u128::from(s.bytes) * 8 * 1_000_000 / micros;
                s.bitrate_bps = u64::try_from(bps).unwrap_or(u64::MAX);
                s.bytes = 0;
            }
        }
        for slot in 0..self.meetings.len() {
            let members = match self.meetings.get_mut(slot).and_then(Option::as_mut) {
                Some(m) => std::mem::take(&mut m.members),
                None => continue,
            };
            super::fill_views(
                &mut self.scratch,
                &self.participants,
                &self.config,
                now,
                &members,
            );
            for &pid in &members {
                self.evaluate_publisher_filled(now, pid, true, None);
            }
            if let Some(m) = self.meetings.get_mut(slot).and_then(Option::as_mut) {
                m.members = members;
            }
        }
    }
}
