//! The SQLite storage plugin as a loadable shared library.
//!
//! Only this cdylib exports the root module: the `conclave-storage-sqlite` rlib must not,
//! because two rlibs exporting abi_stable's fixed root symbol cannot be linked into one
//! binary (the relay links several plugins in).

use conclave_plugin_api::PluginModRef;

/// The plugin's root module, found by `conclave_plugin_api::host::LoadedPlugin::load`.
#[abi_stable::export_root_module]
pub fn root() -> PluginModRef {
    conclave_storage_sqlite::plugin_module()
}
