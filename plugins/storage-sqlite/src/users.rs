//! Users, their privacy mode and their allow/deny lists.

use conclave_plugin_api::PluginError;
use conclave_plugin_api::storage::{ListKind, PrivacyMode, UserRecord};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{corrupt, ctx, is_constraint, map};
use crate::validate::stored_time;

const INSERT_USER: &str = "INSERT INTO users (user_hash, privacy, created_ms) VALUES (?1, ?2, ?3)";
const SELECT_USER: &str = "SELECT privacy, created_ms FROM users WHERE user_hash = ?1";
const USER_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM users WHERE user_hash = ?1)";
const UPDATE_PRIVACY: &str = "UPDATE users SET privacy = ?2 WHERE user_hash = ?1";
const DELETE_LIST: &str = "DELETE FROM user_lists WHERE user_hash = ?1 AND kind = ?2";
const INSERT_LIST_ENTRY: &str =
    "INSERT OR IGNORE INTO user_lists (user_hash, kind, entry) VALUES (?1, ?2, ?3)";
const SELECT_LIST: &str =
    "SELECT entry FROM user_lists WHERE user_hash = ?1 AND kind = ?2 ORDER BY entry";

fn privacy_code(mode: PrivacyMode) -> i64 {
    mode as u8 as i64
}

fn privacy_from(code: i64) -> Result<PrivacyMode, PluginError> {
    match code {
        1 => Ok(PrivacyMode::Everyone),
        2 => Ok(PrivacyMode::AllowList),
        3 => Ok(PrivacyMode::DenyList),
        other => Err(corrupt("get_user", format!("privacy mode {other}"))),
    }
}

fn list_code(kind: ListKind) -> i64 {
    kind as u8 as i64
}

/// Whether the user exists.
pub fn exists(c: &Connection, what: &'static str, user_hash: &str) -> Result<bool, PluginError> {
    c.prepare_cached(USER_EXISTS)
        .and_then(|mut s| s.query_row([user_hash], |r| r.get(0)))
        .map_err(ctx(what))
}

/// `NotFound` unless the user exists.
pub fn require(c: &Connection, what: &'static str, user_hash: &str) -> Result<(), PluginError> {
    if exists(c, what, user_hash)? {
        Ok(())
    } else {
        Err(PluginError::not_found(format!(
            "user {user_hash} does not exist"
        )))
    }
}

pub fn create(c: &Connection, user: &UserRecord, created_ms: i64) -> Result<(), PluginError> {
    let mut stmt = c.prepare_cached(INSERT_USER).map_err(ctx("create_user"))?;
    match stmt.execute(params![
        user.user_hash.as_str(),
        privacy_code(user.privacy),
        created_ms
    ]) {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e) => Err(PluginError::conflict(format!(
            "user {} already exists",
            user.user_hash
        ))),
        Err(e) => Err(map("create_user", e)),
    }
}

pub fn get(c: &Connection, user_hash: &str) -> Result<Option<UserRecord>, PluginError> {
    let row: Option<(i64, i64)> = c
        .prepare_cached(SELECT_USER)
        .and_then(|mut s| {
            s.query_row([user_hash], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(ctx("get_user"))?;
    let Some((privacy, created_ms)) = row else {
        return Ok(None);
    };
    Ok(Some(UserRecord {
        user_hash: user_hash.into(),
        privacy: privacy_from(privacy)?,
        created_ms: stored_time("get_user", created_ms)?,
    }))
}

pub fn set_privacy(c: &Connection, user_hash: &str, mode: PrivacyMode) -> Result<(), PluginError> {
    let changed = c
        .prepare_cached(UPDATE_PRIVACY)
        .and_then(|mut s| s.execute(params![user_hash, privacy_code(mode)]))
        .map_err(ctx("set_privacy"))?;
    if changed == 0 {
        return Err(PluginError::not_found(format!(
            "user {user_hash} does not exist"
        )));
    }
    Ok(())
}

pub fn set_list(
    c: &Connection,
    user_hash: &str,
    kind: ListKind,
    entries: &[String],
) -> Result<(), PluginError> {
    require(c, "set_list", user_hash)?;
    let kind = list_code(kind);
    c.prepare_cached(DELETE_LIST)
        .and_then(|mut s| s.execute(params![user_hash, kind]))
        .map_err(ctx("set_list"))?;
    let mut insert = c
        .prepare_cached(INSERT_LIST_ENTRY)
        .map_err(ctx("set_list"))?;
    for entry in entries {
        insert
            .execute(params![user_hash, kind, entry])
            .map_err(ctx("set_list"))?;
    }
    Ok(())
}

pub fn get_list(
    c: &Connection,
    user_hash: &str,
    kind: ListKind,
) -> Result<Vec<String>, PluginError> {
    require(c, "get_list", user_hash)?;
    let mut stmt = c.prepare_cached(SELECT_LIST).map_err(ctx("get_list"))?;
    let rows = stmt
        .query_map(params![user_hash, list_code(kind)], |r| r.get(0))
        .map_err(ctx("get_list"))?;
    rows.collect::<Result<Vec<String>, _>>()
        .map_err(ctx("get_list"))
}
