//! The opt-in in-token frame mode: AES-GCM keys as token session objects used with
//! `CKM_AES_GCM`.
//!
//! The key bytes are handed to the token once (`C_CreateObject`, sensitive and
//! non-extractable, `CKA_TOKEN = false` so it is never written to the token's storage) and
//! the host's copy in the template is wiped. Every seal and open is a token call (~11 µs on
//! SoftHSM, against well under 1 µs in software), which is why this mode is off by default.
//! The object belongs to the session that created it: if that session is closed because the
//! token went away, the key stops working.

use std::fmt;
use std::sync::Arc;

use conclave_crypto::{AeadAlg, AeadKey, CryptoError, NONCE_LEN, TAG_LEN};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass, ObjectHandle};
use zeroize::{Zeroize, Zeroizing};

use crate::error::Op;
use crate::keys::KeyContext;

/// An AES-GCM key inside the token.
pub(crate) struct TokenAeadKey {
    ctx: Arc<KeyContext>,
    alg: AeadAlg,
    handle: ObjectHandle,
}

impl TokenAeadKey {
    /// Creates the key object; `key` must be `alg.key_len()` bytes.
    pub(crate) fn new(
        ctx: &Arc<KeyContext>,
        alg: AeadAlg,
        key: &[u8],
    ) -> Result<Self, CryptoError> {
        check_key_len(alg, key)?;
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Value(key.to_vec()),
        ];
        let mut s = ctx.token.session()?;
        let created = s.run(Op::CreateAesKey, |s| s.create_object(&template));
        for attr in &mut template {
            if let Attribute::Value(v) = attr {
                v.zeroize();
            }
        }
        Ok(TokenAeadKey {
            ctx: ctx.clone(),
            alg,
            handle: created?,
        })
    }
}

/// `InvalidLength` unless `key` fits `alg`.
pub(crate) fn check_key_len(alg: AeadAlg, key: &[u8]) -> Result<(), CryptoError> {
    if key.len() == alg.key_len() {
        Ok(())
    } else {
        Err(CryptoError::InvalidLength {
            what: "AES-GCM key",
            expected: alg.key_len(),
            got: key.len(),
        })
    }
}

impl fmt::Debug for TokenAeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAeadKey")
            .field("algorithm", &self.alg)
            .field("token", &self.ctx.token.label())
            .finish_non_exhaustive()
    }
}

impl AeadKey for TokenAeadKey {
    fn algorithm(&self) -> AeadAlg {
        self.alg
    }

    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let mut iv = *nonce;
        let params = GcmParams::new(&mut iv, aad, (TAG_LEN as u64 * 8).into())
            .map_err(|_| CryptoError::Provider("AES-GCM AAD too long for PKCS#11".into()))?;
        let mut s = self.ctx.token.session()?;
        let out = s.run(Op::Encrypt, |s| {
            s.encrypt(&Mechanism::AesGcm(params), self.handle, buffer)
        })?;
        let n = buffer.len();
        if out.len() != n + TAG_LEN {
            return Err(CryptoError::Provider(format!(
                "PKCS#11 token returned {} bytes of AES-GCM output for {n} bytes of input",
                out.len()
            )));
        }
        buffer.copy_from_slice(&out[..n]);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&out[n..]);
        Ok(tag)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let mut iv = *nonce;
        let params = GcmParams::new(&mut iv, aad, (TAG_LEN as u64 * 8).into())
            .map_err(|_| CryptoError::Provider("AES-GCM AAD too long for PKCS#11".into()))?;
        let mut input = Vec::with_capacity(buffer.len() + TAG_LEN);
        input.extend_from_slice(buffer);
        input.extend_from_slice(tag);
        let mut s = self.ctx.token.session()?;
        // The token checks the tag before releasing any plaintext. A wrong tag is
        // CKR_ENCRYPTED_DATA_INVALID by the standard; SoftHSM 2.6 reports it as
        // CKR_GENERAL_ERROR (its OpenSSL EVP_DecryptFinal fails), so that counts too.
        let plaintext = s.run(Op::Decrypt, |s| {
            match s.decrypt(&Mechanism::AesGcm(params), self.handle, &input) {
                Ok(pt) => Ok(Some(Zeroizing::new(pt))),
                Err(Error::Pkcs11(
                    RvError::EncryptedDataInvalid
                    | RvError::EncryptedDataLenRange
                    | RvError::GeneralError,
                    _,
                )) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        let plaintext = plaintext.ok_or(CryptoError::AuthenticationFailed)?;
        if plaintext.len() != buffer.len() {
            return Err(CryptoError::Provider(format!(
                "PKCS#11 token returned {} bytes of plaintext for {} bytes of ciphertext",
                plaintext.len(),
                buffer.len()
            )));
        }
        buffer.copy_from_slice(&plaintext);
        Ok(())
    }
}

impl Drop for TokenAeadKey {
    fn drop(&mut self) {
        // Best effort: a session object also disappears when its session closes.
        if let Ok(mut s) = self.ctx.token.session() {
            let _ = s.run(Op::DestroyObject, |s| s.destroy_object(self.handle));
        }
    }
}
