//! Conclave notification plugin: one structured JSON line per event.
//!
//! # Configuration
//!
//! `{"target": "stderr"}` (the default; an empty configuration means the same) or
//! `{"target": "file", "path": "/var/log/conclave/events.jsonl"}`. Unknown fields are
//! rejected. The file is opened for appending (and created) when the plugin starts.
//!
//! # Lines
//!
//! Each event becomes one line of JSON, written with a single `write` so that lines from
//! concurrent calls never interleave:
//!
//! ```json
//! {"ts_ms":1700000000123,"level":"info","msg":"conclave event","id":"…","kind":"message_waiting","user_hash":"…","device_id":"…","meeting_id":null,"count":3,"at_ms":1700000000000}
//! ```
//!
//! `ts_ms` is when the line was written (wall clock), `at_ms` when the event happened.
//! Events carry identifiers and counts only, never content or keys. Control characters in
//! fields are escaped by the JSON encoding, so a field cannot break a line.
//!
//! Delivery is synchronous: `deliver` fails only when the write fails
//! ([`ErrorKind::Unavailable`](conclave_plugin_api::ErrorKind::Unavailable), counted in
//! `failed`); nothing is ever queued.

mod config;
mod line;

use std::fs::File;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use conclave_plugin_api::notify::{Event, Notifier, NotifierStats};
use conclave_plugin_api::{HostContext, PluginError, PluginMod, PluginModRef};

use config::Target;

/// Where the lines go.
enum Sink {
    Stderr,
    File(Mutex<File>),
}

/// The log notification plugin.
pub struct LogNotifier {
    sink: Sink,
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl LogNotifier {
    fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        match &self.sink {
            Sink::Stderr => std::io::stderr().lock().write_all(line),
            Sink::File(file) => {
                // A poisoned lock only means another writer panicked: the file is fine.
                let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                file.write_all(line)
            }
        }
    }
}

impl Notifier for LogNotifier {
    const NAME: &'static str = "log";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn from_config(config: &str, _host: &HostContext) -> Result<Self, PluginError> {
        let sink = match config::parse(config)? {
            Target::Stderr => Sink::Stderr,
            Target::File(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| {
                        PluginError::invalid(format!(
                            "cannot open the log file {}: {e}",
                            path.display()
                        ))
                    })?;
                Sink::File(Mutex::new(file))
            }
        };
        Ok(LogNotifier {
            sink,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        })
    }

    fn deliver(&self, event: &Event) -> Result<(), PluginError> {
        let line = line::render(event, line::now_ms());
        match self.write_line(&line) {
            Ok(()) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                Err(PluginError::unavailable(format!(
                    "writing the event line failed: {}",
                    e.kind()
                )))
            }
        }
    }

    fn stats(&self) -> NotifierStats {
        NotifierStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: 0,
            queued: 0,
        }
    }

    fn flush(&self, _timeout_ms: u64) -> Result<(), PluginError> {
        let result = match &self.sink {
            Sink::Stderr => std::io::stderr().lock().flush(),
            Sink::File(file) => file.lock().unwrap_or_else(|e| e.into_inner()).flush(),
        };
        result.map_err(|e| PluginError::unavailable(format!("flush failed: {}", e.kind())))
    }
}

/// The plugin's root module, for linking it in or exporting it from the cdylib.
pub fn plugin_module() -> PluginModRef {
    PluginMod::notifier::<LogNotifier>()
}
