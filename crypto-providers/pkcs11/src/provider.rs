//! [`Pkcs11Provider`]: the [`CryptoProvider`] implementation.

use std::sync::Arc;

use conclave_crypto::{
    AeadAlg, AeadKey, Capabilities, CryptoError, CryptoProvider, HashAlg, KeyUsage, P256PrivateKey,
    P256PublicKey, PersistedKey, Secret, Signature,
};
use conclave_crypto_software::SoftwareProvider;

use crate::aead::{TokenAeadKey, check_key_len};
use crate::config::Pkcs11Config;
use crate::error::Op;
use crate::keys::{KeyContext, PROVIDER_NAME, Pkcs11P256Key, Storage};
use crate::session::Token;

/// Largest request passed to one `C_GenerateRandom` call (some HSMs cap it).
const RANDOM_CHUNK: usize = 1024;

/// A crypto provider whose P-256 private keys live in a PKCS#11 token.
///
/// What runs where:
///
/// | operation | where |
/// |---|---|
/// | P-256 key generation, ECDSA signing, ECDH | in the token (keys are sensitive, non-extractable token objects; ephemeral keys are session objects) |
/// | random numbers | the token's generator (`C_GenerateRandom`) |
/// | ECDH shared secret | derived in the token, then read out (no HKDF mechanism in PKCS#11 tokens such as SoftHSM) |
/// | HKDF, SHA-2, signature verification, public-key checks | on the host (`conclave-crypto-software`) |
/// | AES-GCM | on the host by default; in the token with [`Pkcs11Config::in_token_frames`] |
///
/// Cheap to share: clone the `Arc` it is usually held in. Usable from many threads; each
/// operation checks a session out of a bounded pool.
#[derive(Debug, Clone)]
pub struct Pkcs11Provider {
    ctx: Arc<KeyContext>,
    in_token_frames: bool,
}

impl Pkcs11Provider {
    /// The name recorded with persisted keys and reported by [`CryptoProvider::name`].
    pub const NAME: &'static str = PROVIDER_NAME;

    /// Loads the module, finds the token by label, checks that it has the mechanisms this
    /// configuration needs, and logs in with the PIN.
    ///
    /// Errors: a missing or unloadable module, no token with that label, a wrong or unreadable
    /// PIN are [`CryptoError::Provider`] with a message saying which; a missing mechanism is
    /// [`CryptoError::Unsupported`]. No message contains the PIN.
    ///
    /// Login is per process and token (PKCS#11 semantics): when another provider of this
    /// process is already logged in to the same token, the PIN is not checked again.
    pub fn open(config: &Pkcs11Config) -> Result<Self, CryptoError> {
        let token = Token::open(config)?;
        Ok(Pkcs11Provider {
            ctx: Arc::new(KeyContext {
                token,
                host: SoftwareProvider::new(),
                hash_in_token: config.hash_in_token,
            }),
            in_token_frames: config.in_token_frames,
        })
    }

    /// The label of the token in use.
    pub fn token_label(&self) -> &str {
        self.ctx.token.label()
    }

    /// Whether AEAD keys are token objects ([`Pkcs11Config::in_token_frames`]).
    pub fn in_token_frames(&self) -> bool {
        self.in_token_frames
    }
}

impl CryptoProvider for Pkcs11Provider {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            aead: vec![AeadAlg::Aes128Gcm, AeadAlg::Aes256Gcm],
            hashes: vec![HashAlg::Sha256, HashAlg::Sha512],
            hardware_backed: true,
            extractable_private_keys: false,
            // PKCS#11 tokens like SoftHSM have no HKDF mechanism: the ECDH x-coordinate is
            // read out of the token and expanded on the host.
            ecdh_secret_leaves_provider: true,
            accelerated_aead: false,
            // Frames are sealed one by one (in software by default, or one token call each).
            batched_aead: false,
        }
    }

    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        if out.is_empty() {
            return Ok(());
        }
        let mut s = self.ctx.token.session()?;
        for chunk in out.chunks_mut(RANDOM_CHUNK) {
            s.run(Op::Random, |s| s.generate_random_slice(chunk))?;
        }
        Ok(())
    }

    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
        self.ctx.host.hash(alg, parts)
    }

    fn generate_p256(&self, usage: KeyUsage) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(Box::new(Pkcs11P256Key::generate(
            &self.ctx,
            usage,
            Storage::Token,
        )?))
    }

    fn generate_ephemeral_p256(
        &self,
        usage: KeyUsage,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(Box::new(Pkcs11P256Key::generate(
            &self.ctx,
            usage,
            Storage::Session,
        )?))
    }

    fn import_p256(
        &self,
        scalar: &[u8],
        usage: KeyUsage,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(Box::new(Pkcs11P256Key::import(&self.ctx, scalar, usage)?))
    }

    fn restore_p256(
        &self,
        persisted: &PersistedKey,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(Box::new(Pkcs11P256Key::restore(&self.ctx, persisted)?))
    }

    fn validate_public_key(&self, public: &P256PublicKey) -> Result<(), CryptoError> {
        self.ctx.host.validate_public_key(public)
    }

    fn verify_p256(
        &self,
        public: &P256PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        self.ctx.host.verify_p256(public, message, signature)
    }

    fn hkdf_extract(&self, alg: HashAlg, salt: &[u8], ikm: &[u8]) -> Result<Secret, CryptoError> {
        self.ctx.host.hkdf_extract(alg, salt, ikm)
    }

    fn hkdf_expand(
        &self,
        alg: HashAlg,
        prk: &[u8],
        info: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        self.ctx.host.hkdf_expand(alg, prk, info, out)
    }

    fn aead_key(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        check_key_len(alg, key)?;
        if self.in_token_frames {
            Ok(Box::new(TokenAeadKey::new(&self.ctx, alg, key)?))
        } else {
            self.ctx.host.aead_key(alg, key)
        }
    }
}
