//! The load tester end to end against the real relay binary on loopback: a small scenario
//! with a rekey in the middle gives a consistent report; SLOs set the exit code; bad
//! scenario files and unreachable relays are one-line errors.

mod common;

use common::relay_binary;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn loadtest(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conclave-loadtest"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run conclave-loadtest")
}

fn one_line_error(o: &Output) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.starts_with("conclave-loadtest: "), "{stderr}");
    stderr
}

#[test]
fn a_smoke_scenario_gives_a_consistent_report() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_binary();
    std::fs::write(
        dir.path().join("smoke.toml"),
        r#"
        [[run]]
        name = "smoke"
        participants = 3
        publishers = 3
        profile = "audio"
        duration_s = 4
        warmup_s = 1
        leave_at_s = [2]
        join_at_s = [1]
        "#,
    )
    .unwrap();
    let out = loadtest(
        &[
            "run",
            "--scenario",
            "smoke.toml",
            "--relay-bin",
            relay.to_str().unwrap(),
            "--workers",
            "1",
            "--quiet",
            "--out",
            "report",
            "--slo",
            "loss<0.5%,decrypt_failures=0",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("smoke"), "{stdout}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report/report.json")).unwrap())
            .unwrap();
    assert_eq!(report["schema_version"], 1);
    let run = &report["runs"][0];
    let o = &run["overall"];
    let (expected, delivered) = (
        o["frames_expected"].as_u64().unwrap(),
        o["frames_delivered"].as_u64().unwrap(),
    );
    // Three audio publishers for 4 s at 50 frames/s, each heard by the others: hundreds of
    // frames, all of them on loopback at this rate.
    assert!(delivered > 300, "{o}");
    assert!(delivered <= expected, "{o}");
    assert_eq!(o["loss"].as_f64().unwrap(), 0.0, "{o}");
    assert_eq!(o["decrypt_failures"], 0, "{o}");
    assert!(o["frames_sent"].as_u64().unwrap() > 0, "{o}");
    assert!(
        o["latency"]["samples"].as_u64().unwrap() == delivered,
        "{o}"
    );
    assert!(o["latency"]["p50_ms"].as_f64().unwrap() > 0.0, "{o}");
    // Three in the first invite, one added by the initiator at 1 s.
    assert_eq!(o["participants"], 4, "{o}");
    assert_eq!(o["join"]["samples"], 4, "{o}");
    assert_eq!(o["first_frame_after_join"]["samples"], 4, "{o}");
    // The add at 1 s and the leave at 2 s: the initiator rekeyed twice; the joiner decrypted
    // frames of the epoch it was invited to, and the others decrypted each epoch from each
    // other (two senders each, two rekeys).
    assert_eq!(run["rekeys"], 2, "{run}");
    assert_eq!(run["warnings"].as_array().map(Vec::len), Some(0), "{run}");
    assert!(
        o["first_frame_after_rekey"]["samples"].as_u64().unwrap() >= 4,
        "{o}"
    );
    assert!(o["rekey_glitch_ms"].as_f64().is_some(), "{o}");
    // The relay was measured, and the baseline ran beside it.
    assert!(
        run["relay_usage"]["datagrams_out_per_s"].as_f64().unwrap() > 0.0,
        "{run}"
    );
    assert!(
        run["relay_usage"]["rss_bytes_max"].as_u64().unwrap() > 0,
        "{run}"
    );
    assert!(
        run["baseline"]["delivered_pps"].as_f64().unwrap() > 0.0,
        "{run}"
    );
    assert!(
        run["slo"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["passed"] == true),
        "{run}"
    );

    let csv = std::fs::read_to_string(dir.path().join("report/run-1-smoke.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("second,frames_delivered,"));
    assert_eq!(rows.len(), 1 + 4, "{csv}");
    let per_second_frames: u64 = rows[1..]
        .iter()
        .map(|r| r.split(',').nth(1).unwrap().parse::<u64>().unwrap())
        .sum();
    assert!(per_second_frames > 0 && per_second_frames <= delivered + 50);
}

#[test]
fn a_breached_slo_makes_the_exit_code_one() {
    let dir = tempfile::tempdir().unwrap();
    let relay = relay_binary();
    let out = loadtest(
        &[
            "run",
            "--participants",
            "2",
            "--duration",
            "1",
            "--warmup",
            "0.5",
            "--relay-bin",
            relay.to_str().unwrap(),
            "--workers",
            "1",
            "--no-baseline",
            "--quiet",
            "--out",
            "report",
            "--slo",
            "p99<1us",
        ],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("SLO breached: p99<1us"), "{stdout}");
}

#[test]
fn bad_scenarios_and_unreachable_relays_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.toml"), "[[run]]\nparticipants = 1\n").unwrap();
    let e = one_line_error(&loadtest(&["run", "--scenario", "bad.toml"], dir.path()));
    assert!(
        e.contains("bad.toml") && e.contains("at least 2 participants"),
        "{e}"
    );

    let e = one_line_error(&loadtest(
        &["run", "--scenario", "missing.toml"],
        dir.path(),
    ));
    assert!(e.contains("missing.toml"), "{e}");

    let e = one_line_error(&loadtest(
        &[
            "run",
            "--relay",
            "http://127.0.0.1:9",
            "--no-baseline",
            "--quiet",
        ],
        dir.path(),
    ));
    assert!(e.contains("127.0.0.1:9"), "{e}");

    let e = one_line_error(&loadtest(
        &["run", "--relay", "http://192.0.2.1:8443", "--quiet"],
        dir.path(),
    ));
    assert!(e.contains("loopback"), "{e}");

    let e = one_line_error(&loadtest(&["run", "--slo", "latency<5ms"], dir.path()));
    assert!(e.contains("unknown metric"), "{e}");
}
