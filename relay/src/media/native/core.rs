//! One worker's logic, sans-IO: datagrams, commands and time in; forwarding decisions and
//! the relay's own datagrams out. The session table authenticates, the router decides who
//! receives what; the I/O shell ([`super::worker`]) only moves bytes.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use conclave_wire::media::{
    Body, CloseReason, Direction, MAX_DATAGRAM, MAX_FRAGMENT, TAG_LEN, media_to_fwd, parse,
};

use super::command::Command;
use super::stats::{Counters, Drop};
use super::table::{JoinCheck, SessionTable, TableConfig};
use crate::media::Dest;
use crate::media::router::{ControlMsg, MeetingKey, Router, RouterConfig};
use crate::media::webrtc::RtcPeers;

/// The largest datagram the relay itself writes (a `JOIN_ACK`: 13 + 12 + 16 bytes).
pub const CONTROL_MAX: usize = 64;

/// How often the session table is scanned for timeouts.
const SCAN_EVERY: Duration = Duration::from_millis(100);

/// The length of a `MEDIA_FWD` carrying a full-size fragment (the GSO segment size).
pub const FULL_FWD_LEN: usize = MAX_DATAGRAM - TAG_LEN;

/// A datagram the relay itself sends (control, never media).
#[derive(Debug, Clone, Copy)]
pub struct Transmit {
    pub dest: SocketAddr,
    pub len: usize,
    pub buf: [u8; CONTROL_MAX],
}

impl Transmit {
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

/// A `MEDIA` datagram rewritten in place into `MEDIA_FWD` (`buf[..len]`), to be sent
/// unchanged to every destination of [`WorkerCore::destinations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forward {
    pub len: usize,
    pub source_id: u32,
    pub stream: u8,
    pub frame_number: u32,
}

impl Forward {
    /// Does it carry a full-size fragment (a GSO segment that others may follow)?
    pub fn full(&self) -> bool {
        self.len == FULL_FWD_LEN
    }

    /// Is `next` the next fragment of the same frame (same publisher, stream, frame)?
    pub fn same_frame(&self, next: &Forward) -> bool {
        self.source_id == next.source_id
            && self.stream == next.stream
            && self.frame_number == next.frame_number
    }
}

/// What became of one incoming datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingress {
    /// Forward `buf[..len]` to [`WorkerCore::destinations`].
    Forward(Forward),
    /// Consumed (control, or media nobody receives); replies may be queued.
    Handled,
    Dropped(Drop),
}

/// The worker's configuration.
#[derive(Debug, Clone)]
pub struct CoreConfig {
    pub table: TableConfig,
    pub router: RouterConfig,
    /// The host candidates of the worker's WebRTC socket (empty: no WebRTC).
    pub rtc_candidates: Vec<SocketAddr>,
}

/// The state of one worker.
pub struct WorkerCore {
    pub(crate) table: SessionTable,
    pub(crate) router: Router<Dest>,
    pub(crate) counters: Counters,
    dests: Vec<SocketAddr>,
    /// The router's decision for the last packet, before it is split by transport.
    pub(crate) route_dests: Vec<Dest>,
    pub(crate) outbox: VecDeque<Transmit>,
    scratch: Vec<u32>,
    next_scan: Option<Instant>,
    /// The worker's WebRTC peers and the bridge between the transports.
    pub(crate) rtc: RtcPeers,
}

impl std::fmt::Debug for WorkerCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerCore")
            .field("sessions", &self.table.len())
            .field("counters", &self.counters)
            .finish()
    }
}

impl WorkerCore {
    pub fn new(config: CoreConfig, pins: Option<std::sync::Arc<super::pins::Pins>>) -> Self {
        WorkerCore {
            table: SessionTable::new(config.table, pins),
            router: Router::new(config.router),
            counters: Counters::default(),
            dests: Vec::with_capacity(1024),
            route_dests: Vec::with_capacity(1024),
            rtc: RtcPeers::new(config.rtc_candidates),
            outbox: VecDeque::with_capacity(1024),
            scratch: Vec::with_capacity(64),
            next_scan: None,
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counts datagrams and bytes the shell sent.
    pub fn count_sent(&mut self, datagrams: u64, bytes: u64) {
        self.counters.sent(datagrams, bytes);
    }

    /// Counts datagrams the shell could not send.
    pub fn count_send_errors(&mut self, datagrams: u64) {
        for _ in 0..datagrams {
            self.counters.drop(Drop::SendError);
        }
    }

    /// Live sessions: native ones and WebRTC peers.
    pub fn sessions(&self) -> usize {
        self.table.len() + self.rtc.len()
    }

    pub fn meetings(&self) -> usize {
        self.table.meetings()
    }

    pub fn table(&self) -> &SessionTable {
        &self.table
    }

    /// Where the last [`Ingress::Forward`] goes.
    pub fn destinations(&self) -> &[SocketAddr] {
        &self.dests
    }

    /// The next datagram the relay itself sends.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    fn drop(&mut self, reason: Drop) -> Ingress {
        self.counters.drop(reason);
        Ingress::Dropped(reason)
    }

    /// One datagram from `from`; `buf` is exactly the datagram and may be rewritten in
    /// place (into the `MEDIA_FWD` to forward).
    pub fn on_datagram(
        &mut self,
        now: Instant,
        wall_ms: u64,
        from: SocketAddr,
        buf: &mut [u8],
    ) -> Ingress {
        self.counters.datagrams_in += 1;
        self.counters.bytes_in += buf.len() as u64;
        self.dests.clear();
        if buf.len() > MAX_DATAGRAM {
            return self.drop(Drop::Oversized);
        }
        let d = match parse(buf, Direction::ToRelay) {
            Ok(d) => d,
            Err(_) => return self.drop(Drop::Malformed),
        };
        let (conn_id, pn) = (d.prefix.conn_id, d.prefix.pn);
        if let Body::Join(join) = d.body {
            return self.on_join(now, wall_ms, from, &join, pn, buf);
        }
        let v = match self.table.verify(now, from, conn_id, pn, buf) {
            Ok(v) => v,
            Err(reason) => return self.drop(reason),
        };
        if v.moved {
            self.router.set_dest(v.source_id, Dest::Udp(from));
        }
        let source = v.source_id;
        let result = match d.body {
            Body::Media { header, fragment } => {
                match self
                    .router
                    .route_media(now, source, &header, fragment, &mut self.route_dests)
                {
                    Err(_) => Some((header, Err(()))),
                    Ok(()) => {
                        split_dests(&self.route_dests, &mut self.dests);
                        if self.dests.len() < self.route_dests.len() {
                            self.native_to_rtc(now, source, &header, fragment);
                        }
                        Some((header, Ok(())))
                    }
                }
            }
            Body::ReceiverReport(report) => {
                self.router.on_receiver_report(now, source, &report);
                None
            }
            Body::KeyframeRequest { source_id, stream } => {
                self.router
                    .on_keyframe_request(now, source, source_id, stream);
                None
            }
            Body::LayerPreference { max_layer } => {
                self.router
                    .on_layer_preference(now, source, max_layer.map(|l| l.index()));
                None
            }
            Body::Ping { timestamp_us } => {
                self.send_to_session(conn_id, &Body::Pong { timestamp_us });
                None
            }
            Body::Leave => {
                self.close(now, conn_id, CloseReason::Left);
                None
            }
            _ => return self.drop(Drop::Malformed),
        };
        self.drain_router();
        match result {
            None => Ingress::Handled,
            Some((_, Err(()))) => self.drop(Drop::Routing),
            Some((header, Ok(()))) => {
                if self.dests.is_empty() {
                    return Ingress::Handled;
                }
                match media_to_fwd(buf, source) {
                    Ok(len) => Ingress::Forward(Forward {
                        len,
                        source_id: source,
                        stream: header.stream.to_byte(),
                        frame_number: header.frame_number,
                    }),
                    Err(_) => self.drop(Drop::Malformed),
                }
            }
        }
    }

    fn on_join(
        &mut self,
        now: Instant,
        wall_ms: u64,
        from: SocketAddr,
        join: &conclave_wire::media::Join,
        pn: u64,
        datagram: &[u8],
    ) -> Ingress {
        match self
            .table
            .check_join(now, wall_ms, from, join, pn, datagram)
        {
            JoinCheck::Drop(reason) => self.drop(reason),
            JoinCheck::Reject { key, reason } => {
                let mut t = Transmit {
                    dest: from,
                    len: 0,
                    buf: [0; CONTROL_MAX],
                };
                if let Some(n) =
                    SessionTable::seal_without_session(&key, &Body::JoinReject(reason), &mut t.buf)
                {
                    t.len = n;
                    self.outbox.push_back(t);
                }
                self.counters.rejects += 1;
                Ingress::Handled
            }
            JoinCheck::Again { conn_id, moved } => {
                if moved && let Some(s) = self.table.get(conn_id) {
                    self.router.set_dest(s.source_id, Dest::Udp(from));
                }
                if let Some(ack) = self.table.join_ack(conn_id) {
                    self.send_to_session(conn_id, &ack);
                }
                Ingress::Handled
            }
            JoinCheck::Admit { key } => {
                let meeting = MeetingKey(join.meeting_id);
                let source = self.router.add_participant(now, meeting, Dest::Udp(from));
                let conn_id = self.table.admit(now, from, join, pn, key, source);
                if let Some(ack) = self.table.join_ack(conn_id) {
                    self.send_to_session(conn_id, &ack);
                }
                self.counters.joins += 1;
                self.drain_router();
                self.members_changed(now, meeting);
                Ingress::Handled
            }
        }
    }

    pub(crate) fn send_to_session(&mut self, conn_id: u32, body: &Body) {
        let mut t = Transmit {
            dest: SocketAddr::from(([0, 0, 0, 0], 0)),
            len: 0,
            buf: [0; CONTROL_MAX],
        };
        if let Some((dest, n)) = self.table.seal(conn_id, body, &mut t.buf) {
            t.dest = dest;
            t.len = n;
            self.outbox.push_back(t);
        }
    }

    /// Turns the router's control messages into sealed datagrams (or data-channel
    /// messages and keyframe requests for WebRTC peers).
    pub(crate) fn drain_router(&mut self) {
        while let Some(out) = self.router.poll_output() {
            let Some(conn_id) = self.table.by_source(out.to).map(|s| s.conn_id) else {
                self.control_to_peer(out.to, out.msg);
                continue;
            };
            let body = match out.msg {
                ControlMsg::KeyframeRequest { stream } => Body::KeyframeRequest {
                    source_id: out.to,
                    stream,
                },
                ControlMsg::ActiveSpeaker { source } => Body::ActiveSpeaker { source_id: source },
                ControlMsg::SourceGone { source } => Body::SourceGone { source_id: source },
                ControlMsg::EpochBehind { meeting_epoch } => Body::EpochBehind { meeting_epoch },
            };
            self.send_to_session(conn_id, &body);
        }
    }

    /// Ends a session: `CLOSED(reason)` to it, `SOURCE_GONE` to the others.
    fn close(&mut self, now: Instant, conn_id: u32, reason: CloseReason) {
        self.send_to_session(conn_id, &Body::Closed(reason));
        if let Some(s) = self.table.remove(conn_id) {
            self.router.remove_participant(now, s.source_id);
            self.counters.closes += 1;
            self.drain_router();
            self.members_changed(now, MeetingKey(s.meeting));
        }
        self.drain_router();
    }

    fn close_scratch(&mut self, now: Instant, reason: CloseReason) {
        let ids = std::mem::take(&mut self.scratch);
        for &c in &ids {
            self.close(now, c, reason);
        }
        self.scratch = ids;
        self.scratch.clear();
    }

    /// A command of the control plane.
    pub fn on_command(&mut self, now: Instant, wall_ms: u64, command: Command) {
        match command {
            Command::Refuse {
                meeting,
                device,
                expiring_by,
                reason,
            } => {
                self.scratch.clear();
                let refuse = super::table::close_to_reject(reason);
                self.table
                    .refuse(meeting, device, expiring_by, refuse, &mut self.scratch);
                self.close_scratch(now, reason);
                self.refuse_peers(now, meeting, device, expiring_by, reason);
            }
            Command::WebrtcOffer(offer) => self.on_webrtc_offer(now, wall_ms, offer),
            Command::WebrtcClose {
                meeting,
                session_id,
            } => self.close_peer_session(now, meeting, session_id),
        }
    }

    /// Timeouts: silent sessions, the router's timers.
    pub fn handle_timeout(&mut self, now: Instant, wall_ms: u64) {
        if self.next_scan.is_none_or(|t| now >= t) {
            self.next_scan = Some(now + SCAN_EVERY);
            self.scratch.clear();
            self.table.expired(now, wall_ms, &mut self.scratch);
            self.close_scratch(now, CloseReason::TimedOut);
        }
        if self.router.poll_timeout().is_some_and(|t| now >= t) {
            self.router.handle_timeout(now);
            self.drain_router();
        }
        self.rtc_timeout(now);
    }

    /// When [`Self::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.next_scan,
            self.router.poll_timeout(),
            self.rtc.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The relay is stopping: `CLOSED(5)` to every session.
    pub fn shutdown(&mut self, now: Instant) {
        self.scratch.clear();
        self.table.all(&mut self.scratch);
        self.close_scratch(now, CloseReason::ShuttingDown);
        self.close_all_peers(now, CloseReason::ShuttingDown);
    }
}

/// Splits the router's destinations: native addresses into `udp`.
fn split_dests(all: &[Dest], udp: &mut Vec<SocketAddr>) {
    udp.clear();
    udp.extend(all.iter().filter_map(|d| match d {
        Dest::Udp(a) => Some(*a),
        Dest::Rtc(_) => None,
    }));
}

const _: () = assert!(
    FULL_FWD_LEN
        == conclave_wire::media::PREFIX_LEN + conclave_wire::media::MEDIA_HEADER_LEN + MAX_FRAGMENT
);

#[cfg(test)]
mod tests {
    use super::super::testkit::{SECRET, WALL, addr, open, seal, ticket};
    use super::super::ticket::TagKey;
    use super::*;
    use conclave_wire::media::{JoinAck, MediaHeader, RejectReason, Stream};
    use conclave_wire::sframe::{MediaKid, SframeHeader};

    fn core() -> WorkerCore {
        WorkerCore::new(
            CoreConfig {
                table: TableConfig {
                    worker: 1,
                    ticket_secret: SECRET,
                    keepalive: Duration::from_millis(1000),
                    timeout: Duration::from_millis(10_000),
                    max_sessions: 100,
                },
                router: RouterConfig::default(),
                rtc_candidates: Vec::new(),
            },
            None,
        )
    }

    fn transmits(c: &mut WorkerCore) -> Vec<Transmit> {
        std::iter::from_fn(|| c.poll_transmit()).collect()
    }

    struct Client {
        key: TagKey,
        conn: u32,
        source: u32,
        from: SocketAddr,
        pn: u64,
    }

    impl Client {
        fn next(&mut self) -> u64 {
            self.pn += 1;
            self.pn
        }

        fn media(&mut self, frame_number: u32) -> Vec<u8> {
            let mut fragment =
                SframeHeader::new(MediaKid::new(1, 0).unwrap().to_kid(), 5).to_bytes();
            fragment.extend_from_slice(&[0xab; 100]);
            let header = MediaHeader {
                stream: Stream::Audio,
                keyframe: false,
                codec: false,
                audio_level: 30,
                frame_number,
                frag_index: 0,
                frag_count: 1,
            };
            let pn = self.next();
            seal(
                &self.key,
                self.conn,
                pn,
                &Body::Media {
                    header,
                    fragment: &fragment,
                },
            )
        }
    }

    fn join(c: &mut WorkerCore, now: Instant, meeting: u8, device: u8, port: u16) -> Client {
        let (j, key) = ticket(meeting, device, device, 1);
        let mut d = seal(&key, 0, 0, &Body::Join(j));
        assert_eq!(
            c.on_datagram(now, WALL, addr(port), &mut d),
            Ingress::Handled
        );
        let t = transmits(c);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].dest, addr(port));
        let reply = open(&key, t[0].bytes());
        let Body::JoinAck(JoinAck {
            source_id,
            keepalive_ms,
            timeout_ms,
        }) = reply.body
        else {
            panic!("{reply:?}");
        };
        assert_eq!((keepalive_ms, timeout_ms), (1000, 10_000));
        assert_eq!(reply.prefix.pn, 0);
        Client {
            key,
            conn: reply.prefix.conn_id,
            source: source_id,
            from: addr(port),
            pn: 0,
        }
    }

    #[test]
    fn media_is_forwarded_as_identical_media_fwd_bytes_and_forgeries_are_dropped() {
        let now = Instant::now();
        let mut c = core();
        let mut a = join(&mut c, now, 1, 1, 4001);
        let b = join(&mut c, now, 1, 2, 4002);
        let _other = join(&mut c, now, 2, 3, 4003);
        transmits(&mut c);
        let original = a.media(0);
        let mut buf = original.clone();
        let Ingress::Forward(fwd) = c.on_datagram(now, WALL, a.from, &mut buf) else {
            panic!("not forwarded");
        };
        assert_eq!(c.destinations(), &[b.from]);
        assert_eq!(fwd.len, original.len() - TAG_LEN);
        assert_eq!(fwd.source_id, a.source);
        let out = &buf[..fwd.len];
        assert_eq!(out[0], 0x11);
        assert_eq!(out[1..5], a.source.to_be_bytes());
        assert_eq!(out[5..], original[5..original.len() - TAG_LEN]);
        let parsed = open(&b.key, out);
        assert!(matches!(parsed.body, Body::MediaFwd { .. }));

        // Replay of the very datagram.
        let mut again = original.clone();
        assert_eq!(
            c.on_datagram(now, WALL, a.from, &mut again),
            Ingress::Dropped(Drop::Replay)
        );
        // Bad tag, wrong connection id, truncated, oversized, random bytes.
        let mut bad = a.media(1);
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(
            c.on_datagram(now, WALL, a.from, &mut bad),
            Ingress::Dropped(Drop::BadTag)
        );
        let mut wrong = a.media(2);
        wrong[1..5].copy_from_slice(&(b.conn ^ 0x5555).to_be_bytes());
        let r = c.on_datagram(now, WALL, a.from, &mut wrong);
        assert!(
            matches!(r, Ingress::Dropped(Drop::UnknownConn | Drop::BadTag)),
            "{r:?}"
        );
        let mut stolen = a.media(3);
        stolen[1..5].copy_from_slice(&b.conn.to_be_bytes());
        assert_eq!(
            c.on_datagram(now, WALL, a.from, &mut stolen),
            Ingress::Dropped(Drop::BadTag)
        );
        let mut short = a.media(4);
        short.truncate(20);
        assert_eq!(
            c.on_datagram(now, WALL, a.from, &mut short),
            Ingress::Dropped(Drop::Malformed)
        );
        let mut big = vec![0x10u8; MAX_DATAGRAM + 1];
        assert_eq!(
            c.on_datagram(now, WALL, a.from, &mut big),
            Ingress::Dropped(Drop::Oversized)
        );
        let mut x: u32 = 0x9e37_79b9;
        for len in [0usize, 1, 13, 40, 300, 1200] {
            let mut junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            assert!(matches!(
                c.on_datagram(now, WALL, a.from, &mut junk),
                Ingress::Dropped(_)
            ));
        }
        assert!(
            transmits(&mut c).is_empty(),
            "no answer to unauthenticated input"
        );
        let k = c.counters();
        assert_eq!(k.dropped(Drop::Replay), 1);
        assert_eq!(k.dropped(Drop::Oversized), 1);
        assert!(k.dropped(Drop::BadTag) >= 2);
        // The genuine next datagram still goes through.
        let mut next = a.media(5);
        assert!(matches!(
            c.on_datagram(now, WALL, a.from, &mut next),
            Ingress::Forward(_)
        ));
    }

    #[test]
    fn mutated_and_random_datagrams_never_forward_nor_panic() {
        let now = Instant::now();
        let mut c = core();
        let mut a = join(&mut c, now, 1, 1, 4001);
        let _b = join(&mut c, now, 1, 2, 4002);
        transmits(&mut c);
        let genuine: Vec<Vec<u8>> = (0..8).map(|i| a.media(i)).collect();
        // Delivered once first: a mutation that cancels itself out is then a replay.
        for g in &genuine {
            let mut d = g.clone();
            assert!(matches!(
                c.on_datagram(now, WALL, a.from, &mut d),
                Ingress::Forward(_)
            ));
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..20_000u32 {
            let mut d = match round % 3 {
                // A genuine datagram with 1..4 bytes changed.
                0 | 1 => {
                    let mut d = genuine[round as usize % genuine.len()].clone();
                    for _ in 0..1 + next() % 4 {
                        let i = (next() as usize) % d.len();
                        d[i] ^= 1 + (next() as u8 % 255);
                    }
                    d
                }
                // Random bytes of random length (up to beyond the maximum).
                _ => (0..next() % 1400).map(|_| next() as u8).collect(),
            };
            let from = if next() % 2 == 0 { a.from } else { addr(9) };
            match c.on_datagram(now, WALL, from, &mut d) {
                Ingress::Forward(_) => panic!("round {round}: a forged datagram was forwarded"),
                Ingress::Handled | Ingress::Dropped(_) => {}
            }
        }
        assert_eq!(c.sessions(), 2, "forgeries close nothing");
        transmits(&mut c);
        a.pn = 100;
        let mut m = a.media(100);
        assert!(matches!(
            c.on_datagram(now, WALL, a.from, &mut m),
            Ingress::Forward(_)
        ));
    }

    #[test]
    fn ping_leave_and_nat_rebinding() {
        let now = Instant::now();
        let mut c = core();
        let mut a = join(&mut c, now, 1, 1, 4001);
        let b = join(&mut c, now, 1, 2, 4002);
        let pn = a.next();
        let mut ping = seal(&a.key, a.conn, pn, &Body::Ping { timestamp_us: 42 });
        assert_eq!(
            c.on_datagram(now, WALL, addr(4100), &mut ping),
            Ingress::Handled
        );
        let t = transmits(&mut c);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].dest, addr(4100), "answers go to the new address");
        let d = open(&a.key, t[0].bytes());
        assert_eq!(d.body, Body::Pong { timestamp_us: 42 });
        assert_eq!((d.prefix.conn_id, d.prefix.pn), (a.conn, 1));
        a.from = addr(4100);
        let mut m = a.media(0);
        assert!(matches!(
            c.on_datagram(now, WALL, a.from, &mut m),
            Ingress::Forward(_)
        ));
        let pn = a.next();
        let mut leave = seal(&a.key, a.conn, pn, &Body::Leave);
        assert_eq!(
            c.on_datagram(now, WALL, a.from, &mut leave),
            Ingress::Handled
        );
        let t = transmits(&mut c);
        let closed: Vec<_> = t
            .iter()
            .filter(|t| t.dest == a.from)
            .map(|t| open(&a.key, t.bytes()).body)
            .collect();
        assert_eq!(closed, vec![Body::Closed(CloseReason::Left)]);
        assert!(
            t.iter()
                .filter(|t| t.dest == b.from)
                .any(|t| open(&b.key, t.bytes()).body
                    == Body::SourceGone {
                        source_id: a.source
                    })
        );
        assert_eq!(c.sessions(), 1);
        let mut m = a.media(1);
        assert_eq!(
            c.on_datagram(now, WALL, a.from, &mut m),
            Ingress::Dropped(Drop::UnknownConn)
        );
    }

    #[test]
    fn control_plane_events_close_sessions_and_refuse_tickets() {
        let now = Instant::now();
        let mut c = core();
        let a = join(&mut c, now, 1, 1, 4001);
        let b = join(&mut c, now, 1, 2, 4002);
        transmits(&mut c);
        c.on_command(
            now,
            WALL,
            Command::Refuse {
                meeting: [1; 32],
                device: Some([1; 16]),
                expiring_by: WALL + 60_000,
                reason: CloseReason::Removed,
            },
        );
        let t = transmits(&mut c);
        assert!(t.iter().any(|t| t.dest == a.from
            && open(&a.key, t.bytes()).body == Body::Closed(CloseReason::Removed)));
        // A fresh session id on the same (old) ticket fields is refused, tagged.
        let (mut j, _) = ticket(1, 1, 1, 1);
        j.session_id = [0x77; 16];
        let key = TagKey::new(&super::super::ticket::session_key(&SECRET, &j));
        let mut d = seal(&key, 0, 0, &Body::Join(j));
        assert_eq!(
            c.on_datagram(now, WALL, addr(4005), &mut d),
            Ingress::Handled
        );
        let t = transmits(&mut c);
        let r = open(&key, t[0].bytes());
        assert_eq!(r.body, Body::JoinReject(RejectReason::Removed));
        assert_eq!(r.prefix.conn_id, super::super::table::NO_CONN);
        // Meeting ended.
        c.on_command(
            now,
            WALL,
            Command::Refuse {
                meeting: [1; 32],
                device: None,
                expiring_by: WALL + 60_000,
                reason: CloseReason::MeetingEnded,
            },
        );
        let t = transmits(&mut c);
        assert!(t.iter().any(|t| t.dest == b.from
            && open(&b.key, t.bytes()).body == Body::Closed(CloseReason::MeetingEnded)));
        assert_eq!(c.sessions(), 0);
    }

    #[test]
    fn timeouts_and_shutdown() {
        let t0 = Instant::now();
        let mut c = core();
        let mut a = join(&mut c, t0, 1, 1, 4001);
        let b = join(&mut c, t0, 1, 2, 4002);
        transmits(&mut c);
        let t1 = t0 + Duration::from_secs(6);
        let pn = a.next();
        let mut ping = seal(&a.key, a.conn, pn, &Body::Ping { timestamp_us: 1 });
        c.on_datagram(t1, WALL, a.from, &mut ping);
        transmits(&mut c);
        c.handle_timeout(t0 + Duration::from_secs(10), WALL);
        let t = transmits(&mut c);
        assert!(t.iter().any(|t| t.dest == b.from
            && open(&b.key, t.bytes()).body == Body::Closed(CloseReason::TimedOut)));
        assert_eq!(c.sessions(), 1, "a was heard from at t1");
        c.shutdown(t1);
        let t = transmits(&mut c);
        assert!(t.iter().any(|t| t.dest == a.from
            && open(&a.key, t.bytes()).body == Body::Closed(CloseReason::ShuttingDown)));
        assert_eq!(c.sessions(), 0);
    }
}
