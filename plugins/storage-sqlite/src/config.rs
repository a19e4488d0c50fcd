//! The plugin's JSON configuration.
//!
//! ```json
//! {"path": "conclave-data/conclave.db", "busy_timeout_ms": 5000, "pool_size": 4}
//! ```
//!
//! `path` is required: a file path (its parent directories are created) or `":memory:"`
//! for a private in-memory database (tests). Unknown fields are refused.

use std::path::PathBuf;
use std::time::Duration;

use conclave_plugin_api::PluginError;
use serde::Deserialize;

/// How long a statement waits for a lock held by another connection or process, by default.
pub const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5_000;
/// The largest accepted `busy_timeout_ms` (ten minutes).
pub const MAX_BUSY_TIMEOUT_MS: u64 = 600_000;
/// Connections opened to a file database by default: one writer and three readers.
pub const DEFAULT_POOL_SIZE: usize = 4;
/// The largest accepted `pool_size`.
pub const MAX_POOL_SIZE: usize = 64;

/// The path that selects a private in-memory database.
pub const MEMORY: &str = ":memory:";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    path: String,
    busy_timeout_ms: Option<u64>,
    pool_size: Option<usize>,
}

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A private in-memory database: one connection, gone when the plugin is dropped.
    Memory,
    /// A database file, shared safely with other connections and processes.
    File(PathBuf),
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub location: Location,
    /// How long a statement waits for a lock before failing with `Unavailable`.
    pub busy_timeout: Duration,
    /// Connections to a file database: one writer, the rest readers. An in-memory
    /// database always has exactly one connection (each connection would be a separate
    /// database), whatever this says.
    pub pool_size: usize,
}

impl Config {
    /// Parses and validates the plugin configuration; every problem is `InvalidInput`
    /// naming the field.
    pub fn parse(json: &str) -> Result<Config, PluginError> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| {
            PluginError::invalid(format!("storage-sqlite config: {e} (expected {{\"path\": \"conclave-data/conclave.db\"}} with optional busy_timeout_ms, pool_size)"))
        })?;
        let location = match raw.path.as_str() {
            "" => {
                return Err(PluginError::invalid(
                    "storage-sqlite config: `path` is empty (a database file path or \":memory:\")",
                ));
            }
            MEMORY => Location::Memory,
            p if p.contains('\0') => {
                return Err(PluginError::invalid(
                    "storage-sqlite config: `path` contains a NUL byte",
                ));
            }
            p => Location::File(PathBuf::from(p)),
        };
        let busy_timeout_ms = raw.busy_timeout_ms.unwrap_or(DEFAULT_BUSY_TIMEOUT_MS);
        if busy_timeout_ms > MAX_BUSY_TIMEOUT_MS {
            return Err(PluginError::invalid(format!(
                "storage-sqlite config: `busy_timeout_ms` is {busy_timeout_ms}, at most {MAX_BUSY_TIMEOUT_MS} is allowed"
            )));
        }
        let pool_size = raw.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
        if !(1..=MAX_POOL_SIZE).contains(&pool_size) {
            return Err(PluginError::invalid(format!(
                "storage-sqlite config: `pool_size` is {pool_size}, it must be between 1 and {MAX_POOL_SIZE}"
            )));
        }
        Ok(Config {
            location,
            busy_timeout: Duration::from_millis(busy_timeout_ms),
            pool_size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_plugin_api::ErrorKind;

    #[test]
    fn defaults_and_fields() {
        let c = Config::parse(r#"{"path": "conclave-data/conclave.db"}"#).unwrap();
        assert_eq!(
            c.location,
            Location::File(PathBuf::from("conclave-data/conclave.db"))
        );
        assert_eq!(
            c.busy_timeout,
            Duration::from_millis(DEFAULT_BUSY_TIMEOUT_MS)
        );
        assert_eq!(c.pool_size, DEFAULT_POOL_SIZE);
        let c = Config::parse(r#"{"path": ":memory:", "busy_timeout_ms": 10, "pool_size": 2}"#)
            .unwrap();
        assert_eq!(c.location, Location::Memory);
        assert_eq!(c.busy_timeout, Duration::from_millis(10));
        assert_eq!(c.pool_size, 2);
    }

    #[test]
    fn bad_configs_are_invalid_input_naming_the_problem() {
        for (json, needle) in [
            ("", "EOF"),
            ("{", "EOF"),
            ("{}", "missing field `path`"),
            (r#"{"path": 3}"#, "invalid type"),
            (r#"{"path": ""}"#, "`path` is empty"),
            (r#"{"path": "a\u0000b"}"#, "NUL"),
            (r#"{"path": "x", "pool": 3}"#, "unknown field `pool`"),
            (r#"{"path": "x", "pool_size": 0}"#, "`pool_size` is 0"),
            (r#"{"path": "x", "pool_size": 65}"#, "`pool_size` is 65"),
            (r#"{"path": "x", "pool_size": -1}"#, "invalid value"),
            (
                r#"{"path": "x", "busy_timeout_ms": 600001}"#,
                "`busy_timeout_ms` is 600001",
            ),
        ] {
            let e = Config::parse(json).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidInput, "{json}");
            assert!(e.message.contains(needle), "{json}: {e}");
            assert!(e.message.starts_with("storage-sqlite config: "), "{e}");
        }
    }
}
