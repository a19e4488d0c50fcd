//! Typed requests and responses of every endpoint of docs/API.md. Responses tolerate
//! fields added by newer relays; requests are exactly what the API names.

use conclave_wire::b64;
use conclave_wire::bundle::SignedPrekey;
use serde::{Deserialize, Serialize};

use super::{SdkError, SdkResult};

/// `GET /v1/info`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Info {
    pub version: String,
    /// Base64 of the deployment's 32-byte username salt.
    pub username_salt: String,
    pub retention_s: u64,
    pub max_container_bytes: u64,
}

impl Info {
    /// The decoded username salt.
    pub fn salt(&self) -> SdkResult<Vec<u8>> {
        b64::decode(&self.username_salt)
            .map_err(|_| SdkError::BadResponse("username_salt is not base64".into()))
    }
}

/// `GET /v1/clock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Clock {
    pub now_ms: u64,
}

/// `POST /v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewUser {
    pub user_hash: String,
}

/// Privacy mode of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyMode {
    /// Anyone not on the deny list may reach the user.
    Everyone,
    /// Only users on the allow list (and not on the deny list).
    AllowList,
    /// Everyone except the deny list.
    DenyList,
}

/// `201` answer of `POST /v1/users`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserCreated {
    pub user_hash: String,
    pub privacy: PrivacyMode,
}

/// `GET /v1/users/{user_hash}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserInfo {
    pub user_hash: String,
    /// Active devices.
    pub devices: u64,
}

/// `PUT /v1/users/{user_hash}/privacy`: lists given are replaced, lists omitted are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PrivacyUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<PrivacyMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny: Option<Vec<String>>,
}

/// The answer of `PUT /v1/users/{user_hash}/privacy`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PrivacySettings {
    pub mode: PrivacyMode,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

/// `POST /v1/users/{user_hash}/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewDevice {
    /// Base64 of the 284-byte device certificate.
    pub certificate: String,
}

/// `201` answer of `POST /v1/users/{user_hash}/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeviceCreated {
    pub device_id: String,
}

/// One device of `GET /v1/users/{user_hash}/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeviceInfo {
    pub device_id: String,
    /// Base64 of the device certificate (unverified: check it before use).
    pub certificate: String,
    pub created_ms: u64,
    pub revoked_ms: Option<u64>,
}

/// `GET /v1/users/{user_hash}/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeviceList {
    pub devices: Vec<DeviceInfo>,
}

/// `POST /v1/devices/{device_id}/prekeys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrekeyUpload {
    pub prekeys: Vec<SignedPrekey>,
}

/// The answer of the prekey endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PoolSize {
    pub pool_size: u64,
}

/// `GET /v1/users/{user_hash}/bundle`, as the relay sent it: **unverified**. Each entry is
/// a bundle document of docs/PROTOCOL.md §2.6 with zero or one prekey.
/// [`super::Session::fetch_bundles`] parses and verifies them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserBundleJson {
    pub user_hash: String,
    pub devices: Vec<serde_json::Value>,
}

/// `POST /v1/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostContainer {
    /// Base64 of the container.
    pub container: String,
}

/// `201` answer of `POST /v1/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Posted {
    pub container_id: String,
    pub expires_ms: u64,
}

/// A stored container waiting for this device (fetched or pushed).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StoredMessage {
    pub container_id: String,
    pub sender_device: String,
    /// Base64 of the container.
    pub container: String,
    pub created_ms: u64,
    pub expires_ms: u64,
}

impl StoredMessage {
    /// The container bytes.
    pub fn bytes(&self) -> SdkResult<Vec<u8>> {
        b64::decode(&self.container)
            .map_err(|_| SdkError::BadResponse("a message's container is not base64".into()))
    }
}

/// `GET /v1/messages`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Messages {
    pub messages: Vec<StoredMessage>,
}

/// `POST /v1/meetings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewMeeting {
    pub meeting_id: String,
}

/// A member's state in a meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberState {
    Invited,
    Joined,
    Left,
    Rejected,
    Removed,
}

/// One member of a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Member {
    pub device_id: String,
    pub state: MemberState,
    pub updated_ms: u64,
}

/// `GET /v1/meetings/{meeting_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Meeting {
    pub meeting_id: String,
    pub initiator_device: String,
    pub created_ms: u64,
    pub ended_ms: Option<u64>,
    pub members: Vec<Member>,
}

/// `POST /v1/meetings/{meeting_id}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberUpdate {
    pub device_id: String,
    pub state: MemberState,
}

/// Where the media plane serves a meeting.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct MediaEndpoint {
    pub transport: String,
    pub address: String,
    pub worker: u32,
}

/// A media-plane session credential.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct MediaSession {
    pub id: String,
    /// Base64 of the 32-byte session key (secret).
    pub key: String,
    pub expires_ms: u64,
}

impl std::fmt::Debug for MediaSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSession")
            .field("id", &self.id)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/meetings/{meeting_id}/join`: a join ticket for the media plane.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JoinTicket {
    pub meeting_id: String,
    pub media: MediaEndpoint,
    pub session: MediaSession,
}

/// A frame of the push WebSocket (`GET /v1/push`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PushEvent {
    /// A container was posted to this device (it stays stored until acknowledged).
    Container(StoredMessage),
    /// The device's prekey pool fell below the relay's low-water mark.
    PrekeysLow { pool_size: u64 },
    /// A meeting this device is in was ended by its initiator.
    MeetingEnded { meeting_id: String },
    /// A member of a meeting this device is in (as initiator or joined member) became
    /// `left`, `removed` or `rejected`.
    Member {
        meeting_id: String,
        device_id: String,
        state: MemberState,
    },
    /// A frame type this SDK does not know (sent by a newer relay).
    #[serde(other)]
    Unknown,
}

impl PushEvent {
    /// Parses one push frame. Unknown frame types, and `member` events with a state this
    /// SDK does not know (both from newer relays), are [`PushEvent::Unknown`]; a known
    /// frame that does not parse is an error.
    pub fn parse(text: &str) -> SdkResult<Self> {
        match serde_json::from_str(text) {
            Ok(event) => Ok(event),
            Err(e) => {
                let ty = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_owned));
                match ty.as_deref() {
                    Some("member") if member_with_unknown_state(text) => Ok(PushEvent::Unknown),
                    _ => Err(SdkError::BadResponse(format!("push frame: {e}"))),
                }
            }
        }
    }
}

/// A `member` event that is well formed except for a state this SDK does not know.
fn member_with_unknown_state(text: &str) -> bool {
    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct AnyMember {
        meeting_id: String,
        device_id: String,
        state: String,
    }
    serde_json::from_str::<AnyMember>(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_frames_parse_and_unknown_ones_do_not_break() {
        let m = PushEvent::parse(
            r#"{"type":"member","meeting_id":"ab","device_id":"cd","state":"left"}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            PushEvent::Member {
                meeting_id: "ab".into(),
                device_id: "cd".into(),
                state: MemberState::Left
            }
        );
        for s in ["removed", "rejected"] {
            let t =
                format!(r#"{{"type":"member","meeting_id":"a","device_id":"b","state":"{s}"}}"#);
            assert!(matches!(
                PushEvent::parse(&t).unwrap(),
                PushEvent::Member { .. }
            ));
        }
        let newer = r#"{"type":"member","meeting_id":"a","device_id":"b","state":"muted","x":1}"#;
        assert_eq!(PushEvent::parse(newer).unwrap(), PushEvent::Unknown);
        assert_eq!(
            PushEvent::parse(r#"{"type":"reaction","emoji":"x"}"#).unwrap(),
            PushEvent::Unknown
        );
        assert!(PushEvent::parse(r#"{"type":"member","meeting_id":"a"}"#).is_err());
        assert!(PushEvent::parse("not json").is_err());
        assert!(PushEvent::parse(r#"{"type":"prekeys_low","pool_size":"x"}"#).is_err());
    }
}
