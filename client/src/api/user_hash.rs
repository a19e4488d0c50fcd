//! Hashed usernames: clients never send a user name to the relay, only
//! `hex(SHA-256("conclave-v1 user-hash" ‖ username_salt ‖ lowercase(username)))` with the
//! deployment's salt from `GET /v1/info` (docs/API.md).

use conclave_crypto::{CryptoProvider, HashAlg};

use super::{SdkError, SdkResult};

const USER_HASH_LABEL: &[u8] = b"conclave-v1 user-hash";

/// Longest username accepted, in bytes.
pub const MAX_USERNAME_LEN: usize = 256;

/// The user hash of `username` under the deployment's `salt`, through the provider's hash.
/// Empty names, names longer than [`MAX_USERNAME_LEN`] bytes and names with control
/// characters or surrounding whitespace are refused.
pub fn user_hash(p: &dyn CryptoProvider, salt: &[u8], username: &str) -> SdkResult<String> {
    if username.is_empty()
        || username.len() > MAX_USERNAME_LEN
        || username.trim() != username
        || username.chars().any(char::is_control)
    {
        return Err(SdkError::Invalid(format!(
            "invalid username {username:?}: 1 to {MAX_USERNAME_LEN} bytes, no control characters or surrounding spaces"
        )));
    }
    let lower = username.to_lowercase();
    Ok(hex::encode(p.hash(
        HashAlg::Sha256,
        &[USER_HASH_LABEL, salt, lower.as_bytes()],
    )))
}

/// Is `s` a user hash (64 lowercase hex digits)?
pub fn is_user_hash(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_crypto_software::SoftwareProvider;

    #[test]
    fn case_insensitive_salted_and_checked() {
        let p = SoftwareProvider::new();
        let a = user_hash(&p, &[1; 32], "Alice").unwrap();
        assert_eq!(a, user_hash(&p, &[1; 32], "alice").unwrap());
        assert_ne!(a, user_hash(&p, &[2; 32], "alice").unwrap());
        assert!(is_user_hash(&a));
        // SHA-256("conclave-v1 user-hash" ‖ salt ‖ "alice"), computed independently.
        let mut input = b"conclave-v1 user-hash".to_vec();
        input.extend_from_slice(&[1; 32]);
        input.extend_from_slice(b"alice");
        assert_eq!(a, hex::encode(p.hash(HashAlg::Sha256, &[&input])));
        for bad in ["", " alice", "al\nice", &"x".repeat(257)] {
            assert!(user_hash(&p, &[1; 32], bad).is_err(), "{bad:?}");
        }
    }
}
