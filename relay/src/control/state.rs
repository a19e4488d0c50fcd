//! What every handler shares: the plugins, settings, the push hub, the rate limiter and the
//! media plane.

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use conclave_plugin_api::PluginError;
use dashmap::DashMap;
use tokio::sync::mpsc;

use super::error::{ApiError, ApiResult};
use crate::plugins::Plugins;

/// Settings of the control plane.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The deployment's username salt (clients hash usernames with it).
    pub username_salt: [u8; 32],
    /// Secret that derives media session keys in join tickets.
    pub ticket_secret: [u8; 32],
    /// Longest a container is kept.
    pub retention_ms: u64,
    /// Largest container accepted, in bytes.
    pub max_container_bytes: usize,
    /// A device whose prekey pool falls below this is told to upload more.
    pub prekey_low_water: u64,
    /// Bundle fetches per principal: burst and refill per second.
    pub bundle_burst: f64,
    pub bundle_per_second: f64,
    /// How long a join ticket's session is valid.
    pub ticket_ttl_ms: u64,
}

/// The relay's master clock: milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Connected devices and their push channels.
#[derive(Debug, Default)]
pub struct PushHub {
    senders: DashMap<String, Vec<(u64, mpsc::UnboundedSender<String>)>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl PushHub {
    /// Registers a connection of `device`; returns its id and the receiving end.
    pub fn connect(&self, device: &str) -> (u64, mpsc::UnboundedReceiver<String>) {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.senders
            .entry(device.to_string())
            .or_default()
            .push((id, tx));
        (id, rx)
    }

    pub fn disconnect(&self, device: &str, id: u64) {
        if let Some(mut list) = self.senders.get_mut(device) {
            list.retain(|(i, _)| *i != id);
        }
        self.senders.remove_if(device, |_, list| list.is_empty());
    }

    /// Sends a message to every connection of `device`; returns whether any took it.
    pub fn send(&self, device: &str, message: &str) -> bool {
        match self.senders.get(device) {
            Some(list) => {
                list.iter()
                    .filter(|(_, tx)| tx.send(message.to_string()).is_ok())
                    .count()
                    > 0
            }
            None => false,
        }
    }

    /// How many devices are connected.
    pub fn connected(&self) -> usize {
        self.senders.len()
    }
}

/// Token buckets per principal.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: DashMap<String, (f64, Instant)>,
}

impl RateLimiter {
    /// Takes one token for `key`, or says how many seconds until one is available.
    pub fn take(&self, key: &str, burst: f64, per_second: f64) -> Result<(), u64> {
        let now = Instant::now();
        let mut entry = self.buckets.entry(key.to_string()).or_insert((burst, now));
        let (tokens, last) = *entry;
        let refilled = (tokens + now.duration_since(last).as_secs_f64() * per_second).min(burst);
        if refilled >= 1.0 {
            *entry = (refilled - 1.0, now);
            Ok(())
        } else {
            *entry = (refilled, now);
            let wait = ((1.0 - refilled) / per_second).ceil().max(1.0);
            Err(wait as u64)
        }
    }
}

/// The shared state of the control plane.
#[derive(Debug)]
pub struct AppState {
    pub plugins: Plugins,
    pub settings: Settings,
    pub push: PushHub,
    pub limiter: RateLimiter,
    pub metrics: super::metrics::Metrics,
    /// The media plane's workers: join tickets and membership events go there.
    pub media: Arc<crate::media::native::MediaPlane>,
}

pub type SharedState = Arc<AppState>;

/// Runs a blocking plugin call on the blocking pool.
/// Runs `f` off the async runtime (a call that may block).
pub async fn blocking_plain<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("a blocking call was aborted"))
}

pub async fn blocking<T, F>(f: F) -> ApiResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, PluginError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("a plugin call was aborted"))?
        .map_err(ApiError::from)
}
