//! Users: registration by hashed username, lookup, privacy settings.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use conclave_plugin_api::auth::Action;
use conclave_plugin_api::storage::{ListKind, PrivacyMode, UserRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use super::SMALL_BODY;
use crate::control::auth::credential;
use crate::control::error::{ApiError, ApiResult};
use crate::control::input;
use crate::control::state::{SharedState, blocking, now_ms};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    user_hash: String,
}

pub async fn create(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let req: NewUser = input::json(body, SMALL_BODY)?;
    let user_hash = input::user_hash(&req.user_hash)?;
    let caller = s
        .authenticate(
            credential(&headers, None)?,
            Action::RegisterUser,
            &user_hash,
        )
        .await?;
    caller.must_be(&user_hash)?;
    let storage = s.plugins.storage.clone();
    let record = UserRecord {
        user_hash: user_hash.clone().into(),
        privacy: PrivacyMode::Everyone,
        created_ms: now_ms(),
    };
    blocking(move || storage.create_user(&record)).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"user_hash": user_hash, "privacy": "everyone"})),
    ))
}

pub async fn get(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(user_hash): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_hash = input::user_hash(&user_hash)?;
    let caller = s
        .authenticate(credential(&headers, None)?, Action::FetchBundle, &user_hash)
        .await?;
    s.check_reach(&caller, &user_hash).await?;
    let storage = s.plugins.storage.clone();
    let uh = user_hash.clone();
    let devices = blocking(move || storage.list_devices(&uh)).await?;
    let active = devices.iter().filter(|d| d.revoked_ms.is_none()).count();
    Ok(Json(json!({"user_hash": user_hash, "devices": active})))
}

fn mode_name(m: PrivacyMode) -> &'static str {
    match m {
        PrivacyMode::Everyone => "everyone",
        PrivacyMode::AllowList => "allow_list",
        PrivacyMode::DenyList => "deny_list",
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivacyUpdate {
    mode: Option<String>,
    allow: Option<Vec<String>>,
    deny: Option<Vec<String>>,
}

/// Most entries in a privacy list.
const MAX_LIST: usize = 10_000;

pub async fn privacy(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(user_hash): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let user_hash = input::user_hash(&user_hash)?;
    let req: PrivacyUpdate = input::json(body, 1024 * 1024)?;
    let caller = s
        .authenticate(
            credential(&headers, None)?,
            Action::RegisterUser,
            &user_hash,
        )
        .await?;
    caller.must_be(&user_hash)?;
    let mode = match req.mode.as_deref() {
        None => None,
        Some("everyone") => Some(PrivacyMode::Everyone),
        Some("allow_list") => Some(PrivacyMode::AllowList),
        Some("deny_list") => Some(PrivacyMode::DenyList),
        Some(_) => {
            return Err(ApiError::bad_request(
                "mode must be everyone, allow_list or deny_list",
            ));
        }
    };
    let check = |list: Option<Vec<String>>| -> ApiResult<Option<Vec<String>>> {
        match list {
            Some(l) if l.len() > MAX_LIST => Err(ApiError::bad_request(format!(
                "a list holds at most {MAX_LIST} users"
            ))),
            Some(l) => l
                .iter()
                .map(|h| input::user_hash(h))
                .collect::<ApiResult<Vec<_>>>()
                .map(Some),
            None => Ok(None),
        }
    };
    let allow = check(req.allow)?;
    let deny = check(req.deny)?;
    let storage = s.plugins.storage.clone();
    let uh = user_hash.clone();
    let (mode, allow, deny) = blocking(move || {
        if let Some(m) = mode {
            storage.set_privacy(&uh, m)?;
        }
        if let Some(l) = allow {
            storage.set_list(&uh, ListKind::Allow, &l)?;
        }
        if let Some(l) = deny {
            storage.set_list(&uh, ListKind::Deny, &l)?;
        }
        let user = storage
            .get_user(&uh)?
            .ok_or_else(|| conclave_plugin_api::PluginError::not_found("no such user"))?;
        Ok((
            user.privacy,
            storage.get_list(&uh, ListKind::Allow)?,
            storage.get_list(&uh, ListKind::Deny)?,
        ))
    })
    .await?;
    Ok(Json(
        json!({"mode": mode_name(mode), "allow": allow, "deny": deny}),
    ))
}
