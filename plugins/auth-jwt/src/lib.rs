//! Conclave auth plugin: JWT bearer tokens (HS256, ES256).
//!
//! # Configuration
//!
//! A JSON object; unknown fields are rejected.
//!
//! | field | meaning |
//! |---|---|
//! | `hs256_secret` | shared secret for HS256 tokens (at least 32 bytes, used as its UTF-8 bytes) |
//! | `es256_public_key_pem` | P-256 public key (SPKI PEM, `BEGIN PUBLIC KEY`) for ES256 tokens |
//! | `issuer` | when set, tokens must carry exactly this `iss` |
//! | `audience` | when set, tokens must carry it in `aud`; when unset, tokens with an `aud` are refused (RFC 7519 §4.1.3) |
//! | `leeway_s` | clock skew tolerated on `exp`, `nbf` and `iat` (default 30, at most 86400) |
//! | `mode` | `"jwt"` (default) or `"dev"` |
//!
//! At least one key is required, except in `dev` mode. `dev` mode additionally accepts
//! `dev:<user_hash>[:<device_id>]` credentials that grant every action on every meeting for a
//! day; it is refused at construction unless the host listens on loopback only
//! ([`HostContext::loopback_only`]).
//!
//! # Tokens
//!
//! Compact JWS with `alg` `HS256` or `ES256` (raw `r ‖ s` signature). The algorithm selects
//! the key — an HS256 token is only ever checked with the HS256 secret — so `none`,
//! every other algorithm and algorithm confusion (an HS256 token "signed" with the ES256
//! public key) are refused. A `crit` header is refused (no extension is understood).
//! Claims:
//!
//! | claim | meaning |
//! |---|---|
//! | `sub` | the user hash (required) |
//! | `dev` | the device id the token is bound to (optional) |
//! | `mtg` | meeting ids the token allows (an array, a single id, or `"*"` for every meeting) |
//! | `act` | action names ([`Action::as_str`]); unknown names are ignored |
//! | `exp` | expiry, seconds since the Unix epoch (required) |
//! | `nbf`, `iat` | not-before and issued-at (optional; neither may lie in the future) |
//! | `iss`, `aud` | checked as configured |
//!
//! Times are checked against the request's `now_ms` (the relay's master clock), never the
//! wall clock. `register_user` and `register_device` requests whose resource names a user
//! must name the token's own subject; `create_meeting` and `join_meeting` need the meeting in
//! `mtg`. Every refusal is [`ErrorKind::Denied`](conclave_plugin_api::ErrorKind::Denied) with
//! a short reason that never contains the token or a key.
//!
//! # Why RustCrypto rather than `jsonwebtoken`
//!
//! The workspace already builds `p256`, `hmac` and `sha2` (the software crypto provider), so
//! this plugin adds no new crypto code; `jsonwebtoken` would bring either aws-lc (minutes of C
//! build) or a second, older RustCrypto stack plus RSA, and it validates `exp`/`nbf` against
//! the wall clock, while this plugin must use the request's clock. Verifying one of two fixed
//! algorithms over a compact JWS is a few dozen lines, written strictly here.
//!
//! # Minting
//!
//! [`mint_hs256`] and [`mint_es256`] make tokens for tests and the relay's dev tooling.

mod claims;
mod config;
mod dev;
mod mint;
mod token;

use conclave_plugin_api::auth::{Action, Auth, AuthRequest, Principal};
use conclave_plugin_api::{HostContext, PluginError, PluginMod, PluginModRef};

pub use claims::{Claims, Meetings};
pub use mint::{mint_es256, mint_hs256, mint_hs256_raw};

use config::Config;

/// The longest credential looked at; longer ones are refused before any parsing.
pub const MAX_CREDENTIAL_LEN: usize = 8 * 1024;

/// The JWT auth plugin.
pub struct JwtAuth {
    config: Config,
}

impl std::fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuth")
            .field("config", &self.config)
            .finish()
    }
}

impl Auth for JwtAuth {
    const NAME: &'static str = "jwt";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn from_config(config: &str, host: &HostContext) -> Result<Self, PluginError> {
        Ok(JwtAuth {
            config: Config::parse(config, host)?,
        })
    }

    fn authenticate(&self, request: &AuthRequest) -> Result<Principal, PluginError> {
        let credential = request.credential.as_str();
        if credential.len() > MAX_CREDENTIAL_LEN {
            return Err(PluginError::denied("credential too long"));
        }
        let principal = match dev::parse(credential) {
            Some(dev) if self.config.dev_mode => dev?.principal(request.now_ms),
            _ => {
                let payload = token::verify(credential, &self.config.keys)?;
                claims::validate(&payload, &self.config, request.now_ms)?
            }
        };
        authorize(&principal, request)?;
        Ok(principal)
    }
}

/// Checks that `principal` may perform the request's action on its resource.
fn authorize(principal: &Principal, request: &AuthRequest) -> Result<(), PluginError> {
    let resource = request.resource.as_str();
    if !principal.actions.contains(&request.action) {
        return Err(PluginError::denied("action not allowed"));
    }
    if !principal.allows(request.action, resource) {
        return Err(PluginError::denied("meeting not allowed"));
    }
    let user_scoped = matches!(
        request.action,
        Action::RegisterUser | Action::RegisterDevice
    );
    if user_scoped && !resource.is_empty() && resource != principal.subject.as_str() {
        return Err(PluginError::denied("user not allowed"));
    }
    Ok(())
}

/// The plugin's root module, for linking it in (`LoadedPlugin::builtin("jwt", ...)`) or
/// exporting it from the cdylib.
pub fn plugin_module() -> PluginModRef {
    PluginMod::auth::<JwtAuth>()
}
