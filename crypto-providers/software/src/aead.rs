//! AES-128-GCM and AES-256-GCM (96-bit nonces, 128-bit tags).

use std::fmt;

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes128Gcm, Aes256Gcm};
use conclave_crypto::{AeadAlg, AeadKey, CryptoError, NONCE_LEN, TAG_LEN};

/// With the `zeroize` feature of `aes-gcm`, the AES round keys and the GHASH key are wiped when
/// the cipher is dropped. This fails to compile if that feature is ever lost.
const _: () = {
    fn assert_zeroize_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    fn check() {
        assert_zeroize_on_drop::<Aes128Gcm>();
        assert_zeroize_on_drop::<Aes256Gcm>();
    }
    let _ = check;
};

/// The expanded key schedule, boxed because it is large (hundreds of bytes).
enum Cipher {
    Aes128(Box<Aes128Gcm>),
    Aes256(Box<Aes256Gcm>),
}

/// An AES-GCM key in process memory.
pub(crate) struct SoftwareAeadKey {
    cipher: Cipher,
}

impl SoftwareAeadKey {
    /// Expands `key`, which must be exactly `alg.key_len()` bytes.
    pub(crate) fn new(alg: AeadAlg, key: &[u8]) -> Result<Self, CryptoError> {
        if key.len() != alg.key_len() {
            return Err(CryptoError::InvalidLength {
                what: "AES-GCM key",
                expected: alg.key_len(),
                got: key.len(),
            });
        }
        let bad_length = |_| CryptoError::InvalidLength {
            what: "AES-GCM key",
            expected: alg.key_len(),
            got: key.len(),
        };
        let cipher = match alg {
            AeadAlg::Aes128Gcm => Cipher::Aes128(Box::new(
                Aes128Gcm::new_from_slice(key).map_err(bad_length)?,
            )),
            AeadAlg::Aes256Gcm => Cipher::Aes256(Box::new(
                Aes256Gcm::new_from_slice(key).map_err(bad_length)?,
            )),
        };
        Ok(SoftwareAeadKey { cipher })
    }
}

impl fmt::Debug for SoftwareAeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoftwareAeadKey")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl AeadKey for SoftwareAeadKey {
    fn algorithm(&self) -> AeadAlg {
        match self.cipher {
            Cipher::Aes128(_) => AeadAlg::Aes128Gcm,
            Cipher::Aes256(_) => AeadAlg::Aes256Gcm,
        }
    }

    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let nonce = nonce.into();
        let tag = match &self.cipher {
            Cipher::Aes128(c) => c.encrypt_inout_detached(nonce, aad, buffer.into()),
            Cipher::Aes256(c) => c.encrypt_inout_detached(nonce, aad, buffer.into()),
        }
        .map_err(|_| CryptoError::Provider("AES-GCM input exceeds the GCM length limits".into()))?;
        Ok(tag.into())
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let nonce = nonce.into();
        let tag = tag.into();
        // The tag is checked (in constant time) before anything is decrypted.
        match &self.cipher {
            Cipher::Aes128(c) => c.decrypt_inout_detached(nonce, aad, buffer.into(), tag),
            Cipher::Aes256(c) => c.decrypt_inout_detached(nonce, aad, buffer.into(), tag),
        }
        .map_err(|_| CryptoError::AuthenticationFailed)
    }
}
