//! Starts the real `conclave-relay` binary on a free loopback port in a temporary data
//! directory, with the real built-in plugins (dev auth, SQLite, log notifications), and
//! stops it (SIGKILL) when dropped. Shared by the `relay_*` integration tests and the
//! control-plane benchmark.
#![allow(dead_code)]

pub mod cli;
pub mod media;
pub mod udp_proxy;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use conclave_client::api::{Session, SessionOptions, new_device_of};
use conclave_client::identity::{Identity, IdentityStore};
use conclave_crypto::CryptoProvider;
use conclave_crypto_software::SoftwareProvider;

/// How long a relay may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The relay binary of this build profile, built once per process with `$CARGO build`.
pub fn relay_binary() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<test binary> → target/<profile>
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test binary lives in target/<profile>/deps")
            .to_path_buf();
        let bin = profile_dir.join("conclave-relay");
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
        let status = cmd.status().expect("run cargo build -p conclave-relay");
        assert!(status.success(), "cargo build -p conclave-relay failed");
        assert!(bin.exists(), "{} was not built", bin.display());
        bin
    })
    .clone()
}

/// A running relay. Killed (SIGKILL) and reaped on drop.
pub struct Relay {
    child: Option<Child>,
    /// The data directory's parent: the relay's working directory, with `relay.toml`.
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    pub url: String,
    rust_log: String,
}

fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr")
}

impl Relay {
    /// Starts a relay with `config` (TOML; the listen address is set by the harness).
    pub fn start(config: &str) -> Relay {
        Self::start_logging(config, "warn")
    }

    /// Starts a relay with `config` and `RUST_LOG=rust_log`; its standard output and error
    /// go to [`Relay::log`].
    pub fn start_logging(config: &str, rust_log: &str) -> Relay {
        let dir = tempfile::tempdir().expect("tempdir");
        // Relays of tests running side by side must not share the default media port.
        let config = if config.contains("[media]") {
            config.to_string()
        } else {
            format!("{config}\n[media]\nbind = \"127.0.0.1:0\"\nworkers = 1\n")
        };
        std::fs::write(dir.path().join("relay.toml"), config).expect("write relay.toml");
        let mut relay = Relay {
            child: None,
            dir,
            addr: free_port(),
            url: String::new(),
            rust_log: rust_log.to_string(),
        };
        relay.spawn();
        relay
    }

    /// (Re)starts the process on the same data directory, on a free port (the old one is
    /// reused when still free).
    fn spawn(&mut self) {
        let bin = relay_binary();
        for attempt in 0..5 {
            if attempt > 0 {
                self.addr = free_port();
            }
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.path().join("relay.log"))
                .expect("relay.log");
            let mut child = Command::new(&bin)
                .current_dir(self.dir.path())
                .args(["--config", "relay.toml", "--listen", &self.addr.to_string()])
                // Media workers on free ports: tests run relays side by side.
                .args(["--media-bind", "127.0.0.1:0"])
                .env("RUST_LOG", &self.rust_log)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn conclave-relay");
            let deadline = Instant::now() + START_TIMEOUT;
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // e.g. the port was taken meanwhile: try another
                }
                if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                    self.url = format!("http://{}", self.addr);
                    self.child = Some(child);
                    return;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("the relay did not start; log:\n{}", self.log());
    }

    /// The relay's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("relay.log")).unwrap_or_default()
    }

    /// `kill -9`: no shutdown of any kind.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the relay again on the same data directory (after [`Relay::kill9`]).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Is the process still running?
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Path of the relay's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("conclave-data")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A relay configuration with bundle fetches effectively unlimited.
pub const UNLIMITED: &str = "[limits]\nbundle_burst = 1000000\nbundle_per_second = 1000000.0\n";

pub fn provider() -> Arc<dyn CryptoProvider> {
    Arc::new(SoftwareProvider::new())
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A user with `devices` devices, each registered with `prekeys` prekeys; identities are
/// kept in `root/<name>-<n>` so that prekey consumption is persisted.
pub async fn user(
    relay: &Relay,
    root: &Path,
    name: &str,
    devices: usize,
    prekeys: usize,
) -> Vec<Session> {
    let first = Identity::create(provider(), now_ms()).expect("identity");
    let mut ids = Vec::with_capacity(devices);
    for i in 1..devices {
        ids.push((i, new_device_of(&first, now_ms()).expect("second device")));
    }
    ids.insert(0, (0, first));
    let mut sessions = Vec::with_capacity(devices);
    for (i, id) in ids {
        let store = IdentityStore::new(root.join(format!("{name}-{i}")));
        store.create(&id).expect("store identity");
        let mut s = Session::connect(&relay.url, id, Some(store), name, SessionOptions::default())
            .await
            .expect("connect");
        s.register(prekeys).await.expect("register");
        sessions.push(s);
    }
    sessions
}

/// Runs `f` with a time bound, so that a hung relay fails the test instead of hanging it.
pub async fn bounded<F: std::future::Future>(secs: u64, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("the test took too long")
}
