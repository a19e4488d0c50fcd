//! Containers: post to recipient devices, fetch pending, acknowledge.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use conclave_plugin_api::PluginError;
use conclave_plugin_api::auth::Action;
use conclave_plugin_api::notify::EventKind;
use conclave_plugin_api::storage::ContainerRecord;
use conclave_wire::b64;
use conclave_wire::container::Container;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::control::auth::credential;
use crate::control::error::{ApiError, ApiResult};
use crate::control::input;
use crate::control::state::{SharedState, blocking, now_ms};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Post {
    container: String,
}

pub async fn post(
    State(s): State<SharedState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let max = s.settings.max_container_bytes;
    // Base64 grows by 4/3, plus the JSON envelope.
    let req: Post = input::json(body, max / 3 * 4 + 1024)?;
    let caller = s
        .authenticate(credential(&headers, None)?, Action::SendContainer, "")
        .await?;
    let sender_device = caller.device()?.to_string();
    let bytes = input::b64(&req.container, None, "container")?;
    if bytes.len() > max {
        return Err(ApiError::too_large(max));
    }
    let container = Container::parse(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_container",
            format!("container: {e}"),
        )
    })?;
    if hex::encode(container.sender.device_id) != sender_device {
        return Err(ApiError::forbidden(
            "the container's sender certificate is not the caller's device",
        ));
    }
    let recipients: Vec<String> = container
        .recipients
        .iter()
        .map(|r| hex::encode(r.device_id))
        .collect();
    let now = now_ms();
    let ttl_ms = u64::from(container.ttl_seconds) * 1000;
    let expires_ms = container
        .created_ms
        .saturating_add(ttl_ms)
        .min(now.saturating_add(s.settings.retention_ms));
    if expires_ms <= now {
        return Err(ApiError::bad_request("the container has already expired"));
    }
    let container_id = hex::encode(container.container_id);
    let cert_bytes = container.sender.to_bytes();

    // Check the sender and every recipient, then store.
    let storage = s.plugins.storage.clone();
    let (sd, rs) = (sender_device.clone(), recipients.clone());
    let owners = blocking(move || {
        let me = storage
            .get_device(&sd)?
            .ok_or_else(|| PluginError::denied("the caller's device is not registered"))?;
        if me.revoked_ms.is_some() || me.certificate.as_slice() != cert_bytes.as_slice() {
            return Err(PluginError::denied(
                "the container's sender certificate is not the registered one",
            ));
        }
        let mut owners = Vec::with_capacity(rs.len());
        for r in &rs {
            let d = storage
                .get_device(r)?
                .filter(|d| d.revoked_ms.is_none())
                .ok_or_else(|| PluginError::not_found(format!("unknown recipient device {r}")))?;
            owners.push(d.user_hash.to_string());
        }
        Ok(owners)
    })
    .await?;
    let mut distinct = owners.clone();
    distinct.sort();
    distinct.dedup();
    for owner in &distinct {
        s.check_reach(&caller, owner).await?;
    }
    let record = ContainerRecord {
        container_id: container_id.clone().into(),
        sender_device: sender_device.clone().into(),
        recipients: recipients.iter().map(|r| r.as_str().into()).collect(),
        bytes: bytes.clone().into(),
        created_ms: container.created_ms,
        expires_ms,
    };
    let storage = s.plugins.storage.clone();
    blocking(move || storage.store_container(&record)).await?;
    s.metrics.container_stored();

    let push = json!({
        "type": "container",
        "container_id": container_id,
        "sender_device": sender_device,
        "container": b64::encode(&bytes),
        "created_ms": container.created_ms,
        "expires_ms": expires_ms,
    })
    .to_string();
    for (device, owner) in recipients.iter().zip(&owners) {
        if !s.push.send(device, &push) {
            s.notify(EventKind::MessageWaiting, owner, Some(device), None, 1);
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({"container_id": container_id, "expires_ms": expires_ms})),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FetchQuery {
    limit: Option<u32>,
}

pub async fn fetch(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<FetchQuery>,
) -> ApiResult<Json<Value>> {
    let caller = s
        .authenticate(credential(&headers, None)?, Action::FetchMessages, "")
        .await?;
    let device = caller.device()?.to_string();
    let limit = q.limit.unwrap_or(50).clamp(1, 200);
    let storage = s.plugins.storage.clone();
    let pending = blocking(move || storage.fetch_pending(&device, now_ms(), limit)).await?;
    let messages: Vec<Value> = pending
        .iter()
        .map(|m| {
            json!({
                "container_id": m.container_id.as_str(),
                "sender_device": m.sender_device.as_str(),
                "container": b64::encode(&m.bytes),
                "created_ms": m.created_ms,
                "expires_ms": m.expires_ms,
            })
        })
        .collect();
    Ok(Json(json!({ "messages": messages })))
}

pub async fn acknowledge(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(container_id): Path<String>,
) -> ApiResult<StatusCode> {
    let container_id = input::container_id(&container_id)?;
    let caller = s
        .authenticate(credential(&headers, None)?, Action::FetchMessages, "")
        .await?;
    let device = caller.device()?.to_string();
    let storage = s.plugins.storage.clone();
    if blocking(move || storage.acknowledge(&device, &container_id)).await? {
        s.metrics.container_acknowledged();
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("no such message for this device"))
    }
}
