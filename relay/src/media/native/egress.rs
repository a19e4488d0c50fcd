//! What a worker sends in one loop turn, gathered then flushed with as few system calls as
//! the switches allow: `MEDIA_FWD` bytes are copied once into an arena and sent unchanged to
//! each destination (one `mmsghdr` per destination, all pointing at the same bytes); with
//! GSO, consecutive full-size fragments of one frame going to the same destinations become
//! one `UDP_SEGMENT` send per destination.

use std::net::{SocketAddr, UdpSocket};

use conclave_wire::media::MAX_DATAGRAM;

use super::core::{FULL_FWD_LEN, Forward};
use super::sys::{OutMsg, SendBatch, Sent};

/// Most segments in one GSO send (the kernel's limit is 64).
pub const MAX_SEGMENTS: u16 = 64;
/// Most bytes in one GSO send (one UDP datagram's payload limit, with margin).
const MAX_GSO_BYTES: usize = 65_000;

/// The egress switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressConfig {
    pub sendmmsg: bool,
    pub gso: bool,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    off: usize,
    len: usize,
    segment: usize,
    segments: u16,
    /// The last segment appended was full-size.
    tail_full: bool,
    dests: (usize, usize),
    /// The frame of the media fragments in this group (`None`: a control datagram).
    frame: Option<Forward>,
}

/// The pending datagrams of one loop turn.
pub struct Egress {
    config: EgressConfig,
    arena: Box<[u8]>,
    used: usize,
    groups: Vec<Group>,
    dests: Vec<SocketAddr>,
    msgs: Vec<OutMsg>,
    batch: SendBatch,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("config", &self.config)
            .field("pending", &self.groups.len())
            .finish()
    }
}

impl Egress {
    /// Room for `datagrams` datagrams per turn, sent in system calls of up to `per_call`
    /// messages.
    pub fn new(config: EgressConfig, datagrams: usize, per_call: usize) -> Self {
        let datagrams = datagrams.max(1);
        Egress {
            config,
            arena: vec![0u8; datagrams * MAX_DATAGRAM].into_boxed_slice(),
            used: 0,
            groups: Vec::with_capacity(datagrams),
            dests: Vec::with_capacity(datagrams * 128),
            msgs: Vec::with_capacity(per_call.max(datagrams * 128)),
            batch: SendBatch::new(per_call, datagrams * 128),
        }
    }

    pub fn config(&self) -> EgressConfig {
        self.config
    }

    /// Stops using GSO (the kernel refused it).
    pub fn disable_gso(&mut self) {
        self.config.gso = false;
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Queues a `MEDIA_FWD` for `dests`. `false`: no room, flush first.
    pub fn push_media(&mut self, fwd: Forward, bytes: &[u8], dests: &[SocketAddr]) -> bool {
        if self.config.gso && self.extends_last(&fwd, bytes.len(), dests) {
            let end = self.used + bytes.len();
            let (Some(dst), Some(g)) = (self.arena.get_mut(self.used..end), self.groups.last_mut())
            else {
                return false;
            };
            dst.copy_from_slice(bytes);
            self.used = end;
            g.len += bytes.len();
            g.segments += 1;
            g.tail_full = bytes.len() == g.segment;
            g.frame = Some(fwd);
            return true;
        }
        self.push_group(bytes, dests, Some(fwd))
    }

    /// Queues a datagram of the relay's own for one destination. `false`: flush first.
    pub fn push_control(&mut self, bytes: &[u8], dest: SocketAddr) -> bool {
        self.push_group(bytes, &[dest], None)
    }

    fn extends_last(&self, fwd: &Forward, len: usize, dests: &[SocketAddr]) -> bool {
        let Some(g) = self.groups.last() else {
            return false;
        };
        g.frame.is_some_and(|f| f.same_frame(fwd))
            && g.segment == FULL_FWD_LEN
            && g.tail_full
            && len <= g.segment
            && g.segments < MAX_SEGMENTS
            && g.len + len <= MAX_GSO_BYTES
            && g.off + g.len == self.used
            && self.used + len <= self.arena.len()
            && self.dests.get(g.dests.0..g.dests.1) == Some(dests)
    }

    fn push_group(&mut self, bytes: &[u8], dests: &[SocketAddr], frame: Option<Forward>) -> bool {
        let end = self.used + bytes.len();
        if self.groups.len() == self.groups.capacity() {
            return false;
        }
        let Some(dst) = self.arena.get_mut(self.used..end) else {
            return false;
        };
        dst.copy_from_slice(bytes);
        let d0 = self.dests.len();
        self.dests.extend_from_slice(dests);
        self.groups.push(Group {
            off: self.used,
            len: bytes.len(),
            segment: bytes.len(),
            segments: 1,
            tail_full: true,
            dests: (d0, self.dests.len()),
            frame,
        });
        self.used = end;
        true
    }

    /// Sends everything queued, then empties the queue.
    pub fn flush(&mut self, socket: &UdpSocket) -> Sent {
        if self.groups.is_empty() {
            return Sent::default();
        }
        self.batch.set_destinations(&self.dests);
        self.msgs.clear();
        for g in &self.groups {
            for dest in g.dests.0..g.dests.1 {
                self.msgs.push(OutMsg {
                    off: g.off,
                    len: g.len,
                    segment: u16::try_from(g.segment).unwrap_or(u16::MAX),
                    segments: g.segments,
                    dest,
                });
            }
        }
        let sent = self.batch.send(
            socket,
            self.arena.get(..self.used).unwrap_or_default(),
            &self.msgs,
            self.config.sendmmsg,
        );
        self.groups.clear();
        self.dests.clear();
        self.used = 0;
        sent
    }
}
