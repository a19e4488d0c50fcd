//! The database schema and its versioned migrations.
//!
//! The schema version is SQLite's `PRAGMA user_version`; `PRAGMA application_id` marks the
//! file as Conclave's. Opening a database applies the missing migrations in order, all in
//! one `IMMEDIATE` transaction (so two relays starting on one file migrate it once), and
//! refuses a database written by a newer plugin, or a file that belongs to something else.
//! Migrations are only ever appended to [`MIGRATIONS`]; a released one never changes.

use conclave_plugin_api::PluginError;
use rusqlite::{Connection, TransactionBehavior};

use crate::error::map;

/// `PRAGMA application_id` of a Conclave database: "Conc".
pub const APPLICATION_ID: i32 = 0x436f_6e63;

/// Version 1: users, lists, devices, prekeys, containers, meetings.
///
/// Notes on the design:
/// - `prekey_ledger` holds every prekey id ever uploaded for a device, so an id that is in
///   the pool or was handed out is refused on upload; `prekeys` holds the current pool.
/// - `deliveries` copies the container's times so that a device's pending list is read in
///   order from one index; its key starts with the container, which serves the cascade
///   from `containers` and the "was this the last delivery" check.
/// - Devices are never deleted (revocation marks them), so deliveries reference them
///   without cascade; deleting a container cascades to its deliveries.
pub const V1: &str = "
CREATE TABLE users (
    user_hash TEXT PRIMARY KEY,
    privacy INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE user_lists (
    user_hash TEXT NOT NULL REFERENCES users(user_hash),
    kind INTEGER NOT NULL,
    entry TEXT NOT NULL,
    PRIMARY KEY (user_hash, kind, entry)
) STRICT, WITHOUT ROWID;

CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    user_hash TEXT NOT NULL REFERENCES users(user_hash),
    certificate BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    revoked_ms INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX devices_by_user ON devices(user_hash, created_ms, device_id);

CREATE TABLE prekey_ledger (
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    prekey_id INTEGER NOT NULL,
    PRIMARY KEY (device_id, prekey_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE prekeys (
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    prekey_id INTEGER NOT NULL,
    public_key BLOB NOT NULL,
    signature BLOB NOT NULL,
    PRIMARY KEY (device_id, prekey_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE containers (
    container_id TEXT PRIMARY KEY,
    sender_device TEXT NOT NULL,
    bytes BLOB NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX containers_by_expiry ON containers(expires_ms);

CREATE TABLE deliveries (
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    container_id TEXT NOT NULL REFERENCES containers(container_id) ON DELETE CASCADE,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (container_id, device_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX deliveries_by_age ON deliveries(device_id, created_ms, container_id);

CREATE TABLE meetings (
    meeting_id TEXT PRIMARY KEY,
    initiator_device TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    ended_ms INTEGER
) STRICT, WITHOUT ROWID;

CREATE TABLE members (
    meeting_id TEXT NOT NULL REFERENCES meetings(meeting_id),
    device_id TEXT NOT NULL,
    state INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (meeting_id, device_id)
) STRICT, WITHOUT ROWID;
";

/// Every migration, in order: `MIGRATIONS[n]` takes the schema from version `n` to `n + 1`.
pub const MIGRATIONS: &[&str] = &[V1];

/// The schema version this plugin writes.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

const GET_USER_VERSION: &str = "PRAGMA user_version";
const GET_APPLICATION_ID: &str = "PRAGMA application_id";
const COUNT_SCHEMA_OBJECTS: &str = "SELECT count(*) FROM sqlite_schema";

/// The schema version of the open database.
pub fn version(conn: &Connection) -> Result<i64, PluginError> {
    conn.query_row(GET_USER_VERSION, [], |r| r.get(0))
        .map_err(|e| map("schema version", e))
}

/// Brings the database to [`LATEST`] in one transaction and returns the version it had.
/// `InvalidInput` for a database of a newer schema or not Conclave's; `db` names the
/// database in messages.
pub fn migrate(conn: &mut Connection, db: &str) -> Result<i64, PluginError> {
    let err = |e| map("migration", e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let found: i64 = tx
        .query_row(GET_USER_VERSION, [], |r| r.get(0))
        .map_err(err)?;
    let app: i32 = tx
        .query_row(GET_APPLICATION_ID, [], |r| r.get(0))
        .map_err(err)?;
    if found > LATEST {
        return Err(PluginError::invalid(format!(
            "database {db} has schema version {found}, newer than the {LATEST} this conclave-storage-sqlite understands: upgrade the plugin (or restore a backup)"
        )));
    }
    if found < 0 || (app != 0 && app != APPLICATION_ID) {
        return Err(PluginError::invalid(format!(
            "database {db} is not a Conclave database (application_id {app:#x}, user_version {found})"
        )));
    }
    if found == 0 {
        let objects: i64 = tx
            .query_row(COUNT_SCHEMA_OBJECTS, [], |r| r.get(0))
            .map_err(err)?;
        if objects != 0 {
            return Err(PluginError::invalid(format!(
                "database {db} is not empty and not a Conclave database (it has {objects} tables or indexes and no Conclave schema version)"
            )));
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .map_err(err)?;
    }
    // `found` is in 0..=LATEST here, so the slice is in bounds.
    let pending = MIGRATIONS.get(found as usize..).unwrap_or_default();
    for sql in pending {
        tx.execute_batch(sql).map_err(err)?;
    }
    if found != LATEST {
        tx.pragma_update(None, "user_version", LATEST)
            .map_err(err)?;
    }
    tx.commit().map_err(err)?;
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_plugin_api::ErrorKind;

    #[test]
    fn migrates_once_and_refuses_newer_or_foreign_databases() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut conn, "test").unwrap(), 0);
        assert_eq!(version(&conn).unwrap(), LATEST);
        assert_eq!(migrate(&mut conn, "test").unwrap(), LATEST);

        conn.pragma_update(None, "user_version", LATEST + 1)
            .unwrap();
        let e = migrate(&mut conn, "test").unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidInput);
        assert!(e.message.contains("newer"), "{e}");

        let mut foreign = Connection::open_in_memory().unwrap();
        foreign.execute_batch("CREATE TABLE t (x)").unwrap();
        let e = migrate(&mut foreign, "test").unwrap_err();
        assert!(e.message.contains("not a Conclave database"), "{e}");

        let mut other_app = Connection::open_in_memory().unwrap();
        other_app.pragma_update(None, "application_id", 7).unwrap();
        let e = migrate(&mut other_app, "test").unwrap_err();
        assert!(e.message.contains("not a Conclave database"), "{e}");
    }
}
