//! Media through the `conclave` command line against the real relay: Alice calls Bob and
//! Carol with `--media video --media file:PATH`, they accept with `--media`; every
//! participant's live summary shows the others' frames decrypted without failure, Bob
//! writes Alice's file (byte-identical) to `--out`; `conclave leave` from another terminal
//! ends Carol's session, Alice rekeys once and Bob follows into the new epoch; Ctrl-C
//! ends Bob's and then Alice's (Alice rekeys again when Bob leaves); `remove` is for the
//! initiator only. Every process is bounded in time (`--duration`, and killed on drop).

mod relay_harness;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relay_harness::Relay;
use relay_harness::cli::{command, fails, ok};
use relay_harness::media::MEDIA_CONFIG;
use serde_json::Value;

/// A running `conclave` whose output lines are collected as they come.
struct Running {
    name: &'static str,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Running {
    fn spawn(name: &'static str, dir: &Path, args: &[&str]) -> Running {
        let mut child = command(dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn conclave");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        for (pipe, sink) in [
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
                lines.clone(),
            ),
            (Box::new(child.stderr.take().unwrap()), errors.clone()),
        ] {
            std::thread::spawn(move || {
                for l in BufReader::new(pipe).lines() {
                    let Ok(l) = l else { break };
                    sink.lock().unwrap().push(l);
                }
            });
        }
        Running {
            name,
            child,
            lines,
            errors,
        }
    }

    fn json(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn text(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits (bounded) until a JSON line satisfies `f`, and returns it.
    fn wait_json(&self, what: &str, secs: u64, f: impl Fn(&Value) -> bool) -> Value {
        self.wait(what, secs, || self.json().into_iter().find(|v| f(v)))
    }

    fn wait<T>(&self, what: &str, secs: u64, f: impl Fn() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting for {what}\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.text(),
                self.errors.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGINT (Ctrl-C).
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits (bounded) for the process to exit by itself; it must succeed.
    fn finish(&mut self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader threads catch up with the last lines.
                std::thread::sleep(Duration::from_millis(100));
                assert!(
                    status.success(),
                    "{} failed: {}\n{}",
                    self.name,
                    self.errors.lock().unwrap().join("\n"),
                    self.text()
                );
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{} did not stop by itself\nstdout:\n{}\nstderr:\n{}",
                    self.name,
                    self.text(),
                    self.errors.lock().unwrap().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The participant entry named `name` in a summary line.
fn participant<'a>(summary: &'a Value, name: &str) -> &'a Value {
    summary["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {summary}"))
}

#[test]
fn call_accept_media_file_leave_and_rekey_through_the_cli() {
    let relay = Relay::start(MEDIA_CONFIG);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let url = relay.url.as_str();
    for who in ["alice", "bob", "carol"] {
        ok(
            d,
            &["register", "--relay", url, "--dir", who, "--username", who],
        );
    }
    let file: Vec<u8> = (0..50_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    std::fs::write(d.join("slides.bin"), &file).unwrap();

    // Alice calls with video and a file, for a bounded time.
    let mut alice = Running::spawn(
        "alice",
        d,
        &[
            "--json",
            "call",
            "--dir",
            "alice",
            "--media",
            "video",
            "--media",
            "file:slides.bin",
            "--duration",
            "120",
            "bob",
            "carol",
        ],
    );
    let call = alice.wait_json("the invite", 30, |v| v["event"] == "call");
    let mid = call["meeting_id"].as_str().unwrap().to_string();
    ok(d, &["inbox", "--dir", "bob"]);
    ok(d, &["inbox", "--dir", "carol"]);
    // Bob and Carol look the others up (a text each), so that their summaries name them
    // and Carol's `leave` can tell Alice in a container.
    for (from, to) in [
        ("bob", "alice"),
        ("bob", "carol"),
        ("carol", "alice"),
        ("carol", "bob"),
    ] {
        ok(d, &["send", "--dir", from, to, "joining"]);
    }
    let mut bob = Running::spawn(
        "bob",
        d,
        &[
            "--json",
            "accept",
            "--dir",
            "bob",
            &mid,
            "--media",
            "audio",
            "--duration",
            "120",
            "--out",
            "bob-files",
        ],
    );
    // Carol: human output, no duration: she stays until she leaves.
    let mut carol = Running::spawn(
        "carol",
        d,
        &["accept", "--dir", "carol", &mid[..12], "--media", "video"],
    );

    // Everyone decrypts everyone.
    for (who, others) in [(&alice, ["bob", "carol"]), (&bob, ["alice", "carol"])] {
        who.wait_json("frames of the others", 30, |v| {
            v["event"] == "media"
                && others.iter().all(|o| {
                    v["participants"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["name"] == *o && p["decrypted"].as_u64().unwrap() > 20)
                })
        });
    }
    carol.wait("a summary line", 30, || {
        let t = carol.text();
        (t.contains("alice (#0") && t.contains("bob (#1")).then_some(())
    });
    // Bob has Alice's file.
    let got = bob.wait_json("the file", 30, |v| v["event"] == "file_received");
    assert_eq!(got["name"], "alice");
    let path = got["path"].as_str().unwrap();
    assert_eq!(std::fs::read(d.join(path)).unwrap(), file);

    // Only the initiator removes; errors are one line.
    let e = fails(d, &["remove", "--dir", "bob", &mid, "carol"]);
    assert!(e.contains("only its initiator"), "{e}");
    fails(d, &["remove", "--dir", "alice", &mid, "nobody-here"]);
    fails(d, &["leave", "--dir", "bob", "00000000"]);

    // Carol leaves from another terminal: her running session ends by itself.
    let left: Value =
        serde_json::from_str(ok(d, &["--json", "leave", "--dir", "carol", &mid]).trim()).unwrap();
    assert_eq!(left["event"], "left");
    assert_eq!(left["told_initiator"], true);
    carol.finish(20);
    let ct = carol.text();
    assert!(
        ct.contains("[media] ended: closed by the relay (Left)"),
        "{ct}"
    );
    assert!(ct.contains("[media final]"), "{ct}");

    // Alice rekeys once without her; Bob follows into epoch 1.
    let rk = alice.wait_json("the rekey", 20, |v| v["event"] == "rekeyed");
    assert_eq!(rk["epoch"], 1);
    assert_eq!(rk["sent_to"], 1);
    bob.wait_json("epoch 1", 20, |v| {
        v["event"] == "epoch_switched" && v["epoch"] == 1
    });
    // The initiator may still record Carol as removed (by username): the relay refuses her
    // tickets from now on; she is already out of the roster, so nothing is rekeyed.
    let removed: Value = serde_json::from_str(
        ok(
            d,
            &["--json", "remove", "--dir", "alice", &mid[..10], "carol"],
        )
        .trim(),
    )
    .unwrap();
    assert_eq!(removed["devices"].as_array().unwrap().len(), 1);
    let e = fails(d, &["accept", "--dir", "carol", &mid, "--media", "audio"]);
    assert!(e.contains("removed"), "{e}");

    // Ctrl-C ends a running meeting: Bob leaves (Alice rekeys again, to herself alone),
    // then Alice (the meeting ends).
    bob.interrupt();
    bob.finish(30);
    alice.wait_json("the second rekey", 20, |v| {
        v["event"] == "rekeyed" && v["epoch"] == 2
    });
    // The initiator switches sending at the rekey's switch time, not at once.
    alice.wait_json("alice sending in epoch 2", 20, |v| {
        v["event"] == "epoch_switched" && v["epoch"] == 2
    });
    alice.interrupt();
    alice.finish(30);

    // One rekey per departure (Carol's was reported twice: her `leave` container and the
    // relay's member event); Bob's departure on Ctrl-C made the second, to Alice alone.
    let a = alice.json();
    let rekeys: Vec<(u64, u64)> = a
        .iter()
        .filter(|v| v["event"] == "rekeyed")
        .map(|v| (v["epoch"].as_u64().unwrap(), v["sent_to"].as_u64().unwrap()))
        .collect();
    assert_eq!(rekeys, vec![(1, 1), (2, 0)]);
    let departed: Vec<&str> = a
        .iter()
        .filter(|v| v["event"] == "departed")
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(departed, vec!["carol", "bob"]);
    let b = bob.json();
    let final_b = b
        .iter()
        .find(|v| v["event"] == "media_final")
        .expect("bob's final summary");
    let from_alice = participant(final_b, "alice");
    assert_eq!(from_alice["failures"], 0, "{final_b}");
    assert!(from_alice["decrypted"].as_u64().unwrap() > 30, "{final_b}");
    assert_eq!(from_alice["epoch"], 1, "{final_b}");
    assert!(from_alice["latency_p99_ms"].as_f64().is_some(), "{final_b}");
    assert_eq!(participant(final_b, "carol")["failures"], 0);
    let final_a = a
        .iter()
        .find(|v| v["event"] == "media_final")
        .expect("alice's final summary");
    let from_bob = participant(final_a, "bob");
    assert_eq!(from_bob["failures"], 0, "{final_a}");
    assert!(from_bob["decrypted"].as_u64().unwrap() > 30, "{final_a}");
    // Late reports of a departure (the `leave` container after the member event, or the
    // other way round) are not worth a warning.
    assert!(
        !a.iter().any(|v| v["event"] == "warning"),
        "{}",
        alice.text()
    );
    assert_eq!(final_a["epoch"], 2);
}
