//! AES-128-GCM and AES-256-GCM on AWS-LC, single and batched.
//!
//! AWS-LC picks its fastest AES-GCM code for the CPU at run time (VAES/VPCLMULQDQ with AVX-512
//! here, AES-NI + PCLMULQDQ elsewhere). The key schedule and the GHASH key table live in an
//! `EVP_AEAD_CTX` that AWS-LC wipes (`OPENSSL_cleanse`) when it is freed, i.e. when the key
//! object is dropped.

use std::fmt;

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use conclave_crypto::{AeadAlg, AeadBatchItem, AeadKey, CryptoError, NONCE_LEN, TAG_LEN};

/// An AES-GCM key whose expanded schedule lives inside AWS-LC.
pub(crate) struct AwsLcAeadKey {
    alg: AeadAlg,
    key: LessSafeKey,
}

impl AwsLcAeadKey {
    /// Expands `key`, which must be exactly `alg.key_len()` bytes.
    pub(crate) fn new(alg: AeadAlg, key: &[u8]) -> Result<Self, CryptoError> {
        let bad_length = CryptoError::InvalidLength {
            what: "AES-GCM key",
            expected: alg.key_len(),
            got: key.len(),
        };
        if key.len() != alg.key_len() {
            return Err(bad_length);
        }
        let algorithm = match alg {
            AeadAlg::Aes128Gcm => &aead::AES_128_GCM,
            AeadAlg::Aes256Gcm => &aead::AES_256_GCM,
        };
        let unbound = UnboundKey::new(algorithm, key).map_err(|_| bad_length)?;
        Ok(AwsLcAeadKey {
            alg,
            key: LessSafeKey::new(unbound),
        })
    }

    #[inline]
    fn seal_one(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self
            .key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                buffer,
            )
            .map_err(|_| too_long())?;
        tag.as_ref()
            .try_into()
            .map_err(|_| CryptoError::Provider("internal: AES-GCM tag is not 16 bytes".into()))
    }

    #[inline]
    fn open_one(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        // AWS-LC checks the tag in constant time; on failure the buffer is unspecified.
        self.key
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                tag,
                buffer,
            )
            .map(|_| ())
            .map_err(|_| CryptoError::AuthenticationFailed)
    }
}

fn too_long() -> CryptoError {
    CryptoError::Provider("AES-GCM input exceeds the GCM length limits".into())
}

impl fmt::Debug for AwsLcAeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsLcAeadKey")
            .field("algorithm", &self.alg)
            .finish_non_exhaustive()
    }
}

impl AeadKey for AwsLcAeadKey {
    fn algorithm(&self) -> AeadAlg {
        self.alg
    }

    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        self.seal_one(nonce, aad, buffer)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        self.open_one(nonce, aad, buffer, tag)
    }

    /// One key schedule for the whole batch, no allocation, one tight loop over
    /// AWS-LC's single-message AES-GCM. AWS-LC has no multi-message (multi-buffer) AES-GCM
    /// interface, so the saving over one-by-one calls is the per-call overhead (dynamic
    /// dispatch, error mapping), not the cipher itself; for 1200-byte frames the VAES code
    /// already keeps its pipeline full within one message.
    fn seal_batch(&self, items: &mut [AeadBatchItem<'_>]) -> Result<(), CryptoError> {
        for item in items.iter_mut() {
            item.tag = self.seal_one(&item.nonce, item.aad, item.buffer)?;
        }
        Ok(())
    }

    /// Like [`Self::seal_batch`]; the only allocation is the result vector.
    fn open_batch(&self, items: &mut [AeadBatchItem<'_>]) -> Vec<Result<(), CryptoError>> {
        let mut results = Vec::with_capacity(items.len());
        for item in items.iter_mut() {
            results.push(self.open_one(&item.nonce, item.aad, item.buffer, &item.tag));
        }
        results
    }
}
