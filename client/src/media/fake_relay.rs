//! A tiny relay for tests of the media library, as pure functions (no sockets): it joins
//! sessions from tickets, verifies tags and packet numbers, forwards MEDIA as MEDIA_FWD to
//! every other participant, answers PING and LEAVE, passes keyframe requests on, and can
//! send any control message. Just enough of PROTOCOL §11 to run clients against.

use std::collections::HashMap;
use std::net::SocketAddr;

use conclave_wire::media::{
    self, Body, CloseReason, Direction, Join, JoinAck, MAX_DATAGRAM, RejectReason, ReplayWindow,
};
use hmac::{KeyInit, Mac};

use crate::media::session::MediaTicket;
use crate::media::tag::TagKey;

/// The relay's UDP address in tests.
pub const RELAY: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 9000);

/// The session key of §11.1.
pub fn session_key(secret: &[u8; 32], join: &Join) -> [u8; 32] {
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(&join.session_key_input());
    mac.finalize().into_bytes().into()
}

/// A ticket for `device` in `meeting`, as the control plane would issue it.
pub fn ticket(secret: &[u8; 32], meeting_id: [u8; 32], device: u8) -> MediaTicket {
    let join = Join {
        meeting_id,
        device_id: [device; 16],
        session_id: [device.wrapping_add(100); 16],
        expires_ms: u64::MAX / 2,
        worker: 0,
    };
    MediaTicket {
        address: RELAY,
        worker: 0,
        session_id: join.session_id,
        session_key: session_key(secret, &join),
        expires_ms: join.expires_ms,
        meeting_id,
        device_id: join.device_id,
    }
}

#[derive(Debug)]
pub struct Session {
    pub key: TagKey,
    pub conn_id: u32,
    pub source_id: u32,
    pub addr: SocketAddr,
    pn_out: u64,
    replay: ReplayWindow,
    pub ack: JoinAck,
}

#[derive(Debug, Default)]
pub struct FakeRelay {
    pub secret: [u8; 32],
    pub sessions: Vec<Session>,
    /// JOINs to ignore before answering (loss).
    pub drop_joins: u32,
    /// Answer JOIN with this instead of JOIN_ACK.
    pub reject: Option<RejectReason>,
    pub dropped: HashMap<&'static str, u64>,
    pub reports: u64,
    pub layer_preferences: Vec<Option<conclave_wire::media::Layer>>,
}

impl FakeRelay {
    pub fn new(secret: [u8; 32]) -> Self {
        FakeRelay {
            secret,
            ..Default::default()
        }
    }

    fn drop(&mut self, why: &'static str) -> Vec<(SocketAddr, Vec<u8>)> {
        *self.dropped.entry(why).or_default() += 1;
        Vec::new()
    }

    pub fn by_source(&self, source_id: u32) -> Option<&Session> {
        self.sessions.iter().find(|s| s.source_id == source_id)
    }

    /// A tagged datagram to session `i`.
    pub fn send_to(&mut self, i: usize, body: &Body<'_>) -> (SocketAddr, Vec<u8>) {
        let s = &mut self.sessions[i];
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let n =
            media::encode_tagged(&mut buf, s.conn_id, s.pn_out, body, |a| s.key.tag(a)).unwrap();
        s.pn_out += 1;
        buf.truncate(n);
        (s.addr, buf)
    }

    /// One datagram from `from`; returns what the relay sends.
    pub fn handle(&mut self, from: SocketAddr, datagram: &[u8]) -> Vec<(SocketAddr, Vec<u8>)> {
        let Ok(d) = media::parse(datagram, Direction::ToRelay) else {
            return self.drop("parse");
        };
        let Some(tag) = d.tag else {
            return self.drop("untagged");
        };
        if let Body::Join(join) = d.body {
            let key = TagKey::new(&session_key(&self.secret, &join));
            if !key.verify(d.authenticated, tag) {
                return self.drop("bad_tag");
            }
            if self.drop_joins > 0 {
                self.drop_joins -= 1;
                return Vec::new();
            }
            let i = match self.sessions.iter().position(|s| s.addr == from) {
                Some(i) => i,
                None => {
                    let n = self.sessions.len() as u32 + 1;
                    self.sessions.push(Session {
                        key,
                        conn_id: 0x1000 + n,
                        source_id: n,
                        addr: from,
                        pn_out: 0,
                        replay: ReplayWindow::new(),
                        ack: JoinAck {
                            source_id: n,
                            keepalive_ms: 1000,
                            timeout_ms: 10_000,
                        },
                    });
                    self.sessions.len() - 1
                }
            };
            if !self.sessions[i].replay.accept(d.prefix.pn) {
                return self.drop("replay");
            }
            let body = match self.reject {
                Some(r) => Body::JoinReject(r),
                None => Body::JoinAck(self.sessions[i].ack),
            };
            return vec![self.send_to(i, &body)];
        }
        let Some(i) = self
            .sessions
            .iter()
            .position(|s| s.conn_id == d.prefix.conn_id)
        else {
            return self.drop("conn_id");
        };
        if !self.sessions[i].key.verify(d.authenticated, tag) {
            return self.drop("bad_tag");
        }
        if !self.sessions[i].replay.accept(d.prefix.pn) {
            return self.drop("replay");
        }
        self.sessions[i].addr = from;
        match d.body {
            Body::Media { .. } => {
                let mut fwd = datagram.to_vec();
                let n = media::media_to_fwd(&mut fwd, self.sessions[i].source_id).unwrap();
                fwd.truncate(n);
                self.sessions
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, s)| (s.addr, fwd.clone()))
                    .collect()
            }
            Body::Ping { timestamp_us } => vec![self.send_to(i, &Body::Pong { timestamp_us })],
            Body::Leave => {
                let out = vec![self.send_to(i, &Body::Closed(CloseReason::Left))];
                let gone = self.sessions.remove(i).source_id;
                let mut all = out;
                for j in 0..self.sessions.len() {
                    all.push(self.send_to(j, &Body::SourceGone { source_id: gone }));
                }
                all
            }
            Body::KeyframeRequest { source_id, stream } => {
                match self.sessions.iter().position(|s| s.source_id == source_id) {
                    Some(j) => {
                        vec![self.send_to(j, &Body::KeyframeRequest { source_id, stream })]
                    }
                    None => Vec::new(),
                }
            }
            Body::ReceiverReport(_) => {
                self.reports += 1;
                Vec::new()
            }
            Body::LayerPreference { max_layer } => {
                self.layer_preferences.push(max_layer);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }
}
