//! The log notification plugin as a loadable shared library:
//! `libconclave_plugin_notify_log.so` exports the plugin's root module (see
//! `conclave_notify_log` for its configuration).

use conclave_plugin_api::PluginModRef;

/// The root module the host loads.
#[abi_stable::export_root_module]
pub fn root() -> PluginModRef {
    conclave_notify_log::plugin_module()
}
