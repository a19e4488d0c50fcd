//! Conclave notification plugin: signed webhooks with retries.
//!
//! # Configuration
//!
//! A JSON object; unknown fields are rejected.
//!
//! | field | default | meaning |
//! |---|---|---|
//! | `url` | (required) | `http://` or `https://` URL to POST events to |
//! | `secret` | (required) | HMAC key shared with the receiver (at least 16 bytes) |
//! | `timeout_ms` | 2000 | one attempt, connect to response |
//! | `max_retries` | 5 | attempts after the first |
//! | `queue_capacity` | 1000 | events waiting to be sent; more are dropped |
//! | `backoff_initial_ms` | 100 | delay before the first retry |
//! | `backoff_max_ms` | 10000 | longest delay between attempts |
//!
//! # Delivery
//!
//! `deliver` renders the event and puts it in a bounded queue, then returns at once; when
//! the queue is full the event is refused with
//! [`ErrorKind::Unavailable`](conclave_plugin_api::ErrorKind::Unavailable) (`queue full`)
//! and counted in `dropped`. One worker thread sends the events in order. A 2xx answer
//! counts as `delivered`. Connection errors, timeouts, 408, 429 and 5xx are retried up to
//! `max_retries` times, after `backoff_initial_ms · 2^n` capped at `backoff_max_ms`, with
//! equal jitter (a random point in the delay's upper half), or after the `Retry-After`
//! seconds the receiver asks for (also capped); then the event counts as `failed`. Other
//! answers (4xx, and 3xx: redirects are never followed) fail at once. `queued` counts the
//! waiting events and the one being sent. `flush(timeout_ms)` waits for all of them.
//! Dropping the plugin stops the worker (after at most the attempt in progress) and
//! abandons what is still queued: hosts flush first. No proxy is used.
//!
//! # The request
//!
//! ```text
//! POST <url>
//! Content-Type: application/json
//! X-Conclave-Timestamp: 1700000000123
//! X-Conclave-Signature: v1=5d41402abc4b2a76b9719d911017c592...
//!
//! {"id":"…","kind":"message_waiting","user_hash":"…","device_id":"…","meeting_id":null,"count":3,"at_ms":1700000000000}
//! ```
//!
//! `kind` is one of `message_waiting`, `meeting_invite`, `meeting_ended`,
//! `prekey_pool_low`, `device_registered`, `device_revoked`; absent ids are `null`. Events
//! carry identifiers and counts only, never message content or keys.
//!
//! # Verifying the signature (receivers)
//!
//! `X-Conclave-Timestamp` is the sending time in milliseconds since the Unix epoch, and
//! `X-Conclave-Signature` is `v1=` followed by the lower-case hex of
//!
//! ```text
//! HMAC-SHA256(key = secret, message = <X-Conclave-Timestamp value> + "." + <raw body bytes>)
//! ```
//!
//! A receiver recomputes it over the body bytes exactly as received (before any JSON
//! parsing), compares in constant time, refuses timestamps more than a few minutes from its
//! own clock (replays), and drops duplicate `id`s: every retry is signed anew with a new
//! timestamp, and an event whose 2xx answer was lost is sent again. The header may list
//! several comma-separated `v1=` values in future versions (secret rotation): accept the
//! request when one of them matches. [`verify`] does all of this but the clock check, in
//! Rust; in Python:
//!
//! ```text
//! expected = "v1=" + hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
//! ok = any(hmac.compare_digest(expected, s.strip()) for s in sig_header.split(","))
//! ```
//!
//! # Why `ureq`
//!
//! A plugin has no async runtime, and the worker sends one request at a time: a small,
//! well-maintained blocking client is the right size. `ureq` with rustls (on ring) gives
//! http and https without OpenSSL or aws-lc's long C build, with per-attempt timeouts, no
//! redirects and no proxy configured here.

mod backoff;
mod body;
mod config;
mod queue;
mod signature;
mod worker;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use conclave_plugin_api::notify::{Event, Notifier, NotifierStats};
use conclave_plugin_api::{HostContext, PluginError, PluginMod, PluginModRef};

pub use signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify};

use config::Config;
use queue::{Job, Shared};

/// The webhook notification plugin.
pub struct WebhookNotifier {
    shared: Arc<Shared>,
    queue_capacity: usize,
    worker: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookNotifier")
            .field("stats", &self.shared.stats())
            .finish_non_exhaustive()
    }
}

impl Notifier for WebhookNotifier {
    const NAME: &'static str = "webhook";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn from_config(config: &str, _host: &HostContext) -> Result<Self, PluginError> {
        let config = Config::parse(config)?;
        let shared = Arc::new(Shared::default());
        let sender = worker::Sender::new(&config);
        let worker_shared = Arc::clone(&shared);
        let worker = std::thread::Builder::new()
            .name("conclave-webhook".into())
            .spawn(move || worker::run(worker_shared, sender))
            .map_err(|e| PluginError::unavailable(format!("cannot start the worker: {e}")))?;
        Ok(WebhookNotifier {
            shared,
            queue_capacity: config.queue_capacity,
            worker: Some(worker),
        })
    }

    fn deliver(&self, event: &Event) -> Result<(), PluginError> {
        let job = Job {
            body: body::render(event),
        };
        self.shared.push(job, self.queue_capacity)
    }

    fn stats(&self) -> NotifierStats {
        self.shared.stats()
    }

    fn flush(&self, timeout_ms: u64) -> Result<(), PluginError> {
        self.shared.wait_drained(Duration::from_millis(timeout_ms))
    }
}

impl Drop for WebhookNotifier {
    fn drop(&mut self) {
        self.shared.shutdown();
        if let Some(worker) = self.worker.take() {
            // The worker catches its own panics; a join error leaves nothing to clean.
            let _ = worker.join();
        }
    }
}

/// The plugin's root module, for linking it in or exporting it from the cdylib.
pub fn plugin_module() -> PluginModRef {
    PluginMod::notifier::<WebhookNotifier>()
}
