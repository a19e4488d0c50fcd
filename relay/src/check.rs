//! `conclave-relay plugin check PATH`: load a plugin, print what it says it is, create it
//! with a configuration and run the conformance suite of its kind — the same suite the
//! reference plugins pass in `cargo test`.

use std::path::Path;

use conclave_plugin_api::PluginKind;
use conclave_plugin_api::conformance::{self, Report};
use conclave_plugin_api::host::LoadedPlugin;

use crate::plugins::host_context;

/// Runs the check, printing progress lines to `out`; returns the error line on failure.
pub fn check(
    path: &Path,
    config_json: &str,
    out: &mut dyn std::io::Write,
) -> Result<Report, String> {
    let plugin = LoadedPlugin::load(path).map_err(|e| e.to_string())?;
    let info = plugin.info();
    let _ = writeln!(
        out,
        "{}: {} {} ({} plugin, plugin API {})",
        path.display(),
        info.name,
        info.version,
        info.kind.as_str(),
        info.abi_version
    );
    let host = host_context(&crate::config::RelayConfig::default());
    let report = match plugin.kind() {
        PluginKind::Auth => {
            let h = plugin
                .new_auth(config_json, &host)
                .map_err(|e| e.to_string())?;
            conformance::auth::run(&h, None)
        }
        PluginKind::Storage => {
            let h = plugin
                .new_storage(config_json, &host)
                .map_err(|e| e.to_string())?;
            conformance::storage::run(&h)
        }
        PluginKind::Notification => {
            let h = plugin
                .new_notifier(config_json, &host)
                .map_err(|e| e.to_string())?;
            conformance::notify::run(&h)
        }
    }
    .map_err(|f| format!("{}: {f}", path.display()))?;
    let _ = writeln!(
        out,
        "{}: {} conformance checks passed",
        path.display(),
        report.passed.len()
    );
    Ok(report)
}
