//! Storage plugins: everything the control plane persists.
//!
//! Identifiers cross the ABI as strings: user hashes, device ids, container ids and meeting
//! ids are lowercase hex. Times are milliseconds since the Unix epoch on the master clock.
//! Every method is atomic: it either takes full effect or none, and concurrent calls behave
//! as if run one after the other. The guarantees particular to each method are in its
//! documentation; the storage conformance suite checks them.
//!
//! Rules for every method:
//! - **Identifiers** (user hashes, device, container and meeting ids, list entries,
//!   recipients, senders, initiators, member devices) are 1 to 128 lowercase hex
//!   characters; any other identifier argument is `InvalidInput`, also for reads.
//! - **Times** are stored in signed 64-bit database integers: a time to store above
//!   `i64::MAX` is `InvalidInput`; a time to compare with (`now_ms`) above it acts as
//!   `i64::MAX`.
//! - A refused call changes nothing.
//! - Lookups of one record (`get_user`, `get_device`, `get_meeting`) answer `None` for an
//!   unknown id; every other call naming an unknown user, device or meeting is `NotFound`,
//!   except `acknowledge`, which answers `false`.

// The `#[sabi_trait]` expansion implements abi_stable traits from inside a const block.
#![allow(non_local_definitions)]

use abi_stable::StableAbi;
use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, ROption, RStr, RString, RVec};

use crate::module::HostContext;
use crate::{PluginError, PluginResult, guard};

/// Who may fetch a user's bundles and deliver to them.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivacyMode {
    /// Everyone except the deny list.
    Everyone = 1,
    /// Only users on the allow list.
    AllowList = 2,
    /// Everyone except users on the deny list (same as `Everyone`, stated explicitly).
    DenyList = 3,
}

#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    Allow = 1,
    Deny = 2,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The salted username hash the client registered (hex).
    pub user_hash: RString,
    pub privacy: PrivacyMode,
    pub created_ms: u64,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub user_hash: RString,
    pub device_id: RString,
    /// The device certificate bytes (verified by the host before storing).
    pub certificate: RVec<u8>,
    pub created_ms: u64,
    /// When it was revoked, if it was.
    pub revoked_ms: ROption<u64>,
}

/// A signed one-time prekey as uploaded: id, SEC1 public key, signature.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PrekeyRecord {
    pub id: u32,
    pub public_key: RVec<u8>,
    pub signature: RVec<u8>,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub container_id: RString,
    pub sender_device: RString,
    /// Recipient device ids; each gets its own delivery.
    pub recipients: RVec<RString>,
    /// The sealed container, stored opaquely.
    pub bytes: RVec<u8>,
    pub created_ms: u64,
    pub expires_ms: u64,
}

/// A container waiting for one device.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PendingContainer {
    pub container_id: RString,
    pub sender_device: RString,
    pub bytes: RVec<u8>,
    pub created_ms: u64,
    pub expires_ms: u64,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct MeetingRecord {
    pub meeting_id: RString,
    pub initiator_device: RString,
    pub created_ms: u64,
    pub ended_ms: ROption<u64>,
}

#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    Invited = 1,
    Joined = 2,
    Left = 3,
    Rejected = 4,
    Removed = 5,
}

#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub device_id: RString,
    pub state: MemberState,
    pub updated_ms: u64,
}

/// The FFI-safe storage plugin interface; see [`Storage`] for each method's contract.
/// Methods are only ever added at the end.
#[sabi_trait]
pub trait StoragePlugin: Send + Sync {
    fn create_user(&self, user: &UserRecord) -> PluginResult<()>;
    fn get_user(&self, user_hash: RStr<'_>) -> PluginResult<ROption<UserRecord>>;
    fn set_privacy(&self, user_hash: RStr<'_>, mode: PrivacyMode) -> PluginResult<()>;
    fn set_list(
        &self,
        user_hash: RStr<'_>,
        kind: ListKind,
        entries: RVec<RString>,
    ) -> PluginResult<()>;
    fn get_list(&self, user_hash: RStr<'_>, kind: ListKind) -> PluginResult<RVec<RString>>;
    fn add_device(&self, device: &DeviceRecord) -> PluginResult<()>;
    fn get_device(&self, device_id: RStr<'_>) -> PluginResult<ROption<DeviceRecord>>;
    fn list_devices(&self, user_hash: RStr<'_>) -> PluginResult<RVec<DeviceRecord>>;
    fn revoke_device(&self, device_id: RStr<'_>, at_ms: u64) -> PluginResult<()>;
    fn add_prekeys(&self, device_id: RStr<'_>, prekeys: RVec<PrekeyRecord>) -> PluginResult<u64>;
    fn take_prekey(&self, device_id: RStr<'_>) -> PluginResult<ROption<PrekeyRecord>>;
    fn prekey_count(&self, device_id: RStr<'_>) -> PluginResult<u64>;
    fn store_container(&self, container: &ContainerRecord) -> PluginResult<()>;
    fn fetch_pending(
        &self,
        device_id: RStr<'_>,
        now_ms: u64,
        limit: u32,
    ) -> PluginResult<RVec<PendingContainer>>;
    fn acknowledge(&self, device_id: RStr<'_>, container_id: RStr<'_>) -> PluginResult<bool>;
    fn expire(&self, now_ms: u64) -> PluginResult<u64>;
    fn container_count(&self) -> PluginResult<u64>;
    fn create_meeting(&self, meeting: &MeetingRecord) -> PluginResult<()>;
    fn get_meeting(&self, meeting_id: RStr<'_>) -> PluginResult<ROption<MeetingRecord>>;
    fn set_member(&self, meeting_id: RStr<'_>, member: &MemberRecord) -> PluginResult<()>;
    fn list_members(&self, meeting_id: RStr<'_>) -> PluginResult<RVec<MemberRecord>>;
    fn end_meeting(&self, meeting_id: RStr<'_>, at_ms: u64) -> PluginResult<()>;
    #[sabi(last_prefix_field)]
    fn health(&self) -> PluginResult<()>;
}

pub type StorageBox = StoragePlugin_TO<'static, RBox<()>>;

/// What a storage plugin author implements. Every method is atomic; errors use
/// [`crate::ErrorKind`]: `NotFound` for a missing user/device/meeting, `Conflict` for
/// duplicates and state conflicts, `InvalidInput` for malformed arguments, `Unavailable`
/// when the backend cannot be reached (the host may retry).
pub trait Storage: Send + Sync + Sized + 'static {
    const NAME: &'static str;
    const VERSION: &'static str;

    fn from_config(config: &str, host: &HostContext) -> Result<Self, PluginError>;

    /// Creates a user. `Conflict` if the hash exists.
    fn create_user(&self, user: &UserRecord) -> Result<(), PluginError>;
    /// The user, or `None` if the hash is unknown.
    fn get_user(&self, user_hash: &str) -> Result<Option<UserRecord>, PluginError>;
    /// `NotFound` if the user does not exist.
    fn set_privacy(&self, user_hash: &str, mode: PrivacyMode) -> Result<(), PluginError>;
    /// Replaces one list of a user entirely (duplicates are stored once; an empty list
    /// clears it; the other list is untouched). Entries are identifiers (user hashes): one
    /// malformed entry refuses the whole call. `NotFound` if the user does not exist.
    fn set_list(
        &self,
        user_hash: &str,
        kind: ListKind,
        entries: Vec<String>,
    ) -> Result<(), PluginError>;
    /// The list, sorted by byte order (empty for a new user). `NotFound` if the user does
    /// not exist.
    fn get_list(&self, user_hash: &str, kind: ListKind) -> Result<Vec<String>, PluginError>;

    /// Adds a device to an existing user. `NotFound` if the user does not exist, `Conflict`
    /// if the device id exists (for any user), `InvalidInput` if `revoked_ms` is set (a
    /// device is revoked with `revoke_device`).
    fn add_device(&self, device: &DeviceRecord) -> Result<(), PluginError>;
    /// The device, revoked or not, or `None` if the id is unknown.
    fn get_device(&self, device_id: &str) -> Result<Option<DeviceRecord>, PluginError>;
    /// The user's devices, revoked ones included, ordered by creation time, then device id.
    /// `NotFound` if the user does not exist.
    fn list_devices(&self, user_hash: &str) -> Result<Vec<DeviceRecord>, PluginError>;
    /// Marks a device revoked and, in the same transaction, deletes its prekeys and its
    /// pending deliveries; a container left without any delivery is deleted with them (as
    /// with `acknowledge`). `NotFound` if unknown; revoking twice succeeds and keeps the
    /// first time. A revoked device stays listed; it cannot get prekeys or deliveries again,
    /// and the ids of its prekeys stay used.
    fn revoke_device(&self, device_id: &str, at_ms: u64) -> Result<(), PluginError>;

    /// Adds prekeys to a device's pool, all or none, and returns the pool size after.
    /// `NotFound` if the device does not exist or is revoked; `Conflict` if any id is in
    /// the pool, was ever handed out, or appears twice in `prekeys`. Ids are per device
    /// (two devices may both use id 1). An empty list adds nothing and returns the size.
    fn add_prekeys(&self, device_id: &str, prekeys: Vec<PrekeyRecord>) -> Result<u64, PluginError>;
    /// Picks one prekey of the device's pool uniformly at random and deletes it, in one
    /// transaction: no prekey is ever returned twice, also under concurrent calls (from
    /// any number of threads or relay processes sharing the store). `None` when the pool
    /// is empty. `NotFound` if the device does not exist or is revoked.
    fn take_prekey(&self, device_id: &str) -> Result<Option<PrekeyRecord>, PluginError>;
    /// The device's pool size. `NotFound` if the device does not exist; a revoked device's
    /// pool is empty (0).
    fn prekey_count(&self, device_id: &str) -> Result<u64, PluginError>;

    /// Stores a container with one delivery per recipient (a recipient listed twice gets
    /// one delivery). `Conflict` if the container id exists; `NotFound` if a recipient
    /// device does not exist or is revoked; `InvalidInput` if there is no recipient. The
    /// sender is only recorded (it need not be a stored device). A container stored already
    /// expired is kept until `expire` but never fetched.
    fn store_container(&self, container: &ContainerRecord) -> Result<(), PluginError>;
    /// Up to `limit` containers waiting for the device and not expired at `now_ms`
    /// (`expires_ms > now_ms`), oldest first (by creation time, then id). Fetching does not
    /// remove them. `NotFound` if the device does not exist; a revoked device has none.
    fn fetch_pending(
        &self,
        device_id: &str,
        now_ms: u64,
        limit: u32,
    ) -> Result<Vec<PendingContainer>, PluginError>;
    /// Removes the device's delivery of a container; the container itself goes with its
    /// last delivery. Returns whether a delivery was removed: acknowledging twice, an
    /// unknown device or container, a device the container is not for, or a container
    /// already deleted by `expire` are all `false`.
    fn acknowledge(&self, device_id: &str, container_id: &str) -> Result<bool, PluginError>;
    /// Deletes every container (and its deliveries) with `expires_ms <= now_ms`; returns how
    /// many containers were deleted.
    fn expire(&self, now_ms: u64) -> Result<u64, PluginError>;
    /// How many containers are stored, expired ones not yet deleted by `expire` included.
    fn container_count(&self) -> Result<u64, PluginError>;

    /// Creates a meeting. `Conflict` if the meeting id exists; `InvalidInput` if `ended_ms`
    /// is set (a meeting is ended with `end_meeting`). The initiator is only recorded.
    fn create_meeting(&self, meeting: &MeetingRecord) -> Result<(), PluginError>;
    /// The meeting, ended or not, or `None` if the id is unknown.
    fn get_meeting(&self, meeting_id: &str) -> Result<Option<MeetingRecord>, PluginError>;
    /// Inserts or updates a member (state and time as given: the last call wins; the
    /// device need not be a stored device). `NotFound` if the meeting does not exist;
    /// `Conflict` if it has ended.
    fn set_member(&self, meeting_id: &str, member: &MemberRecord) -> Result<(), PluginError>;
    /// Members ordered by device id, also after the meeting ended. `NotFound` if the
    /// meeting does not exist.
    fn list_members(&self, meeting_id: &str) -> Result<Vec<MemberRecord>, PluginError>;
    /// Marks the meeting ended. `NotFound` if unknown; ending twice succeeds and keeps the
    /// first time.
    fn end_meeting(&self, meeting_id: &str, at_ms: u64) -> Result<(), PluginError>;

    /// Checks that the backend answers.
    fn health(&self) -> Result<(), PluginError>;
}

struct Adapter<T>(T);

fn opt<T>(o: Option<T>) -> ROption<T> {
    o.into()
}

fn rvec<T>(v: Vec<T>) -> RVec<T> {
    v.into()
}

impl<T: Storage> StoragePlugin for Adapter<T> {
    fn create_user(&self, user: &UserRecord) -> PluginResult<()> {
        guard(|| self.0.create_user(user))
    }
    fn get_user(&self, user_hash: RStr<'_>) -> PluginResult<ROption<UserRecord>> {
        guard(|| self.0.get_user(user_hash.as_str()).map(opt))
    }
    fn set_privacy(&self, user_hash: RStr<'_>, mode: PrivacyMode) -> PluginResult<()> {
        guard(|| self.0.set_privacy(user_hash.as_str(), mode))
    }
    fn set_list(
        &self,
        user_hash: RStr<'_>,
        kind: ListKind,
        entries: RVec<RString>,
    ) -> PluginResult<()> {
        guard(|| {
            let entries = entries.into_iter().map(String::from).collect();
            self.0.set_list(user_hash.as_str(), kind, entries)
        })
    }
    fn get_list(&self, user_hash: RStr<'_>, kind: ListKind) -> PluginResult<RVec<RString>> {
        guard(|| {
            let list = self.0.get_list(user_hash.as_str(), kind)?;
            Ok(list.into_iter().map(RString::from).collect())
        })
    }
    fn add_device(&self, device: &DeviceRecord) -> PluginResult<()> {
        guard(|| self.0.add_device(device))
    }
    fn get_device(&self, device_id: RStr<'_>) -> PluginResult<ROption<DeviceRecord>> {
        guard(|| self.0.get_device(device_id.as_str()).map(opt))
    }
    fn list_devices(&self, user_hash: RStr<'_>) -> PluginResult<RVec<DeviceRecord>> {
        guard(|| self.0.list_devices(user_hash.as_str()).map(rvec))
    }
    fn revoke_device(&self, device_id: RStr<'_>, at_ms: u64) -> PluginResult<()> {
        guard(|| self.0.revoke_device(device_id.as_str(), at_ms))
    }
    fn add_prekeys(&self, device_id: RStr<'_>, prekeys: RVec<PrekeyRecord>) -> PluginResult<u64> {
        guard(|| self.0.add_prekeys(device_id.as_str(), prekeys.into_vec()))
    }
    fn take_prekey(&self, device_id: RStr<'_>) -> PluginResult<ROption<PrekeyRecord>> {
        guard(|| self.0.take_prekey(device_id.as_str()).map(opt))
    }
    fn prekey_count(&self, device_id: RStr<'_>) -> PluginResult<u64> {
        guard(|| self.0.prekey_count(device_id.as_str()))
    }
    fn store_container(&self, container: &ContainerRecord) -> PluginResult<()> {
        guard(|| self.0.store_container(container))
    }
    fn fetch_pending(
        &self,
        device_id: RStr<'_>,
        now_ms: u64,
        limit: u32,
    ) -> PluginResult<RVec<PendingContainer>> {
        guard(|| {
            self.0
                .fetch_pending(device_id.as_str(), now_ms, limit)
                .map(rvec)
        })
    }
    fn acknowledge(&self, device_id: RStr<'_>, container_id: RStr<'_>) -> PluginResult<bool> {
        guard(|| {
            self.0
                .acknowledge(device_id.as_str(), container_id.as_str())
        })
    }
    fn expire(&self, now_ms: u64) -> PluginResult<u64> {
        guard(|| self.0.expire(now_ms))
    }
    fn container_count(&self) -> PluginResult<u64> {
        guard(|| self.0.container_count())
    }
    fn create_meeting(&self, meeting: &MeetingRecord) -> PluginResult<()> {
        guard(|| self.0.create_meeting(meeting))
    }
    fn get_meeting(&self, meeting_id: RStr<'_>) -> PluginResult<ROption<MeetingRecord>> {
        guard(|| self.0.get_meeting(meeting_id.as_str()).map(opt))
    }
    fn set_member(&self, meeting_id: RStr<'_>, member: &MemberRecord) -> PluginResult<()> {
        guard(|| self.0.set_member(meeting_id.as_str(), member))
    }
    fn list_members(&self, meeting_id: RStr<'_>) -> PluginResult<RVec<MemberRecord>> {
        guard(|| self.0.list_members(meeting_id.as_str()).map(rvec))
    }
    fn end_meeting(&self, meeting_id: RStr<'_>, at_ms: u64) -> PluginResult<()> {
        guard(|| self.0.end_meeting(meeting_id.as_str(), at_ms))
    }
    fn health(&self) -> PluginResult<()> {
        guard(|| self.0.health())
    }
}

pub(crate) fn boxed<T: Storage>(config: &str, host: &HostContext) -> PluginResult<StorageBox> {
    guard(|| {
        let plugin = T::from_config(config, host)?;
        Ok(StoragePlugin_TO::from_value(
            Adapter(plugin),
            abi_stable::sabi_trait::TD_Opaque,
        ))
    })
}
