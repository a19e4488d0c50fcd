//! SHA-2 hashing and HKDF (RFC 5869) on AWS-LC (SHA extensions / AVX2 where present).
//!
//! HKDF is built on `aws_lc_rs::hmac` rather than `aws_lc_rs::hkdf` because the trait needs
//! the PRK as bytes (`hkdf::Prk` cannot be exported) and accepts PRKs of any length.
//!
//! AWS-LC wipes its HMAC states when they are freed, and this module wipes its copy of the
//! previous output block. `aws_lc_rs::hmac::Tag` (each PRK or output block as returned) is a
//! plain array that is not wiped: a stack copy of key material this crate cannot reach.

use aws_lc_rs::{digest, hmac};
use conclave_crypto::{CryptoError, HashAlg, Secret};
use zeroize::Zeroize;

fn digest_alg(alg: HashAlg) -> &'static digest::Algorithm {
    match alg {
        HashAlg::Sha256 => &digest::SHA256,
        HashAlg::Sha512 => &digest::SHA512,
    }
}

fn hmac_alg(alg: HashAlg) -> hmac::Algorithm {
    match alg {
        HashAlg::Sha256 => hmac::HMAC_SHA256,
        HashAlg::Sha512 => hmac::HMAC_SHA512,
    }
}

/// The hash of the concatenation of `parts`.
pub(crate) fn hash(alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = digest::Context::new(digest_alg(alg));
    for part in parts {
        ctx.update(part);
    }
    ctx.finish().as_ref().to_vec()
}

/// HKDF-Extract: `PRK = HMAC-Hash(salt, IKM)`. An empty salt is the same as `HashLen` zero
/// bytes, because HMAC pads short keys with zeros.
pub(crate) fn extract(alg: HashAlg, salt: &[u8], ikm: &[u8]) -> Secret {
    let key = hmac::Key::new(hmac_alg(alg), salt);
    let tag = hmac::sign(&key, ikm);
    Secret::from_slice(tag.as_ref())
}

/// HKDF-Expand of `prk` (at least `HashLen` bytes) with the concatenation of `info`:
/// `T(i) = HMAC-Hash(PRK, T(i-1) ‖ info ‖ i)`, `OKM` = the first `out.len()` bytes of
/// `T(1) ‖ T(2) ‖ …`.
pub(crate) fn expand(
    alg: HashAlg,
    prk: &[u8],
    info: &[&[u8]],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let hash_len = alg.output_len();
    if out.len() > 255 * hash_len {
        return Err(CryptoError::HkdfOutputTooLong(out.len()));
    }
    if prk.len() < hash_len {
        return Err(CryptoError::InvalidLength {
            what: "HKDF PRK (at least HashLen)",
            expected: hash_len,
            got: prk.len(),
        });
    }
    let key = hmac::Key::new(hmac_alg(alg), prk);
    // T(i−1), wiped when done: it is output keying material.
    let mut previous = [0u8; digest::MAX_OUTPUT_LEN];
    let mut previous_len = 0;
    for (i, chunk) in out.chunks_mut(hash_len).enumerate() {
        // At most 255 chunks (checked above), so the counter fits in a byte.
        let counter = u8::try_from(i + 1).map_err(|_| CryptoError::HkdfOutputTooLong(i))?;
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(&previous[..previous_len]);
        for part in info {
            ctx.update(part);
        }
        ctx.update(&[counter]);
        let block = ctx.sign();
        let block = block.as_ref();
        chunk.copy_from_slice(&block[..chunk.len()]);
        previous[..block.len()].copy_from_slice(block);
        previous_len = block.len();
    }
    previous.zeroize();
    Ok(())
}
