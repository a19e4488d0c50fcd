//! Commands from the control plane to a worker, over a channel the worker polls each loop
//! turn.

use conclave_wire::media::CloseReason;

use super::pins::MeetingBytes;

#[derive(Debug)]
pub enum Command {
    /// The control plane recorded `device` (every device: `None`) as gone from `meeting`:
    /// close its sessions with `CLOSED(reason)` and refuse its tickets that expire at or
    /// before `expiring_by` (those issued before the event).
    Refuse {
        meeting: MeetingBytes,
        device: Option<[u8; 16]>,
        expiring_by: u64,
        reason: CloseReason,
    },
    /// A browser's SDP offer (its ticket verified by the control plane).
    WebrtcOffer(crate::media::webrtc::OfferCommand),
    /// `DELETE` of a browser's session.
    WebrtcClose {
        meeting: MeetingBytes,
        session_id: [u8; 16],
    },
}
