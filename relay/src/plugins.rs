//! Resolving and starting the configured plugins: built-ins are linked in (the relay runs
//! with no `.so` present), anything else is loaded from its file. Every failure is one line
//! naming the plugin and the cause, and stops start-up.

use conclave_plugin_api::host::{
    AuthHandle, LoadError, LoadedPlugin, NotifierHandle, StorageHandle,
};
use conclave_plugin_api::{HostContext, PluginKind, PluginModRef};

use crate::config::{PluginSpec, RelayConfig};

/// A plugin linked into the relay: its name, kind and root module.
pub type Builtin = (&'static str, PluginKind, fn() -> PluginModRef);

/// The plugins linked into the relay.
pub fn builtins() -> [Builtin; 4] {
    [
        ("jwt", PluginKind::Auth, conclave_auth_jwt::plugin_module),
        (
            "sqlite",
            PluginKind::Storage,
            conclave_storage_sqlite::plugin_module,
        ),
        (
            "webhook",
            PluginKind::Notification,
            conclave_notify_webhook::plugin_module,
        ),
        (
            "log",
            PluginKind::Notification,
            conclave_notify_log::plugin_module,
        ),
    ]
}

/// A plugin that could not be resolved or started.
#[derive(Debug, thiserror::Error)]
pub enum PluginStartError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("unknown built-in plugin '{name}' (built-ins: {known}; or give a path to a .so)")]
    UnknownBuiltin { name: String, known: String },
}

/// Finds a built-in by name or loads a file.
pub fn resolve(spec: &PluginSpec) -> Result<LoadedPlugin, PluginStartError> {
    if let Some(path) = spec.path() {
        return Ok(LoadedPlugin::load(path)?);
    }
    builtins()
        .iter()
        .find(|(name, _, _)| *name == spec.plugin)
        .map(|(name, _, module)| LoadedPlugin::builtin(name, module()))
        .ok_or_else(|| PluginStartError::UnknownBuiltin {
            name: spec.plugin.clone(),
            known: builtins()
                .iter()
                .map(|b| b.0)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// The running plugins of a relay.
#[derive(Debug, Clone)]
pub struct Plugins {
    pub auth: AuthHandle,
    pub storage: StorageHandle,
    pub notifiers: Vec<NotifierHandle>,
}

/// What the relay tells its plugins about itself.
pub fn host_context(config: &RelayConfig) -> HostContext {
    HostContext {
        loopback_only: config.loopback_only(),
        host_version: env!("CARGO_PKG_VERSION").into(),
    }
}

/// Resolves and creates every configured plugin, in order: auth, storage, notification.
pub fn start(config: &RelayConfig) -> Result<Plugins, PluginStartError> {
    let host = host_context(config);
    let p = &config.plugins;
    let auth = resolve(&p.auth)?.new_auth(&p.auth.config_json(), &host)?;
    let storage = resolve(&p.storage)?.new_storage(&p.storage.config_json(), &host)?;
    let notifiers = p
        .notification
        .iter()
        .map(|spec| Ok(resolve(spec)?.new_notifier(&spec.config_json(), &host)?))
        .collect::<Result<Vec<_>, PluginStartError>>()?;
    Ok(Plugins {
        auth,
        storage,
        notifiers,
    })
}
