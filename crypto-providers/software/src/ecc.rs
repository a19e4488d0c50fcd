//! P-256 keys: ECDSA (SHA-256) signing and verification, ECDH, import and persistence.

use std::fmt;

use conclave_crypto::{
    CryptoError, KeyUsage, P256PrivateKey, P256PublicKey, PersistedKey, Secret, Signature,
};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{self, SigningKey, VerifyingKey};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{FieldBytes, PublicKey, SecretKey};
use zeroize::Zeroizing;

/// The secret half, in the form its usage needs. Both types wipe the scalar on drop.
enum KeyMaterial {
    Signing(SigningKey),
    KeyAgreement(SecretKey),
}

/// A P-256 private key held in process memory.
pub(crate) struct SoftwareP256Key {
    material: KeyMaterial,
    public: P256PublicKey,
}

impl SoftwareP256Key {
    /// A fresh key from the operating system's generator.
    pub(crate) fn generate(usage: KeyUsage) -> Result<Self, CryptoError> {
        let secret = SecretKey::try_generate().map_err(|_| CryptoError::Rng)?;
        Self::from_secret(secret, usage)
    }

    /// A key from a 32-byte big-endian scalar `d` with `1 ≤ d < n`.
    pub(crate) fn import(scalar: &[u8], usage: KeyUsage) -> Result<Self, CryptoError> {
        // Exactly 32 bytes: `SecretKey::from_slice` would also pad shorter inputs.
        let bytes: &FieldBytes = scalar
            .try_into()
            .map_err(|_| CryptoError::InvalidPrivateKey)?;
        // Rejects zero and values ≥ n.
        let secret = SecretKey::from_bytes(bytes).map_err(|_| CryptoError::InvalidPrivateKey)?;
        Self::from_secret(secret, usage)
    }

    /// Restores a key made by [`P256PrivateKey::persist`] of this provider.
    pub(crate) fn restore(persisted: &PersistedKey) -> Result<Self, CryptoError> {
        match persisted {
            PersistedKey::Raw { usage, scalar } => Self::import(scalar.expose(), *usage)
                .map_err(|_| CryptoError::BadPersistedKey("raw scalar is not a P-256 private key")),
            PersistedKey::Reference { .. } => Err(CryptoError::BadPersistedKey(
                "the software provider does not hold key references",
            )),
        }
    }

    fn from_secret(secret: SecretKey, usage: KeyUsage) -> Result<Self, CryptoError> {
        let (material, public) = match usage {
            KeyUsage::Signing => {
                let signing = SigningKey::from(secret);
                let public = encode_public(&PublicKey::from(signing.verifying_key()))?;
                (KeyMaterial::Signing(signing), public)
            }
            KeyUsage::KeyAgreement => {
                let public = encode_public(&secret.public_key())?;
                (KeyMaterial::KeyAgreement(secret), public)
            }
        };
        Ok(SoftwareP256Key { material, public })
    }

    /// The scalar, big-endian, in a buffer wiped on drop.
    fn scalar_bytes(&self) -> Zeroizing<FieldBytes> {
        Zeroizing::new(match &self.material {
            KeyMaterial::Signing(key) => key.to_bytes(),
            KeyMaterial::KeyAgreement(key) => key.to_bytes(),
        })
    }
}

impl fmt::Debug for SoftwareP256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareP256Key")
            .field("usage", &self.usage())
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl P256PrivateKey for SoftwareP256Key {
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
        let KeyMaterial::Signing(key) = &self.material else {
            return Err(wrong_usage(self.usage(), KeyUsage::Signing));
        };
        // RFC 6979 deterministic nonce; SHA-256 of the message.
        let signature: ecdsa::Signature = key
            .try_sign(message)
            .map_err(|_| CryptoError::Provider("ECDSA signing failed".into()))?;
        Ok(Signature(signature.to_bytes().into()))
    }

    fn ecdh(&self, peer: &P256PublicKey) -> Result<Secret, CryptoError> {
        let KeyMaterial::KeyAgreement(key) = &self.material else {
            return Err(wrong_usage(self.usage(), KeyUsage::KeyAgreement));
        };
        let peer = decode_public(peer)?;
        // `SharedSecret` wipes itself on drop.
        let shared = key.diffie_hellman(&peer);
        Ok(Secret::from_slice(shared.raw_secret_bytes()))
    }

    fn persist(&self) -> Result<PersistedKey, CryptoError> {
        Ok(PersistedKey::Raw {
            usage: self.usage(),
            scalar: Secret::from_slice(&self.scalar_bytes()[..]),
        })
    }
}

/// Checks that `public` is on the curve (the identity has no uncompressed encoding).
pub(crate) fn validate_public_key(public: &P256PublicKey) -> Result<(), CryptoError> {
    decode_public(public).map(|_| ())
}

/// ECDSA P-256 / SHA-256 verification of a raw `r ‖ s` signature.
pub(crate) fn verify(
    public: &P256PublicKey,
    message: &[u8],
    signature: &Signature,
) -> Result<(), CryptoError> {
    let key = VerifyingKey::from(decode_public(public)?);
    // Rejects r or s equal to zero or not below n.
    let signature = ecdsa::Signature::from_slice(signature.as_bytes())
        .map_err(|_| CryptoError::BadSignature)?;
    key.verify(message, &signature)
        .map_err(|_| CryptoError::BadSignature)
}

fn decode_public(public: &P256PublicKey) -> Result<PublicKey, CryptoError> {
    PublicKey::from_sec1_bytes(public.as_bytes()).map_err(|_| CryptoError::InvalidPublicKey)
}

fn encode_public(public: &PublicKey) -> Result<P256PublicKey, CryptoError> {
    P256PublicKey::from_sec1(public.to_sec1_point(false).as_bytes())
        .map_err(|_| CryptoError::Provider("internal: public key encoding failed".into()))
}

fn wrong_usage(actual: KeyUsage, needed: KeyUsage) -> CryptoError {
    CryptoError::WrongKeyUsage { actual, needed }
}
