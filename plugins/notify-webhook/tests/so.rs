//! The webhook plugin built as a shared library loads through `LoadedPlugin::load` and
//! passes the conformance suite against a real local receiver that checks signatures.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use common::*;
use conclave_plugin_api::conformance::notify::run;
use conclave_plugin_api::host::LoadedPlugin;
use conclave_plugin_api::{HostContext, PluginKind};

const PACKAGE: &str = "conclave-notify-webhook-so";
const LIB: &str = "conclave_plugin_notify_webhook";

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
    assert_eq!(plugin.kind(), PluginKind::Notification);
    assert_eq!(plugin.info().name.as_str(), "webhook");
    let host = HostContext {
        loopback_only: false,
        host_version: "test".into(),
    };
    let receiver = Receiver::start(Script::statuses(&[503]));
    let hook = plugin
        .new_notifier(&config(&receiver.url(), serde_json::json!({})), &host)
        .unwrap();
    let report = run(&hook).unwrap();
    assert_eq!(report.passed.len(), 6, "{report:?}");
    let hits = receiver.hits();
    // One retry after the scripted 503; every request carries a valid signature.
    assert_eq!(hits.len() as u64, hook.stats().delivered + 1);
    assert!(hits.iter().all(|h| h.valid));
    // Dropping the last handle stops the plugin's worker inside the library.
    drop(hook);
    let e = plugin
        .new_notifier(r#"{"url":"gopher://x","secret":"0123456789abcdef"}"#, &host)
        .unwrap_err()
        .to_string();
    assert!(e.contains("url must be") && !e.contains('\n'), "{e}");
}
