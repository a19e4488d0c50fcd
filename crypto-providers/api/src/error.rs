use thiserror::Error;

/// Errors of a crypto provider. They never carry key material: only what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A public key is not a valid SEC1 uncompressed P-256 point on the curve.
    #[error("invalid P-256 public key")]
    InvalidPublicKey,
    /// A private scalar is zero, not below the group order, or of the wrong length.
    #[error("invalid P-256 private key")]
    InvalidPrivateKey,
    /// An ECDSA signature did not verify (or was not a well-formed r‖s pair).
    #[error("signature verification failed")]
    BadSignature,
    /// AEAD authentication failed: wrong key, nonce, AAD, or tampered data.
    #[error("authenticated decryption failed")]
    AuthenticationFailed,
    /// A key, nonce or output has the wrong length.
    #[error("invalid length for {what}: expected {expected}, got {got}")]
    InvalidLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// HKDF-Expand was asked for more than 255 × hash length bytes.
    #[error("HKDF output too long: {0} bytes")]
    HkdfOutputTooLong(usize),
    /// The key is of the wrong kind for the operation (e.g. ECDH with a signing key).
    #[error("key usage mismatch: key is for {actual}, operation needs {needed}")]
    WrongKeyUsage {
        actual: crate::KeyUsage,
        needed: crate::KeyUsage,
    },
    /// The private key cannot leave the provider.
    #[error("private key is not extractable from provider {0}")]
    NotExtractable(&'static str),
    /// A persisted key belongs to another provider or is malformed.
    #[error("persisted key cannot be restored: {0}")]
    BadPersistedKey(&'static str),
    /// The provider does not implement this algorithm or operation.
    #[error("unsupported by provider: {0}")]
    Unsupported(&'static str),
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// Any other provider failure (token removed, module error, ...). Never contains secrets.
    #[error("provider error: {0}")]
    Provider(String),
}
