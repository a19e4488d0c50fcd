//! The log plugin built as a shared library loads through `LoadedPlugin::load` and passes
//! the conformance suite.

use conclave_plugin_api::conformance::notify::run;
use conclave_plugin_api::host::LoadedPlugin;
use conclave_plugin_api::{HostContext, PluginKind};

const PACKAGE: &str = "conclave-notify-log-so";
const LIB: &str = "conclave_plugin_notify_log";

/// The plugin's cdylib, built on demand.
fn cdylib() -> std::path::PathBuf {
    conclave_plugin_api::conformance::built_cdylib(PACKAGE, LIB)
}

#[test]
fn the_shared_library_passes_the_conformance_suite() {
    let plugin = LoadedPlugin::load(&cdylib()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(plugin.kind(), PluginKind::Notification);
    assert_eq!(plugin.info().name.as_str(), "log");
    let host = HostContext {
        loopback_only: false,
        host_version: "test".into(),
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let config = serde_json::json!({"target": "file", "path": path}).to_string();
    let log = plugin.new_notifier(&config, &host).unwrap();
    let report = run(&log).unwrap();
    assert_eq!(report.passed.len(), 6, "{report:?}");
    let lines = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
    assert_eq!(lines, log.stats().delivered);
    let e = plugin
        .new_notifier(r#"{"target":"nowhere"}"#, &host)
        .unwrap_err()
        .to_string();
    assert!(e.contains("target must be") && !e.contains('\n'), "{e}");
}
