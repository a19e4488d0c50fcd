//! Conclave storage plugin on SQLite (the embedded default).
//!
//! [`SqliteStorage`] implements [`conclave_plugin_api::storage::Storage`] on a bundled
//! SQLite: write-ahead logging, versioned schema migrations ([`schema`]), a small pool of
//! one writer and a few reader connections, and every write in one
//! `BEGIN IMMEDIATE` transaction, which makes each method atomic also between relay
//! processes sharing the database file. Configuration: see [`config`].
//!
//! The relay links this crate in and builds the plugin from [`plugin_module`]; the
//! `conclave-storage-sqlite-so` crate exports the same module from a shared library.

use conclave_plugin_api::storage::{
    ContainerRecord, DeviceRecord, ListKind, MeetingRecord, MemberRecord, PendingContainer,
    PrekeyRecord, PrivacyMode, Storage, UserRecord,
};
use conclave_plugin_api::{HostContext, PluginError, PluginMod, PluginModRef};

pub mod config;
mod containers;
mod devices;
mod error;
mod meetings;
mod pool;
mod prekeys;
pub mod schema;
mod users;
mod validate;

pub use config::Config;
use pool::Pool;
use validate::{id, query_time, time};

const HEALTH_CHECK: &str = "SELECT count(*) FROM sqlite_schema";

/// The SQLite storage plugin.
pub struct SqliteStorage {
    pool: Pool,
}

impl std::fmt::Debug for SqliteStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStorage")
    }
}

/// The root module of this plugin, for hosts that link it in.
pub fn plugin_module() -> PluginModRef {
    PluginMod::storage::<SqliteStorage>()
}

impl SqliteStorage {
    /// Opens (creating and migrating if needed) the database the JSON configuration names.
    pub fn open(config: &str) -> Result<SqliteStorage, PluginError> {
        Self::with_config(&Config::parse(config)?)
    }

    /// Opens the database of a parsed configuration.
    pub fn with_config(config: &Config) -> Result<SqliteStorage, PluginError> {
        Ok(SqliteStorage {
            pool: Pool::open(config)?,
        })
    }

    /// The schema version of the open database (equal to [`schema::LATEST`]).
    pub fn schema_version(&self) -> Result<i64, PluginError> {
        self.pool.read("schema_version", schema::version)
    }
}

fn ids<'a>(field: &str, values: impl IntoIterator<Item = &'a str>) -> Result<(), PluginError> {
    values.into_iter().try_for_each(|v| id(field, v))
}

impl Storage for SqliteStorage {
    const NAME: &'static str = "sqlite";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn from_config(config: &str, _host: &HostContext) -> Result<Self, PluginError> {
        Self::open(config)
    }

    fn create_user(&self, user: &UserRecord) -> Result<(), PluginError> {
        id("user hash", &user.user_hash)?;
        let created_ms = time("created_ms", user.created_ms)?;
        self.pool
            .write("create_user", |c| users::create(c, user, created_ms))
    }

    fn get_user(&self, user_hash: &str) -> Result<Option<UserRecord>, PluginError> {
        id("user hash", user_hash)?;
        self.pool.read("get_user", |c| users::get(c, user_hash))
    }

    fn set_privacy(&self, user_hash: &str, mode: PrivacyMode) -> Result<(), PluginError> {
        id("user hash", user_hash)?;
        self.pool
            .write("set_privacy", |c| users::set_privacy(c, user_hash, mode))
    }

    fn set_list(
        &self,
        user_hash: &str,
        kind: ListKind,
        entries: Vec<String>,
    ) -> Result<(), PluginError> {
        id("user hash", user_hash)?;
        ids("list entry", entries.iter().map(String::as_str))?;
        self.pool.write("set_list", |c| {
            users::set_list(c, user_hash, kind, &entries)
        })
    }

    fn get_list(&self, user_hash: &str, kind: ListKind) -> Result<Vec<String>, PluginError> {
        id("user hash", user_hash)?;
        self.pool
            .read("get_list", |c| users::get_list(c, user_hash, kind))
    }

    fn add_device(&self, device: &DeviceRecord) -> Result<(), PluginError> {
        id("user hash", &device.user_hash)?;
        id("device id", &device.device_id)?;
        let created_ms = time("created_ms", device.created_ms)?;
        if device.revoked_ms.is_some() {
            return Err(PluginError::invalid(
                "a new device cannot be revoked (revoked_ms must be empty)",
            ));
        }
        self.pool
            .write("add_device", |c| devices::add(c, device, created_ms))
    }

    fn get_device(&self, device_id: &str) -> Result<Option<DeviceRecord>, PluginError> {
        id("device id", device_id)?;
        self.pool.read("get_device", |c| devices::get(c, device_id))
    }

    fn list_devices(&self, user_hash: &str) -> Result<Vec<DeviceRecord>, PluginError> {
        id("user hash", user_hash)?;
        self.pool
            .read("list_devices", |c| devices::list(c, user_hash))
    }

    fn revoke_device(&self, device_id: &str, at_ms: u64) -> Result<(), PluginError> {
        id("device id", device_id)?;
        let at_ms = time("at_ms", at_ms)?;
        self.pool
            .write("revoke_device", |c| devices::revoke(c, device_id, at_ms))
    }

    fn add_prekeys(&self, device_id: &str, prekeys: Vec<PrekeyRecord>) -> Result<u64, PluginError> {
        id("device id", device_id)?;
        self.pool
            .write("add_prekeys", |c| prekeys::add(c, device_id, &prekeys))
    }

    fn take_prekey(&self, device_id: &str) -> Result<Option<PrekeyRecord>, PluginError> {
        id("device id", device_id)?;
        self.pool
            .write("take_prekey", |c| prekeys::take(c, device_id))
    }

    fn prekey_count(&self, device_id: &str) -> Result<u64, PluginError> {
        id("device id", device_id)?;
        self.pool.read("prekey_count", |c| {
            devices::require_known(c, "prekey_count", device_id)?;
            prekeys::count(c, "prekey_count", device_id)
        })
    }

    fn store_container(&self, container: &ContainerRecord) -> Result<(), PluginError> {
        id("container id", &container.container_id)?;
        id("sender device", &container.sender_device)?;
        if container.recipients.is_empty() {
            return Err(PluginError::invalid(
                "a container needs at least one recipient",
            ));
        }
        ids(
            "recipient device",
            container.recipients.iter().map(|r| r.as_str()),
        )?;
        let created_ms = time("created_ms", container.created_ms)?;
        let expires_ms = time("expires_ms", container.expires_ms)?;
        self.pool.write("store_container", |c| {
            containers::store(c, container, created_ms, expires_ms)
        })
    }

    fn fetch_pending(
        &self,
        device_id: &str,
        now_ms: u64,
        limit: u32,
    ) -> Result<Vec<PendingContainer>, PluginError> {
        id("device id", device_id)?;
        let now_ms = query_time(now_ms);
        self.pool.read("fetch_pending", |c| {
            containers::fetch_pending(c, device_id, now_ms, limit)
        })
    }

    fn acknowledge(&self, device_id: &str, container_id: &str) -> Result<bool, PluginError> {
        id("device id", device_id)?;
        id("container id", container_id)?;
        self.pool.write("acknowledge", |c| {
            containers::acknowledge(c, device_id, container_id)
        })
    }

    fn expire(&self, now_ms: u64) -> Result<u64, PluginError> {
        let now_ms = query_time(now_ms);
        self.pool.write("expire", |c| containers::expire(c, now_ms))
    }

    fn container_count(&self) -> Result<u64, PluginError> {
        self.pool.read("container_count", containers::count)
    }

    fn create_meeting(&self, meeting: &MeetingRecord) -> Result<(), PluginError> {
        id("meeting id", &meeting.meeting_id)?;
        id("initiator device", &meeting.initiator_device)?;
        let created_ms = time("created_ms", meeting.created_ms)?;
        if meeting.ended_ms.is_some() {
            return Err(PluginError::invalid(
                "a new meeting cannot have ended (ended_ms must be empty)",
            ));
        }
        self.pool.write("create_meeting", |c| {
            meetings::create(c, meeting, created_ms)
        })
    }

    fn get_meeting(&self, meeting_id: &str) -> Result<Option<MeetingRecord>, PluginError> {
        id("meeting id", meeting_id)?;
        self.pool
            .read("get_meeting", |c| meetings::get(c, meeting_id))
    }

    fn set_member(&self, meeting_id: &str, member: &MemberRecord) -> Result<(), PluginError> {
        id("meeting id", meeting_id)?;
        id("member device", &member.device_id)?;
        let updated_ms = time("updated_ms", member.updated_ms)?;
        self.pool.write("set_member", |c| {
            meetings::set_member(c, meeting_id, member, updated_ms)
        })
    }

    fn list_members(&self, meeting_id: &str) -> Result<Vec<MemberRecord>, PluginError> {
        id("meeting id", meeting_id)?;
        self.pool
            .read("list_members", |c| meetings::list_members(c, meeting_id))
    }

    fn end_meeting(&self, meeting_id: &str, at_ms: u64) -> Result<(), PluginError> {
        id("meeting id", meeting_id)?;
        let at_ms = time("at_ms", at_ms)?;
        self.pool
            .write("end_meeting", |c| meetings::end(c, meeting_id, at_ms))
    }

    fn health(&self) -> Result<(), PluginError> {
        self.pool.read("health", |c| {
            c.prepare_cached(HEALTH_CHECK)
                .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
                .map(|_| ())
                .map_err(|e| error::map("health", e))
        })
    }
}
