//! A plugin built against an incompatible version of the plugin interface: it declares
//! Conclave's root module (same name) as a future `conclave-plugin-api` 1.0.0 would, with
//! a different layout. Hosts must refuse it with a one-line "incompatible plugin
//! interface" error; loading it must never reach its code.

use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::RString;
use abi_stable::{StableAbi, declare_root_module_statics};

/// The root module of "version 1.0.0" of the interface.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    #[sabi(last_prefix_field)]
    pub describe: extern "C" fn() -> RString,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "conclave_plugin";
    const NAME: &'static str = "conclave_plugin";
    const VERSION_STRINGS: VersionStrings = VersionStrings::new("1.0.0");
}

extern "C" fn describe() -> RString {
    "a plugin from the future".into()
}

/// The exported root module.
#[abi_stable::export_root_module]
pub fn root() -> PluginModRef {
    PluginMod { describe }.leak_into_prefix()
}
