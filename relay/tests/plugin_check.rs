//! `conclave-relay plugin check` and `check-config` against real shared libraries: every
//! reference plugin passes; a library that is not a plugin, a plugin built against an
//! incompatible interface, a missing or corrupt file and a bad config each give one line.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn relay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conclave-relay"))
        .args(args)
        .output()
        .expect("run conclave-relay")
}

fn check(path: &Path, config: &str) -> Output {
    relay(&[
        "plugin",
        "check",
        path.to_str().unwrap(),
        "--config",
        config,
    ])
}

fn passes(out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "failed: {}{}",
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("conformance checks passed"), "{stdout}");
    stdout
}

/// The single error line of a failed run.
fn fails(out: Output) -> String {
    assert!(
        !out.status.success(),
        "unexpectedly succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("conclave-relay: error: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line expected: {stderr}");
    lines[0].to_string()
}

#[test]
fn every_reference_plugin_passes_its_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("check.db");
    let out = passes(check(
        &common::sqlite_so(),
        &format!(r#"{{"path": "{}"}}"#, db.display()),
    ));
    assert!(out.contains("(storage plugin, plugin API"), "{out}");
    passes(check(
        &common::jwt_so(),
        r#"{"hs256_secret": "a test secret of enough length, 32+ bytes"}"#,
    ));
    passes(check(&common::log_so(), r#"{"target": "stderr"}"#));
    passes(check(
        &common::webhook_so(),
        r#"{"url": "http://127.0.0.1:9/unreachable", "secret": "a webhook secret for the check", "max_retries": 0, "timeout_ms": 200}"#,
    ));
    passes(check(&common::template_so(), r#"{"tokens": {}}"#));
}

#[test]
fn a_library_that_is_not_a_plugin_is_refused_in_one_line() {
    let libz = common::libz();
    let line = fails(check(&libz, "{}"));
    assert!(line.contains(libz.to_str().unwrap()), "{line}");
    assert!(line.contains("not a Conclave plugin"), "{line}");
}

#[test]
fn an_incompatible_interface_version_is_refused_in_one_line() {
    let so = common::incompatible_so();
    let line = fails(check(&so, "{}"));
    assert!(line.contains("incompatible plugin interface"), "{line}");
    assert!(
        line.contains("1.0.0") && line.contains(conclave_plugin_api::ABI_VERSION),
        "{line}"
    );
}

#[test]
fn missing_and_corrupt_files_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("libmissing.so");
    let line = fails(check(&missing, "{}"));
    assert!(line.ends_with("libmissing.so: no such file"), "{line}");
    let corrupt = dir.path().join("libcorrupt.so");
    // A real plugin whose ELF header is damaged past the magic bytes.
    let mut bytes = std::fs::read(common::log_so()).unwrap();
    bytes[16..4096].fill(0xa5);
    std::fs::write(&corrupt, bytes).unwrap();
    let line = fails(check(&corrupt, "{}"));
    assert!(line.contains("libcorrupt.so"), "{line}");
}

fn config_file(dir: &Path, body: &str) -> String {
    let path = dir.join("relay.toml");
    std::fs::write(&path, body).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn check_config_starts_every_plugin_or_names_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let good = config_file(
        dir.path(),
        &format!(
            r#"
            [plugins.auth]
            plugin = "{}"
            [plugins.storage]
            plugin = "sqlite"
            config = {{ path = "{}" }}
            [[plugins.notification]]
            plugin = "{}"
            "#,
            common::faulty_so().display(),
            db.display(),
            common::log_so().display()
        ),
    );
    let out = relay(&["check-config", "--config", &good]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("auth: faulty") && stdout.contains("storage: sqlite"),
        "{stdout}"
    );

    let bad_path = config_file(
        dir.path(),
        "[plugins.auth]\nplugin = \"/nowhere/libauth.so\"\n",
    );
    let line = fails(relay(&["check-config", "--config", &bad_path]));
    assert!(
        line.ends_with("/nowhere/libauth.so: no such file"),
        "{line}"
    );

    let wrong_kind = config_file(
        dir.path(),
        &format!(
            "[plugins.auth]\nplugin = \"{}\"\n",
            common::log_so().display()
        ),
    );
    let line = fails(relay(&["check-config", "--config", &wrong_kind]));
    assert!(
        line.contains("is a notification plugin, not an auth plugin"),
        "{line}"
    );

    let bad_config = config_file(
        dir.path(),
        "[plugins.storage]\nplugin = \"sqlite\"\nconfig = { nonsense = 1 }\n",
    );
    let line = fails(relay(&["check-config", "--config", &bad_config]));
    assert!(
        line.contains("built-in plugin 'sqlite': plugin refused its configuration"),
        "{line}"
    );

    let unknown = config_file(dir.path(), "[plugins.auth]\nplugin = \"kerberos\"\n");
    let line = fails(relay(&["check-config", "--config", &unknown]));
    assert!(
        line.contains("unknown built-in plugin 'kerberos'"),
        "{line}"
    );

    let dev_public = config_file(dir.path(), "listen = \"0.0.0.0:8443\"\n");
    let line = fails(relay(&["check-config", "--config", &dev_public]));
    assert!(line.contains("jwt") && line.contains("loopback"), "{line}");
}
