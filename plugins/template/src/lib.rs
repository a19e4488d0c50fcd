//! Template Conclave plugin: an auth plugin that accepts a fixed set of bearer tokens.
//!
//! Configuration (JSON, passed by the relay from its `[plugins.auth] config` table):
//!
//! ```json
//! { "tokens": { "s3cret-token": { "subject": "<user hash>", "device_id": "<hex>",
//!                                 "actions": ["fetch_bundle", "join_meeting"],
//!                                 "meetings": ["*"], "expires_ms": 1900000000000 } } }
//! ```
//!
//! What every plugin does, in three steps:
//! 1. implement the plain Rust trait of its kind (`Auth`, `Storage` or `Notifier` from
//!    `conclave_plugin_api`) — the API crate wraps each call so that a panic becomes an
//!    `Internal` error instead of killing the relay;
//! 2. export the root module with `#[abi_stable::export_root_module]` (cdylib only);
//! 3. test it with the conformance suite of its kind (see `tests/`), and check the built
//!    `.so` with `conclave-relay plugin check`.

use std::collections::HashMap;

use conclave_plugin_api::auth::{Action, Auth, AuthRequest, Principal};
use conclave_plugin_api::{HostContext, PluginError, PluginMod, PluginModRef};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    tokens: HashMap<String, TokenGrant>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct TokenGrant {
    subject: String,
    #[serde(default)]
    device_id: Option<String>,
    actions: Vec<String>,
    #[serde(default)]
    meetings: Vec<String>,
    #[serde(default = "never")]
    expires_ms: u64,
}

fn never() -> u64 {
    u64::MAX
}

/// An auth plugin with static tokens.
pub struct StaticTokens {
    grants: HashMap<String, Principal>,
}

impl Auth for StaticTokens {
    const NAME: &'static str = "static-tokens";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn from_config(config: &str, _host: &HostContext) -> Result<Self, PluginError> {
        let config: Config = serde_json::from_str(config)
            .map_err(|e| PluginError::invalid(format!("static-tokens config: {e}")))?;
        let mut grants = HashMap::new();
        for (token, grant) in config.tokens {
            let mut actions = Vec::new();
            for a in &grant.actions {
                actions.push(Action::parse(a).ok_or_else(|| {
                    PluginError::invalid(format!("static-tokens config: unknown action '{a}'"))
                })?);
            }
            grants.insert(
                token,
                Principal {
                    subject: grant.subject.into(),
                    device_id: grant.device_id.map(Into::into).into(),
                    meetings: grant.meetings.into_iter().map(Into::into).collect(),
                    actions: actions.into(),
                    expires_ms: grant.expires_ms,
                },
            );
        }
        Ok(StaticTokens { grants })
    }

    fn authenticate(&self, request: &AuthRequest) -> Result<Principal, PluginError> {
        let principal = self
            .grants
            .get(request.credential.as_str())
            .ok_or_else(|| PluginError::denied("unknown token"))?;
        if request.now_ms >= principal.expires_ms {
            return Err(PluginError::denied("token expired"));
        }
        if !principal.allows(request.action, request.resource.as_str()) {
            return Err(PluginError::denied("token does not allow this action"));
        }
        Ok(principal.clone())
    }
}

/// The root module the relay loads from the `.so`.
#[abi_stable::export_root_module]
pub fn root() -> PluginModRef {
    PluginMod::auth::<StaticTokens>()
}
