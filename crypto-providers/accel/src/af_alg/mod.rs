//! Linux AF_ALG: the kernel crypto API as sockets, which reaches crypto engines the CPU does not
//! have (SoC accelerators, crypto co-processors) through their kernel drivers.
//!
//! [`probe`] opens an `AF_ALG` socket and binds it to `aead` / `gcm(aes)`; it is run when the
//! provider starts (unless disabled) and its outcome is reported in
//! [`crate::AccelInfo`]. A kernel built without `CONFIG_CRYPTO_USER_API_AEAD` (like the one
//! this project is developed on) answers `socket(AF_ALG, …)` with `EAFNOSUPPORT`, and the
//! provider falls back to AWS-LC.
//!
//! The AEAD path itself ([`AfAlgAeadKey`]) is compiled only with the `af-alg` cargo feature.
//! It could not be run here (no AF_ALG in this kernel): only the probe and the fallback are
//! tested.

#[cfg(all(feature = "af-alg", target_os = "linux"))]
mod aead;
#[cfg(target_os = "linux")]
mod sys;

#[cfg(all(feature = "af-alg", target_os = "linux"))]
pub use aead::AfAlgAeadKey;

use std::fmt;
use std::io;

/// The AF_ALG algorithm type the provider uses.
pub const AEAD_TYPE: &str = "aead";
/// The AF_ALG algorithm name the provider uses.
pub const AEAD_NAME: &str = "gcm(aes)";

/// Which step of the probe failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeStep {
    /// `socket(AF_ALG, SOCK_SEQPACKET, 0)`: the kernel has no AF_ALG at all.
    Socket,
    /// `bind` to `aead`/`gcm(aes)`: AF_ALG exists but not its AEAD interface or algorithm.
    Bind,
    /// The platform is not Linux.
    Platform,
}

impl fmt::Display for ProbeStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProbeStep::Socket => "socket(AF_ALG, SOCK_SEQPACKET, 0)",
            ProbeStep::Bind => "bind(aead, gcm(aes))",
            ProbeStep::Platform => "AF_ALG",
        })
    }
}

/// Why AF_ALG cannot be used: the failing step and the operating system's error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeFailure {
    /// The step that failed.
    pub step: ProbeStep,
    /// The `errno` value, if the step was a system call.
    pub errno: Option<i32>,
    /// The operating system's description of the error.
    pub message: String,
}

impl ProbeFailure {
    fn from_os(step: ProbeStep, err: &io::Error) -> Self {
        ProbeFailure {
            step,
            errno: err.raw_os_error(),
            message: err.to_string(),
        }
    }

    /// The symbolic name of the errno, for the common cases.
    #[must_use]
    pub fn errno_name(&self) -> Option<&'static str> {
        #[cfg(target_os = "linux")]
        {
            match self.errno? {
                libc::EAFNOSUPPORT => Some("EAFNOSUPPORT"),
                libc::ENOENT => Some("ENOENT"),
                libc::EPERM => Some("EPERM"),
                libc::EACCES => Some("EACCES"),
                libc::EINVAL => Some("EINVAL"),
                libc::ENOMEM => Some("ENOMEM"),
                _ => None,
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            None
        }
    }

    /// A hint for operators: what the failure usually means.
    #[must_use]
    pub fn hint(&self) -> &'static str {
        match (self.step, self.errno_name()) {
            (ProbeStep::Socket, Some("EAFNOSUPPORT")) => {
                "the kernel has no AF_ALG (CONFIG_CRYPTO_USER_API_AEAD is not set)"
            }
            (ProbeStep::Bind, Some("ENOENT")) => "the kernel has no gcm(aes) AEAD implementation",
            (ProbeStep::Socket | ProbeStep::Bind, Some("EPERM" | "EACCES")) => {
                "AF_ALG is blocked by a security policy (seccomp, SELinux, container runtime)"
            }
            (ProbeStep::Platform, _) => "AF_ALG exists only on Linux",
            _ => "AF_ALG is not usable",
        }
    }
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.step, self.message)?;
        if let Some(name) = self.errno_name() {
            write!(f, " [{name}]")?;
        }
        write!(f, "; {}", self.hint())
    }
}

impl std::error::Error for ProbeFailure {}

/// Checks whether the kernel offers `gcm(aes)` through AF_ALG: opens a socket, binds it and
/// closes it again. Cheap (three system calls) and side-effect free.
pub fn probe() -> Result<(), ProbeFailure> {
    #[cfg(target_os = "linux")]
    {
        sys::bound_socket(AEAD_TYPE, AEAD_NAME).map(drop)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(ProbeFailure {
            step: ProbeStep::Platform,
            errno: None,
            message: "not supported on this operating system".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_text_names_step_errno_and_cause() {
        let f = ProbeFailure::from_os(
            ProbeStep::Socket,
            &io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
        );
        let text = f.to_string();
        assert!(
            text.starts_with("socket(AF_ALG, SOCK_SEQPACKET, 0) failed: "),
            "{text}"
        );
        assert!(text.contains("[EAFNOSUPPORT]"), "{text}");
        assert!(text.contains("CONFIG_CRYPTO_USER_API_AEAD"), "{text}");

        let f = ProbeFailure::from_os(ProbeStep::Bind, &io::Error::from_raw_os_error(libc::ENOENT));
        assert!(f.to_string().contains("no gcm(aes)"), "{f}");
    }

    #[test]
    fn probe_gives_an_answer_with_a_reason() {
        // On this project's development kernel: EAFNOSUPPORT at the socket step. On a kernel
        // with AF_ALG the probe succeeds; both are fine here, but a failure must explain itself.
        match probe() {
            Ok(()) => {}
            Err(f) => {
                assert!(!f.message.is_empty());
                assert!(matches!(f.step, ProbeStep::Socket | ProbeStep::Bind));
            }
        }
    }
}
