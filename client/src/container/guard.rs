//! Receiver-side checks that need memory: replayed container ids and stale epochs.

use std::collections::HashMap;

use super::{OpenedContainer, Payload};
use crate::meeting::MeetingId;
use crate::{ClientError, Result};

/// Container ids seen until their TTL ends: a container is accepted once.
#[derive(Debug, Default)]
pub struct SeenContainers {
    /// Container id → expiry (ms).
    seen: HashMap<[u8; 16], u64>,
}

impl SeenContainers {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `opened`, or fails with [`ClientError::Replay`] if it was seen before.
    /// Entries whose TTL has passed are forgotten (the container itself is expired then).
    pub fn check_and_record(&mut self, opened: &OpenedContainer, now_ms: u64) -> Result<()> {
        self.seen.retain(|_, &mut expires| expires >= now_ms);
        if self.seen.contains_key(&opened.container_id) {
            return Err(ClientError::Replay);
        }
        self.seen.insert(opened.container_id, opened.expires_ms());
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// The highest epoch accepted per meeting: invites may not go back, rekeys must move
/// forward.
#[derive(Debug, Default)]
pub struct EpochGuard {
    epochs: HashMap<MeetingId, u64>,
}

impl EpochGuard {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn current(&self, meeting: &MeetingId) -> Option<u64> {
        self.epochs.get(meeting).copied()
    }

    /// Checks a payload against the epochs seen so far and records new epochs.
    pub fn check(&mut self, payload: &Payload) -> Result<()> {
        let (keys, strictly_newer) = match payload {
            Payload::Invite(k) => (k, false),
            Payload::Rekey(k) => (k, true),
            Payload::Leave { meeting_id, epoch } => {
                let id = MeetingId::from_hex(meeting_id)?;
                return match self.epochs.get(&id) {
                    Some(&cur) if *epoch < cur => Err(ClientError::StaleEpoch {
                        got: *epoch,
                        current: cur,
                    }),
                    _ => Ok(()),
                };
            }
            Payload::Reject { .. } | Payload::Text { .. } => return Ok(()),
        };
        let id = MeetingId::from_hex(&keys.meeting_id)?;
        if let Some(&cur) = self.epochs.get(&id) {
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
        self.epochs.insert(id, keys.epoch);
        Ok(())
    }
}
