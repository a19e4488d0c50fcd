//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

use conclave_plugin_api::HostContext;
use conclave_plugin_api::host::{LoadedPlugin, StorageHandle};
use conclave_plugin_api::storage::{DeviceRecord, PrekeyRecord, PrivacyMode, UserRecord};

pub fn host() -> HostContext {
    HostContext {
        loopback_only: true,
        host_version: "test".into(),
    }
}

/// The plugin linked in, as the relay uses it.
pub fn plugin() -> LoadedPlugin {
    LoadedPlugin::builtin("sqlite", conclave_storage_sqlite::plugin_module())
}

/// The JSON config for a database file.
pub fn file_config(path: &Path) -> String {
    serde_json::json!({ "path": path }).to_string()
}

pub fn open(config: &str) -> StorageHandle {
    plugin()
        .new_storage(config, &host())
        .unwrap_or_else(|e| panic!("opening {config}: {e}"))
}

pub fn open_file(path: &Path) -> StorageHandle {
    open(&file_config(path))
}

pub fn prekey(id: u32) -> PrekeyRecord {
    PrekeyRecord {
        id,
        public_key: vec![4, (id >> 8) as u8, id as u8].into(),
        signature: vec![id as u8; 8].into(),
    }
}

/// Creates user `user` with device `device`.
pub fn user_with_device(st: &StorageHandle, user: &str, device: &str) {
    st.create_user(&UserRecord {
        user_hash: user.into(),
        privacy: PrivacyMode::Everyone,
        created_ms: 1,
    })
    .unwrap();
    add_device(st, user, device);
}

pub fn add_device(st: &StorageHandle, user: &str, device: &str) {
    st.add_device(&DeviceRecord {
        user_hash: user.into(),
        device_id: device.into(),
        certificate: vec![1, 2, 3].into(),
        created_ms: 2,
        revoked_ms: None.into(),
    })
    .unwrap();
}
