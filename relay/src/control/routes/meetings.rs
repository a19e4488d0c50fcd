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
use hmac::{KeyInit, Mac};
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
    blocking(move || {
        storage.set_member(
            &meeting_id,
            &MemberRecord {
                device_id: target.into(),
                state,
                updated_ms: now_ms(),
            },
        )
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

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
    let mut session_id = [0u8; 16];
    getrandom::fill(&mut session_id)
        .map_err(|_| ApiError::internal("random number generator failed"))?;
    let expires_ms = now_ms().saturating_add(s.settings.ticket_ttl_ms);
    // The media plane recomputes the session key from the ticket's fields and its secret.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&s.settings.ticket_secret)
        .map_err(|_| ApiError::internal("ticket key"))?;
    mac.update(b"conclave-v1 media-session");
    mac.update(meeting_id.as_bytes());
    mac.update(device.as_bytes());
    mac.update(&session_id);
    mac.update(&expires_ms.to_be_bytes());
    let key = mac.finalize().into_bytes();
    Ok(Json(json!({
        "meeting_id": meeting_id,
        "media": {"transport": "native", "address": s.settings.media_address, "worker": 0},
        "session": {"id": hex::encode(session_id), "key": b64::encode(&key), "expires_ms": expires_ms},
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
