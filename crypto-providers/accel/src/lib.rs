//! Conclave's hardware-accelerated [`CryptoProvider`]: AWS-LC through `aws-lc-rs`, which runs
//! AES-GCM on AES-NI / VAES / AVX-512 (or ARMv8 AES) and SHA-2 on the SHA extensions when the
//! CPU has them, with P-256 ECDSA and ECDH on AWS-LC's optimised code.
//!
//! At construction ([`AccelProvider::new`], [`AccelProvider::with_config`]) the provider
//!
//! 1. detects the CPU's crypto instructions ([`CpuFeatures`]);
//! 2. probes the kernel's AF_ALG `gcm(aes)` interface (unless disabled) and decides whether
//!    AES-GCM goes to AWS-LC or to the kernel ([`AfAlgMode`]); the AF_ALG path itself needs the
//!    `af-alg` cargo feature;
//! 3. runs known-answer self-tests ([`known_answer_tests`]) and refuses to start if any fails;
//!
//! and reports all of it in [`AccelInfo`] ([`AccelProvider::info`], printable).
//!
//! AES-GCM keys implement the batched [`AeadKey::seal_batch`] / [`AeadKey::open_batch`]
//! natively (one key schedule, one tight loop, no per-item allocation); the capabilities say
//! so with `batched_aead`, which the SFrame sender pipeline checks.
//!
//! Keys live in process memory (AWS-LC objects that AWS-LC wipes when freed) and are
//! extractable: [`P256PrivateKey::persist`] returns [`PersistedKey::Raw`], exactly like the
//! software provider, so identities are stored the same way (under the provider name `accel`).
//!
//! [`P256PrivateKey::persist`]: conclave_crypto::P256PrivateKey::persist

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod aead;
pub mod af_alg;
mod cpu;
mod ecc;
mod info;
mod kdf;
mod selftest;

use std::sync::Arc;

use conclave_crypto::{
    AeadAlg, AeadKey, Capabilities, CryptoError, CryptoProvider, HashAlg, KeyUsage, P256PrivateKey,
    P256PublicKey, PersistedKey, Secret, Signature,
};

pub use crate::af_alg::{ProbeFailure, ProbeStep};
pub use crate::cpu::CpuFeatures;
pub use crate::info::{AccelInfo, AeadBackend, AfAlgStatus};
pub use crate::selftest::{SelfTestError, known_answer_tests};

use crate::aead::AwsLcAeadKey;
use crate::ecc::AccelP256Key;

/// Whether and when AES-GCM goes to the kernel's AF_ALG interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AfAlgMode {
    /// Never probe; AES-GCM always on AWS-LC.
    Disabled,
    /// Probe and report. Use AF_ALG only when it works, the `af-alg` feature is built in, and
    /// the CPU has no AES-GCM instructions (a system call per frame is slower than VAES or
    /// AES-NI; a SoC engine is worth it only on CPUs without them). Otherwise AWS-LC.
    #[default]
    Auto,
    /// Use AF_ALG whenever it works (and is built in); otherwise fall back to AWS-LC.
    Preferred,
    /// Use AF_ALG or fail construction with [`AccelError::AfAlgUnavailable`] or
    /// [`AccelError::AfAlgNotCompiled`].
    Required,
}

/// Options of [`AccelProvider::with_config`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccelConfig {
    /// The AF_ALG policy.
    pub af_alg: AfAlgMode,
}

/// Why the provider could not be constructed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccelError {
    /// A known-answer self-test failed: the crypto code is broken on this machine.
    #[error("accel provider refused to start: {0}")]
    SelfTest(#[from] SelfTestError),
    /// AF_ALG was required but the kernel does not offer it.
    #[error("AF_ALG backend required but unavailable: {0}")]
    AfAlgUnavailable(ProbeFailure),
    /// AF_ALG was required, the kernel offers it, but this build does not include the backend.
    #[error(
        "AF_ALG backend required but not built in: rebuild conclave-crypto-accel with the `af-alg` feature"
    )]
    AfAlgNotCompiled,
}

/// The accelerated provider. Cheap to clone (the start-up report is shared) and usable from
/// many threads.
#[derive(Clone, Debug)]
pub struct AccelProvider {
    info: Arc<AccelInfo>,
}

impl AccelProvider {
    /// The name recorded with persisted keys and reported by [`CryptoProvider::name`].
    pub const NAME: &'static str = "accel";

    /// The provider with the default configuration ([`AfAlgMode::Auto`]).
    pub fn new() -> Result<Self, AccelError> {
        Self::with_config(AccelConfig::default())
    }

    /// Detects the CPU, probes AF_ALG as `config` says, picks the AES-GCM backend and runs
    /// the known-answer self-tests on it.
    pub fn with_config(config: AccelConfig) -> Result<Self, AccelError> {
        let cpu = CpuFeatures::detect();
        let (aead_backend, af_alg) = choose_backend(config.af_alg, &cpu, af_alg::probe)?;
        let mut provider = AccelProvider {
            info: Arc::new(AccelInfo {
                cpu,
                aead_backend,
                af_alg,
                self_tests_passed: 0,
            }),
        };
        let passed = known_answer_tests(&provider)?;
        Arc::make_mut(&mut provider.info).self_tests_passed = passed;
        Ok(provider)
    }

    /// What was detected and chosen at start-up.
    #[must_use]
    pub fn info(&self) -> &AccelInfo {
        &self.info
    }
}

/// The AES-GCM backend for `mode`, given the CPU and a probe of AF_ALG.
fn choose_backend(
    mode: AfAlgMode,
    cpu: &CpuFeatures,
    probe: impl FnOnce() -> Result<(), ProbeFailure>,
) -> Result<(AeadBackend, AfAlgStatus), AccelError> {
    if mode == AfAlgMode::Disabled {
        return Ok((AeadBackend::AwsLc, AfAlgStatus::Disabled));
    }
    match probe() {
        Err(failure) if mode == AfAlgMode::Required => Err(AccelError::AfAlgUnavailable(failure)),
        Err(failure) => Ok((AeadBackend::AwsLc, AfAlgStatus::Unavailable(failure))),
        Ok(()) if !cfg!(feature = "af-alg") => match mode {
            AfAlgMode::Required => Err(AccelError::AfAlgNotCompiled),
            _ => Ok((AeadBackend::AwsLc, AfAlgStatus::NotCompiled)),
        },
        Ok(()) if mode == AfAlgMode::Auto && cpu.aes_gcm_in_hardware() => {
            Ok((AeadBackend::AwsLc, AfAlgStatus::NotChosen))
        }
        Ok(()) => Ok((AeadBackend::AfAlg, AfAlgStatus::InUse)),
    }
}

impl CryptoProvider for AccelProvider {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            aead: vec![AeadAlg::Aes128Gcm, AeadAlg::Aes256Gcm],
            hashes: vec![HashAlg::Sha256, HashAlg::Sha512],
            hardware_backed: false,
            extractable_private_keys: true,
            ecdh_secret_leaves_provider: true,
            accelerated_aead: self.info.aead_accelerated(),
            // Native batching on AWS-LC; AF_ALG keys use the trait's default loop.
            batched_aead: self.info.aead_backend == AeadBackend::AwsLc,
        }
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        aws_lc_rs::rand::fill(out).map_err(|_| CryptoError::Rng)
    }

    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
        kdf::hash(alg, parts)
    }

    fn generate_p256(&self, usage: KeyUsage) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(Box::new(AccelP256Key::generate(usage)?))
    }

    fn import_p256(
        &self,
        scalar: &[u8],
        usage: KeyUsage,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(Box::new(AccelP256Key::import(scalar, usage)?))
    }

    fn restore_p256(
        &self,
        persisted: &PersistedKey,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(Box::new(AccelP256Key::restore(persisted)?))
    }

    fn validate_public_key(&self, public: &P256PublicKey) -> Result<(), CryptoError> {
        ecc::validate_public_key(public)
    }

    fn verify_p256(
        &self,
        public: &P256PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        ecc::verify(public, message, signature)
    }

    fn hkdf_extract(&self, alg: HashAlg, salt: &[u8], ikm: &[u8]) -> Result<Secret, CryptoError> {
        Ok(kdf::extract(alg, salt, ikm))
    }

    fn hkdf_expand(
        &self,
        alg: HashAlg,
        prk: &[u8],
        info: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        kdf::expand(alg, prk, info, out)
    }

    fn aead_key(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        match self.info.aead_backend {
            AeadBackend::AwsLc => Ok(Box::new(AwsLcAeadKey::new(alg, key)?)),
            AeadBackend::AfAlg => af_alg_key(alg, key),
        }
    }
}

#[cfg(all(feature = "af-alg", target_os = "linux"))]
fn af_alg_key(alg: AeadAlg, key: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
    Ok(Box::new(af_alg::AfAlgAeadKey::new(alg, key)?))
}

#[cfg(not(all(feature = "af-alg", target_os = "linux")))]
fn af_alg_key(_alg: AeadAlg, _key: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
    // `choose_backend` never selects AF_ALG in a build without it.
    Err(CryptoError::Unsupported("AF_ALG backend not built in"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable() -> Result<(), ProbeFailure> {
        Err(ProbeFailure {
            step: ProbeStep::Socket,
            errno: Some(libc::EAFNOSUPPORT),
            message: "Address family not supported by protocol (os error 97)".into(),
        })
    }

    const WITH_AES: CpuFeatures = CpuFeatures {
        aes: true,
        pclmulqdq: true,
        avx2: false,
        avx512f: false,
        vaes: false,
        vpclmulqdq: false,
        sha: false,
        arm_aes_pmull: false,
    };
    const WITHOUT_AES: CpuFeatures = CpuFeatures {
        aes: false,
        pclmulqdq: false,
        ..WITH_AES
    };

    #[test]
    fn backend_choice_for_every_mode() {
        use AfAlgMode::*;
        let never = || -> Result<(), ProbeFailure> { panic!("probed although disabled") };
        assert_eq!(
            choose_backend(Disabled, &WITHOUT_AES, never),
            Ok((AeadBackend::AwsLc, AfAlgStatus::Disabled))
        );
        for mode in [Auto, Preferred] {
            let (backend, status) = choose_backend(mode, &WITHOUT_AES, unavailable).unwrap();
            assert_eq!(backend, AeadBackend::AwsLc);
            assert!(matches!(status, AfAlgStatus::Unavailable(_)));
        }
        assert!(matches!(
            choose_backend(Required, &WITH_AES, unavailable),
            Err(AccelError::AfAlgUnavailable(_))
        ));
        // The kernel offers AF_ALG.
        let works = || Ok(());
        if cfg!(feature = "af-alg") {
            assert_eq!(
                choose_backend(Auto, &WITH_AES, works),
                Ok((AeadBackend::AwsLc, AfAlgStatus::NotChosen))
            );
            assert_eq!(
                choose_backend(Auto, &WITHOUT_AES, works),
                Ok((AeadBackend::AfAlg, AfAlgStatus::InUse))
            );
            assert_eq!(
                choose_backend(Preferred, &WITH_AES, works),
                Ok((AeadBackend::AfAlg, AfAlgStatus::InUse))
            );
            assert_eq!(
                choose_backend(Required, &WITH_AES, works),
                Ok((AeadBackend::AfAlg, AfAlgStatus::InUse))
            );
        } else {
            for mode in [Auto, Preferred] {
                assert_eq!(
                    choose_backend(mode, &WITHOUT_AES, works),
                    Ok((AeadBackend::AwsLc, AfAlgStatus::NotCompiled))
                );
            }
            assert_eq!(
                choose_backend(Required, &WITH_AES, works),
                Err(AccelError::AfAlgNotCompiled)
            );
        }
    }

    #[test]
    fn required_error_names_the_cause() {
        let err = choose_backend(AfAlgMode::Required, &WITH_AES, unavailable).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("AF_ALG backend required but unavailable: socket(AF_ALG"),
            "{text}"
        );
        assert!(text.contains("EAFNOSUPPORT"), "{text}");
    }
}
