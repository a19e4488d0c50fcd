//! The root module every plugin exports, and builders for it.

use abi_stable::StableAbi;
use abi_stable::library::RootModule;
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RStr, RString};
use abi_stable::{declare_root_module_statics, package_version_strings};

use crate::auth::{self, Auth, AuthBox};
use crate::notify::{self, Notifier, NotifierBox};
use crate::storage::{self, Storage, StorageBox};
use crate::{PluginError, PluginResult};

/// The kind of a plugin.
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginKind {
    Auth = 1,
    Storage = 2,
    Notification = 3,
}

impl PluginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Auth => "auth",
            PluginKind::Storage => "storage",
            PluginKind::Notification => "notification",
        }
    }
}

/// What a plugin says about itself.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    pub name: RString,
    pub version: RString,
    pub kind: PluginKind,
    /// The `conclave-plugin-api` version the plugin was built against.
    pub abi_version: RString,
}

/// What the host tells a plugin when creating it.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct HostContext {
    /// The relay listens on loopback addresses only (development set-ups).
    pub loopback_only: bool,
    /// The host's version.
    pub host_version: RString,
}

/// The root module of a plugin library: its info and a constructor per kind (the kinds it
/// does not provide return [`crate::ErrorKind::InvalidInput`]). Fields are only ever added
/// at the end.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModRef)))]
#[sabi(missing_field(panic))]
pub struct PluginMod {
    pub info: extern "C" fn() -> PluginInfo,
    pub new_auth: extern "C" fn(config: RStr<'_>, host: &HostContext) -> PluginResult<AuthBox>,
    pub new_storage:
        extern "C" fn(config: RStr<'_>, host: &HostContext) -> PluginResult<StorageBox>,
    #[sabi(last_prefix_field)]
    pub new_notifier:
        extern "C" fn(config: RStr<'_>, host: &HostContext) -> PluginResult<NotifierBox>,
}

impl RootModule for PluginModRef {
    declare_root_module_statics! {PluginModRef}
    const BASE_NAME: &'static str = "conclave_plugin";
    const NAME: &'static str = "conclave_plugin";
    const VERSION_STRINGS: VersionStrings = package_version_strings!();
}

fn info(name: &str, version: &str, kind: PluginKind) -> PluginInfo {
    PluginInfo {
        name: name.into(),
        version: version.into(),
        kind,
        abi_version: crate::ABI_VERSION.into(),
    }
}

fn wrong_kind<B>(kind: PluginKind) -> PluginResult<B> {
    PluginResult::RErr(PluginError::invalid(format!(
        "this plugin is not a {} plugin",
        kind.as_str()
    )))
}

extern "C" fn no_auth(_: RStr<'_>, _: &HostContext) -> PluginResult<AuthBox> {
    wrong_kind(PluginKind::Auth)
}
extern "C" fn no_storage(_: RStr<'_>, _: &HostContext) -> PluginResult<StorageBox> {
    wrong_kind(PluginKind::Storage)
}
extern "C" fn no_notifier(_: RStr<'_>, _: &HostContext) -> PluginResult<NotifierBox> {
    wrong_kind(PluginKind::Notification)
}

extern "C" fn auth_info<T: Auth>() -> PluginInfo {
    info(T::NAME, T::VERSION, PluginKind::Auth)
}
extern "C" fn auth_new<T: Auth>(config: RStr<'_>, host: &HostContext) -> PluginResult<AuthBox> {
    auth::boxed::<T>(config.as_str(), host)
}
extern "C" fn storage_info<T: Storage>() -> PluginInfo {
    info(T::NAME, T::VERSION, PluginKind::Storage)
}
extern "C" fn storage_new<T: Storage>(
    config: RStr<'_>,
    host: &HostContext,
) -> PluginResult<StorageBox> {
    storage::boxed::<T>(config.as_str(), host)
}
extern "C" fn notifier_info<T: Notifier>() -> PluginInfo {
    info(T::NAME, T::VERSION, PluginKind::Notification)
}
extern "C" fn notifier_new<T: Notifier>(
    config: RStr<'_>,
    host: &HostContext,
) -> PluginResult<NotifierBox> {
    notify::boxed::<T>(config.as_str(), host)
}

impl PluginMod {
    /// The root module of an auth plugin. A plugin's cdylib exports it with
    /// `#[abi_stable::export_root_module] fn root() -> PluginModRef { PluginMod::auth::<MyAuth>() }`;
    /// a host that links the plugin as an rlib calls it directly.
    pub fn auth<T: Auth>() -> PluginModRef {
        PluginMod {
            info: auth_info::<T>,
            new_auth: auth_new::<T>,
            new_storage: no_storage,
            new_notifier: no_notifier,
        }
        .leak_into_prefix()
    }

    /// The root module of a storage plugin.
    pub fn storage<T: Storage>() -> PluginModRef {
        PluginMod {
            info: storage_info::<T>,
            new_auth: no_auth,
            new_storage: storage_new::<T>,
            new_notifier: no_notifier,
        }
        .leak_into_prefix()
    }

    /// The root module of a notification plugin.
    pub fn notifier<T: Notifier>() -> PluginModRef {
        PluginMod {
            info: notifier_info::<T>,
            new_auth: no_auth,
            new_storage: no_storage,
            new_notifier: notifier_new::<T>,
        }
        .leak_into_prefix()
    }
}
