//! The configuration, parsed strictly; errors never quote the URL or the secret.

use std::fmt;
use std::time::Duration;

use conclave_plugin_api::PluginError;
use serde::Deserialize;
use ureq::http::Uri;
use zeroize::Zeroizing;

const MIN_SECRET_LEN: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    url: String,
    secret: String,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    max_retries: Option<u32>,
    #[serde(default)]
    queue_capacity: Option<usize>,
    #[serde(default)]
    backoff_initial_ms: Option<u64>,
    #[serde(default)]
    backoff_max_ms: Option<u64>,
}

/// The validated configuration.
pub(crate) struct Config {
    pub(crate) url: String,
    pub(crate) secret: Zeroizing<Vec<u8>>,
    /// For one attempt, connection to response.
    pub(crate) timeout: Duration,
    /// Attempts after the first.
    pub(crate) max_retries: u32,
    /// Events that may wait (the one being sent is not counted).
    pub(crate) queue_capacity: usize,
    pub(crate) backoff_initial: Duration,
    pub(crate) backoff_max: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &"<redacted>")
            .field("secret", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("max_retries", &self.max_retries)
            .field("queue_capacity", &self.queue_capacity)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .finish()
    }
}

fn in_range<T: PartialOrd + fmt::Display + Copy>(
    name: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, PluginError> {
    if value < min || value > max {
        return Err(PluginError::invalid(format!(
            "{name} must be between {min} and {max}"
        )));
    }
    Ok(value)
}

/// Only absolute `http://` and `https://` URLs with a host.
fn check_url(url: &str) -> Result<(), PluginError> {
    let bad = || PluginError::invalid("url must be an absolute http:// or https:// URL");
    let uri: Uri = url.parse().map_err(|_| bad())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty());
    if !scheme_ok || !host_ok {
        return Err(bad());
    }
    Ok(())
}

impl Config {
    /// Parses and checks `json`.
    pub(crate) fn parse(json: &str) -> Result<Config, PluginError> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| config_error(&e))?;
        check_url(&raw.url)?;
        if raw.secret.len() < MIN_SECRET_LEN {
            return Err(PluginError::invalid(format!(
                "secret must be at least {MIN_SECRET_LEN} bytes"
            )));
        }
        let timeout_ms = in_range("timeout_ms", raw.timeout_ms.unwrap_or(2_000), 1, 600_000)?;
        let max_retries = in_range("max_retries", raw.max_retries.unwrap_or(5), 0, 100)?;
        let queue_capacity = in_range(
            "queue_capacity",
            raw.queue_capacity.unwrap_or(1_000),
            1,
            1_000_000,
        )?;
        let initial = in_range(
            "backoff_initial_ms",
            raw.backoff_initial_ms.unwrap_or(100),
            1,
            3_600_000,
        )?;
        let max = in_range(
            "backoff_max_ms",
            raw.backoff_max_ms.unwrap_or(10_000),
            initial,
            3_600_000,
        )?;
        Ok(Config {
            url: raw.url,
            secret: Zeroizing::new(raw.secret.into_bytes()),
            timeout: Duration::from_millis(timeout_ms),
            max_retries,
            queue_capacity,
            backoff_initial: Duration::from_millis(initial),
            backoff_max: Duration::from_millis(max),
        })
    }
}

/// A configuration error that names fields but never quotes values (serde's "invalid
/// type" messages quote the offending value, which may be the secret).
fn config_error(e: &serde_json::Error) -> PluginError {
    let text = e.to_string();
    if text.starts_with("unknown field") || text.starts_with("missing field") {
        PluginError::invalid(format!("invalid config: {text}"))
    } else {
        PluginError::invalid(format!(
            "invalid config: malformed JSON or a field of the wrong type (line {}, column {})",
            e.line(),
            e.column()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef-secret";

    fn with(extra: &str) -> String {
        format!(r#"{{"url":"http://127.0.0.1:9/hook","secret":"{SECRET}"{extra}}}"#)
    }

    #[test]
    fn defaults_and_limits() {
        let c = Config::parse(&with("")).unwrap();
        assert_eq!(c.timeout, Duration::from_millis(2_000));
        assert_eq!(c.max_retries, 5);
        assert_eq!(c.queue_capacity, 1_000);
        assert_eq!(c.backoff_initial, Duration::from_millis(100));
        assert_eq!(c.backoff_max, Duration::from_millis(10_000));
        for bad in [
            r#","timeout_ms":0"#,
            r#","queue_capacity":0"#,
            r#","backoff_initial_ms":500,"backoff_max_ms":100"#,
            r#","max_retries":-1"#,
            r#","colour":"blue""#,
        ] {
            assert!(Config::parse(&with(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_must_be_http_or_https() {
        for ok in [
            "http://127.0.0.1:8080/x",
            "https://hooks.example/a?b=c",
            "http://h",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://h/x",
            "/relative",
            "127.0.0.1:80",
            "",
            "http://",
            "file:///etc",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_never_quote_the_secret_or_url() {
        let url = "http://user:pw@h/x?token=abc";
        for json in [
            format!(r#"{{"url":"{url}","secret":"short"}}"#),
            format!(r#"{{"url":"ftp://tok3n@h","secret":"{SECRET}"}}"#),
            format!(r#"{{"url":"{url}","secret":"{SECRET}","timeout_ms":"{SECRET}"}}"#),
            format!(r#"{{"url":"{url}","secret":["{SECRET}"]}}"#),
        ] {
            let e = Config::parse(&json).unwrap_err().to_string();
            for secret in [SECRET, "short", "pw@", "tok3n", "token=abc"] {
                assert!(!e.contains(secret), "{e}");
            }
        }
    }
}
