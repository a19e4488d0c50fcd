//! Meetings and their members.

use conclave_plugin_api::PluginError;
use conclave_plugin_api::storage::{MeetingRecord, MemberRecord, MemberState};
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{corrupt, ctx, is_constraint, map};
use crate::validate::stored_time;

const INSERT_MEETING: &str = "INSERT INTO meetings (meeting_id, initiator_device, created_ms, ended_ms) VALUES (?1, ?2, ?3, NULL)";
const SELECT_MEETING: &str =
    "SELECT initiator_device, created_ms, ended_ms FROM meetings WHERE meeting_id = ?1";
const SELECT_ENDED: &str = "SELECT ended_ms FROM meetings WHERE meeting_id = ?1";
const UPSERT_MEMBER: &str = "INSERT INTO members (meeting_id, device_id, state, updated_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (meeting_id, device_id) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms";
const SELECT_MEMBERS: &str =
    "SELECT device_id, state, updated_ms FROM members WHERE meeting_id = ?1 ORDER BY device_id";
const END_MEETING: &str =
    "UPDATE meetings SET ended_ms = ?2 WHERE meeting_id = ?1 AND ended_ms IS NULL";

fn state_code(state: MemberState) -> i64 {
    state as u8 as i64
}

fn state_from(code: i64) -> Result<MemberState, PluginError> {
    match code {
        1 => Ok(MemberState::Invited),
        2 => Ok(MemberState::Joined),
        3 => Ok(MemberState::Left),
        4 => Ok(MemberState::Rejected),
        5 => Ok(MemberState::Removed),
        other => Err(corrupt("list_members", format!("member state {other}"))),
    }
}

/// `None` if the meeting does not exist, else whether (and when) it ended.
fn ended(
    c: &Connection,
    what: &'static str,
    meeting_id: &str,
) -> Result<Option<Option<i64>>, PluginError> {
    c.prepare_cached(SELECT_ENDED)
        .and_then(|mut s| s.query_row([meeting_id], |r| r.get(0)).optional())
        .map_err(ctx(what))
}

fn missing(meeting_id: &str) -> PluginError {
    PluginError::not_found(format!("meeting {meeting_id} does not exist"))
}

pub fn create(c: &Connection, meeting: &MeetingRecord, created_ms: i64) -> Result<(), PluginError> {
    let id = meeting.meeting_id.as_str();
    match c
        .prepare_cached(INSERT_MEETING)
        .and_then(|mut s| s.execute(params![id, meeting.initiator_device.as_str(), created_ms]))
    {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e) => Err(PluginError::conflict(format!(
            "meeting {id} already exists"
        ))),
        Err(e) => Err(map("create_meeting", e)),
    }
}

pub fn get(c: &Connection, meeting_id: &str) -> Result<Option<MeetingRecord>, PluginError> {
    let row: Option<(String, i64, Option<i64>)> = c
        .prepare_cached(SELECT_MEETING)
        .and_then(|mut s| {
            s.query_row([meeting_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()
        })
        .map_err(ctx("get_meeting"))?;
    let Some((initiator_device, created_ms, ended_ms)) = row else {
        return Ok(None);
    };
    Ok(Some(MeetingRecord {
        meeting_id: meeting_id.into(),
        initiator_device: initiator_device.into(),
        created_ms: stored_time("get_meeting", created_ms)?,
        ended_ms: ended_ms
            .map(|t| stored_time("get_meeting", t))
            .transpose()?
            .into(),
    }))
}

pub fn set_member(
    c: &Connection,
    meeting_id: &str,
    member: &MemberRecord,
    updated_ms: i64,
) -> Result<(), PluginError> {
    match ended(c, "set_member", meeting_id)? {
        None => return Err(missing(meeting_id)),
        Some(Some(_)) => {
            return Err(PluginError::conflict(format!(
                "meeting {meeting_id} has ended"
            )));
        }
        Some(None) => {}
    }
    c.prepare_cached(UPSERT_MEMBER)
        .and_then(|mut s| {
            s.execute(params![
                meeting_id,
                member.device_id.as_str(),
                state_code(member.state),
                updated_ms
            ])
        })
        .map_err(ctx("set_member"))?;
    Ok(())
}

pub fn list_members(c: &Connection, meeting_id: &str) -> Result<Vec<MemberRecord>, PluginError> {
    if ended(c, "list_members", meeting_id)?.is_none() {
        return Err(missing(meeting_id));
    }
    let err = ctx("list_members");
    let mut stmt = c.prepare_cached(SELECT_MEMBERS).map_err(&err)?;
    let rows = stmt
        .query_map([meeting_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(&err)?;
    let mut members = Vec::new();
    for row in rows {
        let (device_id, state, updated_ms) = row.map_err(&err)?;
        members.push(MemberRecord {
            device_id: device_id.into(),
            state: state_from(state)?,
            updated_ms: stored_time("list_members", updated_ms)?,
        });
    }
    Ok(members)
}

pub fn end(c: &Connection, meeting_id: &str, at_ms: i64) -> Result<(), PluginError> {
    if ended(c, "end_meeting", meeting_id)?.is_none() {
        return Err(missing(meeting_id));
    }
    // Ending twice keeps the first time: the update only touches a meeting not yet ended.
    c.prepare_cached(END_MEETING)
        .and_then(|mut s| s.execute(params![meeting_id, at_ms]))
        .map_err(ctx("end_meeting"))?;
    Ok(())
}
