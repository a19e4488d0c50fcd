//! `conclave --crypto pkcs11` end to end with SoftHSM2 in a temporary directory: an identity
//! whose keys live in the token exchanges containers with a software identity both ways;
//! its files hold references only; a consumed prekey is destroyed in the token; errors are
//! one line and never show the PIN.

use std::path::Path;
use std::process::{Command, Output};

use conclave_crypto_pkcs11::softhsm::SoftHsm;

/// The PIN's environment variable given to the CLI with `--pkcs11-pin-env`.
const PIN_VAR: &str = "CONCLAVE_CLI_TEST_PIN";

fn run(hsm: &SoftHsm, dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conclave"))
        .current_dir(dir)
        .envs(hsm.env())
        .env(PIN_VAR, &hsm.pin)
        .env_remove("CONCLAVE_PKCS11_MODULE")
        .env_remove("CONCLAVE_PKCS11_TOKEN")
        .env_remove("CONCLAVE_PKCS11_PIN_ENV")
        .env_remove("CONCLAVE_PKCS11_PIN_FILE")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run conclave: {e}"))
}

/// `args` with the pkcs11 selection in front.
fn hsm_args<'a>(hsm: &'a SoftHsm, args: &[&'a str]) -> Vec<&'a str> {
    let module = hsm.module.to_str().unwrap_or_else(|| panic!("module path"));
    let mut v = vec![
        "--crypto",
        "pkcs11",
        "--pkcs11-module",
        module,
        "--pkcs11-token",
        &hsm.label,
        "--pkcs11-pin-env",
        PIN_VAR,
    ];
    v.extend_from_slice(args);
    v
}

fn ok(hsm: &SoftHsm, dir: &Path, args: &[&str]) -> String {
    let out = run(hsm, dir, args);
    assert!(
        out.status.success(),
        "conclave {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("stdout: {e}"))
}

fn fails(hsm: &SoftHsm, dir: &Path, args: &[&str]) -> String {
    let out = run(hsm, dir, args);
    assert!(!out.status.success(), "conclave {args:?} succeeded");
    let err = String::from_utf8(out.stderr).unwrap_or_else(|e| panic!("stderr: {e}"));
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("conclave: error: "), "{err}");
    assert!(!err.contains(&hsm.pin), "the error shows the PIN: {err}");
    err
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("json: {e}"))
}

fn hsm() -> SoftHsm {
    SoftHsm::create("conclave-cli").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn pkcs11_identity_exchanges_containers_with_a_software_identity() {
    let hsm = hsm();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = tmp.path();

    let alice = json(&ok(
        &hsm,
        d,
        &hsm_args(&hsm, &["identity", "create", "--dir", "alice"]),
    ));
    assert_eq!(alice["provider"], "pkcs11");
    ok(&hsm, d, &["identity", "create", "--dir", "bob"]);
    ok(
        &hsm,
        d,
        &hsm_args(
            &hsm,
            &[
                "bundle",
                "--dir",
                "alice",
                "--prekeys",
                "2",
                "--out",
                "alice.json",
            ],
        ),
    );
    ok(
        &hsm,
        d,
        &[
            "bundle",
            "--dir",
            "bob",
            "--prekeys",
            "2",
            "--out",
            "bob.json",
        ],
    );

    // The identity files hold references to token objects, never a private scalar.
    for file in ["alice/identity.json", "alice/prekeys.json"] {
        let text = std::fs::read_to_string(d.join(file)).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains("\"reference\""), "{file}: {text}");
        assert!(
            !text.contains("\"scalar\"") && !text.contains("\"raw\""),
            "{file}: {text}"
        );
    }

    std::fs::write(
        d.join("msg.json"),
        r#"{"type":"text","text":"from the HSM"}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // Token sender, software recipient.
    ok(
        &hsm,
        d,
        &hsm_args(
            &hsm,
            &[
                "seal",
                "--dir",
                "alice",
                "--to",
                "bob.json",
                "--payload",
                "msg.json",
                "--out",
                "a2b.bin",
            ],
        ),
    );
    let opened = json(&ok(&hsm, d, &["open", "--dir", "bob", "a2b.bin"]));
    assert_eq!(opened["payload"]["text"], "from the HSM");

    // Software sender, token recipient: the prekey is destroyed in the token once used.
    std::fs::write(
        d.join("reply.json"),
        r#"{"type":"text","text":"to the HSM"}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    ok(
        &hsm,
        d,
        &[
            "seal",
            "--dir",
            "bob",
            "--to",
            "alice.json",
            "--payload",
            "reply.json",
            "--out",
            "b2a.bin",
        ],
    );
    let opened = json(&ok(
        &hsm,
        d,
        &hsm_args(&hsm, &["open", "--dir", "alice", "b2a.bin"]),
    ));
    assert_eq!(opened["payload"]["text"], "to the HSM");
    let e = fails(
        &hsm,
        d,
        &hsm_args(&hsm, &["open", "--dir", "alice", "b2a.bin"]),
    );
    assert!(e.contains("already consumed"), "{e}");

    // The same options from the environment, with the PIN in a file.
    let out = Command::new(env!("CARGO_BIN_EXE_conclave"))
        .current_dir(d)
        .envs(hsm.env())
        .env("CONCLAVE_PKCS11_MODULE", &hsm.module)
        .env("CONCLAVE_PKCS11_TOKEN", &hsm.label)
        .env("CONCLAVE_PKCS11_PIN_FILE", &hsm.pin_file)
        .env_remove("CONCLAVE_PKCS11_PIN_ENV")
        .args(["--crypto", "pkcs11", "identity", "show", "--dir", "alice"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The software provider cannot load the token identity.
    let e = fails(&hsm, d, &["identity", "show", "--dir", "alice"]);
    assert!(e.contains("'pkcs11', not 'software'"), "{e}");
}

#[test]
fn pkcs11_option_errors_are_one_line() {
    let hsm = hsm();
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let d = tmp.path();

    let e = fails(
        &hsm,
        d,
        &["--crypto", "pkcs11", "identity", "create", "--dir", "x"],
    );
    assert!(e.contains("needs --pkcs11-module"), "{e}");
    let module = hsm.module.to_str().unwrap_or_else(|| panic!("module path"));
    let e = fails(
        &hsm,
        d,
        &[
            "--crypto",
            "pkcs11",
            "--pkcs11-module",
            module,
            "identity",
            "create",
            "--dir",
            "x",
        ],
    );
    assert!(e.contains("needs --pkcs11-token"), "{e}");
    let e = fails(
        &hsm,
        d,
        &[
            "--crypto",
            "pkcs11",
            "--pkcs11-module",
            module,
            "--pkcs11-token",
            "conclave-cli",
            "identity",
            "create",
            "--dir",
            "x",
        ],
    );
    assert!(
        e.contains("--pkcs11-pin-env VAR or --pkcs11-pin-file"),
        "{e}"
    );

    let e = fails(
        &hsm,
        d,
        &[
            "--crypto",
            "pkcs11",
            "--pkcs11-module",
            "/nonexistent/libnone.so",
            "--pkcs11-token",
            "t",
            "--pkcs11-pin-env",
            PIN_VAR,
            "identity",
            "create",
            "--dir",
            "x",
        ],
    );
    assert!(
        e.contains("module /nonexistent/libnone.so not found"),
        "{e}"
    );
    let e = fails(
        &hsm,
        d,
        &[
            "--crypto",
            "pkcs11",
            "--pkcs11-module",
            module,
            "--pkcs11-token",
            "nope",
            "--pkcs11-pin-env",
            PIN_VAR,
            "identity",
            "create",
            "--dir",
            "x",
        ],
    );
    assert!(e.contains("no PKCS#11 token labelled 'nope'"), "{e}");
    let wrong = hsm
        .write_file("wrong.pin", "111111\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let wrong = wrong.to_str().unwrap_or_else(|| panic!("pin path"));
    let e = fails(
        &hsm,
        d,
        &[
            "--crypto",
            "pkcs11",
            "--pkcs11-module",
            module,
            "--pkcs11-token",
            "conclave-cli",
            "--pkcs11-pin-file",
            wrong,
            "identity",
            "create",
            "--dir",
            "x",
        ],
    );
    assert!(
        e.contains("PIN is incorrect") && !e.contains("111111"),
        "{e}"
    );
    assert!(
        !d.join("x").exists(),
        "nothing is created when the provider cannot open"
    );
}
