//! How to reach the token: module path, token label and where the PIN comes from.

use std::fmt;
use std::path::PathBuf;

use conclave_crypto::CryptoError;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

/// Where the user PIN is read from. Never a command-line value: those are visible to every
/// user of the machine in the process list.
#[derive(Clone, PartialEq, Eq)]
pub enum PinSource {
    /// The value of this environment variable.
    Env(String),
    /// The first line of this file (a trailing newline is ignored).
    File(PathBuf),
}

impl fmt::Debug for PinSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PinSource::Env(var) => write!(f, "PinSource::Env({var})"),
            PinSource::File(path) => write!(f, "PinSource::File({})", path.display()),
        }
    }
}

impl PinSource {
    /// Reads the PIN. Errors name the variable or file, never its content.
    pub(crate) fn read(&self) -> Result<AuthPin, CryptoError> {
        let pin = self.read_text()?;
        Ok(AuthPin::from(pin.as_str().to_owned()))
    }

    /// The PIN's text, wiped on drop.
    fn read_text(&self) -> Result<Zeroizing<String>, CryptoError> {
        let raw: Zeroizing<String> = match self {
            PinSource::Env(var) => match std::env::var(var) {
                Ok(v) => Zeroizing::new(v),
                Err(std::env::VarError::NotPresent) => {
                    return Err(CryptoError::Provider(format!(
                        "PKCS#11 PIN: environment variable {var} is not set"
                    )));
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(CryptoError::Provider(format!(
                        "PKCS#11 PIN: environment variable {var} is not valid UTF-8"
                    )));
                }
            },
            PinSource::File(path) => {
                let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
                    CryptoError::Provider(format!(
                        "PKCS#11 PIN: cannot read {}: {}",
                        path.display(),
                        e.kind()
                    ))
                })?);
                match std::str::from_utf8(&bytes) {
                    Ok(text) => Zeroizing::new(text.to_owned()),
                    Err(_) => {
                        return Err(CryptoError::Provider(format!(
                            "PKCS#11 PIN: {} is not valid UTF-8",
                            path.display()
                        )));
                    }
                }
            }
        };
        let pin = raw.lines().next().unwrap_or("");
        if pin.is_empty() {
            return Err(CryptoError::Provider(format!(
                "PKCS#11 PIN: {} is empty",
                self.describe()
            )));
        }
        Ok(Zeroizing::new(pin.to_owned()))
    }

    fn describe(&self) -> String {
        match self {
            PinSource::Env(var) => format!("environment variable {var}"),
            PinSource::File(path) => format!("file {}", path.display()),
        }
    }
}

/// Default number of sessions the provider keeps open.
pub const DEFAULT_MAX_SESSIONS: usize = 4;

/// The configuration of a [`crate::Pkcs11Provider`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library) of the token's vendor.
    pub module: PathBuf,
    /// The token's label (`CKA_LABEL` of the token, without padding).
    pub token_label: String,
    /// Where the user PIN comes from.
    pub pin: PinSource,
    /// Seal and open AEAD data (media frames, container payloads) inside the token with
    /// `CKM_AES_GCM` instead of in software. Off by default: a token call costs far more than
    /// a software AES-GCM seal, and the keys involved are already derived on the host.
    pub in_token_frames: bool,
    /// How many sessions the provider opens at most (sessions are used by one thread at a
    /// time; callers wait for a free one beyond this).
    pub max_sessions: usize,
    /// Ask the token to hash before signing (`CKM_ECDSA_SHA256`) instead of hashing on the
    /// host and signing the digest with `CKM_ECDSA` (the default, which every token with
    /// ECDSA supports; SoftHSM has no `CKM_ECDSA_SHA256`).
    pub hash_in_token: bool,
}

impl Pkcs11Config {
    /// A configuration with the defaults: frames in software, host hashing,
    /// [`DEFAULT_MAX_SESSIONS`] sessions.
    pub fn new(module: impl Into<PathBuf>, token_label: impl Into<String>, pin: PinSource) -> Self {
        Pkcs11Config {
            module: module.into(),
            token_label: token_label.into(),
            pin,
            in_token_frames: false,
            max_sessions: DEFAULT_MAX_SESSIONS,
            hash_in_token: false,
        }
    }

    /// Turns the in-token frame mode on or off.
    #[must_use]
    pub fn with_in_token_frames(mut self, on: bool) -> Self {
        self.in_token_frames = on;
        self
    }

    /// Sets the session pool size (at least 1).
    #[must_use]
    pub fn with_max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n.max(1);
        self
    }

    /// Hash in the token (`CKM_ECDSA_SHA256`) instead of on the host.
    #[must_use]
    pub fn with_hash_in_token(mut self, on: bool) -> Self {
        self.hash_in_token = on;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_file_first_line_without_newline() {
        let dir = std::env::temp_dir().join(format!("conclave-pin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("pin");
        std::fs::write(&path, "1234\n").expect("write pin");
        let pin = PinSource::File(path.clone()).read_text().expect("read pin");
        assert_eq!(pin.as_str(), "1234");
        std::fs::write(&path, "\n").expect("write pin");
        let err = PinSource::File(path).read_text().expect_err("empty pin");
        assert!(err.to_string().contains("is empty"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn missing_sources_are_named() {
        let err = PinSource::Env("CONCLAVE_TEST_NO_SUCH_PIN_VAR".into())
            .read()
            .expect_err("unset");
        assert!(
            err.to_string()
                .contains("CONCLAVE_TEST_NO_SUCH_PIN_VAR is not set")
        );
        let err = PinSource::File("/nonexistent/conclave/pin".into())
            .read()
            .expect_err("missing");
        assert!(err.to_string().contains("cannot read"));
    }
}
