//! The worker thread: sends queued events one at a time, with retries.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ureq::Agent;
use ureq::http::HeaderMap;
use zeroize::Zeroizing;

use crate::backoff::Backoff;
use crate::config::Config;
use crate::queue::{Job, Outcome, Shared};
use crate::signature::{self, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// What one attempt says about the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Attempt {
    Delivered,
    /// Worth retrying; the receiver may have asked for a delay (`Retry-After`).
    Retry(Option<Duration>),
    /// The receiver refused the event for good.
    Final,
}

/// What an HTTP status means: 2xx delivered; 408, 429 and 5xx retried; anything else
/// (other 4xx, and 3xx since redirects are not followed) final.
pub(crate) fn classify(status: u16, retry_after: Option<Duration>) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered,
        408 | 429 | 500..=599 => Attempt::Retry(retry_after),
        _ => Attempt::Final,
    }
}

/// `Retry-After` in whole seconds (the HTTP-date form is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Sends events to one URL.
pub(crate) struct Sender {
    agent: Agent,
    url: String,
    secret: Zeroizing<Vec<u8>>,
    max_retries: u32,
    backoff: Backoff,
}

impl Sender {
    pub(crate) fn new(config: &Config) -> Sender {
        let agent_config = Agent::config_builder()
            .timeout_global(Some(config.timeout))
            // Statuses are classified here, not turned into errors.
            .http_status_as_error(false)
            // A redirect would carry the signed event elsewhere: never follow one.
            .max_redirects(0)
            // Deterministic routing: no proxy from the environment.
            .proxy(None)
            .user_agent(concat!(
                "conclave-notify-webhook/",
                env!("CARGO_PKG_VERSION")
            ))
            .build();
        Sender {
            agent: Agent::new_with_config(agent_config),
            url: config.url.clone(),
            secret: config.secret.clone(),
            max_retries: config.max_retries,
            backoff: Backoff::new(config.backoff_initial, config.backoff_max),
        }
    }

    /// One POST, signed with the current time.
    fn attempt(&self, body: &[u8]) -> Attempt {
        let timestamp = now_ms();
        let signature = signature::sign(&self.secret, timestamp, body);
        let response = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature)
            .send(body);
        match response {
            Ok(response) => classify(response.status().as_u16(), retry_after(response.headers())),
            // Connection refused or reset, timeouts, DNS, TLS: all worth another try.
            Err(_) => Attempt::Retry(None),
        }
    }

    /// Sends `job` until delivered, refused for good, out of retries or shut down.
    fn deliver(&mut self, shared: &Shared, job: &Job) -> Outcome {
        let mut retry = 0;
        loop {
            match self.attempt(&job.body) {
                Attempt::Delivered => return Outcome::Delivered,
                Attempt::Final => return Outcome::Failed,
                Attempt::Retry(asked) => {
                    if retry >= self.max_retries {
                        return Outcome::Failed;
                    }
                    let delay = self.backoff.delay(retry, asked);
                    retry += 1;
                    if !shared.sleep(delay) {
                        return Outcome::Failed;
                    }
                }
            }
        }
    }
}

/// The worker thread's body: runs until shut down.
pub(crate) fn run(shared: Arc<Shared>, mut sender: Sender) {
    while let Some(job) = shared.next_job() {
        // A bug must not kill the worker (the queue would never drain again).
        let outcome = catch_unwind(AssertUnwindSafe(|| sender.deliver(&shared, &job)))
            .unwrap_or(Outcome::Failed);
        shared.finish(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(classify(200, None), Attempt::Delivered);
        assert_eq!(classify(204, None), Attempt::Delivered);
        for retried in [408, 429, 500, 502, 503, 599] {
            assert_eq!(classify(retried, None), Attempt::Retry(None), "{retried}");
        }
        for fatal in [301, 302, 400, 401, 403, 404, 410, 422] {
            assert_eq!(classify(fatal, None), Attempt::Final, "{fatal}");
        }
        let wait = Some(Duration::from_secs(3));
        assert_eq!(classify(503, wait), Attempt::Retry(wait));
    }

    #[test]
    fn retry_after_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert("retry-after", " 7 ".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
