//! The relay under test: one the tool starts on loopback (the `conclave-relay` binary, in a
//! temporary directory, stopped when the run ends) or one given by URL.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

/// How long a started relay may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The media-plane switches of a relay the tool starts.
#[derive(Debug, Clone, Serialize)]
pub struct RelaySettings {
    pub workers: usize,
    pub sendmmsg: bool,
    pub gso: bool,
    /// The media session timeout, ms (the relay's default when `None`).
    pub session_timeout_ms: Option<u64>,
}

/// The relay a run talks to.
pub struct RelayUnderTest {
    pub url: String,
    /// The process, when this tool started it (its CPU and memory are measured).
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
    pub settings: Option<RelaySettings>,
}

impl std::fmt::Debug for RelayUnderTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayUnderTest")
            .field("url", &self.url)
            .field("pid", &self.pid())
            .finish()
    }
}

/// Finds `conclave-relay`: `explicit`, else next to this executable (a cargo target
/// directory), else on `PATH`.
pub fn find_binary(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(format!("relay binary {} does not exist", p.display()))
        };
    }
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join("conclave-relay");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("conclave-relay");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(
        "conclave-relay not found next to conclave-loadtest or on PATH \
         (build it with `cargo build --release -p conclave-relay`, or pass --relay-bin)"
            .into(),
    )
}

fn free_port() -> Result<SocketAddr, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free loopback port: {e}"))
}

impl RelayUnderTest {
    /// A relay at `url` that this tool does not control.
    pub fn external(url: &str) -> Result<Self, String> {
        let parsed = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| format!("relay URL {url} must start with http:// or https://"))?;
        let host = parsed.split('/').next().unwrap_or(parsed);
        let addr: Option<SocketAddr> = host.parse().ok();
        if let Some(a) = addr
            && !a.ip().is_loopback()
        {
            return Err(format!(
                "relay URL {url}: load tests only target loopback addresses"
            ));
        }
        if addr.is_none() && !host.starts_with("localhost") {
            return Err(format!(
                "relay URL {url}: load tests only target loopback (127.0.0.1, ::1, localhost)"
            ));
        }
        Ok(RelayUnderTest {
            url: url.trim_end_matches('/').to_string(),
            child: None,
            _dir: None,
            settings: None,
        })
    }

    /// Starts `binary` on loopback with the dev auth, SQLite storage, bundle rate limits
    /// raised for many participants, and the given media switches.
    pub fn start(binary: &Path, settings: RelaySettings) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let config = format!(
            "data_dir = \"data\"\n\
             [limits]\nbundle_burst = 100000\nbundle_per_second = 100000.0\n\
             [media]\nbind = \"127.0.0.1:0\"\nworkers = {}\nsendmmsg = {}\ngso = {}\n{}\
             [plugins.auth]\nplugin = \"jwt\"\nconfig = {{ mode = \"dev\" }}\n\
             [plugins.storage]\nplugin = \"sqlite\"\nconfig = {{ path = \"data/conclave.db\" }}\n",
            settings.workers,
            settings.sendmmsg,
            settings.gso,
            settings
                .session_timeout_ms
                .map(|t| format!("timeout_ms = {t}\n"))
                .unwrap_or_default(),
        );
        std::fs::write(dir.path().join("relay.toml"), config)
            .map_err(|e| format!("writing the relay configuration: {e}"))?;
        let log = std::fs::File::create(dir.path().join("relay.log"))
            .map_err(|e| format!("relay log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("relay log: {e}"))?;
        let addr = free_port()?;
        let mut child = Command::new(binary)
            .current_dir(dir.path())
            .args(["--config", "relay.toml", "--listen", &addr.to_string()])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                let log = std::fs::read_to_string(dir.path().join("relay.log")).unwrap_or_default();
                let last = log.lines().last().unwrap_or("no output");
                return Err(format!("the relay exited at start ({status}): {last}"));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("the relay did not listen on {addr} within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(RelayUnderTest {
            url: format!("http://{addr}"),
            child: Some(child),
            _dir: Some(dir),
            settings: Some(settings),
        })
    }

    /// The relay's process id, when this tool started it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the relay is still running (always true for an external relay).
    pub fn alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => true,
        }
    }
}

impl Drop for RelayUnderTest {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SIGTERM first for a clean shutdown; SIGKILL if it lingers.
            // SAFETY: kill(2) on our own child's pid; no memory is involved.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_are_accepted() {
        assert!(RelayUnderTest::external("http://127.0.0.1:8443").is_ok());
        assert!(RelayUnderTest::external("http://[::1]:8443/").is_ok());
        assert!(RelayUnderTest::external("http://localhost:8443").is_ok());
        for bad in [
            "http://10.0.0.1:8443",
            "https://relay.example.com",
            "ftp://127.0.0.1",
        ] {
            let e = RelayUnderTest::external(bad).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn a_missing_binary_is_one_line() {
        let e = find_binary(Some(Path::new("/nonexistent/conclave-relay"))).unwrap_err();
        assert!(e.contains("does not exist"));
    }
}
