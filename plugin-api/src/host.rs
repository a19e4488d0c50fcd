//! The host side: loading plugins (from a file or linked in) and calling them through
//! handles with a plain `Result` API.
//!
//! Calls are blocking: async hosts run them on a blocking pool (`spawn_blocking`). Every
//! load failure is a [`LoadError`] whose `Display` is one line naming the file and the
//! cause.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use abi_stable::library::{LibraryError, lib_header_from_path};
use abi_stable::std_types::{RStr, RString};

use crate::auth::{AuthBox, AuthRequest, Principal};
use crate::notify::{Event, NotifierBox, NotifierStats};
use crate::storage::{
    ContainerRecord, DeviceRecord, ListKind, MeetingRecord, MemberRecord, PendingContainer,
    PrekeyRecord, PrivacyMode, StorageBox, UserRecord,
};
use crate::{HostContext, PluginError, PluginInfo, PluginKind, PluginModRef};

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// Linked into the host, by name.
    Builtin(String),
    /// Loaded from a shared library.
    File(PathBuf),
}

impl fmt::Display for PluginSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PluginSource::Builtin(name) => write!(f, "built-in plugin '{name}'"),
            PluginSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Why a plugin could not be loaded or created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadCause {
    /// The file does not exist.
    Missing,
    /// The file is not a loadable shared library.
    NotALibrary(String),
    /// A shared library without Conclave's (abi_stable) root module.
    NotAPlugin,
    /// Built against another, incompatible `conclave-plugin-api` version.
    IncompatibleVersion { plugin: String, host: String },
    /// Same version number but a different interface layout (or another `abi_stable`).
    AbiMismatch(String),
    /// The plugin is of another kind than the configuration asks for.
    WrongKind {
        expected: PluginKind,
        actual: PluginKind,
    },
    /// The plugin refused its configuration (or failed to start).
    Config(PluginError),
}

impl fmt::Display for LoadCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadCause::Missing => f.write_str("no such file"),
            LoadCause::NotALibrary(e) => write!(f, "not a loadable shared library ({e})"),
            LoadCause::NotAPlugin => {
                f.write_str("not a Conclave plugin (no conclave_plugin root module exported)")
            }
            LoadCause::IncompatibleVersion { plugin, host } => write!(
                f,
                "incompatible plugin interface: built against conclave-plugin-api {plugin}, this host uses {host}"
            ),
            LoadCause::AbiMismatch(e) => write!(f, "plugin ABI mismatch: {e}"),
            LoadCause::WrongKind { expected, actual } => write!(
                f,
                "is {} {} plugin, not {} {} plugin",
                article(actual.as_str()),
                actual.as_str(),
                article(expected.as_str()),
                expected.as_str()
            ),
            LoadCause::Config(e) => write!(f, "plugin refused its configuration: {e}"),
        }
    }
}

/// A load failure: `"<file or built-in name>: <cause>"`, on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub source: PluginSource,
    pub cause: LoadCause,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = format!("{}: {}", self.source, self.cause);
        f.write_str(&one_line(&line))
    }
}

impl std::error::Error for LoadError {}

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Collapses whitespace runs (abi_stable and libloading messages span many lines).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn classify(err: LibraryError) -> LoadCause {
    match err {
        LibraryError::OpenError { err, .. } => LoadCause::NotALibrary(one_line(&err.to_string())),
        LibraryError::GetSymbolError { .. } => LoadCause::NotAPlugin,
        LibraryError::IncompatibleVersionNumber {
            expected_version,
            actual_version,
            ..
        } => LoadCause::IncompatibleVersion {
            plugin: actual_version.to_string(),
            host: expected_version.to_string(),
        },
        LibraryError::ParseVersionError(e) => LoadCause::AbiMismatch(one_line(&e.to_string())),
        LibraryError::AbiInstability(_) => LoadCause::AbiMismatch(format!(
            "the plugin's interface layout differs from conclave-plugin-api {}; rebuild it against this version",
            crate::ABI_VERSION
        )),
        LibraryError::InvalidAbiHeader(h) => {
            LoadCause::AbiMismatch(format!("built with an incompatible abi_stable ({h:?})"))
        }
        LibraryError::InvalidCAbi { .. } => {
            LoadCause::AbiMismatch("built with an incompatible C ABI".into())
        }
        LibraryError::RootModule { err, .. } => {
            LoadCause::AbiMismatch(one_line(&format!("root module failed: {err}")))
        }
        other => LoadCause::AbiMismatch(one_line(&other.to_string())),
    }
}

/// A plugin library, loaded or linked in, whose info has been read.
#[derive(Clone)]
pub struct LoadedPlugin {
    source: PluginSource,
    module: PluginModRef,
    info: PluginInfo,
}

impl fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadedPlugin")
            .field("source", &self.source)
            .field("info", &self.info)
            .finish()
    }
}

impl LoadedPlugin {
    /// A plugin linked into the host (its `PluginMod::auth::<T>()` or similar).
    pub fn builtin(name: &str, module: PluginModRef) -> Self {
        let info = (module.info())();
        LoadedPlugin {
            source: PluginSource::Builtin(name.to_string()),
            module,
            info,
        }
    }

    /// Loads a plugin from a shared library. Libraries are never unloaded.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let err = |cause| LoadError {
            source: PluginSource::File(path.to_path_buf()),
            cause,
        };
        if !path.exists() {
            return Err(err(LoadCause::Missing));
        }
        let header = lib_header_from_path(path).map_err(|e| err(classify(e)))?;
        let module = header
            .init_root_module::<PluginModRef>()
            .map_err(|e| err(classify(e)))?;
        let info = (module.info())();
        Ok(LoadedPlugin {
            source: PluginSource::File(path.to_path_buf()),
            module,
            info,
        })
    }

    pub fn source(&self) -> &PluginSource {
        &self.source
    }

    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub fn kind(&self) -> PluginKind {
        self.info.kind
    }

    fn expect(&self, kind: PluginKind) -> Result<(), LoadError> {
        if self.info.kind != kind {
            return Err(self.error(LoadCause::WrongKind {
                expected: kind,
                actual: self.info.kind,
            }));
        }
        Ok(())
    }

    fn error(&self, cause: LoadCause) -> LoadError {
        LoadError {
            source: self.source.clone(),
            cause,
        }
    }

    /// Creates the auth plugin with its JSON configuration.
    pub fn new_auth(&self, config: &str, host: &HostContext) -> Result<AuthHandle, LoadError> {
        self.expect(PluginKind::Auth)?;
        let inner = (self.module.new_auth())(RStr::from_str(config), host)
            .into_result()
            .map_err(|e| self.error(LoadCause::Config(e)))?;
        Ok(AuthHandle {
            inner: Arc::new(inner),
            info: self.info.clone(),
        })
    }

    /// Creates the storage plugin with its JSON configuration.
    pub fn new_storage(
        &self,
        config: &str,
        host: &HostContext,
    ) -> Result<StorageHandle, LoadError> {
        self.expect(PluginKind::Storage)?;
        let inner = (self.module.new_storage())(RStr::from_str(config), host)
            .into_result()
            .map_err(|e| self.error(LoadCause::Config(e)))?;
        Ok(StorageHandle {
            inner: Arc::new(inner),
            info: self.info.clone(),
        })
    }

    /// Creates the notification plugin with its JSON configuration.
    pub fn new_notifier(
        &self,
        config: &str,
        host: &HostContext,
    ) -> Result<NotifierHandle, LoadError> {
        self.expect(PluginKind::Notification)?;
        let inner = (self.module.new_notifier())(RStr::from_str(config), host)
            .into_result()
            .map_err(|e| self.error(LoadCause::Config(e)))?;
        Ok(NotifierHandle {
            inner: Arc::new(inner),
            info: self.info.clone(),
        })
    }
}

/// An auth plugin instance. Cheap to clone; calls are blocking.
#[derive(Clone)]
pub struct AuthHandle {
    inner: Arc<AuthBox>,
    info: PluginInfo,
}

impl fmt::Debug for AuthHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthHandle({})", self.info.name)
    }
}

impl AuthHandle {
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub fn authenticate(&self, request: &AuthRequest) -> Result<Principal, PluginError> {
        self.inner.authenticate(request).into_result()
    }
}

/// A notification plugin instance. Cheap to clone; calls are blocking.
#[derive(Clone)]
pub struct NotifierHandle {
    inner: Arc<NotifierBox>,
    info: PluginInfo,
}

impl fmt::Debug for NotifierHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NotifierHandle({})", self.info.name)
    }
}

impl NotifierHandle {
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub fn deliver(&self, event: &Event) -> Result<(), PluginError> {
        self.inner.deliver(event).into_result()
    }

    pub fn stats(&self) -> NotifierStats {
        self.inner.stats()
    }

    pub fn flush(&self, timeout_ms: u64) -> Result<(), PluginError> {
        self.inner.flush(timeout_ms).into_result()
    }
}

/// A storage plugin instance. Cheap to clone; calls are blocking. See
/// [`crate::storage::Storage`] for each method's contract.
#[derive(Clone)]
pub struct StorageHandle {
    inner: Arc<StorageBox>,
    info: PluginInfo,
}

impl fmt::Debug for StorageHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageHandle({})", self.info.name)
    }
}

type R<T> = Result<T, PluginError>;

impl StorageHandle {
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    pub fn create_user(&self, user: &UserRecord) -> R<()> {
        self.inner.create_user(user).into_result()
    }
    pub fn get_user(&self, user_hash: &str) -> R<Option<UserRecord>> {
        self.inner
            .get_user(user_hash.into())
            .into_result()
            .map(Into::into)
    }
    pub fn set_privacy(&self, user_hash: &str, mode: PrivacyMode) -> R<()> {
        self.inner.set_privacy(user_hash.into(), mode).into_result()
    }
    pub fn set_list(&self, user_hash: &str, kind: ListKind, entries: &[String]) -> R<()> {
        let entries = entries.iter().map(|e| RString::from(e.as_str())).collect();
        self.inner
            .set_list(user_hash.into(), kind, entries)
            .into_result()
    }
    pub fn get_list(&self, user_hash: &str, kind: ListKind) -> R<Vec<String>> {
        let list = self.inner.get_list(user_hash.into(), kind).into_result()?;
        Ok(list.into_iter().map(String::from).collect())
    }
    pub fn add_device(&self, device: &DeviceRecord) -> R<()> {
        self.inner.add_device(device).into_result()
    }
    pub fn get_device(&self, device_id: &str) -> R<Option<DeviceRecord>> {
        self.inner
            .get_device(device_id.into())
            .into_result()
            .map(Into::into)
    }
    pub fn list_devices(&self, user_hash: &str) -> R<Vec<DeviceRecord>> {
        self.inner
            .list_devices(user_hash.into())
            .into_result()
            .map(Into::into)
    }
    pub fn revoke_device(&self, device_id: &str, at_ms: u64) -> R<()> {
        self.inner
            .revoke_device(device_id.into(), at_ms)
            .into_result()
    }
    pub fn add_prekeys(&self, device_id: &str, prekeys: Vec<PrekeyRecord>) -> R<u64> {
        self.inner
            .add_prekeys(device_id.into(), prekeys.into())
            .into_result()
    }
    pub fn take_prekey(&self, device_id: &str) -> R<Option<PrekeyRecord>> {
        self.inner
            .take_prekey(device_id.into())
            .into_result()
            .map(Into::into)
    }
    pub fn prekey_count(&self, device_id: &str) -> R<u64> {
        self.inner.prekey_count(device_id.into()).into_result()
    }
    pub fn store_container(&self, container: &ContainerRecord) -> R<()> {
        self.inner.store_container(container).into_result()
    }
    pub fn fetch_pending(
        &self,
        device_id: &str,
        now_ms: u64,
        limit: u32,
    ) -> R<Vec<PendingContainer>> {
        self.inner
            .fetch_pending(device_id.into(), now_ms, limit)
            .into_result()
            .map(Into::into)
    }
    pub fn acknowledge(&self, device_id: &str, container_id: &str) -> R<bool> {
        self.inner
            .acknowledge(device_id.into(), container_id.into())
            .into_result()
    }
    pub fn expire(&self, now_ms: u64) -> R<u64> {
        self.inner.expire(now_ms).into_result()
    }
    pub fn container_count(&self) -> R<u64> {
        self.inner.container_count().into_result()
    }
    pub fn create_meeting(&self, meeting: &MeetingRecord) -> R<()> {
        self.inner.create_meeting(meeting).into_result()
    }
    pub fn get_meeting(&self, meeting_id: &str) -> R<Option<MeetingRecord>> {
        self.inner
            .get_meeting(meeting_id.into())
            .into_result()
            .map(Into::into)
    }
    pub fn set_member(&self, meeting_id: &str, member: &MemberRecord) -> R<()> {
        self.inner
            .set_member(meeting_id.into(), member)
            .into_result()
    }
    pub fn list_members(&self, meeting_id: &str) -> R<Vec<MemberRecord>> {
        self.inner
            .list_members(meeting_id.into())
            .into_result()
            .map(Into::into)
    }
    pub fn end_meeting(&self, meeting_id: &str, at_ms: u64) -> R<()> {
        self.inner
            .end_meeting(meeting_id.into(), at_ms)
            .into_result()
    }
    pub fn health(&self) -> R<()> {
        self.inner.health().into_result()
    }
}
