//! The JWT plugin built as a shared library loads through `LoadedPlugin::load` and passes
//! the conformance suite with HS256 and ES256 fixtures.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use common::*;
use conclave_plugin_api::PluginKind;
use conclave_plugin_api::conformance::auth::run;
use conclave_plugin_api::host::LoadedPlugin;

const PACKAGE: &str = "conclave-auth-jwt-so";
const LIB: &str = "conclave_plugin_auth_jwt";

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The cdylib in this test binary's target directory (`target/<profile>/`), built with
/// `cargo build -p PACKAGE` when it is missing or older than the test binary.
fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary's directory");
    let profile_dir = if deps.ends_with("deps") {
        deps.parent().expect("the profile directory")
    } else {
        deps
    };
    let file = format!(
        "{}{LIB}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = profile_dir.join(file);
    let fresh = matches!((modified(&path), modified(&exe)), (Some(so), Some(test)) if so >= test);
    if !fresh {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let target_dir = profile_dir.parent().expect("the target directory");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", PACKAGE, "--profile", profile])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build -p {PACKAGE} failed");
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}

#[test]
fn the_shared_library_passes_the_conformance_suite() {
    let plugin = LoadedPlugin::load(&cdylib()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plugin.kind(), PluginKind::Auth);
    assert_eq!(plugin.info().name.as_str(), "jwt");
    assert_eq!(
        plugin.info().abi_version.as_str(),
        conclave_plugin_api::ABI_VERSION
    );
    let auth = plugin.new_auth(&hs256_config(), &host(false)).unwrap();
    let report = run(&auth, Some(&hs256_fixtures())).unwrap();
    assert_eq!(report.passed.len(), 10, "{report:?}");
    let auth = plugin.new_auth(&es256_config(), &host(false)).unwrap();
    run(&auth, Some(&es256_fixtures())).unwrap();
    // Configuration errors cross the boundary as one line.
    let e = plugin
        .new_auth(r#"{"mode":"dev"}"#, &host(false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("loopback") && !e.contains('\n'), "{e}");
}
