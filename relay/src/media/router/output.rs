//! What the router asks its transport to do besides forwarding, and why it refuses a packet.

use conclave_wire::media::Stream;
use thiserror::Error;

use super::ParticipantId;

/// A control message for one participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlMsg {
    /// To a publisher: send a keyframe of your `stream`.
    KeyframeRequest { stream: Stream },
    /// To every member of a meeting: `source` is the active speaker.
    ActiveSpeaker { source: ParticipantId },
    /// To every remaining member: `source` left.
    SourceGone { source: ParticipantId },
    /// To a publisher still sending in an older epoch than the meeting's highest.
    EpochBehind { meeting_epoch: u64 },
}

/// A control message and where it goes (the participant's current destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterOutput<D> {
    pub to: ParticipantId,
    pub dest: D,
    pub msg: ControlMsg,
}

/// Why [`super::Router::route_media`] forwarded nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RouteDrop {
    #[error("unknown participant")]
    UnknownParticipant,
    #[error("invalid media header or fragment length")]
    InvalidHeader,
    #[error("fragment 0 does not start with a valid SFrame header")]
    BadSframeHeader,
}

impl RouteDrop {
    /// A stable label for counters.
    pub fn reason(&self) -> &'static str {
        match self {
            RouteDrop::UnknownParticipant => "unknown_participant",
            RouteDrop::InvalidHeader => "invalid_header",
            RouteDrop::BadSframeHeader => "bad_sframe_header",
        }
    }
}

/// Counters (monotonic unless marked as a gauge).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// MEDIA datagrams routed (forwarded to zero or more subscribers).
    pub packets_routed: u64,
    /// Packet × subscriber forwarding decisions that forwarded.
    pub forwarded: u64,
    pub dropped_unknown_participant: u64,
    pub dropped_invalid_header: u64,
    pub dropped_bad_sframe_header: u64,
    /// Keyframe requests received from subscribers (and made by the router itself).
    pub keyframe_requests: u64,
    /// Keyframe requests sent to publishers.
    pub keyframe_requests_forwarded: u64,
    /// Requests merged into one already sent or pending (throttling).
    pub keyframe_requests_suppressed: u64,
    /// Keyframe requests or layer preferences that named no valid target.
    pub feedback_ignored: u64,
    /// `EPOCH_BEHIND` messages sent.
    pub epoch_behind: u64,
    /// Active-speaker announcements.
    pub active_speaker_changes: u64,
    /// (subscriber, publisher) video layer switches performed at a keyframe.
    pub layer_switches: u64,
    /// Gauge: meetings with at least one participant.
    pub meetings: u64,
    /// Gauge: participants.
    pub participants: u64,
}

impl RouterStats {
    pub(super) fn count_drop(&mut self, d: RouteDrop) {
        match d {
            RouteDrop::UnknownParticipant => self.dropped_unknown_participant += 1,
            RouteDrop::InvalidHeader => self.dropped_invalid_header += 1,
            RouteDrop::BadSframeHeader => self.dropped_bad_sframe_header += 1,
        }
    }
}
