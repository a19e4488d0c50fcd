//! A deliberately faulty auth plugin, for tests of the host's resilience.
//!
//! Credentials select the fault: `panic` panics inside the plugin, `error` returns an
//! internal error, `ok` is accepted for every action. A config of `"panic"` panics in the
//! constructor.

use conclave_plugin_api::auth::{Action, Auth, AuthRequest, Principal};
use conclave_plugin_api::{HostContext, PluginError, PluginMod, PluginModRef};

/// The faulty plugin.
pub struct Faulty;

impl Auth for Faulty {
    const NAME: &'static str = "faulty";
    const VERSION: &'static str = "0.0.1";

    fn from_config(config: &str, _host: &HostContext) -> Result<Self, PluginError> {
        if config.trim() == "\"panic\"" {
            panic!("faulty plugin: panic in the constructor, on purpose");
        }
        Ok(Faulty)
    }

    fn authenticate(&self, request: &AuthRequest) -> Result<Principal, PluginError> {
        match request.credential.as_str() {
            "panic" => panic!("faulty plugin: panic in authenticate, on purpose"),
            "error" => Err(PluginError::internal("faulty plugin: error on purpose")),
            "ok" => Ok(Principal {
                subject: "faulty".into(),
                device_id: None.into(),
                meetings: vec!["*".into()].into(),
                actions: Action::ALL.to_vec().into(),
                expires_ms: u64::MAX,
            }),
            _ => Err(PluginError::denied("unknown credential")),
        }
    }
}

/// The exported root module.
#[abi_stable::export_root_module]
pub fn root() -> PluginModRef {
    PluginMod::auth::<Faulty>()
}
