//! The JWT plugin built as a shared library loads through `LoadedPlugin::load` and passes
//! the conformance suite with HS256 and ES256 fixtures.

mod common;

use common::*;
use conclave_plugin_api::PluginKind;
use conclave_plugin_api::conformance::auth::run;
use conclave_plugin_api::host::LoadedPlugin;

const PACKAGE: &str = "conclave-auth-jwt-so";
const LIB: &str = "conclave_plugin_auth_jwt";

/// The plugin's cdylib, built on demand.
fn cdylib() -> std::path::PathBuf {
    conclave_plugin_api::conformance::built_cdylib(PACKAGE, LIB)
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
