//! The JWT auth plugin as a loadable shared library: `libconclave_plugin_auth_jwt.so`
//! exports the plugin's root module (see `conclave_auth_jwt` for its configuration).

use conclave_plugin_api::PluginModRef;

/// The root module the host loads.
#[abi_stable::export_root_module]
pub fn root() -> PluginModRef {
    conclave_auth_jwt::plugin_module()
}
