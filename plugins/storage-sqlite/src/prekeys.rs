//! Prekey pools: all-or-nothing uploads, a ledger of every id ever uploaded, and the
//! atomic "take one at random and delete it".

use std::collections::HashSet;

use conclave_plugin_api::PluginError;
use conclave_plugin_api::storage::PrekeyRecord;
use rusqlite::{Connection, OptionalExtension, params};

use crate::devices;
use crate::error::{corrupt, ctx, is_constraint, map};
use crate::validate::stored_count;

const INSERT_LEDGER: &str = "INSERT INTO prekey_ledger (device_id, prekey_id) VALUES (?1, ?2)";
const INSERT_PREKEY: &str =
    "INSERT INTO prekeys (device_id, prekey_id, public_key, signature) VALUES (?1, ?2, ?3, ?4)";
const COUNT_PREKEYS: &str = "SELECT count(*) FROM prekeys WHERE device_id = ?1";
/// Deletes the `?2`-th prekey of the device (in id order) and returns it.
const TAKE_NTH_PREKEY: &str = "DELETE FROM prekeys WHERE device_id = ?1 AND prekey_id = (SELECT prekey_id FROM prekeys WHERE device_id = ?1 ORDER BY prekey_id LIMIT 1 OFFSET ?2) RETURNING prekey_id, public_key, signature";

/// A uniformly random number below `n` (> 0) from the OS generator, without modulo bias.
fn uniform_below(n: u64) -> Result<u64, PluginError> {
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let r = getrandom::u64().map_err(|e| {
            PluginError::unavailable(format!("no randomness from the operating system: {e}"))
        })?;
        if r < zone {
            return Ok(r % n);
        }
    }
}

pub fn count(c: &Connection, what: &'static str, device_id: &str) -> Result<u64, PluginError> {
    let n: i64 = c
        .prepare_cached(COUNT_PREKEYS)
        .and_then(|mut s| s.query_row([device_id], |r| r.get(0)))
        .map_err(ctx(what))?;
    stored_count(what, n)
}

pub fn add(c: &Connection, device_id: &str, prekeys: &[PrekeyRecord]) -> Result<u64, PluginError> {
    devices::require_active(c, "add_prekeys", device_id)?;
    let mut seen = HashSet::with_capacity(prekeys.len());
    if let Some(dup) = prekeys.iter().find(|p| !seen.insert(p.id)) {
        return Err(PluginError::conflict(format!(
            "prekey id {} appears twice in the upload",
            dup.id
        )));
    }
    let mut ledger = c
        .prepare_cached(INSERT_LEDGER)
        .map_err(ctx("add_prekeys"))?;
    let mut insert = c
        .prepare_cached(INSERT_PREKEY)
        .map_err(ctx("add_prekeys"))?;
    for p in prekeys {
        match ledger.execute(params![device_id, p.id]) {
            Ok(_) => {}
            Err(e) if is_constraint(&e) => {
                // The caller's transaction rolls back the ids inserted so far.
                return Err(PluginError::conflict(format!(
                    "prekey id {} was already uploaded for device {device_id}",
                    p.id
                )));
            }
            Err(e) => return Err(map("add_prekeys", e)),
        }
        insert
            .execute(params![
                device_id,
                p.id,
                p.public_key.as_slice(),
                p.signature.as_slice()
            ])
            .map_err(ctx("add_prekeys"))?;
    }
    count(c, "add_prekeys", device_id)
}

pub fn take(c: &Connection, device_id: &str) -> Result<Option<PrekeyRecord>, PluginError> {
    devices::require_active(c, "take_prekey", device_id)?;
    let n = count(c, "take_prekey", device_id)?;
    if n == 0 {
        return Ok(None);
    }
    let offset = i64::try_from(uniform_below(n)?)
        .map_err(|_| corrupt("take_prekey", format!("pool size {n}")))?;
    let row: Option<(i64, Vec<u8>, Vec<u8>)> = c
        .prepare_cached(TAKE_NTH_PREKEY)
        .and_then(|mut s| {
            s.query_row(params![device_id, offset], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
        })
        .map_err(ctx("take_prekey"))?;
    // The count and the delete run in one IMMEDIATE transaction, so the row is there.
    let Some((id, public_key, signature)) = row else {
        return Err(corrupt(
            "take_prekey",
            "the pool shrank during the transaction",
        ));
    };
    let id = u32::try_from(id).map_err(|_| corrupt("take_prekey", format!("prekey id {id}")))?;
    Ok(Some(PrekeyRecord {
        id,
        public_key: public_key.into(),
        signature: signature.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_below_stays_in_range_and_covers_it() {
        let mut hits = [0u32; 3];
        for _ in 0..300 {
            let r = uniform_below(3).unwrap();
            hits[r as usize] += 1;
        }
        assert!(hits.iter().all(|&h| h > 50), "{hits:?}");
        assert_eq!(uniform_below(1).unwrap(), 0);
        assert!(uniform_below(u64::MAX).unwrap() < u64::MAX);
    }
}
