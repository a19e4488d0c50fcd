//! The hot path: one MEDIA datagram in, its destinations out. Also reads the epoch of
//! every frame from the clear SFrame KID of fragment 0.

use std::time::Instant;

use conclave_wire::media::{Layer, MediaHeader, Stream};
use conclave_wire::sframe::{MediaKid, SframeHeader};

use super::config::RouterConfig;
use super::speaker::smooth;
use super::state::{Meeting, Participant};
use super::{ControlMsg, ParticipantId, RouteDrop, Router, Sink};

impl<D: Copy> Router<D> {
    /// HOT PATH, zero allocations in steady state: decides who receives one MEDIA
    /// datagram of `from`. `fragment` is the fragment's bytes (for frag_index 0 the SFrame
    /// header at its start gives the epoch). Clears `out` and fills it with the
    /// destinations: every other member for audio and data, the subscribers whose chosen
    /// layer this is for video, never `from` itself.
    pub fn route_media(
        &mut self,
        now: Instant,
        from: ParticipantId,
        header: &MediaHeader,
        fragment: &[u8],
        out: &mut Vec<D>,
    ) -> Result<(), RouteDrop> {
        out.clear();
        let r = self.route(now, from, header, fragment, out);
        match r {
            Ok(()) => {
                self.sink.stats.packets_routed += 1;
                self.sink.stats.forwarded += out.len() as u64;
            }
            Err(d) => self.sink.stats.count_drop(d),
        }
        r
    }

    fn route(
        &mut self,
        now: Instant,
        from: ParticipantId,
        header: &MediaHeader,
        fragment: &[u8],
        out: &mut Vec<D>,
    ) -> Result<(), RouteDrop> {
        if header.validate().is_err() || header.validate_fragment(fragment.len()).is_err() {
            return Err(RouteDrop::InvalidHeader);
        }
        let config = &self.config;
        let Some(p) = self.participants.get_mut(&from) else {
            return Err(RouteDrop::UnknownParticipant);
        };
        let first = header.is_first_fragment();
        let keyframe_layer = match header.stream {
            Stream::Video(l) if header.keyframe && first => Some(l),
            _ => None,
        };
        if first {
            let at = header
                .sframe_offset(fragment)
                .ok_or(RouteDrop::BadSframeHeader)?;
            let (sframe, _) = SframeHeader::parse(fragment.get(at..).unwrap_or_default())
                .map_err(|_| RouteDrop::BadSframeHeader)?;
            let epoch = MediaKid::from_kid(sframe.kid).epoch;
            let Some(m) = self.meetings.get_mut(p.meeting).and_then(Option::as_mut) else {
                return Err(RouteDrop::UnknownParticipant);
            };
            on_epoch(
                config,
                &mut self.sink,
                now,
                from,
                p,
                m,
                epoch,
                keyframe_layer,
            );
        }
        let Some(stat) = p.streams.get_mut(header.stream.index()) else {
            return Err(RouteDrop::InvalidHeader);
        };
        let newly_active = !stat.active(now, config.layer_inactive_after);
        stat.last_seen = Some(now);
        stat.bytes += fragment.len() as u64 + u64::from(config.packet_overhead);
        let p = match header.stream {
            Stream::Video(_) if newly_active => {
                // A layer (re)appeared: subscribers may want it now (rare; may queue
                // keyframe requests), so decide before forwarding this very packet.
                self.evaluate_publisher(now, from, keyframe_layer);
                self.participants
                    .get_mut(&from)
                    .ok_or(RouteDrop::UnknownParticipant)?
            }
            _ => p,
        };
        match header.stream {
            Stream::Audio => {
                if first {
                    p.audio_dbov = smooth(
                        p.audio_dbov,
                        header.audio_level,
                        self.config.speaker_smoothing,
                    );
                    p.last_audio = Some(now);
                }
                out.extend(p.fanout.iter().map(|l| l.dest));
            }
            Stream::Data => out.extend(p.fanout.iter().map(|l| l.dest)),
            Stream::Video(layer) => {
                if let Some(k) = p.keyframes.get_mut(usize::from(layer.index()))
                    && keyframe_layer.is_some()
                {
                    k.satisfied();
                }
                let mut switches = 0;
                for link in p.fanout.iter_mut() {
                    if link.current == Some(layer) {
                        out.push(link.dest);
                    } else if keyframe_layer.is_some() && link.target == Some(layer) {
                        link.current = Some(layer);
                        switches += 1;
                        out.push(link.dest);
                    }
                }
                self.sink.stats.layer_switches += switches;
            }
        }
        Ok(())
    }
}

/// Epoch awareness (PROTOCOL §11.5): on a publisher's first frame of a higher epoch,
/// request a keyframe of each video layer it sends (but the one this frame is a keyframe
/// of); tell a publisher stuck in an older epoch than the meeting's highest `EPOCH_BEHIND`.
#[allow(clippy::too_many_arguments)]
fn on_epoch<D: Copy>(
    config: &RouterConfig,
    sink: &mut Sink,
    now: Instant,
    id: ParticipantId,
    p: &mut Participant<D>,
    m: &mut Meeting,
    epoch: u64,
    keyframe_layer: Option<Layer>,
) {
    match p.epoch {
        Some(e) if epoch > e => {
            p.epoch = Some(epoch);
            for layer in Layer::ALL {
                if Some(layer) == keyframe_layer
                    || !p.video(layer).active(now, config.layer_inactive_after)
                {
                    continue;
                }
                if let Some(k) = p.keyframes.get_mut(usize::from(layer.index())) {
                    sink.request_keyframe(k, id, layer, now, config.keyframe_throttle);
                }
            }
        }
        Some(_) => {}
        None => p.epoch = Some(epoch),
    }
    match m.max_epoch {
        Some((max, _)) if epoch <= max => {}
        _ => m.max_epoch = Some((epoch, now)),
    }
    if let (Some((max, since)), Some(mine)) = (m.max_epoch, p.epoch)
        && mine < max
        && now.saturating_duration_since(since) >= config.stale_epoch_after
        && p.epoch_behind_sent
            .is_none_or(|t| now.saturating_duration_since(t) >= config.epoch_behind_interval)
    {
        p.epoch_behind_sent = Some(now);
        sink.stats.epoch_behind += 1;
        sink.send(id, ControlMsg::EpochBehind { meeting_epoch: max });
    }
}
