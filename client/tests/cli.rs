//! The `conclave` binary end to end: identities, bundles, seal to two bundles, open by both,
//! a third identity refused, and one-line errors with a non-zero exit for bad input.

use std::path::Path;
use std::process::{Command, Output};

fn conclave(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conclave"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run conclave")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = conclave(dir, args);
    assert!(
        out.status.success(),
        "conclave {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail and returns its single error line.
fn fails(dir: &Path, args: &[&str]) -> String {
    let out = conclave(dir, args);
    assert!(!out.status.success(), "conclave {args:?} succeeded");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("conclave: error: "), "{err}");
    err
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap()
}

#[test]
fn seal_for_two_bundles_opens_for_both_and_not_for_a_third() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let alice = json(&ok(d, &["identity", "create", "--dir", "alice"]));
    for who in ["bob", "carol", "dave"] {
        ok(d, &["identity", "create", "--dir", who, "--prekeys", "2"]);
    }
    ok(
        d,
        &[
            "bundle",
            "--dir",
            "bob",
            "--prekeys",
            "3",
            "--out",
            "bob.json",
        ],
    );
    let carol_bundle = ok(d, &["bundle", "--dir", "carol", "--prekeys", "1"]);
    std::fs::write(d.join("carol.json"), carol_bundle).unwrap();
    std::fs::write(
        d.join("msg.json"),
        r#"{"type":"text","text":"hello, conclave"}"#,
    )
    .unwrap();
    ok(
        d,
        &[
            "seal",
            "--dir",
            "alice",
            "--to",
            "bob.json",
            "--to",
            "carol.json",
            "--payload",
            "msg.json",
            "--out",
            "msg.bin",
        ],
    );

    let fp = alice["user_fingerprint"].as_str().unwrap();
    for who in ["bob", "carol"] {
        let opened = json(&ok(
            d,
            &["open", "--dir", who, "--expect-sender", fp, "msg.bin"],
        ));
        assert_eq!(opened["payload"]["text"], "hello, conclave");
        assert_eq!(opened["type"], "text");
        assert_eq!(opened["sender"]["user_fingerprint"], fp);
    }
    let e = fails(d, &["open", "--dir", "dave", "msg.bin"]);
    assert!(e.contains("not a recipient"), "{e}");
    let e = fails(d, &["open", "--dir", "bob", "msg.bin"]);
    assert!(e.contains("already consumed"), "{e}");

    // Carol's bundle file had one prekey, now used: sealing again says so.
    let e = fails(
        d,
        &[
            "seal",
            "--dir",
            "alice",
            "--to",
            "carol.json",
            "--payload",
            "msg.json",
            "--out",
            "x.bin",
        ],
    );
    assert!(e.contains("carol.json") && e.contains("no prekeys"), "{e}");

    // An invite made by `meeting` seals and opens; the wrong expected sender is refused.
    let invite = ok(
        d,
        &[
            "meeting",
            "--dir",
            "alice",
            "--member",
            "bob.json",
            "--call-type",
            "audio",
        ],
    );
    std::fs::write(d.join("invite.json"), &invite).unwrap();
    ok(
        d,
        &[
            "seal",
            "--dir",
            "alice",
            "--to",
            "bob.json",
            "--payload",
            "invite.json",
            "--out",
            "invite.bin",
        ],
    );
    let wrong = "ab".repeat(32);
    let e = fails(
        d,
        &[
            "open",
            "--dir",
            "bob",
            "--expect-sender",
            &wrong,
            "invite.bin",
        ],
    );
    assert!(e.contains("not the expected one"), "{e}");
    let opened = json(&ok(d, &["open", "--dir", "bob", "invite.bin"]));
    assert_eq!(opened["payload"], json(&invite));
    assert_eq!(opened["payload"]["roster"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_input_gives_one_line_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    ok(
        d,
        &["identity", "create", "--dir", "alice", "--prekeys", "1"],
    );
    ok(
        d,
        &[
            "bundle",
            "--dir",
            "alice",
            "--prekeys",
            "2",
            "--out",
            "alice.json",
        ],
    );
    std::fs::write(d.join("msg.json"), r#"{"type":"text","text":"x"}"#).unwrap();
    ok(
        d,
        &[
            "seal",
            "--dir",
            "alice",
            "--to",
            "alice.json",
            "--payload",
            "msg.json",
            "--out",
            "m.bin",
        ],
    );

    let e = fails(d, &["identity", "create", "--dir", "alice"]);
    assert!(e.contains("already exists"), "{e}");
    let e = fails(d, &["bundle", "--dir", "nobody"]);
    assert!(e.contains("nobody/identity.json"), "{e}");
    let e = fails(
        d,
        &[
            "seal",
            "--dir",
            "alice",
            "--to",
            "msg.json",
            "--payload",
            "msg.json",
            "--out",
            "x.bin",
        ],
    );
    assert!(e.contains("msg.json: invalid bundle"), "{e}");
    std::fs::write(d.join("bad.json"), r#"{"type":"invite"}"#).unwrap();
    let e = fails(
        d,
        &[
            "seal",
            "--dir",
            "alice",
            "--to",
            "alice.json",
            "--payload",
            "bad.json",
            "--out",
            "x.bin",
        ],
    );
    assert!(e.contains("bad.json"), "{e}");

    // A flipped byte anywhere in the container: one line, non-zero, and nothing consumed.
    let good = std::fs::read(d.join("m.bin")).unwrap();
    for i in [0, 5, 30, 400, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[i] ^= 0x40;
        std::fs::write(d.join("bad.bin"), bad).unwrap();
        fails(d, &["open", "--dir", "alice", "bad.bin"]);
    }
    std::fs::write(d.join("empty.bin"), b"").unwrap();
    let e = fails(d, &["open", "--dir", "alice", "empty.bin"]);
    assert!(e.contains("truncated"), "{e}");
    ok(d, &["open", "--dir", "alice", "m.bin"]);

    // Corrupt and over-permissive identity files name the file.
    use std::os::unix::fs::PermissionsExt;
    let f = d.join("alice/prekeys.json");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    let e = fails(d, &["identity", "show", "--dir", "alice"]);
    assert!(e.contains("prekeys.json") && e.contains("too open"), "{e}");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&f, b"{ not json").unwrap();
    let e = fails(d, &["identity", "show", "--dir", "alice"]);
    assert!(e.contains("prekeys.json") && e.contains("corrupt"), "{e}");
}

/// `--crypto accel`: its identities store raw keys under the provider name `accel`, and its
/// containers open for software identities and the other way round.
#[test]
fn accel_and_software_identities_exchange_containers() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let accel = |args: &[&str]| ok(d, &[&["--crypto", "accel"], args].concat());
    let alice = json(&accel(&["identity", "create", "--dir", "alice"]));
    assert_eq!(alice["provider"], "accel");
    let stored = std::fs::read_to_string(d.join("alice/identity.json")).unwrap();
    assert!(
        stored.contains(r#""provider": "accel""#) || stored.contains(r#""provider":"accel""#),
        "{stored}"
    );
    assert!(stored.contains(r#""kind":"raw""#) || stored.contains(r#""kind": "raw""#));
    ok(d, &["identity", "create", "--dir", "bob"]);
    std::fs::write(
        d.join("msg.json"),
        r#"{"type":"text","text":"across providers"}"#,
    )
    .unwrap();

    // Accel seals for software.
    ok(
        d,
        &[
            "bundle",
            "--dir",
            "bob",
            "--prekeys",
            "1",
            "--out",
            "bob.json",
        ],
    );
    accel(&[
        "seal",
        "--dir",
        "alice",
        "--to",
        "bob.json",
        "--payload",
        "msg.json",
        "--out",
        "a.bin",
    ]);
    let opened = json(&ok(d, &["open", "--dir", "bob", "a.bin"]));
    assert_eq!(opened["payload"]["text"], "across providers");
    assert_eq!(
        opened["sender"]["user_fingerprint"],
        alice["user_fingerprint"]
    );

    // Software seals for accel.
    accel(&[
        "bundle",
        "--dir",
        "alice",
        "--prekeys",
        "1",
        "--out",
        "alice.json",
    ]);
    ok(
        d,
        &[
            "seal",
            "--dir",
            "bob",
            "--to",
            "alice.json",
            "--payload",
            "msg.json",
            "--out",
            "b.bin",
        ],
    );
    let opened = json(&accel(&["open", "--dir", "alice", "b.bin"]));
    assert_eq!(opened["payload"]["text"], "across providers");

    // An identity is loaded only by the provider that made it.
    let e = fails(d, &["identity", "show", "--dir", "alice"]);
    assert!(e.contains("'accel'") && e.contains("'software'"), "{e}");
    let e = fails(
        d,
        &["--crypto", "accel", "identity", "show", "--dir", "bob"],
    );
    assert!(e.contains("'software'") && e.contains("'accel'"), "{e}");
}
