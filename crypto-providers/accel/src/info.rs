//! What the provider found at start-up and what it uses: [`AccelInfo`].

use std::fmt;

use crate::af_alg::ProbeFailure;
use crate::cpu::CpuFeatures;

/// The engine that seals and opens AES-GCM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AeadBackend {
    /// AWS-LC in process, on the CPU's AES instructions where present.
    AwsLc,
    /// The kernel crypto API (AF_ALG `gcm(aes)`), e.g. a SoC crypto engine.
    AfAlg,
}

impl fmt::Display for AeadBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AeadBackend::AwsLc => "AWS-LC",
            AeadBackend::AfAlg => "AF_ALG (kernel crypto API)",
        })
    }
}

/// What became of the AF_ALG backend at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfAlgStatus {
    /// Not probed: disabled by configuration ([`crate::AfAlgMode::Disabled`]).
    Disabled,
    /// The probe failed; AES-GCM falls back to AWS-LC. The failure says why.
    Unavailable(ProbeFailure),
    /// The kernel offers `gcm(aes)`, but this build lacks the `af-alg` feature.
    NotCompiled,
    /// The kernel offers `gcm(aes)`, but in [`crate::AfAlgMode::Auto`] AWS-LC is preferred
    /// because the CPU has AES-GCM instructions (faster than a system call per frame).
    NotChosen,
    /// AES-GCM keys are AF_ALG keys.
    InUse,
}

impl fmt::Display for AfAlgStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AfAlgStatus::Disabled => f.write_str("disabled by configuration"),
            AfAlgStatus::Unavailable(why) => write!(f, "unavailable, fell back to AWS-LC: {why}"),
            AfAlgStatus::NotCompiled => f.write_str(
                "available in the kernel, but this build lacks the `af-alg` feature; using AWS-LC",
            ),
            AfAlgStatus::NotChosen => f.write_str(
                "available in the kernel; AWS-LC preferred because the CPU has AES-GCM instructions",
            ),
            AfAlgStatus::InUse => f.write_str("in use for AES-GCM"),
        }
    }
}

/// The provider's start-up report: CPU features, the AES-GCM backend, the AF_ALG probe and
/// the self-test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccelInfo {
    /// The CPU's crypto instructions.
    pub cpu: CpuFeatures,
    /// Who seals and opens AES-GCM.
    pub aead_backend: AeadBackend,
    /// The AF_ALG probe's outcome.
    pub af_alg: AfAlgStatus,
    /// How many known-answer self-tests passed at construction (all must pass).
    pub self_tests_passed: usize,
}

impl AccelInfo {
    /// Whether AES-GCM runs on dedicated hardware (CPU instructions or a kernel engine).
    #[must_use]
    pub fn aead_accelerated(&self) -> bool {
        match self.aead_backend {
            AeadBackend::AwsLc => self.cpu.aes_gcm_in_hardware(),
            AeadBackend::AfAlg => true,
        }
    }
}

impl fmt::Display for AccelInfo {
    /// Four lines: backend and code path, CPU flags, AF_ALG, self-test.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.aead_backend {
            AeadBackend::AwsLc => writeln!(f, "AES-GCM: AWS-LC, {} path", self.cpu.aes_gcm_path())?,
            AeadBackend::AfAlg => writeln!(f, "AES-GCM: {}", self.aead_backend)?,
        }
        writeln!(
            f,
            "CPU: {} (SHA-256: {})",
            self.cpu,
            if self.cpu.sha {
                "SHA extensions"
            } else {
                "vector or scalar code"
            }
        )?;
        writeln!(f, "AF_ALG: {}", self.af_alg)?;
        write!(
            f,
            "self-test: {} known-answer tests passed",
            self.self_tests_passed
        )
    }
}
