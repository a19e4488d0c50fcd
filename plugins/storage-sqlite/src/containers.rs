//! Containers and their per-recipient deliveries.

use conclave_plugin_api::PluginError;
use conclave_plugin_api::storage::{ContainerRecord, PendingContainer};
use rusqlite::{Connection, params};

use crate::devices;
use crate::error::{ctx, is_constraint, map};
use crate::validate::{stored_count, stored_time};

const INSERT_CONTAINER: &str = "INSERT INTO containers (container_id, sender_device, bytes, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4, ?5)";
/// Repeated recipients get one delivery.
const INSERT_DELIVERY: &str = "INSERT OR IGNORE INTO deliveries (device_id, container_id, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)";
const SELECT_PENDING: &str = "SELECT c.container_id, c.sender_device, c.bytes, c.created_ms, c.expires_ms FROM deliveries d JOIN containers c ON c.container_id = d.container_id WHERE d.device_id = ?1 AND d.expires_ms > ?2 ORDER BY d.created_ms, d.container_id LIMIT ?3";
const DELETE_DELIVERY: &str = "DELETE FROM deliveries WHERE device_id = ?1 AND container_id = ?2";
const DELETE_IF_UNDELIVERED: &str = "DELETE FROM containers WHERE container_id = ?1 AND NOT EXISTS (SELECT 1 FROM deliveries WHERE container_id = ?1)";
/// Deliveries go with their container (ON DELETE CASCADE).
const DELETE_EXPIRED: &str = "DELETE FROM containers WHERE expires_ms <= ?1";
const COUNT_CONTAINERS: &str = "SELECT count(*) FROM containers";

/// Stores a container; the times are validated by the caller.
pub fn store(
    c: &Connection,
    container: &ContainerRecord,
    created_ms: i64,
    expires_ms: i64,
) -> Result<(), PluginError> {
    for recipient in container.recipients.iter() {
        devices::require_active(c, "store_container", recipient)?;
    }
    let id = container.container_id.as_str();
    match c.prepare_cached(INSERT_CONTAINER).and_then(|mut s| {
        s.execute(params![
            id,
            container.sender_device.as_str(),
            container.bytes.as_slice(),
            created_ms,
            expires_ms
        ])
    }) {
        Ok(_) => {}
        Err(e) if is_constraint(&e) => {
            return Err(PluginError::conflict(format!(
                "container {id} already exists"
            )));
        }
        Err(e) => return Err(map("store_container", e)),
    }
    let mut insert = c
        .prepare_cached(INSERT_DELIVERY)
        .map_err(ctx("store_container"))?;
    for recipient in container.recipients.iter() {
        insert
            .execute(params![recipient.as_str(), id, created_ms, expires_ms])
            .map_err(ctx("store_container"))?;
    }
    Ok(())
}

pub fn fetch_pending(
    c: &Connection,
    device_id: &str,
    now_ms: i64,
    limit: u32,
) -> Result<Vec<PendingContainer>, PluginError> {
    devices::require_known(c, "fetch_pending", device_id)?;
    let err = ctx("fetch_pending");
    let mut stmt = c.prepare_cached(SELECT_PENDING).map_err(&err)?;
    let rows = stmt
        .query_map(params![device_id, now_ms, i64::from(limit)], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .map_err(&err)?;
    let mut pending = Vec::new();
    for row in rows {
        let (container_id, sender_device, bytes, created_ms, expires_ms) = row.map_err(&err)?;
        pending.push(PendingContainer {
            container_id: container_id.into(),
            sender_device: sender_device.into(),
            bytes: bytes.into(),
            created_ms: stored_time("fetch_pending", created_ms)?,
            expires_ms: stored_time("fetch_pending", expires_ms)?,
        });
    }
    Ok(pending)
}

pub fn acknowledge(
    c: &Connection,
    device_id: &str,
    container_id: &str,
) -> Result<bool, PluginError> {
    let err = ctx("acknowledge");
    let removed = c
        .prepare_cached(DELETE_DELIVERY)
        .and_then(|mut s| s.execute([device_id, container_id]))
        .map_err(&err)?;
    if removed == 0 {
        return Ok(false);
    }
    c.prepare_cached(DELETE_IF_UNDELIVERED)
        .and_then(|mut s| s.execute([container_id]))
        .map_err(&err)?;
    Ok(true)
}

pub fn expire(c: &Connection, now_ms: i64) -> Result<u64, PluginError> {
    let deleted = c
        .prepare_cached(DELETE_EXPIRED)
        .and_then(|mut s| s.execute([now_ms]))
        .map_err(ctx("expire"))?;
    Ok(deleted as u64)
}

pub fn count(c: &Connection) -> Result<u64, PluginError> {
    let n: i64 = c
        .prepare_cached(COUNT_CONTAINERS)
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .map_err(ctx("container_count"))?;
    stored_count("container_count", n)
}
