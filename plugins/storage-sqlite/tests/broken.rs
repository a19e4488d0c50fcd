//! The conformance suite must fail on broken implementations: each flaw below wraps the
//! real plugin, breaks one guarantee (mostly with raw SQL on the same database file) and
//! must be caught by the check that covers it.

mod common;

use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use conclave_plugin_api::conformance::storage::run;
use conclave_plugin_api::host::LoadedPlugin;
use conclave_plugin_api::storage::{
    ContainerRecord, DeviceRecord, ListKind, MeetingRecord, MemberRecord, PendingContainer,
    PrekeyRecord, PrivacyMode, Storage, UserRecord,
};
use conclave_plugin_api::{HostContext, PluginError, PluginMod};
use conclave_storage_sqlite::SqliteStorage;
use rusqlite::{Connection, OptionalExtension, params};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    /// take_prekey returns a random prekey but leaves it in the pool.
    TakeKeeps,
    /// take_prekey hands out the lowest id first.
    TakeLowestFirst,
    /// take_prekey reads, then deletes in another transaction.
    TakeNotAtomic,
    /// add_prekeys forgets ids that were handed out.
    ForgetsConsumedIds,
    /// add_prekeys stores the prekeys before the bad one.
    PartialUpload,
    /// revoke_device only marks the device.
    RevokeKeepsPrekeys,
    /// acknowledge never deletes the container.
    AckKeepsContainer,
    /// fetch_pending returns expired containers.
    FetchIgnoresExpiry,
    /// fetch_pending returns newest first.
    FetchNewestFirst,
    /// get_list is not sorted.
    ListUnsorted,
    /// end_meeting overwrites the end time.
    EndOverwrites,
    /// create_user accepts uppercase hashes.
    AcceptsUppercase,
    /// expire counts deliveries instead of containers.
    ExpireCountsDeliveries,
    /// take_prekey panics.
    TakePanics,
}

impl Flaw {
    fn parse(name: &str) -> Option<Flaw> {
        use Flaw::*;
        [
            TakeKeeps,
            TakeLowestFirst,
            TakeNotAtomic,
            ForgetsConsumedIds,
            PartialUpload,
            RevokeKeepsPrekeys,
            AckKeepsContainer,
            FetchIgnoresExpiry,
            FetchNewestFirst,
            ListUnsorted,
            EndOverwrites,
            AcceptsUppercase,
            ExpireCountsDeliveries,
            TakePanics,
        ]
        .into_iter()
        .find(|f| format!("{f:?}") == name)
    }
}

struct Broken {
    flaw: Flaw,
    inner: SqliteStorage,
    path: String,
    raw: Mutex<Connection>,
}

fn sql_err(e: rusqlite::Error) -> PluginError {
    PluginError::internal(e.to_string())
}

impl Broken {
    fn raw<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, PluginError> {
        let conn = self.raw.lock().unwrap();
        f(&conn).map_err(sql_err)
    }

    fn prekey_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PrekeyRecord> {
        Ok(PrekeyRecord {
            id: r.get(0)?,
            public_key: r.get::<_, Vec<u8>>(1)?.into(),
            signature: r.get::<_, Vec<u8>>(2)?.into(),
        })
    }
}

impl Storage for Broken {
    const NAME: &'static str = "broken";
    const VERSION: &'static str = "0.0.0";

    fn from_config(config: &str, _host: &HostContext) -> Result<Self, PluginError> {
        let v: serde_json::Value = serde_json::from_str(config).unwrap();
        let flaw = Flaw::parse(v["flaw"].as_str().unwrap()).unwrap();
        let path = v["path"].as_str().unwrap().to_string();
        let inner = SqliteStorage::open(&serde_json::json!({ "path": path }).to_string())?;
        let raw = Connection::open(&path).map_err(sql_err)?;
        raw.busy_timeout(Duration::from_secs(5)).map_err(sql_err)?;
        Ok(Broken {
            flaw,
            inner,
            path,
            raw: Mutex::new(raw),
        })
    }

    fn create_user(&self, user: &UserRecord) -> Result<(), PluginError> {
        if self.flaw == Flaw::AcceptsUppercase
            && user.user_hash.chars().any(|c| c.is_ascii_uppercase())
        {
            return Ok(());
        }
        self.inner.create_user(user)
    }
    fn get_user(&self, user_hash: &str) -> Result<Option<UserRecord>, PluginError> {
        self.inner.get_user(user_hash)
    }
    fn set_privacy(&self, user_hash: &str, mode: PrivacyMode) -> Result<(), PluginError> {
        self.inner.set_privacy(user_hash, mode)
    }
    fn set_list(
        &self,
        user_hash: &str,
        kind: ListKind,
        entries: Vec<String>,
    ) -> Result<(), PluginError> {
        self.inner.set_list(user_hash, kind, entries)
    }
    fn get_list(&self, user_hash: &str, kind: ListKind) -> Result<Vec<String>, PluginError> {
        let mut list = self.inner.get_list(user_hash, kind)?;
        if self.flaw == Flaw::ListUnsorted {
            list.reverse();
        }
        Ok(list)
    }
    fn add_device(&self, device: &DeviceRecord) -> Result<(), PluginError> {
        self.inner.add_device(device)
    }
    fn get_device(&self, device_id: &str) -> Result<Option<DeviceRecord>, PluginError> {
        self.inner.get_device(device_id)
    }
    fn list_devices(&self, user_hash: &str) -> Result<Vec<DeviceRecord>, PluginError> {
        self.inner.list_devices(user_hash)
    }
    fn revoke_device(&self, device_id: &str, at_ms: u64) -> Result<(), PluginError> {
        if self.flaw == Flaw::RevokeKeepsPrekeys && self.inner.get_device(device_id)?.is_some() {
            return self.raw(|c| {
                c.execute(
                    "UPDATE devices SET revoked_ms = ?2 WHERE device_id = ?1 AND revoked_ms IS NULL",
                    params![device_id, at_ms as i64],
                )
                .map(|_| ())
            });
        }
        self.inner.revoke_device(device_id, at_ms)
    }
    fn add_prekeys(&self, device_id: &str, prekeys: Vec<PrekeyRecord>) -> Result<u64, PluginError> {
        match self.flaw {
            Flaw::ForgetsConsumedIds => {
                self.raw(|c| {
                    c.execute(
                        "DELETE FROM prekey_ledger WHERE device_id = ?1 AND prekey_id NOT IN (SELECT prekey_id FROM prekeys WHERE device_id = ?1)",
                        [device_id],
                    )
                })?;
                self.inner.add_prekeys(device_id, prekeys)
            }
            Flaw::PartialUpload => {
                let mut size = self.inner.prekey_count(device_id)?;
                for p in prekeys {
                    size = self.inner.add_prekeys(device_id, vec![p])?;
                }
                Ok(size)
            }
            _ => self.inner.add_prekeys(device_id, prekeys),
        }
    }
    fn take_prekey(&self, device_id: &str) -> Result<Option<PrekeyRecord>, PluginError> {
        const RANDOM: &str = "SELECT prekey_id, public_key, signature FROM prekeys WHERE device_id = ?1 ORDER BY random() LIMIT 1";
        match self.flaw {
            Flaw::TakeKeeps => {
                self.inner.prekey_count(device_id)?;
                self.raw(|c| {
                    c.query_row(RANDOM, [device_id], Self::prekey_row)
                        .optional()
                })
            }
            Flaw::TakeLowestFirst => {
                self.inner.prekey_count(device_id)?;
                self.raw(|c| {
                    c.query_row(
                        "DELETE FROM prekeys WHERE device_id = ?1 AND prekey_id = (SELECT min(prekey_id) FROM prekeys WHERE device_id = ?1) RETURNING prekey_id, public_key, signature",
                        [device_id],
                        Self::prekey_row,
                    )
                    .optional()
                })
            }
            Flaw::TakeNotAtomic => {
                self.inner.prekey_count(device_id)?;
                // Its own connection, so that threads really interleave.
                let conn = Connection::open(&self.path).map_err(sql_err)?;
                conn.busy_timeout(Duration::from_secs(5)).map_err(sql_err)?;
                let picked = conn
                    .query_row(RANDOM, [device_id], Self::prekey_row)
                    .optional()
                    .map_err(sql_err)?;
                thread::sleep(Duration::from_millis(2));
                if let Some(p) = &picked {
                    conn.execute(
                        "DELETE FROM prekeys WHERE device_id = ?1 AND prekey_id = ?2",
                        params![device_id, p.id],
                    )
                    .map_err(sql_err)?;
                }
                Ok(picked)
            }
            Flaw::TakePanics => panic!("take_prekey panics on purpose"),
            _ => self.inner.take_prekey(device_id),
        }
    }
    fn prekey_count(&self, device_id: &str) -> Result<u64, PluginError> {
        self.inner.prekey_count(device_id)
    }
    fn store_container(&self, container: &ContainerRecord) -> Result<(), PluginError> {
        self.inner.store_container(container)
    }
    fn fetch_pending(
        &self,
        device_id: &str,
        now_ms: u64,
        limit: u32,
    ) -> Result<Vec<PendingContainer>, PluginError> {
        match self.flaw {
            Flaw::FetchIgnoresExpiry => self.inner.fetch_pending(device_id, 0, limit),
            Flaw::FetchNewestFirst => {
                let mut all = self.inner.fetch_pending(device_id, now_ms, u32::MAX)?;
                all.reverse();
                all.truncate(limit as usize);
                Ok(all)
            }
            _ => self.inner.fetch_pending(device_id, now_ms, limit),
        }
    }
    fn acknowledge(&self, device_id: &str, container_id: &str) -> Result<bool, PluginError> {
        if self.flaw == Flaw::AckKeepsContainer {
            return self.raw(|c| {
                c.execute(
                    "DELETE FROM deliveries WHERE device_id = ?1 AND container_id = ?2",
                    [device_id, container_id],
                )
                .map(|n| n > 0)
            });
        }
        self.inner.acknowledge(device_id, container_id)
    }
    fn expire(&self, now_ms: u64) -> Result<u64, PluginError> {
        if self.flaw == Flaw::ExpireCountsDeliveries {
            let deliveries: i64 = self.raw(|c| {
                c.query_row(
                    "SELECT count(*) FROM deliveries WHERE expires_ms <= ?1",
                    [now_ms.min(i64::MAX as u64) as i64],
                    |r| r.get(0),
                )
            })?;
            let containers = self.inner.expire(now_ms)?;
            return Ok(containers.max(deliveries as u64));
        }
        self.inner.expire(now_ms)
    }
    fn container_count(&self) -> Result<u64, PluginError> {
        self.inner.container_count()
    }
    fn create_meeting(&self, meeting: &MeetingRecord) -> Result<(), PluginError> {
        self.inner.create_meeting(meeting)
    }
    fn get_meeting(&self, meeting_id: &str) -> Result<Option<MeetingRecord>, PluginError> {
        self.inner.get_meeting(meeting_id)
    }
    fn set_member(&self, meeting_id: &str, member: &MemberRecord) -> Result<(), PluginError> {
        self.inner.set_member(meeting_id, member)
    }
    fn list_members(&self, meeting_id: &str) -> Result<Vec<MemberRecord>, PluginError> {
        self.inner.list_members(meeting_id)
    }
    fn end_meeting(&self, meeting_id: &str, at_ms: u64) -> Result<(), PluginError> {
        if self.flaw == Flaw::EndOverwrites && self.inner.get_meeting(meeting_id)?.is_some() {
            return self.raw(|c| {
                c.execute(
                    "UPDATE meetings SET ended_ms = ?2 WHERE meeting_id = ?1",
                    params![meeting_id, at_ms as i64],
                )
                .map(|_| ())
            });
        }
        self.inner.end_meeting(meeting_id, at_ms)
    }
    fn health(&self) -> Result<(), PluginError> {
        self.inner.health()
    }
}

/// Runs the suite on a fresh database with `flaw` and returns the failed check's line.
fn failure_for(flaw: Flaw) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.db");
    let plugin = LoadedPlugin::builtin("broken", PluginMod::storage::<Broken>());
    let config = serde_json::json!({ "flaw": format!("{flaw:?}"), "path": path }).to_string();
    let st = plugin.new_storage(&config, &common::host()).unwrap();
    match run(&st) {
        Ok(report) => panic!(
            "the suite passed a plugin with {flaw:?}: {:?}",
            report.passed
        ),
        Err(failure) => failure.to_string(),
    }
}

#[test]
fn every_flaw_is_caught_by_its_check() {
    for (flaw, check) in [
        (
            Flaw::TakeKeeps,
            "prekeys: take returns each prekey once, consumed ids are refused",
        ),
        (Flaw::TakeLowestFirst, "prekeys: take picks at random"),
        (
            Flaw::TakeNotAtomic,
            "prekeys: concurrent takes hand out each prekey exactly once",
        ),
        (
            Flaw::ForgetsConsumedIds,
            "prekeys: take returns each prekey once, consumed ids are refused",
        ),
        (Flaw::PartialUpload, "prekeys: uploads are all or nothing"),
        (
            Flaw::RevokeKeepsPrekeys,
            "devices: revocation deletes prekeys and deliveries",
        ),
        (
            Flaw::AckKeepsContainer,
            "containers: acknowledgement, the container goes with its last delivery",
        ),
        (
            Flaw::FetchIgnoresExpiry,
            "containers: stored and fetched oldest first, with limit and expiry",
        ),
        (
            Flaw::FetchNewestFirst,
            "containers: stored and fetched oldest first, with limit and expiry",
        ),
        (Flaw::ListUnsorted, "users: allow and deny lists"),
        (Flaw::EndOverwrites, "meetings: create, members, end"),
        (
            Flaw::AcceptsUppercase,
            "users: malformed hashes and times are invalid input",
        ),
        (Flaw::ExpireCountsDeliveries, "containers: "),
        (Flaw::TakePanics, "prekeys: uploads are all or nothing"),
    ] {
        let line = failure_for(flaw);
        println!("{flaw:?}: {line}");
        assert!(
            line.starts_with(&format!("conformance check '{check}")),
            "{flaw:?} was caught by another check than '{check}': {line}"
        );
        assert!(!line.contains('\n'), "{line}");
    }
}
