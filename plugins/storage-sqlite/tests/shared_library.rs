//! The cdylib (`conclave-storage-sqlite-so`) loads through the host loader and passes the
//! conformance suite across the ABI. The library is looked up next to this test binary
//! and built with cargo first when it is missing or stale.

mod common;

use conclave_plugin_api::PluginKind;
use conclave_plugin_api::host::{LoadedPlugin, PluginSource};

const LIB_NAME: &str = "conclave_plugin_storage_sqlite";

/// The shared library, built when missing or older than this test (never a stale one).
fn shared_library() -> std::path::PathBuf {
    conclave_plugin_api::conformance::built_cdylib("conclave-storage-sqlite-so", LIB_NAME)
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
