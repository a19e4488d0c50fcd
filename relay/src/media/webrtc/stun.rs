//! Which peer a STUN binding request from a new address is for: the local part of its
//! `USERNAME` (RFC 8445 §7.2.2: `<relay ufrag>:<browser ufrag>`), read strictly and without
//! allocating, so that the WebRTC socket finds the peer in one lookup instead of asking every
//! peer of the worker. Everything else from an address no peer knows is dropped unread: a
//! browser's first datagram from any address is a binding request (ICE precedes DTLS and
//! SRTP). The message's integrity is str0m's to check.

/// STUN message type of a binding request.
const BINDING_REQUEST: u16 = 0x0001;
/// RFC 5389 magic cookie.
const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xa4, 0x42];
/// The `USERNAME` attribute.
const USERNAME: u16 = 0x0006;
/// The STUN header's length.
const HEADER: usize = 20;
/// RFC 5389 §15.3: a username is shorter than 513 bytes.
const MAX_USERNAME: usize = 512;

/// The local ICE ufrag a binding request names (the part of `USERNAME` before `:`), or
/// `None` for anything that is not a well-formed binding request with a username.
pub fn local_ufrag(datagram: &[u8]) -> Option<&str> {
    let header = datagram.get(..HEADER)?;
    let kind = u16::from_be_bytes([*header.first()?, *header.get(1)?]);
    let length = usize::from(u16::from_be_bytes([*header.get(2)?, *header.get(3)?]));
    if kind != BINDING_REQUEST
        || header.get(4..8)? != MAGIC_COOKIE
        || length % 4 != 0
        || datagram.len() != HEADER + length
    {
        return None;
    }
    let mut attrs = datagram.get(HEADER..)?;
    while !attrs.is_empty() {
        let kind = u16::from_be_bytes([*attrs.first()?, *attrs.get(1)?]);
        let len = usize::from(u16::from_be_bytes([*attrs.get(2)?, *attrs.get(3)?]));
        let value = attrs.get(4..4 + len)?;
        if kind == USERNAME {
            if len > MAX_USERNAME {
                return None;
            }
            let (local, remote) = std::str::from_utf8(value).ok()?.split_once(':')?;
            return (!local.is_empty() && !remote.is_empty()).then_some(local);
        }
        let padded = (4 + len).div_ceil(4) * 4;
        attrs = attrs.get(padded..)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A binding request with `attrs` (type, value), padded as on the wire.
    fn request(attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (kind, value) in attrs {
            body.extend_from_slice(&kind.to_be_bytes());
            body.extend_from_slice(&(value.len() as u16).to_be_bytes());
            body.extend_from_slice(value);
            while body.len() % 4 != 0 {
                body.push(0);
            }
        }
        let mut m = vec![0x00, 0x01];
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&MAGIC_COOKIE);
        m.extend_from_slice(&[7; 12]);
        m.extend_from_slice(&body);
        m
    }

    #[test]
    fn the_local_part_of_the_username_names_the_peer() {
        // PRIORITY before USERNAME, MESSAGE-INTEGRITY after, as browsers send them.
        let m = request(&[
            (0x0024, &[0u8, 0, 0, 1][..]),
            (USERNAME, &b"relayUfrag:brws"[..]),
            (0x0008, &[0u8; 20][..]),
        ]);
        assert_eq!(local_ufrag(&m), Some("relayUfrag"));
        // An odd-length attribute before it is padded.
        let m = request(&[(0x8022, &b"abc"[..]), (USERNAME, &b"r:b"[..])]);
        assert_eq!(local_ufrag(&m), Some("r"));
    }

    #[test]
    fn anything_else_names_nobody() {
        let good = request(&[(USERNAME, &b"relay:browser"[..])]);
        assert!(local_ufrag(&good).is_some());
        let mut response = good.clone();
        response[..2].copy_from_slice(&0x0101u16.to_be_bytes());
        let mut cookie = good.clone();
        cookie[4] ^= 1;
        let mut long = good.clone();
        long.push(0);
        for bad in [
            &b""[..],
            &good[..19],
            &good[..good.len() - 4],
            &long,
            &response,
            &cookie,
            &request(&[])[..],
            &request(&[(0x0024, &[0u8, 0, 0, 1][..])]),
            &request(&[(USERNAME, &b"no-colon"[..])]),
            &request(&[(USERNAME, &b":remote"[..])]),
            &request(&[(USERNAME, &b"local:"[..])]),
            &request(&[(USERNAME, &[0xffu8, b':', b'x'][..])]),
            &request(&[(USERNAME, "x".repeat(513).as_bytes())]),
            // RTP, DTLS (first byte 0x80 / 0x16).
            &[0x80; 40][..],
            &[0x16; 40][..],
        ] {
            assert_eq!(local_ufrag(bad), None, "{bad:?}");
        }
        // An attribute whose length runs past the message.
        let mut overrun = request(&[(USERNAME, &b"relay:browser"[..])]);
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
            flips in proptest::collection::vec((0usize..64, any::<u8>()), 1..8),
        ) {
            let mut m = request(&[(0x0024, &[0u8, 0, 0, 1][..]), (USERNAME, &b"relayUfrag:brws"[..])]);
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
