//! [`RelayClient`]: one typed method per endpoint of docs/API.md over a shared keep-alive
//! HTTP connection pool. It does no cryptography: bundles it returns are unverified and
//! containers are opaque; [`super::Session`] adds the protocol on top.

use std::time::Duration;

use conclave_wire::b64;
use conclave_wire::bundle::SignedPrekey;
use reqwest::header::{AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::push::PushStream;
use super::types::*;
use super::{ApiError, SdkError, SdkResult};

/// How long one request may take before it fails.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest error body read from the relay.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A client of one relay's control API, acting with one bearer credential. Cheap to
/// clone: clones share the connection pool.
#[derive(Clone)]
pub struct RelayClient {
    base: Url,
    http: reqwest::Client,
    bearer: Option<String>,
}

impl std::fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// Options of [`RelayClient::with_options`].
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Per-request timeout (default [`DEFAULT_TIMEOUT`]).
    pub timeout: Option<Duration>,
    /// An extra trusted root certificate (PEM), e.g. a relay's self-signed certificate.
    pub root_certificate_pem: Option<Vec<u8>>,
}

impl RelayClient {
    /// A client for the relay at `base` (`http://…` or `https://…`), without credential.
    pub fn new(base: &str) -> SdkResult<Self> {
        Self::with_options(base, ClientOptions::default())
    }

    /// A client with explicit options.
    pub fn with_options(base: &str, options: ClientOptions) -> SdkResult<Self> {
        let mut base =
            Url::parse(base).map_err(|e| SdkError::Invalid(format!("relay URL {base:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
            return Err(SdkError::Invalid(format!(
                "relay URL {base}: expected http://host:port or https://host:port"
            )));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let mut builder = reqwest::Client::builder()
            .timeout(options.timeout.unwrap_or(DEFAULT_TIMEOUT))
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true);
        if let Some(pem) = &options.root_certificate_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| SdkError::Invalid(format!("root certificate: {e}")))?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder.build().map_err(SdkError::from)?;
        Ok(RelayClient {
            base,
            http,
            bearer: None,
        })
    }

    /// The same client (sharing its connections) acting with another credential.
    pub fn with_bearer(&self, bearer: impl Into<String>) -> Self {
        RelayClient {
            bearer: Some(bearer.into()),
            ..self.clone()
        }
    }

    /// The relay's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The underlying HTTP client (for tools and tests that send raw requests).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The absolute URL of `path` (relative, without a leading `/`).
    pub fn url(&self, path: &str) -> SdkResult<Url> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| SdkError::Invalid(format!("{path}: {e}")))
    }

    fn request(&self, method: Method, path: &str) -> SdkResult<RequestBuilder> {
        let mut req = self.http.request(method, self.url(path)?);
        if let Some(b) = &self.bearer {
            req = req.header(AUTHORIZATION, format!("Bearer {b}"));
        }
        Ok(req)
    }

    async fn send(req: RequestBuilder) -> SdkResult<Response> {
        let resp = req.send().await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(error_from(resp).await.into())
        }
    }

    async fn json<T: DeserializeOwned>(req: RequestBuilder) -> SdkResult<T> {
        let resp = Self::send(req).await?;
        let bytes = resp.bytes().await?;
        serde_json::from_slice(&bytes).map_err(|e| SdkError::BadResponse(e.to_string()))
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> SdkResult<T> {
        Self::json(self.request(Method::GET, path)?).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> SdkResult<T> {
        Self::json(self.request(Method::POST, path)?.json(body)).await
    }

    async fn post_empty<B: Serialize>(&self, path: &str, body: &B) -> SdkResult<()> {
        Self::send(self.request(Method::POST, path)?.json(body))
            .await
            .map(drop)
    }

    // --- Discovery, clock, health -------------------------------------------------------

    /// `GET /v1/info`: version, username salt, retention, container size limit.
    pub async fn info(&self) -> SdkResult<Info> {
        self.get("v1/info").await
    }

    /// `GET /v1/clock`: the master clock.
    pub async fn clock(&self) -> SdkResult<Clock> {
        self.get("v1/clock").await
    }

    /// `GET /healthz`: succeeds while the relay process runs.
    pub async fn health(&self) -> SdkResult<()> {
        Self::send(self.request(Method::GET, "healthz")?)
            .await
            .map(drop)
    }

    /// `GET /readyz`: succeeds when the relay's storage answers.
    pub async fn ready(&self) -> SdkResult<()> {
        Self::send(self.request(Method::GET, "readyz")?)
            .await
            .map(drop)
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> SdkResult<String> {
        let resp = Self::send(self.request(Method::GET, "metrics")?).await?;
        Ok(resp.text().await?)
    }

    // --- Users --------------------------------------------------------------------------

    /// `POST /v1/users`: registers the caller's user hash.
    pub async fn create_user(&self, user_hash: &str) -> SdkResult<UserCreated> {
        self.post(
            "v1/users",
            &NewUser {
                user_hash: user_hash.to_string(),
            },
        )
        .await
    }

    /// `GET /v1/users/{user_hash}`.
    pub async fn get_user(&self, user_hash: &str) -> SdkResult<UserInfo> {
        self.get(&format!("v1/users/{}", seg(user_hash)?)).await
    }

    /// `PUT /v1/users/{user_hash}/privacy`.
    pub async fn set_privacy(
        &self,
        user_hash: &str,
        update: &PrivacyUpdate,
    ) -> SdkResult<PrivacySettings> {
        let path = format!("v1/users/{}/privacy", seg(user_hash)?);
        Self::json(self.request(Method::PUT, &path)?.json(update)).await
    }

    // --- Devices and prekeys -------------------------------------------------------------

    /// `POST /v1/users/{user_hash}/devices` with the encoded certificate.
    pub async fn register_device(
        &self,
        user_hash: &str,
        certificate: &[u8],
    ) -> SdkResult<DeviceCreated> {
        let path = format!("v1/users/{}/devices", seg(user_hash)?);
        self.post(
            &path,
            &NewDevice {
                certificate: b64::encode(certificate),
            },
        )
        .await
    }

    /// `GET /v1/users/{user_hash}/devices` (certificates unverified).
    pub async fn list_devices(&self, user_hash: &str) -> SdkResult<DeviceList> {
        self.get(&format!("v1/users/{}/devices", seg(user_hash)?))
            .await
    }

    /// `DELETE /v1/devices/{device_id}`: revokes one of the caller's devices.
    pub async fn revoke_device(&self, device_id: &str) -> SdkResult<()> {
        let path = format!("v1/devices/{}", seg(device_id)?);
        Self::send(self.request(Method::DELETE, &path)?)
            .await
            .map(drop)
    }

    /// `POST /v1/devices/{device_id}/prekeys` (at most 1000 per call).
    pub async fn upload_prekeys(
        &self,
        device_id: &str,
        prekeys: &[SignedPrekey],
    ) -> SdkResult<PoolSize> {
        let path = format!("v1/devices/{}/prekeys", seg(device_id)?);
        self.post(
            &path,
            &PrekeyUpload {
                prekeys: prekeys.to_vec(),
            },
        )
        .await
    }

    /// `GET /v1/devices/{device_id}/prekeys`: the pool size.
    pub async fn pool_size(&self, device_id: &str) -> SdkResult<PoolSize> {
        self.get(&format!("v1/devices/{}/prekeys", seg(device_id)?))
            .await
    }

    /// `GET /v1/users/{user_hash}/bundle`: takes one prekey of every device of the user.
    /// The answer is **unverified**; use [`super::Session::fetch_bundles`] to get verified
    /// bundles.
    pub async fn fetch_bundle(&self, user_hash: &str) -> SdkResult<UserBundleJson> {
        self.get(&format!("v1/users/{}/bundle", seg(user_hash)?))
            .await
    }

    // --- Messages -----------------------------------------------------------------------

    /// `POST /v1/messages` with an encoded container.
    pub async fn post_container(&self, container: &[u8]) -> SdkResult<Posted> {
        self.post(
            "v1/messages",
            &PostContainer {
                container: b64::encode(container),
            },
        )
        .await
    }

    /// `GET /v1/messages?limit=…`: pending containers of the caller's device, oldest first.
    pub async fn fetch_messages(&self, limit: u32) -> SdkResult<Messages> {
        self.get(&format!("v1/messages?limit={limit}")).await
    }

    /// `DELETE /v1/messages/{container_id}`: acknowledges (deletes) a delivery.
    pub async fn acknowledge(&self, container_id: &str) -> SdkResult<()> {
        let path = format!("v1/messages/{}", seg(container_id)?);
        Self::send(self.request(Method::DELETE, &path)?)
            .await
            .map(drop)
    }

    // --- Meetings -----------------------------------------------------------------------

    /// `POST /v1/meetings`: the caller's device becomes the initiator.
    pub async fn create_meeting(&self, meeting_id: &str) -> SdkResult<()> {
        self.post_empty(
            "v1/meetings",
            &NewMeeting {
                meeting_id: meeting_id.to_string(),
            },
        )
        .await
    }

    /// `GET /v1/meetings/{meeting_id}`.
    pub async fn get_meeting(&self, meeting_id: &str) -> SdkResult<Meeting> {
        self.get(&format!("v1/meetings/{}", seg(meeting_id)?)).await
    }

    /// `POST /v1/meetings/{meeting_id}/members`.
    pub async fn set_member(
        &self,
        meeting_id: &str,
        device_id: &str,
        state: MemberState,
    ) -> SdkResult<()> {
        let path = format!("v1/meetings/{}/members", seg(meeting_id)?);
        self.post_empty(
            &path,
            &MemberUpdate {
                device_id: device_id.to_string(),
                state,
            },
        )
        .await
    }

    /// `POST /v1/meetings/{meeting_id}/join`: records the caller's device as joined and
    /// returns a join ticket for the media plane.
    pub async fn join_meeting(&self, meeting_id: &str) -> SdkResult<JoinTicket> {
        let path = format!("v1/meetings/{}/join", seg(meeting_id)?);
        Self::json(self.request(Method::POST, &path)?).await
    }

    /// `POST /v1/meetings/{meeting_id}/end` (initiator only).
    pub async fn end_meeting(&self, meeting_id: &str) -> SdkResult<()> {
        let path = format!("v1/meetings/{}/end", seg(meeting_id)?);
        Self::send(self.request(Method::POST, &path)?)
            .await
            .map(drop)
    }

    // --- Push ---------------------------------------------------------------------------

    /// Opens the push WebSocket (`GET /v1/push`) with this client's credential.
    pub async fn connect_push(&self) -> SdkResult<PushStream> {
        let bearer = self
            .bearer
            .as_deref()
            .ok_or_else(|| SdkError::Invalid("the push channel needs a credential".into()))?;
        PushStream::connect(&self.base, bearer).await
    }
}

/// A path segment: identifiers are hex, so anything else is refused rather than escaped.
fn seg(s: &str) -> SdkResult<&str> {
    if !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        Ok(s)
    } else {
        Err(SdkError::Invalid(format!("{s:?} is not an identifier")))
    }
}

/// Turns an error answer into an [`ApiError`]; a body that is not the API's error JSON
/// still yields the status, with code `http_<status>`.
pub(crate) async fn error_from(resp: Response) -> ApiError {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = resp.bytes().await.unwrap_or_default();
    let body = &body[..body.len().min(MAX_ERROR_BODY)];
    parse_error(status, body, retry_after)
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorInner,
}

#[derive(serde::Deserialize)]
struct ErrorInner {
    code: String,
    message: String,
}

pub(crate) fn parse_error(
    status: StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> ApiError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => ApiError {
            status: status.as_u16(),
            code: b.error.code,
            message: b.error.message,
            retry_after,
        },
        Err(_) => ApiError {
            status: status.as_u16(),
            code: format!("http_{}", status.as_u16()),
            message: String::from_utf8_lossy(body)
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect(),
            retry_after,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_segments() {
        let c = RelayClient::new("http://127.0.0.1:8443").unwrap();
        assert_eq!(
            c.url("v1/info").unwrap().as_str(),
            "http://127.0.0.1:8443/v1/info"
        );
        let c = RelayClient::new("http://127.0.0.1:8443/base").unwrap();
        assert_eq!(
            c.url("/v1/info").unwrap().as_str(),
            "http://127.0.0.1:8443/base/v1/info"
        );
        for bad in ["ftp://x", "not a url", "http://"] {
            assert!(RelayClient::new(bad).is_err(), "{bad}");
        }
        assert!(seg("ab12").is_ok());
        for bad in ["", "../x", "a/b", "a?b"] {
            assert!(seg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_bodies() {
        let e = parse_error(
            StatusCode::TOO_MANY_REQUESTS,
            br#"{"error":{"code":"rate_limited","message":"slow down"}}"#,
            Some(Duration::from_secs(3)),
        );
        assert_eq!(
            (e.status, e.code.as_str(), e.message.as_str()),
            (429, "rate_limited", "slow down")
        );
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        let e = parse_error(StatusCode::BAD_GATEWAY, b"<html>\nbad</html>", None);
        assert_eq!(e.code, "http_502");
        assert!(!e.message.contains('\n'));
    }
}
