//! Devices: registration, lookup and revocation.

use conclave_plugin_api::PluginError;
use conclave_plugin_api::storage::DeviceRecord;
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::error::{ctx, is_constraint, map};
use crate::users;
use crate::validate::stored_time;

const INSERT_DEVICE: &str = "INSERT INTO devices (device_id, user_hash, certificate, created_ms, revoked_ms) VALUES (?1, ?2, ?3, ?4, NULL)";
const SELECT_DEVICE: &str = "SELECT user_hash, device_id, certificate, created_ms, revoked_ms FROM devices WHERE device_id = ?1";
const SELECT_USER_DEVICES: &str = "SELECT user_hash, device_id, certificate, created_ms, revoked_ms FROM devices WHERE user_hash = ?1 ORDER BY created_ms, device_id";
const SELECT_REVOKED: &str = "SELECT revoked_ms FROM devices WHERE device_id = ?1";
const REVOKE_DEVICE: &str =
    "UPDATE devices SET revoked_ms = ?2 WHERE device_id = ?1 AND revoked_ms IS NULL";
const DELETE_DEVICE_PREKEYS: &str = "DELETE FROM prekeys WHERE device_id = ?1";
/// Containers whose only remaining delivery is this device's go with it.
const DELETE_CONTAINERS_ONLY_FOR: &str = "DELETE FROM containers WHERE container_id IN (SELECT container_id FROM deliveries WHERE device_id = ?1) AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.container_id = containers.container_id AND d.device_id <> ?1)";
const DELETE_DEVICE_DELIVERIES: &str = "DELETE FROM deliveries WHERE device_id = ?1";

/// Whether a device exists and can still receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Missing,
    Active,
    Revoked,
}

pub fn status(c: &Connection, what: &'static str, device_id: &str) -> Result<Status, PluginError> {
    let revoked: Option<Option<i64>> = c
        .prepare_cached(SELECT_REVOKED)
        .and_then(|mut s| s.query_row([device_id], |r| r.get(0)).optional())
        .map_err(ctx(what))?;
    Ok(match revoked {
        None => Status::Missing,
        Some(None) => Status::Active,
        Some(Some(_)) => Status::Revoked,
    })
}

/// `NotFound` unless the device exists and is not revoked.
pub fn require_active(
    c: &Connection,
    what: &'static str,
    device_id: &str,
) -> Result<(), PluginError> {
    match status(c, what, device_id)? {
        Status::Active => Ok(()),
        Status::Missing => Err(PluginError::not_found(format!(
            "device {device_id} does not exist"
        ))),
        Status::Revoked => Err(PluginError::not_found(format!(
            "device {device_id} is revoked"
        ))),
    }
}

/// `NotFound` unless the device exists (revoked or not).
pub fn require_known(
    c: &Connection,
    what: &'static str,
    device_id: &str,
) -> Result<(), PluginError> {
    if status(c, what, device_id)? == Status::Missing {
        return Err(PluginError::not_found(format!(
            "device {device_id} does not exist"
        )));
    }
    Ok(())
}

/// user hash, device id, certificate, created, revoked.
type DeviceRow = (String, String, Vec<u8>, i64, Option<i64>);

fn record(r: &Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_record(
    what: &str,
    (user_hash, device_id, certificate, created_ms, revoked_ms): DeviceRow,
) -> Result<DeviceRecord, PluginError> {
    Ok(DeviceRecord {
        user_hash: user_hash.into(),
        device_id: device_id.into(),
        certificate: certificate.into(),
        created_ms: stored_time(what, created_ms)?,
        revoked_ms: revoked_ms.map(|t| stored_time(what, t)).transpose()?.into(),
    })
}

pub fn add(c: &Connection, device: &DeviceRecord, created_ms: i64) -> Result<(), PluginError> {
    users::require(c, "add_device", &device.user_hash)?;
    let mut stmt = c.prepare_cached(INSERT_DEVICE).map_err(ctx("add_device"))?;
    match stmt.execute(params![
        device.device_id.as_str(),
        device.user_hash.as_str(),
        device.certificate.as_slice(),
        created_ms
    ]) {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e) => Err(PluginError::conflict(format!(
            "device {} already exists",
            device.device_id
        ))),
        Err(e) => Err(map("add_device", e)),
    }
}

pub fn get(c: &Connection, device_id: &str) -> Result<Option<DeviceRecord>, PluginError> {
    let row = c
        .prepare_cached(SELECT_DEVICE)
        .and_then(|mut s| s.query_row([device_id], record).optional())
        .map_err(ctx("get_device"))?;
    row.map(|r| to_record("get_device", r)).transpose()
}

pub fn list(c: &Connection, user_hash: &str) -> Result<Vec<DeviceRecord>, PluginError> {
    users::require(c, "list_devices", user_hash)?;
    let mut stmt = c
        .prepare_cached(SELECT_USER_DEVICES)
        .map_err(ctx("list_devices"))?;
    let rows = stmt
        .query_map([user_hash], record)
        .map_err(ctx("list_devices"))?;
    let mut devices = Vec::new();
    for row in rows {
        devices.push(to_record(
            "list_devices",
            row.map_err(ctx("list_devices"))?,
        )?);
    }
    Ok(devices)
}

pub fn revoke(c: &Connection, device_id: &str, at_ms: i64) -> Result<(), PluginError> {
    match status(c, "revoke_device", device_id)? {
        Status::Missing => {
            return Err(PluginError::not_found(format!(
                "device {device_id} does not exist"
            )));
        }
        // Revoking twice keeps the first time; the first revocation already deleted
        // everything below.
        Status::Revoked => return Ok(()),
        Status::Active => {}
    }
    let err = ctx("revoke_device");
    c.prepare_cached(REVOKE_DEVICE)
        .and_then(|mut s| s.execute(params![device_id, at_ms]))
        .map_err(&err)?;
    for sql in [
        DELETE_DEVICE_PREKEYS,
        DELETE_CONTAINERS_ONLY_FOR,
        DELETE_DEVICE_DELIVERIES,
    ] {
        c.prepare_cached(sql)
            .and_then(|mut s| s.execute([device_id]))
            .map_err(&err)?;
    }
    Ok(())
}
