//! The push channel: the relay's WebSocket (`GET /v1/push`), device-bound, carrying
//! [`PushEvent`]s as JSON text frames.

use futures_util::{SinkExt, StreamExt};
use reqwest::Url;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::client::parse_error;
use super::types::PushEvent;
use super::{SdkError, SdkResult};

/// Largest push frame accepted (a maximal container in base64 plus its envelope).
const MAX_FRAME: usize = 4 * 1024 * 1024;

/// An open push WebSocket. Pings from the relay are answered while reading.
pub struct PushStream {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl std::fmt::Debug for PushStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PushStream")
    }
}

/// The `ws://` (or `wss://`) URL of the push endpoint of the relay at `base`.
pub fn push_url(base: &Url) -> SdkResult<Url> {
    let mut url = base
        .join("v1/push")
        .map_err(|e| SdkError::Invalid(e.to_string()))?;
    let scheme = if base.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    url.set_scheme(scheme)
        .map_err(|()| SdkError::Invalid(format!("cannot make a WebSocket URL of {base}")))?;
    Ok(url)
}

impl PushStream {
    /// Connects with `Authorization: Bearer <bearer>`. A refused upgrade yields the
    /// relay's [`super::ApiError`] (e.g. `401 unauthorized`).
    pub(crate) async fn connect(base: &Url, bearer: &str) -> SdkResult<Self> {
        let url = push_url(base)?;
        if url.scheme() == "wss" {
            return Err(SdkError::Push(
                "wss:// push is not supported by this build yet; use the relay over http:// on loopback".into(),
            ));
        }
        let mut req = url
            .as_str()
            .into_client_request()
            .map_err(|e| SdkError::Push(e.to_string()))?;
        let value = HeaderValue::from_str(&format!("Bearer {bearer}"))
            .map_err(|_| SdkError::Invalid("the credential is not a valid header value".into()))?;
        req.headers_mut().insert("authorization", value);
        let config = tungstenite::protocol::WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME))
            .max_frame_size(Some(MAX_FRAME));
        let (ws, _) = tokio_tungstenite::connect_async_with_config(req, Some(config), true)
            .await
            .map_err(|e| match e {
                tungstenite::Error::Http(resp) => {
                    let status = resp.status();
                    let body = resp.body().clone().unwrap_or_default();
                    SdkError::Api(parse_error(
                        reqwest::StatusCode::from_u16(status.as_u16())
                            .unwrap_or(reqwest::StatusCode::BAD_GATEWAY),
                        &body,
                        None,
                    ))
                }
                other => SdkError::Push(other.to_string()),
            })?;
        Ok(PushStream { ws })
    }

    /// The next event; `None` when the relay closed the channel. Frames that are not
    /// JSON events are an error; unknown event types come back as [`PushEvent::Unknown`].
    pub async fn next(&mut self) -> Option<SdkResult<PushEvent>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(text)) => {
                    return Some(PushEvent::parse(text.as_str()));
                }
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(e) => return Some(Err(SdkError::Push(e.to_string()))),
            }
        }
    }

    /// Closes the channel politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let _ = self.ws.flush().await;
    }
}
