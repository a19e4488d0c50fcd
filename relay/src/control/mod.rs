//! The control plane: the `/v1` HTTP API, the push WebSocket, health and metrics.
//! docs/API.md is its specification.

mod auth;
pub mod error;
mod events;
mod input;
pub mod metrics;
mod routes;
mod secrets;
pub mod state;
mod verify;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};

pub use secrets::Secrets;
use state::{AppState, SharedState, blocking, now_ms};

/// The largest request body of any endpoint (a container of the maximum size, in base64).
const MAX_BODY: usize = 2 * 1024 * 1024;

/// The control plane's routes.
pub fn router(state: SharedState, web_root: Option<std::path::PathBuf>) -> Router {
    use routes::*;
    let api = Router::new()
        .route("/v1/info", get(system::info))
        .route("/v1/clock", get(system::clock))
        .route("/v1/users", post(users::create))
        .route("/v1/users/{user_hash}", get(users::get))
        .route("/v1/users/{user_hash}/privacy", put(users::privacy))
        .route(
            "/v1/users/{user_hash}/devices",
            post(devices::register).get(devices::list),
        )
        .route("/v1/users/{user_hash}/bundle", get(devices::bundle))
        .route("/v1/devices/{device_id}", delete(devices::revoke))
        .route(
            "/v1/devices/{device_id}/prekeys",
            post(devices::upload_prekeys).get(devices::pool_size),
        )
        .route("/v1/messages", post(messages::post).get(messages::fetch))
        .route("/v1/messages/{container_id}", delete(messages::acknowledge))
        .route("/v1/meetings", post(meetings::create))
        .route("/v1/meetings/{meeting_id}", get(meetings::get))
        .route(
            "/v1/meetings/{meeting_id}/members",
            post(meetings::set_member),
        )
        .route("/v1/meetings/{meeting_id}/join", post(meetings::join))
        .route("/v1/meetings/{meeting_id}/end", post(meetings::end))
        .route("/v1/meetings/{meeting_id}/webrtc", post(webrtc::offer))
        .route(
            "/v1/meetings/{meeting_id}/webrtc/{session_id}",
            delete(webrtc::close),
        )
        .route("/v1/push", get(push::connect))
        .route("/healthz", get(system::health))
        .route("/readyz", get(system::ready))
        .route("/metrics", get(system::metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state);
    let api = api.fallback(|| async { error::ApiError::not_found("no such endpoint") });
    match web_root {
        Some(root) => web_client(api, &root),
        None => api,
    }
}

/// The browser client's files: `index.html` at `/` and the `app/` and `src/` trees the
/// page loads. Nothing else under the web root (`node_modules/`, `test/`, `package.json` of
/// a checkout) is served; unknown paths stay JSON errors.
///
/// Every file goes out with a strict content security policy: the page runs only its own
/// scripts and workers and talks only to this relay, so injected markup can neither run
/// code next to the keys nor send anything elsewhere.
fn web_client(api: Router, root: &std::path::Path) -> Router {
    use tower_http::services::{ServeDir, ServeFile};
    let index = ServeFile::new(root.join("index.html"));
    let tree = |dir: &str| {
        ServeDir::new(root.join(dir))
            .append_index_html_on_directories(false)
            .fallback(axum::routing::any(|| async {
                error::ApiError::not_found("no such file")
            }))
    };
    let web = Router::new()
        .route_service("/", index.clone())
        .route_service("/index.html", index)
        .nest_service("/app", tree("app"))
        .nest_service("/src", tree("src"))
        .layer(axum::middleware::map_response(web_headers));
    api.merge(web)
}

/// The browser client's content security policy.
pub const WEB_CSP: &str = "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

async fn web_headers(mut resp: axum::response::Response) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(WEB_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// Builds the shared state.
pub fn state(
    plugins: crate::plugins::Plugins,
    settings: state::Settings,
    media: Arc<crate::media::native::MediaPlane>,
) -> Result<SharedState, String> {
    Ok(Arc::new(AppState {
        plugins,
        settings,
        push: Default::default(),
        limiter: Default::default(),
        metrics: metrics::Metrics::new(Some(media.stats()))?,
        media,
    }))
}

/// Deletes expired containers every `every`, for as long as the process runs.
pub fn spawn_expiry(state: SharedState, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let storage = state.plugins.storage.clone();
            match blocking(move || storage.expire(now_ms())).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "expired containers deleted"),
                Err(e) => tracing::warn!(error = %e.message, "expiry failed"),
            }
        }
    });
}
