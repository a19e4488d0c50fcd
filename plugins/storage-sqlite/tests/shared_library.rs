//! The cdylib (`conclave-storage-sqlite-so`) loads through the host loader and passes the
//! conformance suite across the ABI. The library is looked up next to this test binary
//! and built with cargo first when it is missing.

mod common;

use std::env::consts::{DLL_PREFIX, DLL_SUFFIX};
use std::path::{Path, PathBuf};
use std::process::Command;

use conclave_plugin_api::PluginKind;
use conclave_plugin_api::host::{LoadedPlugin, PluginSource};

const LIB_NAME: &str = "conclave_plugin_storage_sqlite";

/// `target/<profile>`: the test binary lives in `target/<profile>/deps`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .expect("the test binary is in <target>/<profile>/deps")
        .to_path_buf()
}

/// The shared library, built if it is not there yet.
fn shared_library() -> PathBuf {
    let dir = profile_dir();
    let lib = dir.join(format!("{DLL_PREFIX}{LIB_NAME}{DLL_SUFFIX}"));
    if lib.exists() {
        return lib;
    }
    let target_dir = dir.parent().expect("<target>/<profile>");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| env!("CARGO").to_string());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", "conclave-storage-sqlite-so", "--target-dir"])
        .arg(target_dir);
    match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(profile) => {
            cmd.args(["--profile", profile]);
        }
        None => panic!("cannot tell the build profile from {}", dir.display()),
    }
    let status = cmd.status().expect("running cargo build");
    assert!(
        status.success(),
        "cargo build -p conclave-storage-sqlite-so failed"
    );
    assert!(lib.exists(), "cargo built no {}", lib.display());
    lib
}

#[test]
fn the_shared_library_loads_and_passes_the_suite() {
    let path = shared_library();
    let plugin = LoadedPlugin::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plugin.source(), &PluginSource::File(path.clone()));
    assert_eq!(plugin.kind(), PluginKind::Storage);
    assert_eq!(plugin.info().name.as_str(), "sqlite");
    assert_eq!(
        plugin.info().abi_version.as_str(),
        conclave_plugin_api::ABI_VERSION
    );
    let dir = tempfile::tempdir().unwrap();
    for config in [
        r#"{"path": ":memory:"}"#.to_string(),
        common::file_config(&dir.path().join("so.db")),
    ] {
        let st = plugin.new_storage(&config, &common::host()).unwrap();
        if let Err(failure) = conclave_plugin_api::conformance::storage::run(&st) {
            panic!("{}: {config}: {failure}", path.display());
        }
    }
    // Bad configuration crosses the ABI as one line too.
    let e = plugin.new_storage("{}", &common::host()).unwrap_err();
    assert!(e.to_string().contains("missing field `path`"), "{e}");
    assert!(
        e.to_string().starts_with(&path.display().to_string()),
        "{e}"
    );
}
