//! Receiver-side checks that need memory: replayed containers, and who may move a
//! meeting to which epoch.

use std::collections::HashMap;

use conclave_crypto::P256PublicKey;
use conclave_wire::container::DEVICE_ID_LEN;

use super::{OpenedContainer, Payload};
use crate::identity::VerifiedDevice;
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
    /// The current epoch's members: device id and the user key the roster binds it to.
    members: Vec<([u8; DEVICE_ID_LEN], P256PublicKey)>,
}

/// Per meeting, the current epoch and its members. The first invite for a meeting is
/// accepted (whether to trust the inviter is the application's decision, e.g. by the
/// sender's fingerprint). After that, only a member of the current epoch — the sender's
/// device id *and* user key must match a roster entry, since device ids alone are public —
/// may send an invite for the same epoch with the same roster, a rekey (strictly newer
/// epoch) or a leave (current epoch or newer). A rekey or leave for an unknown meeting is
/// refused.
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

    /// The meeting's state, if the sender is one of its current members.
    fn as_member(&self, id: &MeetingId, sender: &VerifiedDevice) -> Result<Option<&MeetingState>> {
        match self.meetings.get(id) {
            None => Ok(None),
            Some(m)
                if m.members
                    .iter()
                    .any(|(d, k)| d == &sender.device_id && k == &sender.user_key) =>
            {
                Ok(Some(m))
            }
            Some(_) => Err(ClientError::NotAMember),
        }
    }

    /// Records a meeting's epoch and members this device knows first hand: the initiator's
    /// own invite or rekey, or an invite opened by an earlier process. Never lowers the
    /// epoch already recorded.
    pub fn record(&mut self, keys: &crate::meeting::EpochKeys) {
        let id = keys.meeting_id();
        if self.current(&id).is_some_and(|e| e > keys.epoch()) {
            return;
        }
        let members = keys
            .roster()
            .entries()
            .iter()
            .map(|e| (e.device_id, e.user_key))
            .collect();
        self.meetings.insert(
            id,
            MeetingState {
                epoch: keys.epoch(),
                members,
            },
        );
    }

    /// Checks an opened container against the meetings seen so far and records new epochs.
    pub fn check(&mut self, opened: &OpenedContainer) -> Result<()> {
        let sender = &opened.sender;
        let (keys, is_rekey) = match &opened.payload {
            Payload::Invite(k) => (k, false),
            Payload::Rekey(k) => (k, true),
            Payload::Leave { meeting_id, epoch } => {
                let id = MeetingId::from_hex(meeting_id)?;
                return match self.as_member(&id, sender)? {
                    None => Err(ClientError::NotAMember),
                    Some(m) if *epoch < m.epoch => Err(ClientError::StaleEpoch {
                        got: *epoch,
                        current: m.epoch,
                    }),
                    Some(_) => Ok(()),
                };
            }
            Payload::Reject { .. } | Payload::Text { .. } => return Ok(()),
        };
        let epoch_keys = keys.to_keys()?;
        let id = epoch_keys.meeting_id();
        let members: Vec<_> = epoch_keys
            .roster()
            .entries()
            .iter()
            .map(|e| (e.device_id, e.user_key))
            .collect();
        match self.as_member(&id, sender)? {
            None if is_rekey => return Err(ClientError::NotAMember),
            None => {}
            Some(m) => {
                let stale = if is_rekey {
                    keys.epoch <= m.epoch
                } else {
                    keys.epoch < m.epoch || (keys.epoch == m.epoch && members != m.members)
                };
                if stale {
                    return Err(ClientError::StaleEpoch {
                        got: keys.epoch,
                        current: m.epoch,
                    });
                }
            }
        }
        self.meetings.insert(
            id,
            MeetingState {
                epoch: keys.epoch,
                members,
            },
        );
        Ok(())
    }
}
