//! Protocol signatures: ECDSA P-256 with SHA-256 over a labelled message, in low-S form.
//!
//! ECDSA signatures are malleable: `(r, s)` and `(r, n − s)` both verify. Conclave signers
//! always emit `s ≤ n/2` and verifiers reject anything else, so a third party cannot turn
//! one valid signature (and so one valid container) into another byte string.

use conclave_crypto::{CryptoError, CryptoProvider, P256PrivateKey, P256PublicKey, Signature};

/// The order n of the P-256 group, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];
/// ⌊n/2⌋, big-endian.
const HALF_N: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8,
];

fn s_of(sig: &Signature) -> &[u8] {
    &sig.as_bytes()[32..]
}

/// Is `s ≤ ⌊n/2⌋`? (Big-endian byte strings of equal length compare like numbers.)
pub fn is_low_s(sig: &Signature) -> bool {
    s_of(sig) <= &HALF_N[..]
}

/// Replaces a high `s` by `n − s`.
fn normalize(sig: Signature) -> Signature {
    if is_low_s(&sig) {
        return sig;
    }
    let mut out = sig.0;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(sig.0[32 + i]) - borrow;
        borrow = i16::from(d < 0);
        out[32 + i] = d.rem_euclid(256) as u8;
    }
    Signature(out)
}

/// Signs `message` with `key` and returns the low-S form.
pub fn sign(key: &dyn P256PrivateKey, message: &[u8]) -> Result<Signature, CryptoError> {
    key.sign(message).map(normalize)
}

/// Verifies a low-S signature; high-S signatures are refused without further work.
pub fn verify(
    p: &dyn CryptoProvider,
    public: &P256PublicKey,
    message: &[u8],
    sig: &Signature,
) -> Result<(), CryptoError> {
    if !is_low_s(sig) {
        return Err(CryptoError::BadSignature);
    }
    p.verify_p256(public, message, sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_is_n_minus_s() {
        // s = n − 1 (high) becomes 1.
        let mut high = [0u8; 64];
        high[32..].copy_from_slice(&N);
        high[63] -= 1;
        let low = normalize(Signature(high));
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(&low.0[32..], &one);
        assert!(is_low_s(&low));
        // ⌊n/2⌋ is low, ⌊n/2⌋ + 1 is high.
        let mut edge = [0u8; 64];
        edge[32..].copy_from_slice(&HALF_N);
        assert!(is_low_s(&Signature(edge)));
        edge[63] += 1;
        assert!(!is_low_s(&Signature(edge)));
        assert_eq!(&normalize(Signature(edge)).0[32..], &HALF_N);
    }
}
