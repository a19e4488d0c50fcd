//! Relay configuration (TOML). Every plugin kind names a plugin — a built-in name or a path
//! to a shared library — and passes that plugin its own configuration table, which reaches
//! the plugin as JSON.
//!
//! ```toml
//! listen = "127.0.0.1:8443"
//! data_dir = "conclave-data"            # secrets; the default SQLite database lives here too
//! retention_days = 30                   # containers are kept at most this long
//! expiry_interval_s = 60                # how often expired containers are deleted
//!
//! [limits]
//! bundle_burst = 30                     # bundle fetches per principal: burst
//! bundle_per_second = 1.0               # ... and sustained rate
//! max_container_bytes = 1310720
//! prekey_low_water = 10
//!
//! [media]
//! address = "127.0.0.1:7000"            # announced in join tickets
//!
//! [tls]                                 # HTTPS; on by default off loopback
//! cert = "/etc/conclave/cert.pem"       # with key; without both, a self-signed certificate
//! key = "/etc/conclave/key.pem"         #   is made on first start in data_dir/tls/
//! names = ["relay.example.com"]         # extra names for the self-signed certificate
//!
//! [plugins.auth]
//! plugin = "jwt"                      # built-in: jwt; or a path: "/opt/conclave/libmy_auth.so"
//! config = { mode = "dev" }
//!
//! [plugins.storage]
//! plugin = "sqlite"                   # built-in: sqlite
//! config = { path = "conclave-data/conclave.db" }
//!
//! [[plugins.notification]]            # zero or more
//! plugin = "log"                      # built-ins: log, webhook
//! config = { target = "stderr" }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The whole relay configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// Where the control plane listens.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Where the relay keeps its own files (secrets; the default SQLite database).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// How long a container is kept at most, in days.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
    /// How often expired containers are deleted, in seconds.
    #[serde(default = "default_expiry_interval_s")]
    pub expiry_interval_s: u64,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub media: MediaConfig,
    #[serde(default)]
    pub tls: crate::tls::TlsConfig,
    #[serde(default)]
    pub plugins: PluginsConfig,
}

/// Request limits.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Bundle fetches per principal: burst size.
    pub bundle_burst: u32,
    /// Bundle fetches per principal: sustained rate per second.
    pub bundle_per_second: f64,
    /// Largest container accepted, in bytes.
    pub max_container_bytes: usize,
    /// A device is told to upload prekeys when its pool falls below this.
    pub prekey_low_water: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bundle_burst: 30,
            bundle_per_second: 1.0,
            max_container_bytes: 1_310_720,
            prekey_low_water: 10,
        }
    }
}

/// The media plane, as announced in join tickets.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// The address clients send media to.
    pub address: String,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            address: "127.0.0.1:7000".to_string(),
        }
    }
}

/// Which plugin serves each kind.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    #[serde(default = "default_auth")]
    pub auth: PluginSpec,
    #[serde(default = "default_storage")]
    pub storage: PluginSpec,
    #[serde(default = "default_notification")]
    pub notification: Vec<PluginSpec>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        PluginsConfig {
            auth: default_auth(),
            storage: default_storage(),
            notification: default_notification(),
        }
    }
}

/// One plugin: a built-in name or a path to a `.so`, and its own configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginSpec {
    pub plugin: String,
    #[serde(default = "empty_table")]
    pub config: toml::Value,
}

impl PluginSpec {
    fn builtin(name: &str, config: toml::Value) -> Self {
        PluginSpec {
            plugin: name.to_string(),
            config,
        }
    }

    /// The plugin's configuration as the JSON text it receives.
    pub fn config_json(&self) -> String {
        // TOML values always convert to JSON (dates become strings).
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".to_string())
    }

    /// A path when `plugin` names a file (contains a `/` or ends in `.so`), else `None`.
    pub fn path(&self) -> Option<&Path> {
        (self.plugin.contains('/') || self.plugin.ends_with(".so")).then(|| Path::new(&self.plugin))
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("conclave-data")
}

fn default_expiry_interval_s() -> u64 {
    60
}

fn default_retention_days() -> u32 {
    30
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8443))
}

fn empty_table() -> toml::Value {
    toml::Value::Table(toml::Table::new())
}

fn table(pairs: &[(&str, &str)]) -> toml::Value {
    toml::Value::Table(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), toml::Value::String(v.to_string())))
            .collect(),
    )
}

fn default_auth() -> PluginSpec {
    PluginSpec::builtin("jwt", table(&[("mode", "dev")]))
}

fn default_storage() -> PluginSpec {
    PluginSpec::builtin("sqlite", table(&[("path", "conclave-data/conclave.db")]))
}

fn default_notification() -> Vec<PluginSpec> {
    vec![PluginSpec::builtin("log", table(&[("target", "stderr")]))]
}

impl Default for RelayConfig {
    /// The development relay: loopback only, dev auth, embedded SQLite, log notifications.
    fn default() -> Self {
        RelayConfig {
            listen: default_listen(),
            data_dir: default_data_dir(),
            retention_days: default_retention_days(),
            expiry_interval_s: default_expiry_interval_s(),
            limits: Limits::default(),
            media: MediaConfig::default(),
            tls: Default::default(),
            plugins: PluginsConfig::default(),
        }
    }
}

/// A configuration problem, as one line naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct ConfigError {
    pub path: PathBuf,
    pub problem: String,
}

impl RelayConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let err = |problem: String| ConfigError {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::from_toml(&text).map_err(err)
    }

    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| {
            e.to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// Does the relay listen on loopback only? Plugins may refuse development modes
    /// otherwise.
    pub fn loopback_only(&self) -> bool {
        self.listen.ip().is_loopback()
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.retention_days == 0 || self.retention_days > 3650 {
            return Err("retention_days must be 1..=3650".into());
        }
        if self.expiry_interval_s == 0 || self.expiry_interval_s > 86_400 {
            return Err("expiry_interval_s must be 1..=86400".into());
        }
        let l = &self.limits;
        if l.bundle_burst == 0 || !l.bundle_per_second.is_finite() || l.bundle_per_second <= 0.0 {
            return Err("limits.bundle_burst and limits.bundle_per_second must be positive".into());
        }
        if l.max_container_bytes < 1024 {
            return Err("limits.max_container_bytes must be at least 1024".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_development_relay() {
        let c = RelayConfig::from_toml("").unwrap();
        assert_eq!(c, RelayConfig::default());
        assert!(c.loopback_only());
        assert_eq!(c.plugins.auth.config_json(), r#"{"mode":"dev"}"#);
    }

    #[test]
    fn plugins_by_name_or_path_with_their_config() {
        let c = RelayConfig::from_toml(
            r#"
            listen = "0.0.0.0:443"
            [plugins.auth]
            plugin = "/opt/conclave/libmy_auth.so"
            config = { issuer = "me", leeway_s = 5, nested = { a = [1, 2] } }
            [[plugins.notification]]
            plugin = "webhook"
            config = { url = "http://127.0.0.1:9/x", secret = "s" }
            [[plugins.notification]]
            plugin = "log"
            "#,
        )
        .unwrap();
        assert!(!c.loopback_only());
        assert_eq!(
            c.plugins.auth.path(),
            Some(Path::new("/opt/conclave/libmy_auth.so"))
        );
        let json: serde_json::Value = serde_json::from_str(&c.plugins.auth.config_json()).unwrap();
        assert_eq!(json["nested"]["a"][1], 2);
        assert_eq!(c.plugins.storage.plugin, "sqlite");
        assert_eq!(c.plugins.notification.len(), 2);
        assert_eq!(c.plugins.notification[1].config_json(), "{}");
    }

    #[test]
    fn unknown_keys_are_refused_in_one_line() {
        let e = RelayConfig::from_toml("[plugins.auth]\nplugn = \"jwt\"\n").unwrap_err();
        assert!(e.contains("plugn"), "{e}");
        assert!(!e.contains('\n'));
    }
}
