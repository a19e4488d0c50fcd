//! The ingress tag (PROTOCOL §11.2): the first 16 bytes of HMAC-SHA256 under the session
//! key, over everything of a datagram but the tag.

use conclave_wire::media::TAG_LEN;
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A session key with its HMAC key schedule done once.
#[derive(Clone)]
pub struct TagKey(HmacSha256);

impl std::fmt::Debug for TagKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TagKey(redacted)")
    }
}

impl TagKey {
    pub fn new(session_key: &[u8; 32]) -> Self {
        match <HmacSha256 as KeyInit>::new_from_slice(session_key) {
            Ok(m) => TagKey(m),
            // HMAC accepts keys of every length.
            Err(_) => unreachable!("HMAC accepts every key length"),
        }
    }

    /// The tag of `data`.
    pub fn tag(&self, data: &[u8]) -> [u8; TAG_LEN] {
        let mut mac = self.0.clone();
        mac.update(data);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&full[..TAG_LEN]);
        out
    }

    /// Whether `tag` authenticates `data` (constant-time in the tag).
    pub fn verify(&self, data: &[u8], tag: &[u8; TAG_LEN]) -> bool {
        let mut mac = self.0.clone();
        mac.update(data);
        mac.verify_truncated_left(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_verify_and_differ_by_key() {
        let a = TagKey::new(&[1; 32]);
        let b = TagKey::new(&[2; 32]);
        let t = a.tag(b"datagram");
        assert!(a.verify(b"datagram", &t));
        assert!(!a.verify(b"datagranm", &t));
        assert!(!b.verify(b"datagram", &t));
        // RFC 4231-style check against an independent HMAC computation.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&[1; 32]).unwrap();
        mac.update(b"datagram");
        assert_eq!(&mac.finalize().into_bytes()[..TAG_LEN], &t);
    }
}
