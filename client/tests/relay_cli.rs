//! The `conclave` online commands against the real relay, as in the README's worked
//! example: three users register, Alice calls Bob and Carol, Bob's `listen` shows the
//! invite as it arrives and Carol's `inbox` opens it, Bob accepts, Carol rejects and Alice
//! sees it, a text message; errors are one line with a non-zero exit.

mod relay_harness;

use std::process::Stdio;
use std::time::Duration;

use relay_harness::cli::{command, fails, ok};
use relay_harness::{Relay, UNLIMITED};
use serde_json::Value;

fn lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn three_users_a_call_an_answer_and_a_text() {
    let relay = Relay::start(UNLIMITED);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let url = relay.url.as_str();
    for who in ["alice", "bob", "carol"] {
        let out = ok(
            d,
            &["register", "--relay", url, "--dir", who, "--username", who],
        );
        assert!(
            out.starts_with(&format!("registered {who} at {url} (new user)")),
            "{out}"
        );
    }
    let alice = lines(&ok(
        d,
        &[
            "--json",
            "register",
            "--relay",
            url,
            "--dir",
            "alice",
            "--username",
            "Alice",
        ],
    ));
    assert_eq!(alice[0]["user_created"], false);
    let mode = std::fs::metadata(d.join("alice/account.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );

    // Bob listens (his terminal) while Alice calls.
    let listener = command(d)
        .args(["--json", "listen", "--dir", "bob", "--count", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let call = lines(&ok(
        d,
        &["--json", "call", "--dir", "alice", "bob", "carol"],
    ));
    let mid = call[0]["meeting_id"].as_str().unwrap().to_string();
    assert_eq!(call[0]["recipients"].as_array().unwrap().len(), 2);
    let out = listener.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let heard = lines(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(heard[0]["type"], "invite");
    assert_eq!(heard[0]["meeting_id"], mid.as_str());
    assert_eq!(heard[0]["participants"], 3);
    let alice_fp = alice[0]["user_fingerprint"].as_str().unwrap();
    assert_eq!(heard[0]["sender"]["user_fingerprint"], alice_fp);

    // Carol was not listening: her inbox has it (human output).
    let inbox = ok(d, &["inbox", "--dir", "carol"]);
    assert!(inbox.starts_with("[invite] from unknown user"), "{inbox}");
    assert!(inbox.contains(&mid), "{inbox}");
    assert_eq!(
        ok(d, &["inbox", "--dir", "carol"]).trim(),
        "no new messages"
    );

    // Bob accepts; Carol rejects (naming the inviter); Alice sees the rejection.
    let accepted = lines(&ok(d, &["--json", "accept", "--dir", "bob", &mid]));
    assert_eq!(accepted[0]["media"]["transport"], "native");
    let e = fails(d, &["reject", "--dir", "carol", &mid]);
    assert!(e.contains("--initiator"), "{e}");
    let e = fails(d, &["reject", "--dir", "carol", &mid, "--initiator", "bob"]);
    assert!(e.contains("not the user who sent"), "{e}");
    let rejected = ok(
        d,
        &["reject", "--dir", "carol", &mid, "--initiator", "alice"],
    );
    assert!(rejected.starts_with("rejected meeting"), "{rejected}");
    let seen = ok(d, &["inbox", "--dir", "alice"]);
    assert!(seen.starts_with("[reject] carol"), "{seen}");

    // A text message, shown with the sender's name once known.
    ok(d, &["send", "--dir", "bob", "alice", "see you in a minute"]);
    let texts = lines(&ok(d, &["--json", "inbox", "--dir", "alice"]));
    assert_eq!(texts[0]["text"], "see you in a minute");
    assert_eq!(texts[0]["sender"]["username"], "bob");

    // One-line errors.
    fails(d, &["accept", "--dir", "alice", &mid]);
    fails(d, &["send", "--dir", "alice", "nobody", "hi"]);
    fails(d, &["call", "--dir", "nowhere", "bob"]);
    fails(
        d,
        &[
            "register",
            "--relay",
            url,
            "--dir",
            "alice",
            "--username",
            "mallory",
        ],
    );
    fails(
        d,
        &[
            "register",
            "--relay",
            "http://127.0.0.1:9",
            "--dir",
            "dave",
            "--username",
            "dave",
        ],
    );
}
