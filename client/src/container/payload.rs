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
    /// Rekey only (PROTOCOL §4.9, §12.3): when every participant switches sending to this
    /// epoch, in ms of the master clock. Absent: each switches after the fixed overlap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch_at_ms: Option<u64>,
}

impl std::fmt::Debug for MeetingKeysJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeetingKeys")
            .field("meeting_id", &self.meeting_id)
            .field("epoch", &self.epoch)
            .field("roster", &self.roster)
            .field("switch_at_ms", &self.switch_at_ms)
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
            switch_at_ms: None,
        }
    }

    /// The same keys with a coordinated switch time (a rekey's `switch_at_ms`).
    pub fn with_switch_at(mut self, switch_at_ms: u64) -> Self {
        self.switch_at_ms = Some(switch_at_ms);
        self
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
            Payload::Invite(k) if k.switch_at_ms.is_some() => Err(ClientError::BadPayload(
                "switch_at_ms is a member of rekey only".into(),
            )),
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

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_crypto::CryptoProvider;
    use conclave_crypto_software::SoftwareProvider;

    fn keys_json() -> MeetingKeysJson {
        let p = SoftwareProvider::new();
        let user = p
            .generate_p256(conclave_crypto::KeyUsage::Signing)
            .expect("key")
            .public_key();
        let roster = Roster::new(vec![RosterEntry {
            index: 0,
            device_id: [1; 16],
            user_key: user,
        }])
        .expect("roster");
        let id = MeetingId::generate(&p, b"test").expect("id");
        let keys = EpochKeys::start(&p, id, roster).expect("keys");
        MeetingKeysJson::from_keys(&keys, CallType::Audio)
    }

    #[test]
    fn a_rekey_round_trips_with_and_without_a_switch_time() {
        let plain = Payload::Rekey(keys_json());
        let bytes = plain.to_bytes().unwrap();
        // Without a switch time the payload is what it was before the field existed.
        assert!(!String::from_utf8_lossy(&bytes).contains("switch_at_ms"));
        assert_eq!(Payload::from_bytes(&bytes).unwrap(), plain);

        let timed = Payload::Rekey(keys_json().with_switch_at(1_700_000_001_234));
        let bytes = timed.to_bytes().unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        assert!(text.ends_with(r#""call_type":"audio","switch_at_ms":1700000001234}"#));
        let back = Payload::from_bytes(&bytes).unwrap();
        assert_eq!(back, timed);
        let Payload::Rekey(k) = back else {
            panic!("not a rekey")
        };
        assert_eq!(k.switch_at_ms, Some(1_700_000_001_234));
    }

    #[test]
    fn a_switch_time_is_refused_in_an_invite_and_must_be_an_integer() {
        let invite = Payload::Invite(keys_json().with_switch_at(5));
        assert!(matches!(invite.to_bytes(), Err(ClientError::BadPayload(_))));
        let json = serde_json::to_string(&Payload::Rekey(keys_json())).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["type"] = "invite".into();
        v["switch_at_ms"] = 5.into();
        let bytes = serde_json::to_vec(&v).unwrap();
        assert!(matches!(
            Payload::from_bytes(&bytes),
            Err(ClientError::BadPayload(_))
        ));
        for bad in [
            serde_json::Value::from(-1),
            serde_json::Value::from(1.5),
            serde_json::Value::from("5"),
        ] {
            let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
            v["switch_at_ms"] = bad;
            let bytes = serde_json::to_vec(&v).unwrap();
            assert!(Payload::from_bytes(&bytes).is_err());
        }
        // Other unknown members are still refused.
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v["switch_at"] = 5.into();
        assert!(Payload::from_bytes(&serde_json::to_vec(&v).unwrap()).is_err());
    }
}
