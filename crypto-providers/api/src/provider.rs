use std::fmt;

use crate::{
    AeadKey, CryptoError, KeyUsage, P256PrivateKey, P256PublicKey, PersistedKey, Secret, Signature,
};

/// AES-GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length in bytes.
pub const TAG_LEN: usize = 16;

/// Hash functions for HKDF and hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Sha256,
    Sha512,
}

impl HashAlg {
    pub const fn output_len(self) -> usize {
        match self {
            HashAlg::Sha256 => 32,
            HashAlg::Sha512 => 64,
        }
    }
}

/// AEAD algorithms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AeadAlg {
    Aes128Gcm,
    Aes256Gcm,
}

impl AeadAlg {
    pub const fn key_len(self) -> usize {
        match self {
            AeadAlg::Aes128Gcm => 16,
            AeadAlg::Aes256Gcm => 32,
        }
    }
}

/// What a provider can do and how it protects keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    pub aead: Vec<AeadAlg>,
    pub hashes: Vec<HashAlg>,
    /// Private keys live in dedicated hardware (HSM, secure element).
    pub hardware_backed: bool,
    /// Private keys can be exported as raw scalars ([`PersistedKey::Raw`]).
    pub extractable_private_keys: bool,
    /// ECDH shared secrets are returned to the host (needed because HKDF runs on the host).
    pub ecdh_secret_leaves_provider: bool,
    /// AES-GCM runs on dedicated instructions or hardware.
    pub accelerated_aead: bool,
    /// [`AeadKey::seal_batch`] and [`AeadKey::open_batch`] have a native implementation,
    /// rather than the trait's default loop over single calls: callers with many frames at
    /// once (the SFrame sender pipeline) should hand them over in one call.
    pub batched_aead: bool,
}

/// A source of every cryptographic operation the protocol uses.
///
/// Implementations must be usable from many threads at once.
pub trait CryptoProvider: Send + Sync + fmt::Debug {
    /// A short stable name (`software`, `pkcs11`, `accel`), recorded with persisted keys.
    fn name(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities;

    /// Fills `out` from a cryptographically secure generator.
    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError>;

    /// Hashes the concatenation of `parts`.
    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Vec<u8>;

    /// Generates a fresh P-256 key for `usage`.
    fn generate_p256(&self, usage: KeyUsage) -> Result<Box<dyn P256PrivateKey>, CryptoError>;

    /// Generates a P-256 key that is used briefly and never persisted, such as an HPKE
    /// encapsulation key. A provider that stores keys (a PKCS#11 token) may keep it out of
    /// permanent storage, and its [`P256PrivateKey::persist`] may then fail. By default this
    /// is [`CryptoProvider::generate_p256`].
    fn generate_ephemeral_p256(
        &self,
        usage: KeyUsage,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        self.generate_p256(usage)
    }

    /// Imports a 32-byte big-endian scalar (1 ≤ d < n), e.g. from HPKE `DeriveKeyPair`.
    fn import_p256(
        &self,
        scalar: &[u8],
        usage: KeyUsage,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError>;

    /// Restores a key previously returned by [`P256PrivateKey::persist`].
    fn restore_p256(
        &self,
        persisted: &PersistedKey,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError>;

    /// Checks that `public` is a point on P-256 (not the identity).
    fn validate_public_key(&self, public: &P256PublicKey) -> Result<(), CryptoError>;

    /// Verifies an ECDSA P-256/SHA-256 signature (raw `r ‖ s`) over `message`.
    fn verify_p256(
        &self,
        public: &P256PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError>;

    /// HKDF-Extract (RFC 5869 §2.2). An empty salt means `HashLen` zero bytes.
    fn hkdf_extract(&self, alg: HashAlg, salt: &[u8], ikm: &[u8]) -> Result<Secret, CryptoError>;

    /// HKDF-Expand (RFC 5869 §2.3) of `prk` with `info` = concatenation of `info`'s parts,
    /// filling `out` (at most 255 × `HashLen` bytes).
    fn hkdf_expand(
        &self,
        alg: HashAlg,
        prk: &[u8],
        info: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// Makes an AES-GCM key from raw bytes (16 or 32, matching `alg`).
    fn aead_key(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError>;
}
