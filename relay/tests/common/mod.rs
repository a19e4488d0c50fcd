//! Finding (and if needed building) the plugin shared libraries the tests load.
#![allow(dead_code)]

use std::path::PathBuf;

/// The path of `lib<libname>.so` built from package `package` (rebuilt when stale).
pub fn plugin_so(package: &str, libname: &str) -> PathBuf {
    conclave_plugin_api::conformance::built_cdylib(package, libname)
}

pub fn sqlite_so() -> PathBuf {
    plugin_so(
        "conclave-storage-sqlite-so",
        "conclave_plugin_storage_sqlite",
    )
}
pub fn jwt_so() -> PathBuf {
    plugin_so("conclave-auth-jwt-so", "conclave_plugin_auth_jwt")
}
pub fn webhook_so() -> PathBuf {
    plugin_so(
        "conclave-notify-webhook-so",
        "conclave_plugin_notify_webhook",
    )
}
pub fn log_so() -> PathBuf {
    plugin_so("conclave-notify-log-so", "conclave_plugin_notify_log")
}
pub fn faulty_so() -> PathBuf {
    plugin_so("conclave-plugin-faulty", "conclave_plugin_faulty")
}
pub fn incompatible_so() -> PathBuf {
    plugin_so(
        "conclave-plugin-incompatible",
        "conclave_plugin_incompatible",
    )
}
pub fn template_so() -> PathBuf {
    plugin_so("conclave-plugin-template", "conclave_plugin_template")
}

/// A shared library of the system that is not a plugin.
pub fn libz() -> PathBuf {
    for dir in [
        "/usr/lib/x86_64-linux-gnu",
        "/lib/x86_64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/lib",
    ] {
        let p = PathBuf::from(dir).join("libz.so.1");
        if p.exists() {
            return p;
        }
    }
    panic!("libz.so.1 not found on this system");
}
pub mod http;
pub mod media;
