//! The webhook notification plugin as a loadable shared library:
//! `libconclave_plugin_notify_webhook.so` exports the plugin's root module (see
//! `conclave_notify_webhook` for its configuration and signature scheme).

use conclave_plugin_api::PluginModRef;

/// The root module the host loads.
#[abi_stable::export_root_module]
pub fn root() -> PluginModRef {
    conclave_notify_webhook::plugin_module()
}
