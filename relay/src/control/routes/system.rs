//! Discovery, the master clock, health, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use conclave_wire::b64;
use serde_json::{Value, json};

use crate::control::error::ApiResult;
use crate::control::state::{SharedState, blocking, now_ms};

pub async fn info(State(s): State<SharedState>) -> Json<Value> {
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "username_salt": b64::encode(&s.settings.username_salt),
        "retention_s": s.settings.retention_ms / 1000,
        "max_container_bytes": s.settings.max_container_bytes,
    }))
}

pub async fn clock() -> Json<Value> {
    Json(json!({ "now_ms": now_ms() }))
}

pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

pub async fn ready(State(s): State<SharedState>) -> (StatusCode, Json<Value>) {
    let storage = s.plugins.storage.clone();
    match blocking(move || storage.health()).await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "storage unavailable"})),
        ),
    }
}

pub async fn metrics(State(s): State<SharedState>) -> ApiResult<impl IntoResponse> {
    let storage = s.plugins.storage.clone();
    let containers = blocking(move || storage.container_count())
        .await
        .unwrap_or(0);
    let text = s.metrics.render(containers, s.push.connected() as u64);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text))
}
