//! The session table of one worker, sans-IO (docs/PROTOCOL.md §11.4): admits `JOIN`s,
//! authenticates every later datagram (connection id, replay window, tag), follows NAT
//! rebinding, times sessions out, remembers closed sessions and refused tickets, and seals
//! the relay's own tagged datagrams with per-session packet numbers.
//!
//! Time comes in as arguments: `now` (monotonic, for keep-alive timeouts) and `wall_ms`
//! (the relay's master clock, for ticket expiry).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_wire::media::{
    Body, CloseReason, Join, JoinAck, RejectReason, ReplayWindow, encode_tagged,
};

use super::pins::{MeetingBytes, Pins};
use super::stats::Drop;
use super::ticket::{TagKey, session_key};

/// The connection id of a `JOIN_REJECT` (no connection exists); never assigned.
pub const NO_CONN: u32 = u32::MAX;

/// What the table needs to know about its worker.
#[derive(Debug, Clone)]
pub struct TableConfig {
    /// This worker's index (the ticket's `worker`).
    pub worker: u8,
    pub ticket_secret: [u8; 32],
    pub keepalive: Duration,
    pub timeout: Duration,
    pub max_sessions: usize,
}

/// One joined session.
#[derive(Debug)]
pub struct Session {
    pub conn_id: u32,
    /// The router's participant id, the `source_id` of what this session publishes.
    pub source_id: u32,
    pub session_id: [u8; 16],
    pub meeting: MeetingBytes,
    pub device: [u8; 16],
    pub expires_ms: u64,
    /// Where the session's datagrams go (its last verified source address).
    pub addr: SocketAddr,
    key: TagKey,
    last_heard: Instant,
    rx: ReplayWindow,
    tx_pn: u64,
}

/// Tickets refused by the control plane: those of `device` (every device when `None`) in
/// `meeting` that expire at or before `expiring_by` (the tickets issued before the event).
#[derive(Debug, Clone, Copy)]
struct Refusal {
    meeting: MeetingBytes,
    device: Option<[u8; 16]>,
    expiring_by: u64,
    reason: RejectReason,
}

/// The outcome of a `JOIN`.
#[derive(Debug)]
pub enum JoinCheck {
    /// Not authenticated (or a replay): drop silently.
    Drop(Drop),
    /// A valid ticket, refused: answer `JOIN_REJECT` sealed with `key`.
    Reject { key: TagKey, reason: RejectReason },
    /// A retransmitted `JOIN` of a live session: answer the same `JOIN_ACK` again.
    Again { conn_id: u32, moved: bool },
    /// A new session: create its participant, then [`SessionTable::admit`].
    Admit { key: TagKey },
}

/// A verified datagram's session.
#[derive(Debug, Clone, Copy)]
pub struct Verified {
    pub conn_id: u32,
    pub source_id: u32,
    /// The source address changed (NAT rebinding): the session moved there.
    pub moved: bool,
}

/// The sessions of one worker.
#[derive(Debug)]
pub struct SessionTable {
    cfg: TableConfig,
    pins: Option<Arc<Pins>>,
    sessions: HashMap<u32, Session>,
    by_session_id: HashMap<[u8; 16], u32>,
    by_source: HashMap<u32, u32>,
    meetings: HashMap<MeetingBytes, usize>,
    /// Session ids that may not join again, until their ticket expires (wall ms).
    closed: HashMap<[u8; 16], u64>,
    refusals: Vec<Refusal>,
}

impl SessionTable {
    pub fn new(cfg: TableConfig, pins: Option<Arc<Pins>>) -> Self {
        SessionTable {
            sessions: HashMap::with_capacity(cfg.max_sessions.min(4096)),
            by_session_id: HashMap::with_capacity(cfg.max_sessions.min(4096)),
            by_source: HashMap::with_capacity(cfg.max_sessions.min(4096)),
            cfg,
            pins,
            meetings: HashMap::new(),
            closed: HashMap::new(),
            refusals: Vec::new(),
        }
    }

    pub fn config(&self) -> &TableConfig {
        &self.cfg
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn meetings(&self) -> usize {
        self.meetings.len()
    }

    pub fn get(&self, conn_id: u32) -> Option<&Session> {
        self.sessions.get(&conn_id)
    }

    /// The session publishing as `source_id`.
    pub fn by_source(&self, source_id: u32) -> Option<&Session> {
        self.by_source
            .get(&source_id)
            .and_then(|c| self.sessions.get(c))
    }

    /// Checks a parsed `JOIN` (`datagram` is the whole datagram, tag included) from `from`.
    pub fn check_join(
        &mut self,
        now: Instant,
        wall_ms: u64,
        from: SocketAddr,
        join: &Join,
        pn: u64,
        datagram: &[u8],
    ) -> JoinCheck {
        if join.expires_ms <= wall_ms {
            return JoinCheck::Drop(Drop::TicketExpired);
        }
        if join.worker != self.cfg.worker {
            return JoinCheck::Drop(Drop::WrongWorker);
        }
        let key = TagKey::new(&session_key(&self.cfg.ticket_secret, join));
        if !key.verify_datagram(datagram) {
            return JoinCheck::Drop(Drop::BadTag);
        }
        if let Some(&conn_id) = self.by_session_id.get(&join.session_id) {
            let Some(s) = self.sessions.get_mut(&conn_id) else {
                return JoinCheck::Drop(Drop::UnknownConn);
            };
            if s.meeting != join.meeting_id || s.device != join.device_id {
                // Same session id, other ticket: cannot happen with random session ids.
                return JoinCheck::Drop(Drop::BadTag);
            }
            if !s.rx.check(pn) {
                return JoinCheck::Drop(Drop::Replay);
            }
            s.rx.update(pn);
            s.last_heard = now;
            let moved = s.addr != from;
            s.addr = from;
            return JoinCheck::Again { conn_id, moved };
        }
        match self.refusal(join, 0) {
            Some(reason) => JoinCheck::Reject { key, reason },
            None => JoinCheck::Admit { key },
        }
    }

    /// Why a valid ticket of a new session is refused, if it is: the control plane
    /// refused it, its session already closed, the worker is full (counting `others`
    /// sessions of other transports), or the meeting is served by another worker.
    pub fn refusal(&self, join: &Join, others: usize) -> Option<RejectReason> {
        if let Some(r) = self.refusals.iter().find(|r| {
            r.meeting == join.meeting_id
                && r.device.is_none_or(|d| d == join.device_id)
                && join.expires_ms <= r.expiring_by
        }) {
            return Some(r.reason);
        }
        if self.closed.contains_key(&join.session_id)
            || self.by_session_id.contains_key(&join.session_id)
        {
            return Some(RejectReason::SessionClosed);
        }
        if self.sessions.len() + others >= self.cfg.max_sessions {
            return Some(RejectReason::RelayFull);
        }
        if let Some(pins) = &self.pins
            && pins.claim(&join.meeting_id, self.cfg.worker) != self.cfg.worker
        {
            return Some(RejectReason::WrongWorker);
        }
        None
    }

    /// Remembers a session of another transport as closed (it cannot join again).
    pub fn record_closed(&mut self, session_id: [u8; 16], expires_ms: u64) {
        self.closed.insert(session_id, expires_ms);
    }

    /// Unpins a meeting this worker holds no participant of (after a refused offer).
    pub fn release_pin(&self, meeting: &MeetingBytes) {
        if !self.meetings.contains_key(meeting)
            && let Some(p) = &self.pins
        {
            p.release(meeting, Some(self.cfg.worker));
        }
    }

    /// A participant of another transport (a WebRTC peer) joined `meeting` on this worker:
    /// the meeting stays pinned here while it has one.
    pub fn add_other(&mut self, meeting: MeetingBytes) {
        *self.meetings.entry(meeting).or_insert(0) += 1;
    }

    /// That participant left.
    pub fn remove_other(&mut self, meeting: &MeetingBytes) {
        self.leave_meeting(meeting);
    }

    fn leave_meeting(&mut self, meeting: &MeetingBytes) {
        if let Some(n) = self.meetings.get_mut(meeting) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.meetings.remove(meeting);
                if let Some(p) = &self.pins {
                    p.release(meeting, Some(self.cfg.worker));
                }
            }
        }
    }

    /// Creates the session of an admitted `JOIN`; returns its connection id.
    #[allow(clippy::too_many_arguments)]
    pub fn admit(
        &mut self,
        now: Instant,
        from: SocketAddr,
        join: &Join,
        pn: u64,
        key: TagKey,
        source_id: u32,
    ) -> u32 {
        let conn_id = self.fresh_conn_id();
        let mut rx = ReplayWindow::new();
        rx.update(pn);
        self.sessions.insert(
            conn_id,
            Session {
                conn_id,
                source_id,
                session_id: join.session_id,
                meeting: join.meeting_id,
                device: join.device_id,
                expires_ms: join.expires_ms,
                addr: from,
                key,
                last_heard: now,
                rx,
                tx_pn: 0,
            },
        );
        self.by_session_id.insert(join.session_id, conn_id);
        self.by_source.insert(source_id, conn_id);
        *self.meetings.entry(join.meeting_id).or_insert(0) += 1;
        conn_id
    }

    /// A random connection id: non-zero and not in use.
    fn fresh_conn_id(&self) -> u32 {
        let mut counter = self.sessions.len() as u32;
        loop {
            let mut b = [0u8; 4];
            let id = match getrandom::fill(&mut b) {
                Ok(()) => u32::from_be_bytes(b),
                Err(_) => {
                    counter = counter.wrapping_add(0x9e37_79b9);
                    counter
                }
            };
            if id != 0 && id != NO_CONN && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// Authenticates a tagged datagram of a joined session: known connection id, fresh
    /// packet number, valid tag; then records the pn, the time and the source address.
    pub fn verify(
        &mut self,
        now: Instant,
        from: SocketAddr,
        conn_id: u32,
        pn: u64,
        datagram: &[u8],
    ) -> Result<Verified, Drop> {
        let s = self.sessions.get_mut(&conn_id).ok_or(Drop::UnknownConn)?;
        if !s.rx.check(pn) {
            return Err(Drop::Replay);
        }
        if !s.key.verify_datagram(datagram) {
            return Err(Drop::BadTag);
        }
        s.rx.update(pn);
        s.last_heard = now;
        let moved = s.addr != from;
        if moved {
            s.addr = from;
        }
        Ok(Verified {
            conn_id,
            source_id: s.source_id,
            moved,
        })
    }

    /// Writes a tagged relay → client datagram for session `conn_id` into `buf` with the
    /// session's next packet number; returns the destination and length.
    pub fn seal(
        &mut self,
        conn_id: u32,
        body: &Body,
        buf: &mut [u8],
    ) -> Option<(SocketAddr, usize)> {
        let s = self.sessions.get_mut(&conn_id)?;
        let key = &s.key;
        let n = encode_tagged(buf, conn_id, s.tx_pn, body, |a| key.tag(a)).ok()?;
        s.tx_pn += 1;
        Some((s.addr, n))
    }

    /// Seals a datagram with a ticket's key for a peer without a session (`JOIN_REJECT`:
    /// connection id [`NO_CONN`], packet number 0).
    pub fn seal_without_session(key: &TagKey, body: &Body, buf: &mut [u8]) -> Option<usize> {
        encode_tagged(buf, NO_CONN, 0, body, |a| key.tag(a)).ok()
    }

    /// The `JOIN_ACK` body of a session.
    pub fn join_ack(&self, conn_id: u32) -> Option<Body<'static>> {
        let s = self.sessions.get(&conn_id)?;
        Some(Body::JoinAck(JoinAck {
            source_id: s.source_id,
            keepalive_ms: u32::try_from(self.cfg.keepalive.as_millis()).unwrap_or(u32::MAX),
            timeout_ms: u32::try_from(self.cfg.timeout.as_millis()).unwrap_or(u32::MAX),
        }))
    }

    /// Removes a session; its session id may not join again until its ticket expires.
    /// Unpins the meeting when it was the meeting's last session here.
    pub fn remove(&mut self, conn_id: u32) -> Option<Session> {
        let s = self.sessions.remove(&conn_id)?;
        self.by_session_id.remove(&s.session_id);
        self.by_source.remove(&s.source_id);
        self.closed.insert(s.session_id, s.expires_ms);
        self.leave_meeting(&s.meeting);
        Some(s)
    }

    /// Refuses the tickets of `device` (all devices: `None`) in `meeting` expiring at or
    /// before `expiring_by`, and appends the connection ids of its live sessions to `out`.
    pub fn refuse(
        &mut self,
        meeting: MeetingBytes,
        device: Option<[u8; 16]>,
        expiring_by: u64,
        reason: RejectReason,
        out: &mut Vec<u32>,
    ) {
        self.refusals.push(Refusal {
            meeting,
            device,
            expiring_by,
            reason,
        });
        out.extend(
            self.sessions
                .values()
                .filter(|s| s.meeting == meeting && device.is_none_or(|d| d == s.device))
                .map(|s| s.conn_id),
        );
    }

    /// Appends the sessions silent for longer than the timeout to `out`, and forgets
    /// refusals and closed session ids whose tickets have expired.
    pub fn expired(&mut self, now: Instant, wall_ms: u64, out: &mut Vec<u32>) {
        let timeout = self.cfg.timeout;
        out.extend(
            self.sessions
                .values()
                .filter(|s| now.saturating_duration_since(s.last_heard) >= timeout)
                .map(|s| s.conn_id),
        );
        self.closed.retain(|_, exp| *exp > wall_ms);
        self.refusals.retain(|r| r.expiring_by > wall_ms);
    }

    /// When the next session would time out.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.sessions
            .values()
            .map(|s| s.last_heard + self.cfg.timeout)
            .min()
    }

    /// Every live connection id.
    pub fn all(&self, out: &mut Vec<u32>) {
        out.extend(self.sessions.keys().copied());
    }
}

/// The reason a control-plane event gives the sessions it closes.
pub fn close_to_reject(reason: CloseReason) -> RejectReason {
    match reason {
        CloseReason::Left | CloseReason::TimedOut | CloseReason::ShuttingDown => {
            RejectReason::SessionClosed
        }
        CloseReason::Removed | CloseReason::MeetingEnded => RejectReason::Removed,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{WALL, addr, seal, ticket};
    use super::*;
    use conclave_wire::media::Body;

    fn table(max_sessions: usize) -> SessionTable {
        SessionTable::new(
            TableConfig {
                worker: 1,
                ticket_secret: super::super::testkit::SECRET,
                keepalive: Duration::from_millis(1000),
                timeout: Duration::from_millis(10_000),
                max_sessions,
            },
            None,
        )
    }

    /// Joins `session` of `device` in `meeting`; returns its conn id and key.
    fn join(
        t: &mut SessionTable,
        now: Instant,
        meeting: u8,
        device: u8,
        session: u8,
    ) -> (u32, TagKey) {
        let (j, key) = ticket(meeting, device, session, 1);
        let d = seal(&key, 0, 0, &Body::Join(j));
        match t.check_join(now, WALL, addr(5000 + u16::from(session)), &j, 0, &d) {
            JoinCheck::Admit { key: k } => {
                let source = 100 + u32::from(session);
                (
                    t.admit(now, addr(5000 + u16::from(session)), &j, 0, k, source),
                    key,
                )
            }
            other => panic!("join refused: {other:?}"),
        }
    }

    #[test]
    fn joins_are_checked_before_anything_is_answered() {
        let now = Instant::now();
        let mut t = table(10);
        let (j, key) = ticket(1, 2, 3, 1);
        let good = seal(&key, 0, 0, &Body::Join(j));
        let drop = |c: JoinCheck| match c {
            JoinCheck::Drop(d) => d,
            other => panic!("{other:?}"),
        };
        // Forged tag, expired ticket, other worker, fields changed after sealing.
        let mut forged = good.clone();
        *forged.last_mut().unwrap() ^= 1;
        assert_eq!(
            drop(t.check_join(now, WALL, addr(1), &j, 0, &forged)),
            Drop::BadTag
        );
        assert_eq!(
            drop(t.check_join(now, j.expires_ms, addr(1), &j, 0, &good)),
            Drop::TicketExpired
        );
        let (other, okey) = ticket(1, 2, 3, 0);
        let d = seal(&okey, 0, 0, &Body::Join(other));
        assert_eq!(
            drop(t.check_join(now, WALL, addr(1), &other, 0, &d)),
            Drop::WrongWorker
        );
        let mut changed = j;
        changed.device_id = [9; 16];
        let d = seal(&key, 0, 0, &Body::Join(changed));
        assert_eq!(
            drop(t.check_join(now, WALL, addr(1), &changed, 0, &d)),
            Drop::BadTag
        );
        assert!(t.is_empty());
        assert!(matches!(
            t.check_join(now, WALL, addr(1), &j, 0, &good),
            JoinCheck::Admit { .. }
        ));
    }

    #[test]
    fn a_session_joins_once_and_retransmissions_are_acknowledged_again() {
        let now = Instant::now();
        let mut t = table(10);
        let (conn, key) = join(&mut t, now, 1, 2, 3);
        assert_ne!(conn, 0);
        assert_ne!(conn, NO_CONN);
        let (j, _) = ticket(1, 2, 3, 1);
        let again = seal(&key, 0, 1, &Body::Join(j));
        match t.check_join(now, WALL, addr(7777), &j, 1, &again) {
            JoinCheck::Again { conn_id, moved } => {
                assert_eq!(conn_id, conn);
                assert!(moved, "a JOIN from a new address moves the session");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            t.check_join(now, WALL, addr(7777), &j, 1, &again),
            JoinCheck::Drop(Drop::Replay)
        ));
        assert_eq!(t.len(), 1);
        t.remove(conn).unwrap();
        let later = seal(&key, 0, 2, &Body::Join(j));
        match t.check_join(now, WALL, addr(7777), &j, 2, &later) {
            JoinCheck::Reject { reason, .. } => assert_eq!(reason, RejectReason::SessionClosed),
            other => panic!("{other:?}"),
        }
        // Forgotten once the ticket has expired (and then refused as expired anyway).
        let mut out = Vec::new();
        t.expired(now, j.expires_ms, &mut out);
        assert!(t.closed.is_empty());
    }

    #[test]
    fn datagrams_need_a_known_connection_a_fresh_pn_and_a_valid_tag() {
        let now = Instant::now();
        let mut t = table(10);
        let (conn, key) = join(&mut t, now, 1, 2, 3);
        let from = addr(5003);
        let ping = |pn| seal(&key, conn, pn, &Body::Ping { timestamp_us: 7 });
        let v = t.verify(now, from, conn, 1, &ping(1)).unwrap();
        assert!(!v.moved);
        assert_eq!(v.source_id, 103);
        assert_eq!(
            t.verify(now, from, conn, 1, &ping(1)).unwrap_err(),
            Drop::Replay
        );
        assert_eq!(
            t.verify(now, from, conn, 0, &ping(0)).unwrap_err(),
            Drop::Replay,
            "the JOIN's pn"
        );
        let mut bad = ping(5);
        bad[20] ^= 0x40;
        assert_eq!(
            t.verify(now, from, conn, 5, &bad).unwrap_err(),
            Drop::BadTag
        );
        // A forgery does not advance the window: the genuine pn 5 still passes.
        assert!(t.verify(now, from, conn, 5, &ping(5)).is_ok());
        assert_eq!(
            t.verify(now, from, conn ^ 1, 6, &ping(6)).unwrap_err(),
            Drop::UnknownConn
        );
        let other = TagKey::new(&[1; 32]);
        let d = seal(&other, conn, 7, &Body::Ping { timestamp_us: 7 });
        assert_eq!(t.verify(now, from, conn, 7, &d).unwrap_err(), Drop::BadTag);
        // NAT rebinding: a verified datagram from a new address moves the session.
        let v = t.verify(now, addr(9999), conn, 8, &ping(8)).unwrap();
        assert!(v.moved);
        assert_eq!(t.get(conn).unwrap().addr, addr(9999));
    }

    #[test]
    fn relay_datagrams_are_sealed_with_per_session_packet_numbers() {
        let now = Instant::now();
        let mut t = table(10);
        let (c1, k1) = join(&mut t, now, 1, 2, 3);
        let (c2, _) = join(&mut t, now, 1, 4, 5);
        let mut buf = [0u8; 64];
        for expect_pn in 0..3u64 {
            let (dest, n) = t
                .seal(c1, &Body::Pong { timestamp_us: 1 }, &mut buf)
                .unwrap();
            assert_eq!(dest, addr(5003));
            let d = super::super::testkit::open(&k1, &buf[..n]);
            assert_eq!((d.prefix.conn_id, d.prefix.pn), (c1, expect_pn));
        }
        let (_, n) = t
            .seal(c2, &Body::Pong { timestamp_us: 1 }, &mut buf)
            .unwrap();
        assert_eq!(
            conclave_wire::media::Prefix::parse(&buf[..n]).unwrap().pn,
            0
        );
        let ack = t.join_ack(c1).unwrap();
        assert_eq!(
            ack,
            Body::JoinAck(JoinAck {
                source_id: 103,
                keepalive_ms: 1000,
                timeout_ms: 10_000
            })
        );
    }

    #[test]
    fn refused_tickets_full_tables_and_timeouts() {
        let t0 = Instant::now();
        let mut t = table(3);
        let (a, _) = join(&mut t, t0, 1, 2, 3);
        let (b, _) = join(&mut t, t0, 1, 4, 5);
        let (c, _) = join(&mut t, t0, 2, 2, 6);
        assert_eq!(t.meetings(), 2);
        // Full.
        let (j, key) = ticket(3, 3, 7, 1);
        let d = seal(&key, 0, 0, &Body::Join(j));
        assert!(matches!(
            t.check_join(t0, WALL, addr(1), &j, 0, &d),
            JoinCheck::Reject {
                reason: RejectReason::RelayFull,
                ..
            }
        ));
        // Device 2 removed from meeting 1: its session there is listed, not the one in
        // meeting 2; its older tickets are refused, newer ones are not.
        let mut out = Vec::new();
        t.refuse(
            [1; 32],
            Some([2; 16]),
            WALL + 60_000,
            RejectReason::Removed,
            &mut out,
        );
        assert_eq!(out, vec![a]);
        t.remove(a);
        let (j, key) = ticket(1, 2, 8, 1);
        let d = seal(&key, 0, 0, &Body::Join(j));
        assert!(matches!(
            t.check_join(t0, WALL, addr(1), &j, 0, &d),
            JoinCheck::Reject {
                reason: RejectReason::Removed,
                ..
            }
        ));
        let mut newer = j;
        newer.expires_ms += 1;
        let key = TagKey::new(&session_key(&super::super::testkit::SECRET, &newer));
        let d = seal(&key, 0, 0, &Body::Join(newer));
        assert!(matches!(
            t.check_join(t0, WALL, addr(1), &newer, 0, &d),
            JoinCheck::Admit { .. }
        ));
        // Meeting 1 ended: every device.
        out.clear();
        t.refuse(
            [1; 32],
            None,
            WALL + 60_000,
            RejectReason::Removed,
            &mut out,
        );
        assert_eq!(out, vec![b]);
        // Timeouts with fake time.
        out.clear();
        t.expired(t0 + Duration::from_millis(9_999), WALL, &mut out);
        assert!(out.is_empty());
        assert_eq!(t.next_timeout(), Some(t0 + Duration::from_secs(10)));
        t.expired(t0 + Duration::from_secs(10), WALL, &mut out);
        out.sort_unstable();
        let mut expect = vec![b, c];
        expect.sort_unstable();
        assert_eq!(out, expect);
        // Refusals are forgotten once the tickets they cover have expired.
        t.expired(t0, WALL + 60_001, &mut Vec::new());
        assert!(t.refusals.is_empty());
    }

    #[test]
    fn connection_ids_are_random_nonzero_and_unique() {
        let now = Instant::now();
        let mut t = table(300);
        let mut seen = std::collections::HashSet::new();
        for i in 0..=255u8 {
            let (c, _) = join(&mut t, now, 1, i, i);
            assert!(c != 0 && c != NO_CONN);
            assert!(seen.insert(c));
        }
    }
}
