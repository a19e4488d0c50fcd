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
    fn seal_one_to(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        if out.len() != plaintext.len() {
            return Err(length_mismatch(plaintext.len(), out.len()));
        }
        let mut tag = [0u8; TAG_LEN];
        self.key
            .seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                plaintext,
                out,
                &[],
                &mut tag,
            )
            .map_err(|_| too_long())?;
        Ok(tag)
    }

    /// Opens `ciphertext` into `out` in one pass (`EVP_AEAD_CTX_open_gather`).
    #[inline]
    fn open_one_from(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        ciphertext: &[u8],
        out: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        if out.len() != ciphertext.len() {
            return Err(length_mismatch(ciphertext.len(), out.len()));
        }
        self.key
            .open_separate_gather(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(aad),
                ciphertext,
                tag,
                out,
            )
            .map_err(|_| CryptoError::AuthenticationFailed)
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

fn length_mismatch(input: usize, output: usize) -> CryptoError {
    CryptoError::InvalidLength {
        what: "AEAD output buffer",
        expected: input,
        got: output,
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

    /// One pass: AWS-LC reads the plaintext and writes the ciphertext (`EVP_AEAD_CTX_seal_scatter`
    /// with distinct input and output), instead of a copy followed by an in-place seal.
    fn seal_to(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        self.seal_one_to(nonce, aad, plaintext, out)
    }

    /// One key schedule for the whole batch, no allocation, one tight loop over
    /// AWS-LC's single-message AES-GCM. AWS-LC has no multi-message (multi-buffer) AES-GCM
    /// interface, so the saving over one-by-one calls is the per-call overhead (dynamic
    /// dispatch, error mapping), not the cipher itself; for 1200-byte frames the VAES code
    /// already keeps its pipeline full within one message.
    fn seal_batch(&self, items: &mut [AeadBatchItem<'_>]) -> Result<(), CryptoError> {
        for item in items.iter_mut() {
            item.tag = match item.input {
                Some(plaintext) => {
                    self.seal_one_to(&item.nonce, item.aad, plaintext, item.buffer)?
                }
                None => self.seal_one(&item.nonce, item.aad, item.buffer)?,
            };
        }
        Ok(())
    }

    /// Like [`Self::seal_batch`]; the only allocation is the result vector.
    fn open_batch(&self, items: &mut [AeadBatchItem<'_>]) -> Vec<Result<(), CryptoError>> {
        let mut results = Vec::with_capacity(items.len());
        for item in items.iter_mut() {
            results.push(match item.input {
                Some(ciphertext) => {
                    self.open_one_from(&item.nonce, item.aad, ciphertext, item.buffer, &item.tag)
                }
                None => self.open_one(&item.nonce, item.aad, item.buffer, &item.tag),
            });
        }
        results
    }
}
