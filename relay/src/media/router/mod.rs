//! The media router: a sans-IO core that decides who receives each media datagram
//! (PROTOCOL §11.5). State changes only through its inputs (participants joining and
//! leaving, MEDIA datagrams, feedback) and the current time; control messages come out of
//! [`Router::poll_output`], timers through [`Router::poll_timeout`] /
//! [`Router::handle_timeout`]. It never touches a socket and does not care which transport
//! a packet came from: `D` is the transport's destination type.
//!
//! Meetings → participants → published streams → subscriptions: every participant
//! subscribes to every other participant of its meeting; each publisher keeps one
//! [`layer::Link`] per subscriber (its fan-out list, preallocated at join), so that
//! [`Router::route_media`] is one lookup and one pass over a flat list, with no allocation.
//!
//! - [`config`]: tunables. [`output`]: control messages, drop reasons, counters.
//! - `layer`: simulcast layer choice. `keyframe`: request aggregation and throttling.
//! - `speaker`: active-speaker detection. `route`: the hot path (and epochs).
//! - `feedback`: keyframe requests, layer preferences, receiver reports.
//! - `timers`: pending keyframe requests, speaker ticks, bitrate windows.

pub mod config;
mod feedback;
mod keyframe;
mod layer;
pub mod output;
mod route;
mod speaker;
mod state;
mod timers;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use conclave_wire::media::{Layer, SILENT_LEVEL, Stream};

pub use config::RouterConfig;
pub use output::{ControlMsg, RouteDrop, RouterOutput, RouterStats};

use keyframe::{KeyframeDecision, KeyframeState};
use layer::{Link, SubscriberView};
use state::{Meeting, Participant};

/// A participant of a router, and its `source_id` on the wire. Never 0, never reused by a
/// router.
pub type ParticipantId = u32;

/// A meeting id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MeetingKey(pub [u8; 32]);

const SILENT: u8 = SILENT_LEVEL;

/// Outputs and counters, apart from the participant table so that both can be borrowed.
#[derive(Debug, Default)]
struct Sink {
    outputs: VecDeque<(ParticipantId, ControlMsg)>,
    stats: RouterStats,
    /// The earliest pending keyframe request.
    keyframe_due: Option<Instant>,
}

impl Sink {
    fn send(&mut self, to: ParticipantId, msg: ControlMsg) {
        self.outputs.push_back((to, msg));
    }

    fn request_keyframe(
        &mut self,
        state: &mut KeyframeState,
        publisher: ParticipantId,
        layer: Layer,
        now: Instant,
        throttle: Duration,
    ) {
        self.stats.keyframe_requests += 1;
        match state.request(now, throttle) {
            KeyframeDecision::Send => {
                self.stats.keyframe_requests_forwarded += 1;
                self.send(
                    publisher,
                    ControlMsg::KeyframeRequest {
                        stream: Stream::Video(layer),
                    },
                );
            }
            KeyframeDecision::Pending { due } => {
                self.stats.keyframe_requests_suppressed += 1;
                self.keyframe_due = Some(self.keyframe_due.map_or(due, |d| d.min(due)));
            }
        }
    }
}

/// The media router of one worker. See the module documentation.
#[derive(Debug)]
pub struct Router<D: Copy> {
    config: RouterConfig,
    participants: HashMap<ParticipantId, Participant<D>>,
    meetings: Vec<Option<Meeting>>,
    free_meetings: Vec<usize>,
    meeting_slots: HashMap<MeetingKey, usize>,
    next_id: ParticipantId,
    sink: Sink,
    next_speaker_tick: Option<Instant>,
    next_rate_tick: Option<Instant>,
    last_rate_tick: Option<Instant>,
    /// Subscriber views of one meeting, reused by layer evaluations.
    scratch: Vec<(ParticipantId, SubscriberView)>,
}

impl<D: Copy> Router<D> {
    pub fn new(config: RouterConfig) -> Self {
        Router {
            config,
            participants: HashMap::new(),
            meetings: Vec::new(),
            free_meetings: Vec::new(),
            meeting_slots: HashMap::new(),
            next_id: 1,
            sink: Sink::default(),
            next_speaker_tick: None,
            next_rate_tick: None,
            last_rate_tick: None,
            scratch: Vec::new(),
        }
    }

    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    fn fresh_id(&mut self) -> ParticipantId {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.checked_add(1).unwrap_or(1);
            if id != 0 && !self.participants.contains_key(&id) {
                return id;
            }
        }
    }

    /// A participant joins `meeting`; `dest` is where its packets go. It subscribes to
    /// every other member and they to it.
    pub fn add_participant(&mut self, now: Instant, meeting: MeetingKey, dest: D) -> ParticipantId {
        let id = self.fresh_id();
        let slot = match self.meeting_slots.get(&meeting) {
            Some(&s) => s,
            None => {
                let m = Some(Meeting::new(meeting));
                let s = match self.free_meetings.pop() {
                    Some(s) => {
                        if let Some(e) = self.meetings.get_mut(s) {
                            *e = m;
                        }
                        s
                    }
                    None => {
                        self.meetings.push(m);
                        self.meetings.len() - 1
                    }
                };
                self.meeting_slots.insert(meeting, s);
                s
            }
        };
        let Some(m) = self.meetings.get_mut(slot).and_then(Option::as_mut) else {
            // Unreachable: the slot was just filled.
            return id;
        };
        let mut me = Participant::new(slot, dest);
        me.fanout.reserve(m.members.len() + 1);
        for &other in &m.members {
            if let Some(o) = self.participants.get_mut(&other) {
                // Ids only grow, so pushing keeps every fan-out list sorted.
                o.fanout.push(Link::new(id, dest));
                me.fanout.push(Link::new(other, o.dest));
            }
        }
        m.members.push(id);
        if let Some(s) = m.speaker {
            self.sink.send(id, ControlMsg::ActiveSpeaker { source: s });
        }
        self.participants.insert(id, me);
        self.next_speaker_tick
            .get_or_insert(now + self.config.speaker_tick);
        self.next_rate_tick
            .get_or_insert(now + self.config.rate_window);
        self.last_rate_tick.get_or_insert(now);
        self.evaluate_subscriber(now, id, None);
        id
    }

    /// NAT rebinding: `id`'s packets now go to `dest`.
    pub fn set_dest(&mut self, id: ParticipantId, dest: D) {
        let Some(p) = self.participants.get_mut(&id) else {
            return;
        };
        p.dest = dest;
        let slot = p.meeting;
        let Some(m) = self.meetings.get(slot).and_then(Option::as_ref) else {
            return;
        };
        for other in &m.members {
            if let Some(o) = self.participants.get_mut(other)
                && let Some(i) = o.link_index(id)
                && let Some(link) = o.fanout.get_mut(i)
            {
                link.dest = dest;
            }
        }
    }

    /// `id` leaves: the others are told `SOURCE_GONE`.
    pub fn remove_participant(&mut self, _now: Instant, id: ParticipantId) {
        let Some(p) = self.participants.remove(&id) else {
            return;
        };
        let slot = p.meeting;
        let Some(m) = self.meetings.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        m.members.retain(|&x| x != id);
        if m.speaker == Some(id) {
            m.speaker = None;
        }
        if m.candidate.is_some_and(|c| c.0 == id) {
            m.candidate = None;
        }
        for other in &m.members {
            if let Some(o) = self.participants.get_mut(other)
                && let Some(i) = o.link_index(id)
            {
                o.fanout.remove(i);
            }
            self.sink
                .send(*other, ControlMsg::SourceGone { source: id });
        }
        if m.members.is_empty() {
            let key = m.key;
            self.meeting_slots.remove(&key);
            if let Some(e) = self.meetings.get_mut(slot) {
                *e = None;
            }
            self.free_meetings.push(slot);
        }
        if self.participants.is_empty() {
            self.next_speaker_tick = None;
            self.next_rate_tick = None;
            self.last_rate_tick = None;
            self.sink.keyframe_due = None;
        }
    }

    /// The next control message to send, with the recipient's current destination.
    /// Messages for participants that left meanwhile are skipped.
    pub fn poll_output(&mut self) -> Option<RouterOutput<D>> {
        while let Some((to, msg)) = self.sink.outputs.pop_front() {
            if let Some(p) = self.participants.get(&to) {
                return Some(RouterOutput {
                    to,
                    dest: p.dest,
                    msg,
                });
            }
        }
        None
    }

    /// When [`Self::handle_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.next_speaker_tick,
            self.next_rate_tick,
            self.sink.keyframe_due,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Counters and gauges.
    pub fn stats(&self) -> RouterStats {
        let mut s = self.sink.stats;
        s.meetings = self.meeting_slots.len() as u64;
        s.participants = self.participants.len() as u64;
        s
    }

    /// The meeting's members, in join order (tests, diagnostics).
    pub fn members(&self, meeting: &MeetingKey) -> &[ParticipantId] {
        self.meeting_slots
            .get(meeting)
            .and_then(|&s| self.meetings.get(s))
            .and_then(Option::as_ref)
            .map_or(&[], |m| m.members.as_slice())
    }

    /// The layer `subscriber` receives of `publisher`'s video now, and the one it waits
    /// to switch to (diagnostics, tests).
    pub fn video_layer(
        &self,
        subscriber: ParticipantId,
        publisher: ParticipantId,
    ) -> Option<(Option<Layer>, Option<Layer>)> {
        let p = self.participants.get(&publisher)?;
        let link = p.fanout.get(p.link_index(subscriber)?)?;
        Some((link.current, link.target))
    }

    /// The announced active speaker of a meeting.
    pub fn active_speaker(&self, meeting: &MeetingKey) -> Option<ParticipantId> {
        let s = *self.meeting_slots.get(meeting)?;
        self.meetings.get(s)?.as_ref()?.speaker
    }

    /// Fills `scratch` with the subscriber view of every member of meeting `slot`.
    fn fill_scratch(&mut self, now: Instant, slot: usize) {
        let Router {
            meetings,
            participants,
            config,
            scratch,
            ..
        } = self;
        let members = meetings
            .get(slot)
            .and_then(Option::as_ref)
            .map_or(&[][..], |m| m.members.as_slice());
        fill_views(scratch, participants, config, now, members);
    }

    fn scratch_view(&self, id: ParticipantId) -> Option<SubscriberView> {
        let i = self.scratch.binary_search_by_key(&id, |e| e.0).ok()?;
        self.scratch.get(i).map(|e| e.1)
    }
}

/// The subscriber view of each of `members` (sorted by id, like `members`): its layer
/// preference and its bandwidth share per other video publisher.
fn fill_views<D: Copy>(
    scratch: &mut Vec<(ParticipantId, SubscriberView)>,
    participants: &HashMap<ParticipantId, Participant<D>>,
    config: &RouterConfig,
    now: Instant,
    members: &[ParticipantId],
) {
    scratch.clear();
    let sends_video = |id: &ParticipantId| {
        participants
            .get(id)
            .is_some_and(|p| p.publisher_view(now, config).sends_video())
    };
    let video_publishers = members.iter().filter(|id| sends_video(id)).count();
    for id in members {
        let Some(p) = participants.get(id) else {
            continue;
        };
        let others = video_publishers.saturating_sub(usize::from(sends_video(id)));
        let share_bps = p.est_bandwidth_bps.map(|bw| bw / others.max(1) as u64);
        scratch.push((
            *id,
            SubscriberView {
                max_layer: p.max_layer,
                share_bps,
            },
        ));
    }
}
