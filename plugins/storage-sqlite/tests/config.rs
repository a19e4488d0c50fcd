//! Bad configurations stop start-up with one clear `InvalidInput` line.

mod common;

use common::{file_config, host, plugin};
use conclave_plugin_api::ErrorKind;
use conclave_plugin_api::host::LoadCause;

/// Creating the plugin with `config` fails with `InvalidInput`; returns the error line.
fn refused(config: &str) -> String {
    let e = plugin().new_storage(config, &host()).unwrap_err();
    let LoadCause::Config(pe) = &e.cause else {
        panic!("{config}: {e}")
    };
    assert_eq!(pe.kind, ErrorKind::InvalidInput, "{config}: {e}");
    let line = e.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.starts_with(
            "built-in plugin 'sqlite': plugin refused its configuration: invalid_input: "
        ),
        "{line}"
    );
    line
}

#[test]
fn malformed_configs_name_the_problem() {
    for (config, needle) in [
        ("", "storage-sqlite config"),
        ("not json", "storage-sqlite config"),
        ("[]", "storage-sqlite config"),
        ("{}", "missing field `path`"),
        (r#"{"path": ""}"#, "`path` is empty"),
        (r#"{"path": ":memory:", "url": "x"}"#, "unknown field `url`"),
        (
            r#"{"path": ":memory:", "pool_size": 0}"#,
            "`pool_size` is 0",
        ),
        (r#"{"path": ":memory:", "pool_size": "4"}"#, "invalid type"),
        (
            r#"{"path": ":memory:", "busy_timeout_ms": 9999999}"#,
            "`busy_timeout_ms` is 9999999",
        ),
    ] {
        let line = refused(config);
        assert!(line.contains(needle), "{config}: {line}");
    }
}

#[test]
fn unusable_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();

    // A directory.
    let line = refused(&file_config(dir.path()));
    assert!(line.contains("cannot open database"), "{line}");

    // A file where a parent directory should be.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let line = refused(&file_config(&file.join("conclave.db")));
    assert!(
        line.contains("cannot create the database directory"),
        "{line}"
    );

    // Not an SQLite database.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x5a; 8192]).unwrap();
    let line = refused(&file_config(&junk));
    assert!(line.contains("is not an SQLite database file"), "{line}");
    assert!(line.contains("junk.db"), "{line}");

    // Another application's SQLite database.
    let foreign = dir.path().join("foreign.db");
    rusqlite::Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT)")
        .unwrap();
    let line = refused(&file_config(&foreign));
    assert!(line.contains("not a Conclave database"), "{line}");
}

#[test]
fn optional_settings_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.db");
    let config = serde_json::json!({"path": path, "busy_timeout_ms": 100, "pool_size": 2});
    let st = plugin().new_storage(&config.to_string(), &host()).unwrap();
    st.health().unwrap();
    assert_eq!(st.info().name.as_str(), "sqlite");
    let st = plugin()
        .new_storage(r#"{"path": ":memory:", "pool_size": 8}"#, &host())
        .unwrap();
    st.health().unwrap();
}
