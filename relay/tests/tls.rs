//! The relay serves HTTPS with a self-signed certificate made on first start (kept for the
//! next start), and refuses plain HTTP off loopback.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ureq::tls::{Certificate, RootCerts, TlsConfig};

struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &Path, config: &str, port: u16) -> Relay {
    std::fs::write(dir.join("relay.toml"), config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_conclave-relay"))
        .args([
            "--config",
            "relay.toml",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--media-bind",
            "127.0.0.1:0",
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Relay(child)
}

fn agent(cert_pem: &[u8]) -> ureq::Agent {
    let cert = Certificate::from_pem(cert_pem).unwrap().to_owned();
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::Specific(Arc::new(vec![cert])))
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .new_agent()
}

fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn https_with_a_self_signed_certificate_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cert_path = dir.path().join("conclave-data/tls/self-signed-cert.pem");
    let first_cert;
    {
        let _relay = start(dir.path(), "[tls]\nenabled = true\n", port);
        wait_for(&cert_path);
        // The certificate file is written before the server accepts; retry briefly.
        first_cert = std::fs::read(&cert_path).unwrap();
        let url = format!("https://localhost:{port}/healthz");
        let deadline = Instant::now() + Duration::from_secs(30);
        let body = loop {
            match agent(&first_cert).get(&url).call() {
                Ok(mut r) => break r.body_mut().read_to_string().unwrap(),
                Err(e) => {
                    assert!(Instant::now() < deadline, "relay never answered: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        };
        assert!(body.contains("\"ok\""), "{body}");
        // A client that does not trust the certificate is refused by TLS.
        let plain = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .new_agent();
        assert!(plain.get(&url).call().is_err());
        let key_mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join("conclave-data/tls/self-signed-key.pem"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(key_mode & 0o777, 0o600);
    }
    // Restarted on the same data directory: the same certificate.
    let port = free_port();
    let _relay = start(dir.path(), "[tls]\nenabled = true\n", port);
    let url = format!("https://localhost:{port}/v1/clock");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match agent(&first_cert).get(&url).call() {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "restarted relay never answered: {e}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    assert_eq!(std::fs::read(&cert_path).unwrap(), first_cert);
}

#[test]
fn plain_http_off_loopback_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("relay.toml"), "listen = \"0.0.0.0:0\"\n[tls]\nenabled = false\n[plugins.auth]\nplugin = \"jwt\"\nconfig = { hs256_secret = \"a secret of at least thirty-two bytes!\" }\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_conclave-relay"))
        .args(["--config", "relay.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plain HTTP is only allowed on loopback"),
        "{err}"
    );
    assert_eq!(
        err.lines()
            .filter(|l| l.starts_with("conclave-relay: error:"))
            .count(),
        1,
        "{err}"
    );
}
