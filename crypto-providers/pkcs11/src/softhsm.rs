//! Test support (feature `softhsm-testing`): a SoftHSM2 token in a temporary directory.
//!
//! [`SoftHsm::create`] writes a `softhsm2.conf` whose `directories.tokendir` is inside a fresh
//! temporary directory and initialises a token there with `softhsm2-util --init-token`. It
//! does not touch the environment: child processes get `SOFTHSM2_CONF` from
//! [`SoftHsm::env`]. [`process_token`] makes one such token for the whole test process and
//! points this process's `SOFTHSM2_CONF` at it, which SoftHSM reads once, at `C_Initialize`.
//!
//! When SoftHSM2 is missing, everything here fails with a message telling to run
//! `scripts/test`, which installs it (Debian packages `softhsm2 libsofthsm2 opensc`).

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::{PinSource, Pkcs11Config};

/// Where Debian and other distributions install the SoftHSM2 module.
pub const MODULE_CANDIDATES: [&str; 4] = [
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

/// The environment variable through which [`process_token`]'s PIN is also available.
pub const PIN_ENV: &str = "CONCLAVE_TEST_PKCS11_PIN";

/// Prefix of the temporary directories, followed by the process id.
const DIR_PREFIX: &str = "conclave-softhsm-";

/// What to do when SoftHSM2 is missing.
pub const INSTALL_HINT: &str = "SoftHSM2 is not installed: run scripts/test, which installs the \
     Debian packages softhsm2 libsofthsm2 opensc (or apt-get install softhsm2 libsofthsm2 opensc)";

/// The SoftHSM2 module on this machine, if any.
pub fn find_module() -> Option<PathBuf> {
    MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// A SoftHSM2 configuration and one initialised token in a temporary directory, removed on
/// drop.
#[derive(Debug)]
pub struct SoftHsm {
    dir: tempfile::TempDir,
    /// The `softhsm2.conf` to point `SOFTHSM2_CONF` at.
    pub conf: PathBuf,
    /// `directories.tokendir` of that configuration.
    pub token_dir: PathBuf,
    /// The SoftHSM2 module.
    pub module: PathBuf,
    /// The token's label.
    pub label: String,
    /// The user PIN.
    pub pin: String,
    /// A file (0600) holding the user PIN.
    pub pin_file: PathBuf,
}

impl SoftHsm {
    /// Writes the configuration and initialises a token labelled `label`.
    pub fn create(label: &str) -> Result<SoftHsm, String> {
        let module = find_module().ok_or_else(|| INSTALL_HINT.to_string())?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let token_dir = dir.path().join("tokens");
        fs::create_dir(&token_dir).map_err(|e| format!("cannot create the token dir: {e}"))?;
        let conf = dir.path().join("softhsm2.conf");
        fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\n",
                token_dir.display()
            ),
        )
        .map_err(|e| format!("cannot write {}: {e}", conf.display()))?;
        let pin = "739164".to_string();
        let output = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &conf)
            .args(["--init-token", "--free", "--label", label])
            .args(["--so-pin", "so-pin-8421", "--pin", &pin])
            .output()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => INSTALL_HINT.to_string(),
                _ => format!("cannot run softhsm2-util: {e}"),
            })?;
        if !output.status.success() {
            return Err(format!(
                "softhsm2-util --init-token failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let pin_file = dir.path().join("user.pin");
        write_private(&pin_file, &pin)?;
        Ok(SoftHsm {
            dir,
            conf,
            token_dir,
            module,
            label: label.to_string(),
            pin,
            pin_file,
        })
    }

    /// The temporary directory holding everything.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment a child process needs to see this token.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        vec![("SOFTHSM2_CONF", self.conf.clone().into_os_string())]
    }

    /// A provider configuration for this token reading the PIN from [`SoftHsm::pin_file`].
    pub fn config(&self) -> Pkcs11Config {
        Pkcs11Config::new(
            &self.module,
            &self.label,
            PinSource::File(self.pin_file.clone()),
        )
    }

    /// Writes a file (0600) in the temporary directory and returns its path.
    pub fn write_file(&self, name: &str, content: &str) -> Result<PathBuf, String> {
        let path = self.dir.path().join(name);
        write_private(&path, content)?;
        Ok(path)
    }
}

fn write_private(path: &Path, content: &str) -> Result<(), String> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(content.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The token of this test process (label `conclave-test`), created on first use. Sets this
/// process's `SOFTHSM2_CONF` and [`PIN_ENV`]. Panics with [`INSTALL_HINT`] when SoftHSM2 is
/// missing.
///
/// Call it before anything in the process initialises SoftHSM: SoftHSM reads its
/// configuration once, at `C_Initialize`.
pub fn process_token() -> &'static SoftHsm {
    static TOKEN: OnceLock<SoftHsm> = OnceLock::new();
    TOKEN.get_or_init(|| {
        remove_stale_dirs();
        let hsm = SoftHsm::create("conclave-test").unwrap_or_else(|e| panic!("{e}"));
        // SoftHSM takes its configuration only from the environment. This runs once, under
        // the `OnceLock`, before any PKCS#11 call of the process; test threads that reach
        // this point wait on the lock instead of reading the environment meanwhile.
        #[allow(unsafe_code)]
        // SAFETY: see above; no other thread of a test process reads or writes the
        // environment concurrently with this initialisation.
        unsafe {
            std::env::set_var("SOFTHSM2_CONF", &hsm.conf);
            std::env::set_var(PIN_ENV, &hsm.pin);
        }
        hsm
    })
}

/// Removes the temporary directories of [`process_token`]s whose process has exited (a
/// `static` is never dropped, so each test process leaves its directory behind).
fn remove_stale_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().filter(|p| p.parse::<u32>().is_ok()) else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}
