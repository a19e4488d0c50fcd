//! What the load tester's integration tests share.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The relay binary of this build profile, built once per test binary (the tests start
/// it, as the load tester does).
pub fn relay_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = PathBuf::from(env!("CARGO_BIN_EXE_conclave-loadtest"));
        let profile_dir = exe.parent().expect("target/<profile>").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "conclave-relay",
            "--bin",
            "conclave-relay",
        ]);
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(target) = profile_dir.parent() {
            cmd.env("CARGO_TARGET_DIR", target);
        }
        assert!(cmd.status().expect("cargo build").success());
        let bin = profile_dir.join("conclave-relay");
        assert!(bin.exists());
        bin
    })
    .clone()
}
