//! Conclave's stable plugin ABI, built on `abi_stable`.
//!
//! A plugin is a shared library (or an rlib linked into the relay) that exports one root
//! module, [`PluginModRef`]: its [`PluginInfo`] and constructors for the kinds it provides
//! — [`auth`], [`storage`] or [`notify`]. Plugin authors implement the plain Rust traits
//! [`auth::Auth`], [`storage::Storage`] or [`notify::Notifier`] and export them with
//! [`export_plugin!`]; the adapters here turn them into FFI-safe trait objects and catch
//! every panic at the boundary, returning [`ErrorKind::Internal`].
//!
//! The host side is [`host`]: a loader that turns every failure into one line naming the
//! file and the cause, and handles with a plain `Result` API. Plugin calls are blocking;
//! the relay calls them off its async runtime.
//!
//! **This crate's version is the ABI version.** Host and plugin must be built against
//! compatible versions (semver: same `0.y`); additions go at the end of traits and root
//! modules, with defaults.

pub mod auth;
#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod guard;
pub mod host;
mod module;
pub mod notify;
pub mod storage;

pub use error::{ErrorKind, PluginError, PluginResult};
pub use guard::guard;
pub use module::{HostContext, PluginInfo, PluginKind, PluginMod, PluginModRef};

/// Re-exports the plugin macros need.
#[doc(hidden)]
pub mod __private {
    pub use abi_stable;
}

/// The ABI version: this crate's version.
pub const ABI_VERSION: &str = env!("CARGO_PKG_VERSION");
