//! Conclave's pure-Rust [`CryptoProvider`], built on the RustCrypto crates (`p256`, `aes-gcm`,
//! `hkdf`, `sha2`).
//!
//! Keys live in process memory and are wiped when dropped: P-256 scalars and ECDH shared
//! secrets by `p256` itself, AES key schedules and HMAC/hash states through the `zeroize`
//! features of `aes-gcm` and `sha2`, and this crate's own temporary copies explicitly.
//! Random numbers come from the operating system (`getrandom`).
//!
//! Private keys are extractable: [`P256PrivateKey::persist`] returns
//! [`PersistedKey::Raw`], and [`CryptoProvider::restore_p256`] accepts only that form.
//!
//! [`P256PrivateKey::persist`]: conclave_crypto::P256PrivateKey::persist

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod aead;
mod ecc;
mod kdf;

use conclave_crypto::{
    AeadAlg, AeadKey, Capabilities, CryptoError, CryptoProvider, HashAlg, KeyUsage, P256PrivateKey,
    P256PublicKey, PersistedKey, Secret, Signature,
};

use crate::aead::SoftwareAeadKey;
use crate::ecc::SoftwareP256Key;

/// The software crypto provider. Stateless, cheap to create, and usable from many threads.
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftwareProvider {
    _private: (),
}

impl SoftwareProvider {
    /// The name recorded with persisted keys and reported by [`CryptoProvider::name`].
    pub const NAME: &'static str = "software";

    /// A new provider.
    #[must_use]
    pub fn new() -> Self {
        SoftwareProvider { _private: () }
    }
}

impl CryptoProvider for SoftwareProvider {
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
            accelerated_aead: false,
            // The trait's default loop: RustCrypto has no multi-message AES-GCM.
            batched_aead: false,
        }
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        getrandom::fill(out).map_err(|_| CryptoError::Rng)
    }

    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
        kdf::hash(alg, parts)
    }

    fn generate_p256(&self, usage: KeyUsage) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(Box::new(SoftwareP256Key::generate(usage)?))
    }

    fn import_p256(
        &self,
        scalar: &[u8],
        usage: KeyUsage,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(Box::new(SoftwareP256Key::import(scalar, usage)?))
    }

    fn restore_p256(
        &self,
        persisted: &PersistedKey,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(Box::new(SoftwareP256Key::restore(persisted)?))
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
        Ok(Box::new(SoftwareAeadKey::new(alg, key)?))
    }
}
