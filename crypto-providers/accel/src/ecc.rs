//! P-256 keys on AWS-LC: ECDSA (SHA-256, raw `r ‖ s`) and ECDH, import from a scalar, export
//! as a raw scalar.
//!
//! The private scalars live in AWS-LC `EVP_PKEY` objects, which AWS-LC wipes when they are
//! freed; exported copies are held in zeroizing buffers (`aws_lc_rs` `EcPrivateKeyBin`, then
//! [`Secret`]). AWS-LC's ECDSA nonces are random, not RFC 6979: signatures are not
//! deterministic, which the protocol does not need (it normalises to low-S itself).

use std::fmt;

use aws_lc_rs::agreement::{self, ECDH_P256, ParsedPublicKey, UnparsedPublicKey};
use aws_lc_rs::encoding::{AsBigEndian, EcPrivateKeyBin};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
};
use conclave_crypto::{
    CryptoError, KeyUsage, P256PrivateKey, P256PublicKey, PersistedKey, Secret, Signature,
};

/// The private half, in the AWS-LC type its usage needs.
enum KeyMaterial {
    Signing(EcdsaKeyPair),
    KeyAgreement(agreement::PrivateKey),
}

/// A P-256 private key held by AWS-LC in process memory.
pub(crate) struct AccelP256Key {
    material: KeyMaterial,
    public: P256PublicKey,
}

impl AccelP256Key {
    /// A fresh key from AWS-LC's generator (seeded by the operating system).
    pub(crate) fn generate(usage: KeyUsage) -> Result<Self, CryptoError> {
        match usage {
            KeyUsage::Signing => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| CryptoError::Provider("P-256 key generation failed".into()))?;
                let public = encode_public(pair.public_key().as_ref())?;
                Ok(AccelP256Key {
                    material: KeyMaterial::Signing(pair),
                    public,
                })
            }
            KeyUsage::KeyAgreement => {
                let key = agreement::PrivateKey::generate(&ECDH_P256)
                    .map_err(|_| CryptoError::Provider("P-256 key generation failed".into()))?;
                Self::from_agreement_key(key)
            }
        }
    }

    /// A key from a 32-byte big-endian scalar `d` with `1 ≤ d < n` (AWS-LC rejects 0 and
    /// values ≥ n).
    pub(crate) fn import(scalar: &[u8], usage: KeyUsage) -> Result<Self, CryptoError> {
        if scalar.len() != 32 {
            return Err(CryptoError::InvalidPrivateKey);
        }
        let key = agreement::PrivateKey::from_private_key(&ECDH_P256, scalar)
            .map_err(|_| CryptoError::InvalidPrivateKey)?;
        let k = Self::from_agreement_key(key)?;
        match usage {
            KeyUsage::KeyAgreement => Ok(k),
            KeyUsage::Signing => {
                // The ECDSA key pair wants the public point too; it checks that both match.
                let pair = EcdsaKeyPair::from_private_key_and_public_key(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    scalar,
                    k.public.as_bytes(),
                )
                .map_err(|_| CryptoError::InvalidPrivateKey)?;
                Ok(AccelP256Key {
                    material: KeyMaterial::Signing(pair),
                    public: k.public,
                })
            }
        }
    }

    /// Restores a key made by [`P256PrivateKey::persist`] of this provider.
    pub(crate) fn restore(persisted: &PersistedKey) -> Result<Self, CryptoError> {
        match persisted {
            PersistedKey::Raw { usage, scalar } => Self::import(scalar.expose(), *usage)
                .map_err(|_| CryptoError::BadPersistedKey("raw scalar is not a P-256 private key")),
            PersistedKey::Reference { .. } => Err(CryptoError::BadPersistedKey(
                "the accel provider does not hold key references",
            )),
        }
    }

    /// A key-agreement key with its public half.
    fn from_agreement_key(key: agreement::PrivateKey) -> Result<Self, CryptoError> {
        let public = key
            .compute_public_key()
            .map_err(|_| CryptoError::Provider("P-256 public key computation failed".into()))?;
        Ok(AccelP256Key {
            public: encode_public(public.as_ref())?,
            material: KeyMaterial::KeyAgreement(key),
        })
    }

    /// The scalar, big-endian, in a buffer that AWS-LC's encoding type wipes on drop.
    fn scalar_bytes(&self) -> Result<EcPrivateKeyBin<'static>, CryptoError> {
        let exported = match &self.material {
            KeyMaterial::Signing(pair) => pair.private_key().as_be_bytes(),
            KeyMaterial::KeyAgreement(key) => key.as_be_bytes(),
        };
        exported.map_err(|_| CryptoError::Provider("P-256 private key export failed".into()))
    }
}

impl fmt::Debug for AccelP256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccelP256Key")
            .field("usage", &self.usage())
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl P256PrivateKey for AccelP256Key {
    fn usage(&self) -> KeyUsage {
        match self.material {
            KeyMaterial::Signing(_) => KeyUsage::Signing,
            KeyMaterial::KeyAgreement(_) => KeyUsage::KeyAgreement,
        }
    }

    fn public_key(&self) -> P256PublicKey {
        self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        let KeyMaterial::Signing(pair) = &self.material else {
            return Err(wrong_usage(self.usage(), KeyUsage::Signing));
        };
        // AWS-LC draws the ECDSA nonce from its own DRBG; the `rng` argument is ignored.
        let signature = pair
            .sign(&SystemRandom::new(), message)
            .map_err(|_| CryptoError::Provider("ECDSA signing failed".into()))?;
        Signature::from_slice(signature.as_ref())
            .map_err(|_| CryptoError::Provider("internal: ECDSA signature is not 64 bytes".into()))
    }

    fn ecdh(&self, peer: &P256PublicKey) -> Result<Secret, CryptoError> {
        let KeyMaterial::KeyAgreement(key) = &self.material else {
            return Err(wrong_usage(self.usage(), KeyUsage::KeyAgreement));
        };
        // AWS-LC parses the peer point (on the curve, coordinates below p) before using it,
        // and hands the shared x-coordinate to the closure; its own copy is wiped.
        agreement::agree(
            key,
            UnparsedPublicKey::new(&ECDH_P256, peer.as_bytes()),
            CryptoError::InvalidPublicKey,
            |shared| Ok(Secret::from_slice(shared)),
        )
    }

    fn persist(&self) -> Result<PersistedKey, CryptoError> {
        let scalar = self.scalar_bytes()?;
        Ok(PersistedKey::Raw {
            usage: self.usage(),
            scalar: Secret::from_slice(scalar.as_ref()),
        })
    }
}

/// Checks that `public` is a point on P-256 (the identity has no uncompressed encoding).
pub(crate) fn validate_public_key(public: &P256PublicKey) -> Result<(), CryptoError> {
    ParsedPublicKey::try_from(&UnparsedPublicKey::new(&ECDH_P256, public.as_bytes()))
        .map(|_| ())
        .map_err(|_| CryptoError::InvalidPublicKey)
}

/// ECDSA P-256 / SHA-256 verification of a raw `r ‖ s` signature. AWS-LC rejects r or s
/// equal to zero or not below n, and public keys that are not on the curve.
pub(crate) fn verify(
    public: &P256PublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), CryptoError> {
    signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public.as_bytes())
        .verify(message, signature.as_bytes())
        .map_err(|_| CryptoError::BadSignature)
}

fn encode_public(bytes: &[u8]) -> Result<P256PublicKey, CryptoError> {
    P256PublicKey::from_sec1(bytes)
        .map_err(|_| CryptoError::Provider("internal: public key encoding failed".into()))
}

fn wrong_usage(actual: KeyUsage, needed: KeyUsage) -> CryptoError {
    CryptoError::WrongKeyUsage { actual, needed }
}
