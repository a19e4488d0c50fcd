//! The log plugin writes one parseable JSON line per event, counts what it writes, and
//! reports I/O errors as `Unavailable`.

use abi_stable::std_types::ROption;
use conclave_plugin_api::conformance::notify::{ALL_KINDS, run};
use conclave_plugin_api::host::{LoadCause, LoadedPlugin, NotifierHandle};
use conclave_plugin_api::notify::{Event, EventKind};
use conclave_plugin_api::{ErrorKind, HostContext};
use serde_json::{Value, json};

fn host() -> HostContext {
    HostContext {
        loopback_only: false,
        host_version: "test".into(),
    }
}

fn load(config: &str) -> Result<NotifierHandle, conclave_plugin_api::host::LoadError> {
    LoadedPlugin::builtin("log", conclave_notify_log::plugin_module()).new_notifier(config, &host())
}

fn event(i: u64, kind: EventKind) -> Event {
    Event {
        id: format!("ev-{i}").into(),
        kind,
        user_hash: "u1".into(),
        device_id: ROption::RSome("d1".into()),
        meeting_id: ROption::RNone,
        count: i,
        at_ms: 1_700_000_000_000 + i,
    }
}

#[test]
fn writes_one_json_line_per_event_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, "{\"earlier\":true}\n").unwrap();
    let config = json!({"target": "file", "path": path}).to_string();
    let log = load(&config).unwrap();
    for (i, kind) in ALL_KINDS.into_iter().enumerate() {
        log.deliver(&event(i as u64, kind)).unwrap();
    }
    log.flush(1000).unwrap();
    let stats = log.stats();
    assert_eq!((stats.delivered, stats.failed, stats.queued), (6, 0, 0));

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7, "appends to what was there");
    assert_eq!(lines[0], json!({"earlier": true}));
    for (i, (line, kind)) in lines[1..].iter().zip(ALL_KINDS).enumerate() {
        assert_eq!(line["kind"], kind.as_str());
        assert_eq!(line["id"], format!("ev-{i}"));
        assert_eq!(line["user_hash"], "u1");
        assert_eq!(line["device_id"], "d1");
        assert_eq!(line["meeting_id"], Value::Null);
        assert_eq!(line["count"], i as u64);
        assert_eq!(line["at_ms"], 1_700_000_000_000 + i as u64);
        assert_eq!(line["level"], "info");
        assert!(line["ts_ms"].as_u64().unwrap() > 1_700_000_000_000);
    }
}

#[test]
fn concurrent_writers_never_interleave_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let log = load(&json!({"target": "file", "path": path}).to_string()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let log = log.clone();
            s.spawn(move || {
                for i in 0..200 {
                    let mut e = event(t * 1000 + i, EventKind::MessageWaiting);
                    e.user_hash = "x".repeat(3000).into();
                    log.deliver(&e).unwrap();
                }
            });
        }
    });
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 800);
    for line in text.lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
}

#[test]
fn passes_the_conformance_suite_on_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let log = load(&json!({"target": "file", "path": path}).to_string()).unwrap();
    let report = run(&log).unwrap();
    assert_eq!(report.passed.len(), 6, "{report:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    let stats = log.stats();
    assert_eq!(text.lines().count() as u64, stats.delivered);
    for line in text.lines() {
        serde_json::from_str::<Value>(line).unwrap();
    }
}

/// Runs the suite on the stderr target in a child process (this test binary again), whose
/// standard error is captured and parsed: libtest does not capture direct stderr writes.
#[test]
fn passes_the_conformance_suite_on_stderr() {
    const CHILD: &str = "CONCLAVE_NOTIFY_LOG_STDERR_CHILD";
    if std::env::var_os(CHILD).is_some() {
        run(&load(r#"{"target":"stderr"}"#).unwrap()).unwrap();
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "passes_the_conformance_suite_on_stderr",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "the child run failed");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Six kinds, eight odd events, forty concurrent ones.
    assert_eq!(lines.len(), 54);
    assert!(lines.iter().all(|l| l["msg"] == "conclave event"));
}

#[test]
fn write_errors_are_unavailable_and_counted() {
    // Every write to /dev/full fails with ENOSPC.
    let log = load(r#"{"target":"file","path":"/dev/full"}"#).unwrap();
    let e = log
        .deliver(&event(1, EventKind::DeviceRevoked))
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unavailable, "{e}");
    let stats = log.stats();
    assert_eq!((stats.delivered, stats.failed), (0, 1));
}

#[test]
fn bad_configurations_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let missing_dir = dir.path().join("no/such/dir/events.jsonl");
    for config in [
        json!({"target": "file", "path": missing_dir}).to_string(),
        json!({"target": "file"}).to_string(),
        json!({"target": "syslog"}).to_string(),
        json!({"target": "stderr", "level": "debug"}).to_string(),
    ] {
        let e = load(&config).unwrap_err();
        assert!(
            matches!(&e.cause, LoadCause::Config(pe) if pe.kind == ErrorKind::InvalidInput),
            "{config}: {e}"
        );
        assert!(!e.to_string().contains('\n'));
    }
}
