//! For tests that load a plugin the way the relay does: the path of a workspace cdylib,
//! built on demand.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The shared library `lib<lib>.so` of workspace package `package`, in the calling test
/// binary's target directory (`target/<profile>/`). It is built with `cargo build -p
/// <package>` (same profile and target directory) when it is missing or older than the test
/// binary, so a test never loads a stale plugin. Panics with a clear message when it cannot
/// be built: a test that needs a plugin must not skip silently.
pub fn built_cdylib(package: &str, lib: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("the test binary's directory");
    let profile_dir = if deps.ends_with("deps") {
        deps.parent().expect("the profile directory")
    } else {
        deps
    };
    let file = format!(
        "{}{lib}{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let path = profile_dir.join(file);
    let fresh = matches!((modified(&path), modified(&exe)), (Some(so), Some(test)) if so >= test);
    if !fresh {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => "dev",
            Some(other) => other,
        };
        let target_dir = profile_dir.parent().expect("the target directory");
        let status = Command::new(cargo)
            .args(["build", "--quiet", "-p", package, "--profile", profile])
            .arg("--target-dir")
            .arg(target_dir)
            .status()
            .expect("running cargo build");
        assert!(status.success(), "cargo build -p {package} failed");
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}
