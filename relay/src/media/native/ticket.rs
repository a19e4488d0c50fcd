//! Join tickets and ingress tags (docs/PROTOCOL.md §11.1–11.2): the session key the control
//! plane hands out and every worker recomputes, and the truncated HMAC-SHA256 tag that
//! authenticates each datagram.

use conclave_wire::media::Join;
use hmac::{KeyInit, Mac};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Bytes of an ingress tag.
pub const TAG_BYTES: usize = conclave_wire::media::TAG_LEN;

/// The session key of a ticket (§11.1): `HMAC-SHA256(ticket_secret, "conclave-v1
/// media-session" ‖ meeting_id ‖ device_id ‖ session_id ‖ u64(expires_ms) ‖ u8(worker))`.
/// The fields are those a `JOIN` carries.
pub fn session_key(ticket_secret: &[u8; 32], ticket: &Join) -> [u8; 32] {
    let mut mac = keyed(ticket_secret);
    mac.update(&ticket.session_key_input());
    mac.finalize().into_bytes().into()
}

fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: this cannot fail.
    match <HmacSha256 as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts every key length"),
    }
}

/// A session key, ready to tag and verify (the HMAC key schedule is done once).
#[derive(Clone)]
pub struct TagKey(HmacSha256);

impl std::fmt::Debug for TagKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TagKey(..)")
    }
}

impl TagKey {
    pub fn new(session_key: &[u8; 32]) -> Self {
        TagKey(keyed(session_key))
    }

    /// The tag of `data`: the first 16 bytes of HMAC-SHA256(session_key, data).
    pub fn tag(&self, data: &[u8]) -> [u8; TAG_BYTES] {
        let mut mac = self.0.clone();
        mac.update(data);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; TAG_BYTES];
        out.copy_from_slice(&full[..TAG_BYTES]);
        out
    }

    /// Does `tag` authenticate `data`? Constant-time in the tag's contents.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        if tag.len() != TAG_BYTES {
            return false;
        }
        let mut mac = self.0.clone();
        mac.update(data);
        mac.verify_truncated_left(tag).is_ok()
    }

    /// Verifies a whole tagged datagram (`authenticated bytes ‖ tag`).
    pub fn verify_datagram(&self, datagram: &[u8]) -> bool {
        match datagram.len().checked_sub(TAG_BYTES) {
            Some(n) => self.verify(&datagram[..n], &datagram[n..]),
            None => false,
        }
    }

    /// Appends the tag of `buf[..len]` at `buf[len..len + 16]`; returns the new length, or
    /// `None` when `buf` is too short.
    pub fn seal(&self, buf: &mut [u8], len: usize) -> Option<usize> {
        let end = len.checked_add(TAG_BYTES)?;
        let tag = self.tag(buf.get(..len)?);
        buf.get_mut(len..end)?.copy_from_slice(&tag);
        Some(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Join {
        Join {
            meeting_id: [1; 32],
            device_id: [2; 16],
            session_id: [3; 16],
            expires_ms: 1_800_000_000_000,
            worker: 1,
        }
    }

    #[test]
    fn the_key_binds_every_field() {
        let secret = [9u8; 32];
        let k = session_key(&secret, &fields());
        assert_ne!(k, session_key(&[8u8; 32], &fields()));
        let variants = [
            Join {
                meeting_id: [0; 32],
                ..fields()
            },
            Join {
                device_id: [0; 16],
                ..fields()
            },
            Join {
                session_id: [0; 16],
                ..fields()
            },
            Join {
                expires_ms: 1,
                ..fields()
            },
            Join {
                worker: 0,
                ..fields()
            },
        ];
        for v in variants {
            assert_ne!(k, session_key(&secret, &v));
        }
        // Independent computation of the §11.1 formula.
        let mut mac = keyed(&secret);
        let mut msg = b"conclave-v1 media-session".to_vec();
        msg.extend_from_slice(&[1; 32]);
        msg.extend_from_slice(&[2; 16]);
        msg.extend_from_slice(&[3; 16]);
        msg.extend_from_slice(&1_800_000_000_000u64.to_be_bytes());
        msg.push(1);
        mac.update(&msg);
        assert_eq!(k, <[u8; 32]>::from(mac.finalize().into_bytes()));
    }

    #[test]
    fn tags_seal_and_verify() {
        let key = TagKey::new(&[7; 32]);
        let mut buf = [0u8; 64];
        buf[..5].copy_from_slice(b"hello");
        let n = key.seal(&mut buf, 5).unwrap();
        assert_eq!(n, 21);
        assert!(key.verify_datagram(&buf[..n]));
        buf[0] ^= 1;
        assert!(!key.verify_datagram(&buf[..n]));
        assert!(!key.verify_datagram(&buf[..3]));
        assert!(!TagKey::new(&[8; 32]).verify_datagram(&buf[..n]));
        assert!(key.seal(&mut buf[..10], 5).is_none());
    }
}
