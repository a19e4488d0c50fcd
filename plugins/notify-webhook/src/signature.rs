//! The request signature: `X-Conclave-Signature: v1=<hex HMAC-SHA256(secret, ts "." body)>`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header carrying the signing time, in ms since the Unix epoch (decimal).
pub const TIMESTAMP_HEADER: &str = "X-Conclave-Timestamp";
/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Conclave-Signature";

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Conclave-Signature` value for `body` sent at `timestamp_ms`: `v1=` and the
/// lower-case hex HMAC-SHA256, keyed with the secret, of the timestamp header's value, a
/// `.` and the body bytes.
pub fn sign(secret: &[u8], timestamp_ms: u64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp_ms.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v1={}", hex::encode(tag))
}

/// Checks a received request: `timestamp` and `signature` are the two headers' values
/// exactly as received. The signature header may list several comma-separated `v1=`
/// values (e.g. during a secret rotation); one match is enough. The comparison is in
/// constant time. Receivers should also refuse timestamps too far from their clock (say
/// five minutes) and drop duplicate event ids: retries re-sign with a new timestamp.
pub fn verify(secret: &[u8], timestamp: &str, body: &[u8], signature: &str) -> bool {
    signature.split(',').any(|candidate| {
        let Some(hex_tag) = candidate.trim().strip_prefix("v1=") else {
            return false;
        };
        let Ok(tag) = hex::decode(hex_tag) else {
            return false;
        };
        mac(secret, timestamp, body).verify_slice(&tag).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify() {
        let sig = sign(b"k", 1_700_000_000_000, b"{}");
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64, "{sig}");
        assert!(verify(b"k", "1700000000000", b"{}", &sig));
        assert!(verify(
            b"k",
            "1700000000000",
            b"{}",
            &format!("v1=00, {sig}")
        ));
        assert!(!verify(b"k2", "1700000000000", b"{}", &sig));
        assert!(!verify(b"k", "1700000000001", b"{}", &sig));
        assert!(!verify(b"k", "1700000000000", b"{ }", &sig));
        assert!(!verify(
            b"k",
            "1700000000000",
            b"{}",
            &sig.replace("v1=", "v2=")
        ));
        assert!(!verify(b"k", "1700000000000", b"{}", "v1=zz"));
    }

    #[test]
    fn matches_an_independent_computation() {
        // HMAC-SHA256(key "secret", "1.{}") computed with `openssl dgst -sha256 -hmac secret`.
        assert_eq!(
            sign(b"secret", 1, b"{}"),
            "v1=1122767b193110cfec322b6f199b599edbf608ed087f2d27afb0b97d99523908"
        );
    }
}
