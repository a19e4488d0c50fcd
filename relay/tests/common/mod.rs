//! Finding (and if needed building) the plugin shared libraries the tests load.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// The cargo target profile directory (`target/debug`) of this test binary.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/<test binary>
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps layout")
        .to_path_buf()
}

static BUILD: Mutex<()> = Mutex::new(());

/// The path of `lib<libname>.so` built from package `package`. The library is (re)built
/// once per test process with `cargo build` (a no-op when it is up to date), so the tests
/// never load a stale plugin.
pub fn plugin_so(package: &str, libname: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let path = profile_dir().join(format!("lib{libname}.so"));
    let _lock = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|p| p == package) {
        built.push(package.to_string());
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut args = vec!["build", "--quiet", "-p", package];
        if profile_dir().ends_with("release") {
            args.push("--release");
        }
        let status = Command::new(cargo)
            .args(&args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p {package} failed");
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
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
