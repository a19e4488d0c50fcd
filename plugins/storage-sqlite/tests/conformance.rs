//! The storage conformance suite against the SQLite plugin, linked in.

mod common;

use common::{file_config, open};

fn run(config: &str) {
    let st = open(config);
    match conclave_plugin_api::conformance::storage::run(&st) {
        Ok(report) => {
            println!("{config}: {:#?}", report.passed);
            assert!(report.passed.len() >= 15, "{:?}", report.passed)
        }
        Err(failure) => panic!("{config}: {failure}"),
    }
}

#[test]
fn suite_passes_in_memory() {
    run(r#"{"path": ":memory:"}"#);
}

#[test]
fn suite_passes_on_a_file() {
    let dir = tempfile::tempdir().unwrap();
    run(&file_config(&dir.path().join("conclave.db")));
}

#[test]
fn suite_passes_with_a_single_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.db");
    run(&serde_json::json!({"path": path, "pool_size": 1}).to_string());
}

/// The suite may run against a store that already holds data, its own leftovers included.
#[test]
fn suite_passes_twice_on_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = file_config(&dir.path().join("twice.db"));
    run(&config);
    run(&config);
}
