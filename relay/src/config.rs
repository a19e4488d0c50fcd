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
//! [media]                               # the native datagram transport (docs/PROTOCOL.md §11)
//! bind = "127.0.0.1:7000"               # worker i listens on port + i (port 0: any free ports)
//! address = "relay.example.com:7000"    # announced in join tickets (worker i: port + i);
//!                                       #   default: the bound addresses
//! workers = 4                           # worker threads, each with its own socket; default: cores
//! sendmmsg = true                       # batched egress (false: one send per datagram)
//! gso = true                            # UDP segmentation offload for full-size fragments
//! keepalive_ms = 1000                   # told to clients in JOIN_ACK
//! timeout_ms = 10000                    # a silent session is closed after this long
//! max_sessions_per_worker = 10000
//! webrtc = true                         # browsers over WebRTC (docs/PROTOCOL.md §13)
//! webrtc_bind = "127.0.0.1:7100"        # worker i's WebRTC socket: port + i (0: any free ports);
//!                                       #   default: media.bind's address, any free ports
//! webrtc_ip = "203.0.113.7"             # the address announced as the host candidate;
//!                                       #   default: the bound address
//!
//! web_root = "web"                      # the browser client, served at / (default: ./web if present)
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
    /// The browser client's files, served at `/` (docs/PROTOCOL.md §13). Default: `web`
    /// in the working directory when it exists (a checkout), else none.
    #[serde(default)]
    pub web_root: Option<PathBuf>,
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

/// The media plane: the native datagram transport's workers.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Where worker 0 listens; worker `i` listens on port + `i` (port 0: any free ports).
    pub bind: SocketAddr,
    /// The address clients send media to, as `host:port`, announced in join tickets
    /// (worker `i`: port + `i`; port 0: the bound ports). Default: the bound addresses.
    pub address: Option<String>,
    /// Worker threads, each with its own socket. Default: the available cores.
    pub workers: Option<usize>,
    /// Batched egress with `sendmmsg` (false: one `send_to` per datagram).
    pub sendmmsg: bool,
    /// UDP segmentation offload for consecutive full-size fragments.
    pub gso: bool,
    /// The keep-alive interval told to clients.
    pub keepalive_ms: u32,
    /// A session not heard from for this long is closed.
    pub timeout_ms: u32,
    /// Sessions a worker holds at most; further joins are refused (relay full).
    pub max_sessions_per_worker: usize,
    /// Browsers over WebRTC: one more UDP socket per worker.
    pub webrtc: bool,
    /// Where worker 0's WebRTC socket listens (worker `i`: port + `i`; port 0: any free
    /// ports). Default: `bind`'s address with any free ports.
    pub webrtc_bind: Option<SocketAddr>,
    /// The IP address announced as the WebRTC host candidate (a public address in front of
    /// a wildcard bind). Default: the bound address.
    pub webrtc_ip: Option<std::net::IpAddr>,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 7000)),
            address: None,
            workers: None,
            sendmmsg: true,
            gso: true,
            keepalive_ms: 1000,
            timeout_ms: 10_000,
            max_sessions_per_worker: 10_000,
            webrtc: true,
            webrtc_bind: None,
            webrtc_ip: None,
        }
    }
}

/// The most workers a relay runs (the worker index is one byte on the wire).
pub const MAX_MEDIA_WORKERS: usize = 64;

impl MediaConfig {
    /// The number of workers: configured, else the available cores.
    pub fn worker_count(&self) -> usize {
        self.workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(MAX_MEDIA_WORKERS)
        })
    }

    /// The advertised `(host, port)`, if configured.
    pub fn advertised(&self) -> Result<Option<(String, u16)>, String> {
        let Some(a) = &self.address else {
            return Ok(None);
        };
        let (host, port) = a
            .rsplit_once(':')
            .ok_or_else(|| format!("media.address {a:?} must be host:port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("media.address {a:?}: the port must be 0..=65535"))?;
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(format!("media.address {a:?} must be host:port"));
        }
        Ok(Some((host.to_string(), port)))
    }

    /// Where worker 0's WebRTC socket binds.
    pub fn webrtc_bind(&self) -> SocketAddr {
        self.webrtc_bind
            .unwrap_or_else(|| SocketAddr::new(self.bind.ip(), 0))
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.worker_count();
        if n == 0 || n > MAX_MEDIA_WORKERS {
            return Err(format!("media.workers must be 1..={MAX_MEDIA_WORKERS}"));
        }
        let last = usize::from(self.bind.port()) + n - 1;
        if self.bind.port() != 0 && last > usize::from(u16::MAX) {
            return Err(format!(
                "media.bind port {} + {n} workers exceeds 65535",
                self.bind.port()
            ));
        }
        match self.advertised()? {
            Some((_, port)) if port != 0 && usize::from(port) + n - 1 > usize::from(u16::MAX) => {
                return Err(format!(
                    "media.address port {port} + {n} workers exceeds 65535"
                ));
            }
            None if self.bind.ip().is_unspecified() => {
                return Err(format!(
                    "media.address is required when media.bind ({}) is a wildcard address",
                    self.bind
                ));
            }
            _ => {}
        }
        if self.webrtc {
            let b = self.webrtc_bind();
            if b.port() != 0 && usize::from(b.port()) + n - 1 > usize::from(u16::MAX) {
                return Err(format!(
                    "media.webrtc_bind port {} + {n} workers exceeds 65535",
                    b.port()
                ));
            }
            if b.ip().is_unspecified() && self.webrtc_ip.is_none() {
                return Err(format!(
                    "media.webrtc_ip is required when the WebRTC socket binds a wildcard address ({b})"
                ));
            }
        }
        if self.keepalive_ms < 100 || self.keepalive_ms > 60_000 {
            return Err("media.keepalive_ms must be 100..=60000".into());
        }
        if self.timeout_ms < 2 * self.keepalive_ms || self.timeout_ms > 600_000 {
            return Err(
                "media.timeout_ms must be at least twice media.keepalive_ms and at most 600000"
                    .into(),
            );
        }
        if self.max_sessions_per_worker == 0 || self.max_sessions_per_worker > 1_000_000 {
            return Err("media.max_sessions_per_worker must be 1..=1000000".into());
        }
        Ok(())
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
            web_root: None,
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

    /// The directory of the browser client, if any.
    pub fn web_root(&self) -> Option<PathBuf> {
        match &self.web_root {
            Some(p) => Some(p.clone()),
            None => {
                let p = PathBuf::from("web");
                p.join("index.html").is_file().then_some(p)
            }
        }
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
        self.media.validate()
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
    fn media_defaults_and_validation() {
        let c = RelayConfig::default();
        assert_eq!(c.media.bind, SocketAddr::from(([127, 0, 0, 1], 7000)));
        assert!(c.media.sendmmsg && c.media.gso);
        assert!(c.media.worker_count() >= 1);
        c.validate().unwrap();
        let c = RelayConfig::from_toml(
            "[media]\nbind = \"0.0.0.0:7000\"\naddress = \"relay.example.com:7000\"\nworkers = 3\nsendmmsg = false\ngso = false\nwebrtc_ip = \"203.0.113.7\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(
            c.media.advertised().unwrap(),
            Some(("relay.example.com".to_string(), 7000))
        );
        for (bad, word) in [
            ("bind = \"0.0.0.0:7000\"", "media.address"),
            ("workers = 0", "media.workers"),
            ("workers = 65", "media.workers"),
            ("bind = \"127.0.0.1:65535\"\nworkers = 2", "media.bind"),
            ("address = \"nohost\"", "media.address"),
            ("address = \"h:99999\"", "media.address"),
            (
                "bind = \"0.0.0.0:7000\"\naddress = \"h:7000\"",
                "media.webrtc_ip",
            ),
            (
                "webrtc_bind = \"127.0.0.1:65535\"\nworkers = 2",
                "media.webrtc_bind",
            ),
            ("keepalive_ms = 5", "media.keepalive_ms"),
            ("timeout_ms = 1500", "media.timeout_ms"),
            ("max_sessions_per_worker = 0", "media.max_sessions"),
        ] {
            let c = RelayConfig::from_toml(&format!("[media]\n{bad}\n")).unwrap();
            let e = c.validate().unwrap_err();
            assert!(e.contains(word) && !e.contains('\n'), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_keys_are_refused_in_one_line() {
        let e = RelayConfig::from_toml("[plugins.auth]\nplugn = \"jwt\"\n").unwrap_err();
        assert!(e.contains("plugn"), "{e}");
        assert!(!e.contains('\n'));
    }
}
