//! TLS for the control plane, with rustls: configured certificate files, or a self-signed
//! certificate made on first start and kept in the data directory. Plain HTTP is allowed
//! on loopback addresses only.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// `[tls]` in the relay configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Serve HTTPS. Default: on when the relay listens on a non-loopback address.
    pub enabled: Option<bool>,
    /// PEM certificate chain; with `key`. Without both, a self-signed certificate.
    pub cert: Option<PathBuf>,
    /// PEM private key.
    pub key: Option<PathBuf>,
    /// DNS names (or IP addresses) for the self-signed certificate, besides `localhost`
    /// and the listen address.
    pub names: Vec<String>,
}

/// The certificate and key the server uses, and what to tell the operator.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// SHA-256 of the leaf certificate (DER), hex, for pinning.
    pub fingerprint: String,
    pub source: String,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn fingerprint(cert_pem: &[u8]) -> String {
    // The first PEM block is the leaf; hash its DER.
    let text = String::from_utf8_lossy(cert_pem);
    let b64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    match conclave_wire::b64::decode(&b64) {
        Ok(der) => hex::encode(Sha256::digest(&der)),
        Err(_) => "unknown".to_string(),
    }
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("{}: {e}", path.display()))
}

impl TlsConfig {
    /// Whether to serve HTTPS for a listener that is (or is not) loopback only.
    pub fn enabled_for(&self, loopback_only: bool) -> bool {
        self.enabled
            .unwrap_or(!loopback_only || self.cert.is_some())
    }

    /// The configured files, or the self-signed certificate in `data_dir/tls/` (made on
    /// first start for `localhost`, the listen address and `names`).
    pub fn material(&self, data_dir: &Path, listen_host: &str) -> Result<TlsMaterial, String> {
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let cert_pem = read(cert)?;
                Ok(TlsMaterial {
                    fingerprint: fingerprint(&cert_pem),
                    key_pem: read(key)?,
                    cert_pem,
                    source: cert.display().to_string(),
                })
            }
            (Some(_), None) | (None, Some(_)) => {
                Err("tls: give both cert and key, or neither".into())
            }
            (None, None) => self.self_signed(data_dir, listen_host),
        }
    }

    fn self_signed(&self, data_dir: &Path, listen_host: &str) -> Result<TlsMaterial, String> {
        let dir = data_dir.join("tls");
        let cert_path = dir.join("self-signed-cert.pem");
        let key_path = dir.join("self-signed-key.pem");
        if !cert_path.exists() {
            fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let mut names = vec!["localhost".to_string(), listen_host.to_string()];
            names.extend(self.names.iter().cloned());
            names.dedup();
            let made = rcgen::generate_simple_self_signed(names)
                .map_err(|e| format!("tls: self-signed certificate: {e}"))?;
            write_new(
                &key_path,
                made.signing_key.serialize_pem().as_bytes(),
                0o600,
            )?;
            write_new(&cert_path, made.cert.pem().as_bytes(), 0o644)?;
        }
        let cert_pem = read(&cert_path)?;
        Ok(TlsMaterial {
            fingerprint: fingerprint(&cert_pem),
            key_pem: read(&key_path)?,
            cert_pem,
            source: format!("self-signed, {}", cert_path.display()),
        })
    }
}
