//! Receiver-side checks that need memory: replayed containers, and who may move a
//! meeting to which epoch.

use std::collections::HashMap;

use conclave_wire::container::DEVICE_ID_LEN;

use super::{OpenedContainer, Payload};
use crate::meeting::MeetingId;
use crate::{ClientError, Result};

/// Containers seen until their TTL ends, keyed by (sender app key, container id): a
/// container is accepted once, and a forger cannot burn a real sender's container id.
#[derive(Debug, Default)]
pub struct SeenContainers {
    /// (sender app key, container id) → expiry (ms).
    seen: HashMap<([u8; 65], [u8; 16]), u64>,
}

impl SeenContainers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `opened`, or fails with [`ClientError::Replay`] if it was seen before.
    /// Entries whose TTL has passed are forgotten (the container itself is expired then).
    pub fn check_and_record(&mut self, opened: &OpenedContainer, now_ms: u64) -> Result<()> {
        self.seen.retain(|_, &mut expires| expires >= now_ms);
        let key = (*opened.sender.app_key.as_bytes(), opened.container_id);
        if self.seen.contains_key(&key) {
            return Err(ClientError::Replay);
        }
        self.seen.insert(key, opened.expires_ms());
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[derive(Debug)]
struct MeetingState {
    epoch: u64,
    members: Vec<[u8; DEVICE_ID_LEN]>,
}

/// Per meeting, the current epoch and its members. The first invite for a meeting is
/// accepted (whether to trust the inviter is the application's decision, e.g. by the
/// sender's fingerprint); after that only a member of the current epoch may send
/// invites (same or newer epoch), rekeys (strictly newer epoch) or leaves (current epoch
/// or newer).
#[derive(Debug, Default)]
pub struct EpochGuard {
    meetings: HashMap<MeetingId, MeetingState>,
}

impl EpochGuard {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn current(&self, meeting: &MeetingId) -> Option<u64> {
        self.meetings.get(meeting).map(|m| m.epoch)
    }

    fn member_check(&self, id: &MeetingId, sender: &[u8; DEVICE_ID_LEN]) -> Result<Option<u64>> {
        match self.meetings.get(id) {
            None => Ok(None),
            Some(m) if m.members.contains(sender) => Ok(Some(m.epoch)),
            Some(_) => Err(ClientError::NotAMember),
        }
    }

    /// Checks an opened container against the meetings seen so far and records new epochs.
    pub fn check(&mut self, opened: &OpenedContainer) -> Result<()> {
        let sender = &opened.sender.device_id;
        let (keys, strictly_newer) = match &opened.payload {
            Payload::Invite(k) => (k, false),
            Payload::Rekey(k) => (k, true),
            Payload::Leave { meeting_id, epoch } => {
                let id = MeetingId::from_hex(meeting_id)?;
                return match self.member_check(&id, sender)? {
                    Some(cur) if *epoch < cur => Err(ClientError::StaleEpoch {
                        got: *epoch,
                        current: cur,
                    }),
                    _ => Ok(()),
                };
            }
            Payload::Reject { .. } | Payload::Text { .. } => return Ok(()),
        };
        let epoch_keys = keys.to_keys()?;
        let id = epoch_keys.meeting_id();
        if let Some(cur) = self.member_check(&id, sender)? {
            let stale = if strictly_newer {
                keys.epoch <= cur
            } else {
                keys.epoch < cur
            };
            if stale {
                return Err(ClientError::StaleEpoch {
                    got: keys.epoch,
                    current: cur,
                });
            }
        }
        self.meetings.insert(
            id,
            MeetingState {
                epoch: keys.epoch,
                members: epoch_keys
                    .roster()
                    .entries()
                    .iter()
                    .map(|e| e.device_id)
                    .collect(),
            },
        );
        Ok(())
    }
}
