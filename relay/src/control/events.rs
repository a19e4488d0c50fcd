//! Lifecycle events to the notification plugins, off the request path, with retries.

use std::time::Duration;

use conclave_plugin_api::ErrorKind;
use conclave_plugin_api::notify::{Event, EventKind};

use super::state::{AppState, now_ms};

/// How often an event is offered again to a plugin that answered `Unavailable`.
const RETRIES: u32 = 3;

/// A fresh event id: 16 random bytes in hex.
fn event_id() -> String {
    let mut b = [0u8; 16];
    // An all-zero id on RNG failure only weakens receivers' duplicate detection.
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

impl AppState {
    /// Sends an event to every notification plugin in the background.
    pub fn notify(
        &self,
        kind: EventKind,
        user_hash: &str,
        device_id: Option<&str>,
        meeting_id: Option<&str>,
        count: u64,
    ) {
        let event = Event {
            id: event_id().into(),
            kind,
            user_hash: user_hash.into(),
            device_id: device_id.map(Into::into).into(),
            meeting_id: meeting_id.map(Into::into).into(),
            count,
            at_ms: now_ms(),
        };
        for notifier in &self.plugins.notifiers {
            let notifier = notifier.clone();
            let event = event.clone();
            tokio::spawn(async move {
                for attempt in 0..=RETRIES {
                    let (n, e) = (notifier.clone(), event.clone());
                    let result = tokio::task::spawn_blocking(move || n.deliver(&e)).await;
                    match result {
                        Ok(Ok(())) => return,
                        Ok(Err(err)) if err.kind == ErrorKind::Unavailable && attempt < RETRIES => {
                            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                        }
                        Ok(Err(err)) => {
                            tracing::warn!(plugin = %notifier.info().name, kind = kind.as_str(), error = %err, "notification not delivered");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            });
        }
    }
}
