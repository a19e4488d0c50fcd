//! Meetings: registration, membership, join tickets for the media plane, end.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use conclave_plugin_api::PluginError;
use conclave_plugin_api::auth::Action;
use conclave_plugin_api::notify::EventKind;
use conclave_plugin_api::storage::{MeetingRecord, MemberRecord, MemberState};
use conclave_wire::b64;
use conclave_wire::media::CloseReason;
use serde::Deserialize;
use serde_json::{Value, json};

use super::SMALL_BODY;
use crate::control::auth::{Caller, credential};
use crate::control::error::{ApiError, ApiResult};
use crate::control::input;
use crate::control::state::{AppState, SharedState, blocking, now_ms};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMeeting {
    meeting_id: String,
}

fn state_name(s: MemberState) -> &'static str {
    match s {
        MemberState::Invited => "invited",
        MemberState::Joined => "joined",
        MemberState::Left => "left",
        MemberState::Rejected => "rejected",
        MemberState::Removed => "removed",
    }
}

fn parse_state(s: &str) -> ApiResult<MemberState> {
    Ok(match s {
        "invited" => MemberState::Invited,
        "joined" => MemberState::Joined,
        "left" => MemberState::Left,
        "rejected" => MemberState::Rejected,
        "removed" => MemberState::Removed,
        _ => {
            return Err(ApiError::bad_request(
                "state must be invited, joined, left, rejected or removed",
            ));
        }
    })
}

pub async fn create(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let req: NewMeeting = input::json(body, SMALL_BODY)?;
    let meeting_id = input::meeting_id(&req.meeting_id)?;
    let caller = s
        .authenticate(
            credential(&headers, None)?,
            Action::CreateMeeting,
            &meeting_id,
        )
        .await?;
    let device = caller.device()?.to_string();
    let storage = s.plugins.storage.clone();
    blocking(move || {
        let now = now_ms();
        storage.create_meeting(&MeetingRecord {
            meeting_id: meeting_id.clone().into(),
            initiator_device: device.clone().into(),
            created_ms: now,
            ended_ms: None.into(),
        })?;
        storage.set_member(
            &meeting_id,
            &MemberRecord {
                device_id: device.into(),
                state: MemberState::Joined,
                updated_ms: now,
            },
        )
    })
    .await?;
    Ok(StatusCode::CREATED)
}

/// The meeting and its members, if the caller's device is the initiator or a member.
async fn meeting_for(
    s: &AppState,
    caller: &Caller,
    meeting_id: &str,
) -> ApiResult<(MeetingRecord, Vec<MemberRecord>)> {
    let storage = s.plugins.storage.clone();
    let mid = meeting_id.to_string();
    let (meeting, members) = blocking(move || {
        let m = storage
            .get_meeting(&mid)?
            .ok_or_else(|| PluginError::not_found("no such meeting"))?;
        Ok((m, storage.list_members(&mid)?))
    })
    .await?;
    let device = caller.device()?;
    let known = meeting.initiator_device.as_str() == device
        || members.iter().any(|m| m.device_id.as_str() == device);
    if !known {
        return Err(ApiError::forbidden(
            "the caller's device is not in this meeting",
        ));
    }
    Ok((meeting, members))
}

pub async fn get(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(meeting_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let meeting_id = input::meeting_id(&meeting_id)?;
    let caller = s
        .authenticate(
            credential(&headers, None)?,
            Action::JoinMeeting,
            &meeting_id,
        )
        .await?;
    let (m, members) = meeting_for(&s, &caller, &meeting_id).await?;
    let members: Vec<Value> = members
        .iter()
        .map(|x| json!({"device_id": x.device_id.as_str(), "state": state_name(x.state), "updated_ms": x.updated_ms}))
        .collect();
    Ok(Json(json!({
        "meeting_id": meeting_id,
        "initiator_device": m.initiator_device.as_str(),
        "created_ms": m.created_ms,
        "ended_ms": m.ended_ms.into_option(),
        "members": members,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberUpdate {
    device_id: String,
    state: String,
}

pub async fn set_member(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(meeting_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let meeting_id = input::meeting_id(&meeting_id)?;
    let req: MemberUpdate = input::json(body, SMALL_BODY)?;
    let target = input::device_id(&req.device_id)?;
    let state = parse_state(&req.state)?;
    let caller = s
        .authenticate(
            credential(&headers, None)?,
            Action::JoinMeeting,
            &meeting_id,
        )
        .await?;
    let device = caller.device()?.to_string();
    let storage = s.plugins.storage.clone();
    let mid = meeting_id.clone();
    let meeting = blocking(move || storage.get_meeting(&mid))
        .await?
        .ok_or_else(|| ApiError::not_found("no such meeting"))?;
    let by_initiator = matches!(state, MemberState::Invited | MemberState::Removed);
    let allowed = if by_initiator {
        meeting.initiator_device.as_str() == device
    } else {
        target == device
    };
    if !allowed {
        return Err(ApiError::forbidden(if by_initiator {
            "only the initiator invites and removes"
        } else {
            "a device records only its own joined, left or rejected state"
        }));
    }
    let storage = s.plugins.storage.clone();
    let (mid, dev) = (meeting_id.clone(), target.clone());
    let members = blocking(move || {
        // A removed device cannot undo its removal by recording itself joined.
        let removed = storage
            .list_members(&mid)?
            .iter()
            .any(|x| x.device_id.as_str() == dev && x.state == MemberState::Removed);
        if removed && state == MemberState::Joined {
            return Err(PluginError::denied(
                "the device was removed from this meeting",
            ));
        }
        storage.set_member(
            &mid,
            &MemberRecord {
                device_id: dev.into(),
                state,
                updated_ms: now_ms(),
            },
        )?;
        storage.list_members(&mid)
    })
    .await?;
    let close = match state {
        MemberState::Left => Some(CloseReason::Left),
        MemberState::Removed => Some(CloseReason::Removed),
        _ => None,
    };
    if let Some(reason) = close {
        s.media.member_gone(
            id_bytes(&meeting_id)?,
            Some(id_bytes(&target)?),
            reason,
            now_ms().saturating_add(s.settings.ticket_ttl_ms),
        );
    }
    if matches!(
        state,
        MemberState::Left | MemberState::Removed | MemberState::Rejected
    ) {
        let msg = json!({
            "type": "member",
            "meeting_id": meeting_id,
            "device_id": target,
            "state": state_name(state),
        })
        .to_string();
        let initiator = meeting.initiator_device.as_str();
        let mut recipients: Vec<&str> = members
            .iter()
            .filter(|m| m.state == MemberState::Joined)
            .map(|m| m.device_id.as_str())
            .chain(std::iter::once(initiator))
            .filter(|d| *d != target)
            .collect();
        recipients.sort_unstable();
        recipients.dedup();
        for d in recipients {
            s.push.send(d, &msg);
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

/// A hex id (already validated) as bytes.
fn id_bytes<const N: usize>(hex_id: &str) -> ApiResult<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(hex_id, &mut out).map_err(|_| ApiError::bad_request("malformed id"))?;
    Ok(out)
}

pub async fn join(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(meeting_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let meeting_id = input::meeting_id(&meeting_id)?;
    let caller = s
        .authenticate(
            credential(&headers, None)?,
            Action::JoinMeeting,
            &meeting_id,
        )
        .await?;
    let device = caller.device()?.to_string();
    let storage = s.plugins.storage.clone();
    let (mid, dev) = (meeting_id.clone(), device.clone());
    blocking(move || {
        let m = storage
            .get_meeting(&mid)?
            .ok_or_else(|| PluginError::not_found("no such meeting"))?;
        if m.ended_ms.is_some() {
            return Err(PluginError::conflict("the meeting has ended"));
        }
        let removed = storage
            .list_members(&mid)?
            .iter()
            .any(|x| x.device_id.as_str() == dev && x.state == MemberState::Removed);
        if removed {
            return Err(PluginError::denied(
                "the device was removed from this meeting",
            ));
        }
        storage.set_member(
            &mid,
            &MemberRecord {
                device_id: dev.into(),
                state: MemberState::Joined,
                updated_ms: now_ms(),
            },
        )
    })
    .await?;
    let expires_ms = now_ms().saturating_add(s.settings.ticket_ttl_ms);
    let ticket = s
        .media
        .ticket(id_bytes(&meeting_id)?, id_bytes(&device)?, expires_ms)
        .map_err(ApiError::internal)?;
    Ok(Json(json!({
        "meeting_id": meeting_id,
        "media": {"transport": "native", "address": ticket.address, "worker": ticket.join.worker},
        "webrtc": if s.media.webrtc() {
            json!({"offer_path": format!("/v1/meetings/{meeting_id}/webrtc")})
        } else {
            Value::Null
        },
        "session": {
            "id": hex::encode(ticket.join.session_id),
            "key": b64::encode(&ticket.key),
            "expires_ms": expires_ms,
        },
    })))
}

pub async fn end(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(meeting_id): Path<String>,
) -> ApiResult<StatusCode> {
    let meeting_id = input::meeting_id(&meeting_id)?;
    let caller = s
        .authenticate(
            credential(&headers, None)?,
            Action::JoinMeeting,
            &meeting_id,
        )
        .await?;
    let (m, members) = meeting_for(&s, &caller, &meeting_id).await?;
    if m.initiator_device.as_str() != caller.device()? {
        return Err(ApiError::forbidden("only the initiator ends a meeting"));
    }
    let storage = s.plugins.storage.clone();
    let mid = meeting_id.clone();
    blocking(move || storage.end_meeting(&mid, now_ms())).await?;
    s.media.member_gone(
        id_bytes(&meeting_id)?,
        None,
        CloseReason::MeetingEnded,
        now_ms().saturating_add(s.settings.ticket_ttl_ms),
    );
    let msg = json!({"type": "meeting_ended", "meeting_id": meeting_id}).to_string();
    for member in &members {
        s.push.send(member.device_id.as_str(), &msg);
    }
    s.notify(
        EventKind::MeetingEnded,
        &caller.subject,
        caller.device_id.as_deref(),
        Some(&meeting_id),
        members.len() as u64,
    );
    Ok(StatusCode::NO_CONTENT)
}
