//! The webhook plugin built as a shared library loads through `LoadedPlugin::load` and
//! passes the conformance suite against a real local receiver that checks signatures.

mod common;

use common::*;
use conclave_plugin_api::conformance::notify::run;
use conclave_plugin_api::host::LoadedPlugin;
use conclave_plugin_api::{HostContext, PluginKind};

const PACKAGE: &str = "conclave-notify-webhook-so";
const LIB: &str = "conclave_plugin_notify_webhook";

/// The plugin's cdylib, built on demand.
fn cdylib() -> std::path::PathBuf {
    conclave_plugin_api::conformance::built_cdylib(PACKAGE, LIB)
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
