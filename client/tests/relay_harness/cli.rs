//! The `conclave` binary run against a harness relay: one command at a time in `dir`, with
//! no token or media address taken from the environment.

use std::path::Path;
use std::process::{Command, Output};

/// `conclave` in `dir`, without `CONCLAVE_TOKEN` and `CONCLAVE_MEDIA_ADDRESS`.
pub fn command(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_conclave"));
    cmd.current_dir(dir)
        .env_remove("CONCLAVE_TOKEN")
        .env_remove("CONCLAVE_MEDIA_ADDRESS");
    cmd
}

/// Runs `conclave args` in `dir` to completion.
pub fn conclave(dir: &Path, args: &[&str]) -> Output {
    command(dir).args(args).output().expect("run conclave")
}

/// Runs a command that must succeed and returns its standard output.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = conclave(dir, args);
    assert!(
        out.status.success(),
        "conclave {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command that must fail and returns its single error line.
pub fn fails(dir: &Path, args: &[&str]) -> String {
    let out = conclave(dir, args);
    assert!(!out.status.success(), "conclave {args:?} succeeded");
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(err.starts_with("conclave: error: "), "{err}");
    err
}
