//! The plugin's configuration: parsed strictly, keys decoded once.

use std::fmt;

use conclave_plugin_api::{HostContext, PluginError};
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;
use zeroize::Zeroizing;

/// HS256 secrets shorter than the hash output are refused (RFC 7518 §3.2).
const MIN_HS256_SECRET_LEN: usize = 32;
const DEFAULT_LEEWAY_S: u64 = 30;
const MAX_LEEWAY_S: u64 = 86_400;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    mode: Option<String>,
    #[serde(default)]
    hs256_secret: Option<String>,
    #[serde(default)]
    es256_public_key_pem: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    audience: Option<String>,
    #[serde(default)]
    leeway_s: Option<u64>,
}

/// The verification keys, by algorithm.
pub(crate) struct Keys {
    pub(crate) hs256: Option<Zeroizing<Vec<u8>>>,
    pub(crate) es256: Option<VerifyingKey>,
}

/// The validated configuration.
pub(crate) struct Config {
    pub(crate) keys: Keys,
    pub(crate) issuer: Option<String>,
    pub(crate) audience: Option<String>,
    pub(crate) leeway_ms: u64,
    pub(crate) dev_mode: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("hs256", &self.keys.hs256.as_ref().map(|_| "<redacted>"))
            .field("es256", &self.keys.es256.is_some())
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway_ms", &self.leeway_ms)
            .field("dev_mode", &self.dev_mode)
            .finish()
    }
}

impl Config {
    /// Parses and checks `json`. Errors are [`conclave_plugin_api::ErrorKind::InvalidInput`]
    /// and never quote a configured value.
    pub(crate) fn parse(json: &str, host: &HostContext) -> Result<Config, PluginError> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| config_error(&e))?;
        let dev_mode = match raw.mode.as_deref() {
            None | Some("jwt") => false,
            Some("dev") => true,
            Some(_) => return Err(PluginError::invalid("mode must be \"jwt\" or \"dev\"")),
        };
        if dev_mode && !host.loopback_only {
            return Err(PluginError::invalid(
                "dev mode is refused unless the relay listens on loopback addresses only",
            ));
        }
        let hs256 = match raw.hs256_secret {
            Some(secret) if secret.len() < MIN_HS256_SECRET_LEN => {
                return Err(PluginError::invalid(format!(
                    "hs256_secret must be at least {MIN_HS256_SECRET_LEN} bytes"
                )));
            }
            Some(secret) => Some(Zeroizing::new(secret.into_bytes())),
            None => None,
        };
        let es256 = match raw.es256_public_key_pem {
            Some(pem) => Some(VerifyingKey::from_public_key_pem(pem.trim()).map_err(|_| {
                PluginError::invalid(
                    "es256_public_key_pem is not a P-256 public key in SPKI PEM form",
                )
            })?),
            None => None,
        };
        if hs256.is_none() && es256.is_none() && !dev_mode {
            return Err(PluginError::invalid(
                "configure hs256_secret and/or es256_public_key_pem",
            ));
        }
        let leeway_s = raw.leeway_s.unwrap_or(DEFAULT_LEEWAY_S);
        if leeway_s > MAX_LEEWAY_S {
            return Err(PluginError::invalid(format!(
                "leeway_s must be at most {MAX_LEEWAY_S}"
            )));
        }
        if raw.issuer.as_deref() == Some("") || raw.audience.as_deref() == Some("") {
            return Err(PluginError::invalid(
                "issuer and audience must not be empty",
            ));
        }
        Ok(Config {
            keys: Keys { hs256, es256 },
            issuer: raw.issuer,
            audience: raw.audience,
            leeway_ms: leeway_s * 1000,
            dev_mode,
        })
    }
}

/// A configuration error that names fields but never quotes values (serde's "invalid type"
/// messages would quote the offending value, which may be a secret).
fn config_error(e: &serde_json::Error) -> PluginError {
    let text = e.to_string();
    let safe = text.starts_with("unknown field") || text.starts_with("missing field");
    if safe {
        PluginError::invalid(format!("invalid config: {text}"))
    } else {
        PluginError::invalid(format!(
            "invalid config: malformed JSON or a field of the wrong type (line {}, column {})",
            e.line(),
            e.column()
        ))
    }
}
