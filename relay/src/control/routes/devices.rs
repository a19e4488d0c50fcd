//! Devices, prekey pools and bundles.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use conclave_plugin_api::PluginError;
use conclave_plugin_api::auth::Action;
use conclave_plugin_api::notify::EventKind;
use conclave_plugin_api::storage::{DeviceRecord, PrekeyRecord};
use conclave_wire::b64;
use conclave_wire::bundle::{DeviceBundle, SignedPrekey};
use conclave_wire::container::DeviceCertificate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{PREKEY_BODY, SMALL_BODY};
use crate::control::auth::{Caller, credential};
use crate::control::error::{ApiError, ApiResult};
use crate::control::state::{AppState, SharedState, blocking, now_ms};
use crate::control::{input, verify};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDevice {
    certificate: String,
}

fn parse_certificate(bytes: &[u8]) -> Result<DeviceCertificate, PluginError> {
    DeviceCertificate::parse(bytes)
        .map_err(|e| PluginError::internal(format!("stored certificate is corrupt: {e}")))
}

pub async fn register(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(user_hash): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let user_hash = input::user_hash(&user_hash)?;
    let req: NewDevice = input::json(body, SMALL_BODY)?;
    let caller = s
        .authenticate(
            credential(&headers, None)?,
            Action::RegisterDevice,
            &user_hash,
        )
        .await?;
    caller.must_be(&user_hash)?;
    let bytes = input::b64(
        &req.certificate,
        Some(DeviceCertificate::LEN),
        "certificate",
    )?;
    let cert = DeviceCertificate::parse(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_certificate",
            format!("certificate: {e}"),
        )
    })?;
    if !verify::certificate(&cert) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_certificate",
            "the certificate's signature is invalid",
        ));
    }
    let device_id = hex::encode(cert.device_id);
    let storage = s.plugins.storage.clone();
    let (uh, did) = (user_hash.clone(), device_id.clone());
    blocking(move || {
        if storage.get_user(&uh)?.is_none() {
            return Err(PluginError::not_found("no such user"));
        }
        // Every device of a user carries the same user key.
        for d in storage.list_devices(&uh)? {
            if parse_certificate(&d.certificate)?.user_key != cert.user_key {
                return Err(PluginError::conflict(
                    "the certificate's user key differs from this user's other devices",
                ));
            }
        }
        storage.add_device(&DeviceRecord {
            user_hash: uh.into(),
            device_id: did.into(),
            certificate: bytes.into(),
            created_ms: now_ms(),
            revoked_ms: None.into(),
        })
    })
    .await?;
    s.notify(
        EventKind::DeviceRegistered,
        &user_hash,
        Some(&device_id),
        None,
        0,
    );
    Ok((StatusCode::CREATED, Json(json!({"device_id": device_id}))))
}

pub async fn list(
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
    let devices = blocking(move || storage.list_devices(&user_hash)).await?;
    let devices: Vec<Value> = devices
        .iter()
        .map(|d| {
            json!({
                "device_id": d.device_id.as_str(),
                "certificate": b64::encode(&d.certificate),
                "created_ms": d.created_ms,
                "revoked_ms": d.revoked_ms.into_option(),
            })
        })
        .collect();
    Ok(Json(json!({ "devices": devices })))
}

/// The device, if the caller owns it and it is active.
async fn owned_device(s: &AppState, caller: &Caller, device_id: &str) -> ApiResult<DeviceRecord> {
    let storage = s.plugins.storage.clone();
    let did = device_id.to_string();
    let device = blocking(move || storage.get_device(&did))
        .await?
        .ok_or_else(|| ApiError::not_found("no such device"))?;
    caller.must_be(device.user_hash.as_str())?;
    if device.revoked_ms.is_some() {
        return Err(ApiError::conflict("the device is revoked"));
    }
    Ok(device)
}

pub async fn revoke(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(device_id): Path<String>,
) -> ApiResult<StatusCode> {
    let device_id = input::device_id(&device_id)?;
    let caller = s
        .authenticate(credential(&headers, None)?, Action::RegisterDevice, "")
        .await?;
    let device = owned_device(&s, &caller, &device_id).await?;
    let storage = s.plugins.storage.clone();
    let did = device_id.clone();
    blocking(move || storage.revoke_device(&did, now_ms())).await?;
    s.notify(
        EventKind::DeviceRevoked,
        device.user_hash.as_str(),
        Some(&device_id),
        None,
        0,
    );
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Upload {
    prekeys: Vec<SignedPrekeyJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedPrekeyJson {
    id: u32,
    public_key: String,
    signature: String,
}

/// Most prekeys in one upload.
const MAX_UPLOAD: usize = 1000;

pub async fn upload_prekeys(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(device_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Value>> {
    let device_id = input::device_id(&device_id)?;
    let req: Upload = input::json(body, PREKEY_BODY)?;
    let caller = s
        .authenticate(credential(&headers, None)?, Action::UploadPrekeys, "")
        .await?;
    if req.prekeys.is_empty() || req.prekeys.len() > MAX_UPLOAD {
        return Err(ApiError::bad_request(format!(
            "upload 1 to {MAX_UPLOAD} prekeys"
        )));
    }
    let device = owned_device(&s, &caller, &device_id).await?;
    let cert = parse_certificate(&device.certificate).map_err(ApiError::from)?;
    let mut records = Vec::with_capacity(req.prekeys.len());
    for p in &req.prekeys {
        let public: [u8; 65] = input::b64(&p.public_key, Some(65), "public_key")?
            .try_into()
            .map_err(|_| ApiError::bad_request("public_key must be 65 bytes"))?;
        let signature: [u8; 64] = input::b64(&p.signature, Some(64), "signature")?
            .try_into()
            .map_err(|_| ApiError::bad_request("signature must be 64 bytes"))?;
        if !verify::prekey(&cert, p.id, &public, &signature) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_signature",
                format!("prekey {} has an invalid signature", p.id),
            ));
        }
        records.push(PrekeyRecord {
            id: p.id,
            public_key: public.to_vec().into(),
            signature: signature.to_vec().into(),
        });
    }
    let storage = s.plugins.storage.clone();
    let pool_size = blocking(move || storage.add_prekeys(&device_id, records)).await?;
    s.metrics.prekey_pool(pool_size);
    Ok(Json(json!({ "pool_size": pool_size })))
}

pub async fn pool_size(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(device_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let device_id = input::device_id(&device_id)?;
    let caller = s
        .authenticate(credential(&headers, None)?, Action::UploadPrekeys, "")
        .await?;
    owned_device(&s, &caller, &device_id).await?;
    let storage = s.plugins.storage.clone();
    let pool_size = blocking(move || storage.prekey_count(&device_id)).await?;
    Ok(Json(json!({ "pool_size": pool_size })))
}

pub async fn bundle(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Path(user_hash): Path<String>,
) -> ApiResult<Json<Value>> {
    let user_hash = input::user_hash(&user_hash)?;
    let caller = s
        .authenticate(credential(&headers, None)?, Action::FetchBundle, &user_hash)
        .await?;
    // Fetching a bundle consumes the target's one-time prekeys: limited per principal.
    s.limiter
        .take(
            &caller.subject,
            s.settings.bundle_burst,
            s.settings.bundle_per_second,
        )
        .map_err(ApiError::rate_limited)?;
    s.check_reach(&caller, &user_hash).await?;
    let storage = s.plugins.storage.clone();
    let uh = user_hash.clone();
    let taken = blocking(move || {
        let mut out = Vec::new();
        for d in storage.list_devices(&uh)? {
            if d.revoked_ms.is_some() {
                continue;
            }
            let prekey = storage.take_prekey(d.device_id.as_str())?;
            let left = storage.prekey_count(d.device_id.as_str())?;
            out.push((d, prekey, left));
        }
        Ok(out)
    })
    .await?;
    let mut devices = Vec::with_capacity(taken.len());
    for (d, prekey, left) in taken {
        let certificate = parse_certificate(&d.certificate).map_err(ApiError::from)?;
        let prekeys = match prekey {
            Some(p) => vec![SignedPrekey {
                id: p.id,
                public_key: p
                    .public_key
                    .as_slice()
                    .try_into()
                    .map_err(|_| ApiError::internal("stored prekey is corrupt"))?,
                signature: p
                    .signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| ApiError::internal("stored prekey is corrupt"))?,
            }],
            None => Vec::new(),
        };
        let json: Value = serde_json::from_str(
            &DeviceBundle {
                certificate,
                prekeys,
            }
            .to_json(),
        )
        .map_err(|_| ApiError::internal("bundle encoding failed"))?;
        devices.push(json);
        s.metrics.prekey_pool(left);
        if left < s.settings.prekey_low_water {
            let msg = json!({"type": "prekeys_low", "pool_size": left}).to_string();
            s.push.send(d.device_id.as_str(), &msg);
            s.notify(
                EventKind::PrekeyPoolLow,
                &user_hash,
                Some(d.device_id.as_str()),
                None,
                left,
            );
        }
    }
    Ok(Json(json!({"user_hash": user_hash, "devices": devices})))
}
