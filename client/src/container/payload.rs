//! The container payload: UTF-8 JSON, one object with a `type` field, encrypted inside the
//! container. Unknown fields are rejected.

use conclave_crypto::{P256PublicKey, Secret};
use conclave_wire::b64;
use conclave_wire::container::MessageType;
use serde::{Deserialize, Serialize};

use crate::meeting::{EpochKeys, MeetingId, Roster, RosterEntry};
use crate::{ClientError, Result};

/// What kind of call an invite is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallType {
    Audio,
    Video,
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterEntryJson {
    pub index: u16,
    /// 32 hex digits.
    pub device_id: String,
    /// Base64 of the 65-byte SEC1 user key.
    pub user_key: String,
}

impl std::fmt::Debug for RosterEntryJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RosterEntry({}, {})", self.index, self.device_id)
    }
}

/// The meeting keys of an invite or a rekey.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeetingKeysJson {
    /// 64 hex digits.
    pub meeting_id: String,
    pub epoch: u64,
    /// Base64 of the 32-byte meeting key.
    pub meeting_key: String,
    pub roster: Vec<RosterEntryJson>,
    pub call_type: CallType,
}

impl std::fmt::Debug for MeetingKeysJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeetingKeys")
            .field("meeting_id", &self.meeting_id)
            .field("epoch", &self.epoch)
            .field("roster", &self.roster)
            .finish_non_exhaustive()
    }
}

impl Drop for MeetingKeysJson {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.meeting_key);
    }
}

impl MeetingKeysJson {
    pub fn from_keys(keys: &EpochKeys, call_type: CallType) -> Self {
        MeetingKeysJson {
            meeting_id: keys.meeting_id().to_hex(),
            epoch: keys.epoch(),
            meeting_key: b64::encode(keys.meeting_key().expose()),
            roster: keys
                .roster()
                .entries()
                .iter()
                .map(|e| RosterEntryJson {
                    index: e.index,
                    device_id: hex::encode(e.device_id),
                    user_key: b64::encode(e.user_key.as_bytes()),
                })
                .collect(),
            call_type,
        }
    }

    /// Validates and converts to [`EpochKeys`].
    pub fn to_keys(&self) -> Result<EpochKeys> {
        let bad = |m: &str| ClientError::BadPayload(m.to_string());
        let meeting_id = MeetingId::from_hex(&self.meeting_id)?;
        let key = Secret::new(
            b64::decode(&self.meeting_key).map_err(|_| bad("meeting key is not base64"))?,
        );
        let entries = self
            .roster
            .iter()
            .map(|e| {
                let device_id = hex::decode(&e.device_id)
                    .ok()
                    .and_then(|v| <[u8; 16]>::try_from(v).ok())
                    .ok_or_else(|| bad("roster device id must be 32 hex digits"))?;
                let user_key = b64::decode(&e.user_key)
                    .ok()
                    .and_then(|v| P256PublicKey::from_sec1(&v).ok())
                    .ok_or_else(|| bad("roster user key must be a SEC1 P-256 key"))?;
                Ok(RosterEntry {
                    index: e.index,
                    device_id,
                    user_key,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        EpochKeys::from_parts(meeting_id, self.epoch, key, Roster::new(entries)?)
    }
}

/// The decrypted content of a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Payload {
    /// An invitation to a meeting with the current epoch's keys.
    Invite(MeetingKeysJson),
    /// A new epoch's keys after someone left, was removed or rejected (or joined).
    Rekey(MeetingKeysJson),
    /// The sender leaves the meeting.
    Leave { meeting_id: String, epoch: u64 },
    /// The sender rejects an invitation.
    Reject { meeting_id: String },
    /// A text message.
    Text { text: String },
}

/// Largest payload plaintext.
pub const MAX_PAYLOAD_PLAINTEXT: usize = 1 << 20;

impl Payload {
    pub fn message_type(&self) -> MessageType {
        match self {
            Payload::Invite(_) => MessageType::Invite,
            Payload::Rekey(_) => MessageType::Rekey,
            Payload::Leave { .. } => MessageType::Leave,
            Payload::Reject { .. } => MessageType::Reject,
            Payload::Text { .. } => MessageType::Text,
        }
    }

    /// Checks what serde cannot: ids and keys are well formed.
    pub fn validate(&self) -> Result<()> {
        match self {
            Payload::Invite(k) | Payload::Rekey(k) => k.to_keys().map(|_| ()),
            Payload::Leave { meeting_id, epoch } => {
                if *epoch > conclave_wire::sframe::MediaKid::MAX_EPOCH {
                    return Err(ClientError::BadPayload("epoch out of range".into()));
                }
                MeetingId::from_hex(meeting_id).map(|_| ())
            }
            Payload::Reject { meeting_id } => MeetingId::from_hex(meeting_id).map(|_| ()),
            Payload::Text { .. } => Ok(()),
        }
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let bytes = serde_json::to_vec(self).map_err(|e| ClientError::BadPayload(e.to_string()))?;
        if bytes.len() > MAX_PAYLOAD_PLAINTEXT {
            return Err(ClientError::BadPayload(format!(
                "payload is {} bytes, limit {MAX_PAYLOAD_PLAINTEXT}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_PAYLOAD_PLAINTEXT {
            return Err(ClientError::BadPayload("payload too large".into()));
        }
        let p: Payload =
            serde_json::from_slice(bytes).map_err(|e| ClientError::BadPayload(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }
}
