//! Test helpers: a client's side of §11 (tickets, sealed datagrams, parsing replies).

use std::net::SocketAddr;

use conclave_wire::media::{Body, Datagram, Direction, Join, MAX_DATAGRAM, encode_tagged, parse};

use super::ticket::{TagKey, session_key};

pub const SECRET: [u8; 32] = [0x5e; 32];
pub const WALL: u64 = 1_800_000_000_000;

/// A ticket of `device` in `meeting` for `worker`, and its key.
pub fn ticket(meeting: u8, device: u8, session: u8, worker: u8) -> (Join, TagKey) {
    let join = Join {
        meeting_id: [meeting; 32],
        device_id: [device; 16],
        session_id: [session; 16],
        expires_ms: WALL + 60_000,
        worker,
    };
    let key = TagKey::new(&session_key(&SECRET, &join));
    (join, key)
}

/// A sealed client → relay datagram.
pub fn seal(key: &TagKey, conn_id: u32, pn: u64, body: &Body) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let n = encode_tagged(&mut buf, conn_id, pn, body, |a| key.tag(a)).expect("encode");
    buf.truncate(n);
    buf
}

/// A relay → client datagram, parsed; checks its tag under `key` when it has one.
pub fn open<'a>(key: &TagKey, bytes: &'a [u8]) -> Datagram<'a> {
    let d = parse(bytes, Direction::ToClient).expect("parse");
    if d.tag.is_some() {
        assert!(key.verify_datagram(bytes), "relay datagram tag");
    }
    d
}

pub fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
