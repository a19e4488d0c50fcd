//! SHA-2 hashing and HKDF (RFC 5869).

use conclave_crypto::{CryptoError, HashAlg, Secret};
use hkdf::hmac::EagerHash;
use hkdf::{Hkdf, HkdfExtract};
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroize;

/// The hash of the concatenation of `parts`.
pub(crate) fn hash(alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
    match alg {
        HashAlg::Sha256 => digest::<Sha256>(parts),
        HashAlg::Sha512 => digest::<Sha512>(parts),
    }
}

fn digest<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut hasher = D::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().to_vec()
}

/// HKDF-Extract. An empty salt is the same as `HashLen` zero bytes (HMAC pads keys with zeros).
pub(crate) fn extract(alg: HashAlg, salt: &[u8], ikm: &[u8]) -> Secret {
    match alg {
        HashAlg::Sha256 => extract_with::<Sha256>(salt, ikm),
        HashAlg::Sha512 => extract_with::<Sha512>(salt, ikm),
    }
}

fn extract_with<H: EagerHash>(salt: &[u8], ikm: &[u8]) -> Secret {
    let mut ctx = HkdfExtract::<H>::new(Some(salt));
    ctx.input_ikm(ikm);
    let (mut prk, _expander) = ctx.finalize();
    let secret = Secret::from_slice(&prk);
    prk.as_mut_slice().zeroize();
    secret
}

/// HKDF-Expand of `prk` (at least `HashLen` bytes) with the concatenation of `info`.
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
    match alg {
        HashAlg::Sha256 => expand_with::<Sha256>(prk, info, out),
        HashAlg::Sha512 => expand_with::<Sha512>(prk, info, out),
    }
}

/// The HMAC states are wiped on drop (`sha2`'s `zeroize` feature). The `hkdf` crate keeps the
/// previous block T(i) in a plain array while expanding, which it does not wipe: a stack copy of
/// output material that this crate cannot reach.
fn expand_with<H: EagerHash>(
    prk: &[u8],
    info: &[&[u8]],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let requested = out.len();
    // The length checks in `expand` make both errors unreachable; map them faithfully anyway.
    let hkdf = Hkdf::<H>::from_prk(prk)
        .map_err(|_| CryptoError::Provider("HKDF PRK shorter than HashLen".into()))?;
    hkdf.expand_multi_info(info, out)
        .map_err(|_| CryptoError::HkdfOutputTooLong(requested))
}
