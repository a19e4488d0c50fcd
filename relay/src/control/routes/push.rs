//! The push channel: a WebSocket per connected device.

use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use conclave_plugin_api::auth::Action;
use serde::Deserialize;

use crate::control::auth::credential;
use crate::control::error::{ApiError, ApiResult};
use crate::control::state::SharedState;

#[derive(Deserialize)]
pub struct PushQuery {
    token: Option<String>,
}

/// Idle connections get a ping this often.
const PING_EVERY: Duration = Duration::from_secs(25);

pub async fn connect(
    State(s): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<PushQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let ws = ws.map_err(|_| {
        ApiError::bad_request("this endpoint is a WebSocket: send an upgrade request")
    })?;
    let caller = s
        .authenticate(
            credential(&headers, q.token.as_deref())?,
            Action::FetchMessages,
            "",
        )
        .await?;
    let device = caller.device()?.to_string();
    Ok(ws.on_upgrade(move |socket| run(s, device, socket)))
}

async fn run(s: SharedState, device: String, mut socket: WebSocket) {
    let (id, mut rx) = s.push.connect(&device);
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    s.push.disconnect(&device, id);
}
