//! Which peer a STUN binding request from a new address is for: the local part of its
//! `USERNAME` (RFC 8445 §7.2.2: `<relay ufrag>:<browser ufrag>`), read with str0m's STUN
//! parser, so that the WebRTC socket finds the peer in one lookup instead of asking every
//! peer of the worker. Everything else from an address no peer knows is dropped unread: a
//! browser's first datagram from any address is a binding request (ICE precedes DTLS and
//! SRTP). The message's integrity is str0m's to check, in the peer.

use str0m::ice::StunMessage;

/// The local ICE ufrag a binding request names (the part of `USERNAME` before `:`), or
/// `None` for anything that is not a well-formed binding request with a username.
pub fn local_ufrag(datagram: &[u8]) -> Option<&str> {
    let message = StunMessage::parse(datagram).ok()?;
    if !message.is_binding_request() {
        return None;
    }
    let (local, remote) = message.username()?.split_once(':')?;
    (!local.is_empty() && !remote.is_empty()).then_some(local)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
    const USERNAME: u16 = 0x0006;
    const PRIORITY: u16 = 0x0024;
    const MESSAGE_INTEGRITY: u16 = 0x0008;

    /// A STUN message of type `kind` with `attrs` (type, value), padded as on the wire.
    fn message(kind: u16, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, value) in attrs {
            body.extend_from_slice(&t.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let mut m = kind.to_be_bytes().to_vec();
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    /// A binding request as browsers send it: PRIORITY, USERNAME, MESSAGE-INTEGRITY.
    fn binding(username: &[u8]) -> Vec<u8> {
        message(
            0x0001,
            &[
                (PRIORITY, &[0, 0, 0, 1][..]),
                (USERNAME, username),
                (MESSAGE_INTEGRITY, &[0; 20][..]),
            ],
        )
    }

    #[test]
    fn the_local_part_of_the_username_names_the_peer() {
        assert_eq!(
            local_ufrag(&binding(b"relayUfrag:brws")),
            Some("relayUfrag")
        );
        // An odd-length username is padded.
        assert_eq!(local_ufrag(&binding(b"r:b")), Some("r"));
    }

    #[test]
    fn anything_else_names_nobody() {
        let good = binding(b"relay:browser");
        assert!(local_ufrag(&good).is_some());
        let mut response = good.clone();
        response[..2].copy_from_slice(&0x0101u16.to_be_bytes());
        let mut cookie = good.clone();
        cookie[4] ^= 1;
        let mut long = good.clone();
        long.push(0);
        let no_integrity = message(
            0x0001,
            &[(PRIORITY, &[0, 0, 0, 1][..]), (USERNAME, &b"relay:b"[..])],
        );
        for bad in [
            &b""[..],
            &good[..19],
            &good[..good.len() - 4],
            &long,
            &response,
            &cookie,
            &no_integrity,
            &message(0x0001, &[])[..],
            &binding(b"no-colon"),
            &binding(b":remote"),
            &binding(b"local:"),
            &binding(&[0xff, b':', b'x']),
            // RTP, DTLS (first byte 0x80 / 0x16).
            &[0x80; 40][..],
            &[0x16; 40][..],
        ] {
            assert_eq!(local_ufrag(bad), None, "{bad:?}");
        }
        // An attribute whose length runs past the message.
        let mut overrun = good.clone();
        overrun[22..24].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(local_ufrag(&overrun), None);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = local_ufrag(&bytes);
        }

        #[test]
        fn mutated_requests_never_panic_and_name_only_a_username_prefix(
            flips in proptest::collection::vec((0usize..80, any::<u8>()), 1..8),
        ) {
            let mut m = binding(b"relayUfrag:brws");
            for (at, v) in flips {
                let at = at % m.len();
                m[at] = v;
            }
            if let Some(local) = local_ufrag(&m) {
                prop_assert!(!local.is_empty() && !local.contains(':'));
            }
        }
    }
}
