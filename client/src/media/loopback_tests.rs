//! End-to-end tests of the media library without sockets: several [`MediaPipeline`]s
//! against the in-test [`FakeRelay`], in virtual time.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_crypto::{CryptoProvider, P256PublicKey, Secret};
use conclave_wire::media::{
    self, Body, CloseReason, Direction, Layer, MAX_DATAGRAM, MediaHeader, RejectReason, Stream,
};
use conclave_wire::sframe::MediaKid;

use crate::ClientError;
use crate::media::fake_relay::{FakeRelay, RELAY, ticket};
use crate::media::file::FileSource;
use crate::media::pipeline::{MediaEvent, MediaPipeline, PipelineConfig};
use crate::media::reassembly::{Reassembler, ReassemblyConfig};
use crate::media::session::SessionEnd;
use crate::media::source::{AudioConfig, AudioSource, Source, VideoConfig, VideoSource};
use crate::meeting::{EpochKeys, MeetingCrypto, MeetingId, Roster, RosterEntry};
use crate::sframe::CipherSuite;

const SECRET: [u8; 32] = [5; 32];
const MEETING: [u8; 32] = [7; 32];
const MARKER: &[u8] = b"PLAINTEXT-MARKER";

fn provider() -> Arc<dyn CryptoProvider> {
    Arc::new(conclave_crypto_software::SoftwareProvider::new())
}

pub(super) fn keys(epoch: u64, key: u8, devices: &[u8]) -> EpochKeys {
    let user_key = P256PublicKey::from_sec1(&[4; 65]).unwrap();
    let roster = Roster::new(
        devices
            .iter()
            .map(|&d| RosterEntry {
                index: u16::from(d),
                device_id: [d; 16],
                user_key,
            })
            .collect(),
    )
    .unwrap();
    EpochKeys::from_parts(
        MeetingId(MEETING),
        epoch,
        Secret::new(vec![key; 32]),
        roster,
    )
    .unwrap()
}

pub(super) fn crypto(epoch: u64, key: u8, me: u8, all: &[u8]) -> MeetingCrypto {
    MeetingCrypto::new(
        provider(),
        CipherSuite::DEFAULT,
        keys(epoch, key, all),
        &[me; 16],
    )
    .unwrap()
}

fn addr(device: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 10_000 + u16::from(device))
}

/// What a peer saw (frames are summarised, not kept).
#[derive(Debug, Default)]
struct Seen {
    /// (sender index, stream) → frames delivered.
    frames: HashMap<(u16, Stream), u64>,
    /// Largest L2 keyframe delivered.
    biggest_keyframe: usize,
    files: Vec<(u16, Vec<u8>)>,
    ends: Vec<SessionEnd>,
    switched: Vec<u64>,
    gone: Vec<u32>,
    joined: Option<u32>,
    epochs: HashMap<u16, u64>,
}

struct Peer {
    device: u8,
    p: MediaPipeline,
    seen: Seen,
}

type Tamper = Box<dyn FnMut(SocketAddr, &mut Vec<u8>) -> bool>;

struct Net {
    t0: Instant,
    now: Instant,
    relay: FakeRelay,
    peers: Vec<Peer>,
    /// Applied to every relay → client datagram; false drops it.
    tamper: Tamper,
    /// Every relay → client datagram delivered, when recording.
    recorded: Option<Vec<(SocketAddr, Vec<u8>)>>,
}

impl Net {
    fn new() -> Self {
        let t0 = Instant::now();
        Net {
            t0,
            now: t0,
            relay: FakeRelay::new(SECRET),
            peers: Vec::new(),
            tamper: Box::new(|_, _| true),
            recorded: None,
        }
    }

    fn add(&mut self, device: u8, roster: &[u8], sources: Vec<Source>) -> usize {
        let p = MediaPipeline::new(
            self.now,
            ticket(&SECRET, MEETING, device),
            crypto(0, 1, device, roster),
            sources,
            PipelineConfig {
                wall_clock_us: Some(1_700_000_000_000_000),
                ..Default::default()
            },
        );
        self.peers.push(Peer {
            device,
            p,
            seen: Seen::default(),
        });
        self.pump();
        self.peers.len() - 1
    }

    fn peer(&self, device: u8) -> &Peer {
        self.peers.iter().find(|p| p.device == device).unwrap()
    }

    fn peer_mut(&mut self, device: u8) -> &mut Peer {
        self.peers.iter_mut().find(|p| p.device == device).unwrap()
    }

    /// Delivers `bytes` from the relay to the peer at `to`.
    fn deliver(&mut self, to: SocketAddr, from: SocketAddr, bytes: &[u8]) {
        let now = self.now;
        if let Some(peer) = self.peers.iter_mut().find(|p| addr(p.device) == to) {
            peer.p.handle_datagram(now, from, bytes);
        }
    }

    /// Moves datagrams until nothing is in flight, and collects events.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..self.peers.len() {
                let from = addr(self.peers[i].device);
                let mut out = Vec::new();
                while let Some(t) = self.peers[i].p.poll_transmit() {
                    assert_eq!(t.destination, RELAY);
                    assert!(t.contents.len() <= MAX_DATAGRAM);
                    out.push(t.contents);
                }
                for d in out {
                    moved = true;
                    for (to, mut bytes) in self.relay.handle(from, &d) {
                        if (self.tamper)(to, &mut bytes) {
                            if let Some(r) = &mut self.recorded {
                                r.push((to, bytes.clone()));
                            }
                            self.deliver(to, RELAY, &bytes);
                        }
                    }
                }
            }
            for peer in &mut self.peers {
                while let Some(ev) = peer.p.poll_event() {
                    record(&mut peer.seen, ev);
                }
            }
            if !moved {
                break;
            }
        }
    }

    /// Runs every timer up to `t0 + until`.
    fn run_until(&mut self, until: Duration) {
        let end = self.t0 + until;
        loop {
            let next = self
                .peers
                .iter()
                .filter_map(|p| p.p.poll_timeout())
                .min()
                .unwrap_or(end)
                .max(self.now);
            if next > end {
                self.now = end;
                break;
            }
            self.now = next;
            let now = self.now;
            for peer in &mut self.peers {
                if peer.p.poll_timeout().is_some_and(|t| t <= now) {
                    peer.p.handle_timeout(now);
                }
            }
            self.pump();
            if next == end {
                break;
            }
        }
    }
}

fn record(seen: &mut Seen, ev: MediaEvent) {
    match ev {
        MediaEvent::Joined { source_id } => seen.joined = Some(source_id),
        MediaEvent::Frame(f) => {
            if f.stream != Stream::Data {
                // Short audio frames carry as much of the marker as fits.
                let n = f.data().len().min(MARKER.len());
                assert_eq!(&f.data()[..n], &MARKER[..n]);
            }
            *seen.frames.entry((f.sender_index, f.stream)).or_default() += 1;
            seen.epochs.insert(f.sender_index, f.epoch);
            if f.keyframe && f.stream == Stream::Video(Layer::L2) {
                seen.biggest_keyframe = seen.biggest_keyframe.max(f.data().len());
            }
        }
        MediaEvent::FileReceived {
            sender_index, file, ..
        } => seen.files.push((sender_index, file.bytes)),
        MediaEvent::Ended(e) => seen.ends.push(e),
        MediaEvent::EpochSwitched { epoch } => seen.switched.push(epoch),
        MediaEvent::SourceGone { source_id, .. } => seen.gone.push(source_id),
        _ => {}
    }
}

pub(super) fn audio(t: Instant, seed: u64) -> Source {
    Source::Audio(AudioSource::new(
        t,
        AudioConfig {
            seed,
            marker: MARKER.to_vec(),
            ..Default::default()
        },
    ))
}

fn video(t: Instant, seed: u64) -> Source {
    Source::Video(VideoSource::new(
        t,
        VideoConfig {
            seed,
            marker: MARKER.to_vec(),
            ..Default::default()
        },
    ))
}

fn file_bytes() -> Vec<u8> {
    (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn three_parties_exchange_audio_video_and_a_file() {
    let mut net = Net::new();
    let t = net.now;
    let all = [1, 2, 3];
    net.add(
        1,
        &all,
        vec![
            audio(t, 1),
            video(t, 2),
            Source::File(FileSource::new(t, file_bytes(), 50).unwrap()),
        ],
    );
    net.add(2, &all, vec![audio(t, 3), video(t, 4)]);
    net.add(3, &all, vec![audio(t, 5)]);
    net.run_until(Duration::from_millis(2_500));

    for me in all {
        let peer = net.peer(me);
        assert!(peer.seen.joined.is_some());
        let stats = peer.p.stats();
        for other in all.into_iter().filter(|&o| o != me) {
            let o = u16::from(other);
            let s = &stats.participants[&o];
            assert!(s.frames_decrypted > 50, "{me} from {other}: {s:?}");
            assert_eq!(s.frames_received, s.frames_decrypted, "{me} from {other}");
            assert_eq!(s.failures, 0);
            assert!(s.latency_p50_us.is_some());
            assert_eq!(s.last_epoch, Some(0));
            assert!(peer.seen.frames[&(o, Stream::Audio)] > 50);
        }
        assert!(
            stats.frames_dropped.is_empty(),
            "{:?}",
            stats.frames_dropped
        );
        assert!(
            stats.session.dropped.is_empty(),
            "{:?}",
            stats.session.dropped
        );
        assert!(stats.participants[&u16::from(me)].frames_sent > 100);
        assert!(stats.session.rtt.is_some());
    }
    // Video keyframes of ~37 KB crossed in 33 fragments, for each receiver.
    for me in [2, 3] {
        assert!(net.peer(me).seen.biggest_keyframe > 30_000);
        assert_eq!(net.peer(me).seen.files, vec![(1, file_bytes())]);
    }
    assert!(net.peer(1).seen.frames[&(2, Stream::Video(Layer::L0))] > 60);
    assert!(net.relay.reports > 0);
}

#[test]
fn tampered_and_forged_datagrams_are_dropped_and_counted() {
    let mut net = Net::new();
    let t = net.now;
    net.add(1, &[1, 2], vec![audio(t, 1), video(t, 2)]);
    net.add(2, &[1, 2], vec![]);
    // Every 7th MEDIA_FWD to B has a bit flipped in its last byte (the SFrame tag of the
    // frame's last fragment, or ciphertext).
    let mut n = 0u32;
    net.tamper = Box::new(move |to, bytes| {
        if to == addr(2) && bytes[0] == 0x11 {
            n += 1;
            if n.is_multiple_of(7) {
                let last = bytes.len() - 1;
                bytes[last] ^= 0x40;
            }
        }
        true
    });
    net.recorded = Some(Vec::new());
    net.run_until(Duration::from_secs(2));
    let stats = net.peer(2).p.stats();
    let a = &stats.participants[&1];
    assert!(a.failures > 0 && a.frames_decrypted > 0);
    assert_eq!(a.failures, a.failures_by_reason["auth_failed"]);
    assert_eq!(a.frames_received, a.frames_decrypted + a.failures);
    let delivered: u64 = net.peer(2).seen.frames.values().sum();
    assert_eq!(delivered, a.frames_decrypted, "no failed frame delivered");

    // Forged datagrams straight at B.
    let recorded = net.recorded.take().unwrap();
    let pong = recorded
        .iter()
        .find(|(to, d)| *to == addr(2) && d[0] == 0x31)
        .map(|(_, d)| d.clone())
        .expect("B got a PONG");
    let before = net.peer(2).p.stats();
    let b_src = net.peer(2).p.session().source_id().unwrap();
    let b_conn = net.relay.by_source(b_src).unwrap().conn_id;
    let mut forged: Vec<(SocketAddr, Vec<u8>, &str)> = vec![
        (RELAY, pong.clone(), "replay"),
        (RELAY, pong[..pong.len() - 1].to_vec(), "truncated"),
        (RELAY, vec![0xee; 40], "unknown_type"),
        (RELAY, vec![0x11; MAX_DATAGRAM + 1], "too_long"),
        (
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9001),
            pong.clone(),
            "foreign_address",
        ),
    ];
    let fresh = |pn: u64, conn: u32, tag_key: &crate::media::tag::TagKey| {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let n = media::encode_tagged(
            &mut buf,
            conn,
            pn,
            &Body::ActiveSpeaker { source_id: 1 },
            |a| tag_key.tag(a),
        )
        .unwrap();
        buf.truncate(n);
        buf
    };
    let wrong_key = crate::media::tag::TagKey::new(&[9; 32]);
    forged.push((RELAY, fresh(1 << 40, b_conn, &wrong_key), "bad_tag"));
    let right_key = net.relay.by_source(b_src).unwrap().key.clone();
    forged.push((
        RELAY,
        fresh(1 << 41, b_conn + 1, &right_key),
        "wrong_conn_id",
    ));
    // A client → relay type.
    let mut ping = fresh(1 << 42, b_conn, &right_key);
    ping[0] = 0x30;
    forged.push((RELAY, ping, "wrong_direction"));
    // MEDIA_FWD claiming to be B's own stream.
    let header = MediaHeader {
        stream: Stream::Audio,
        keyframe: false,
        codec: false,
        audio_level: 30,
        frame_number: 1,
        frag_index: 0,
        frag_count: 1,
    };
    let forged_frames = std::cell::Cell::new(1_000_000u32);
    let fwd = |source: u32, fragment: &[u8]| {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        // A frame number of its own for every forged frame.
        let header = MediaHeader {
            frame_number: forged_frames.replace(forged_frames.get() + 1),
            ..header
        };
        let n = media::encode(&mut buf, source, 5, &Body::MediaFwd { header, fragment }).unwrap();
        buf.truncate(n);
        buf
    };
    forged.push((
        RELAY,
        fwd(b_src, b"\x01\x00xxxxxxxxxxxxxxxxxxxx"),
        "own_source",
    ));
    for (from, d, _) in &forged {
        net.deliver(addr(2), *from, d);
    }
    let after = net.peer(2).p.stats();
    for (_, _, reason) in &forged {
        let n = |s: &crate::media::stats::MediaStats| {
            s.session.dropped.get(reason).copied().unwrap_or(0)
        };
        assert!(
            n(&after) > n(&before),
            "{reason} not counted: {:?}",
            after.session.dropped
        );
    }
    // Forged MEDIA_FWD (no tag exists for it) reaches SFrame and fails there: an unknown
    // KID (A's index in another epoch), garbage, a frame of the right KID with a bad tag.
    let before = after;
    let kid = MediaKid {
        epoch: 9,
        sender_index: 1,
    }
    .to_kid();
    let mut sframe = conclave_wire::sframe::SframeHeader::new(kid, 0).to_bytes();
    sframe.extend_from_slice(&[0u8; 40]);
    net.deliver(addr(2), RELAY, &fwd(1, &sframe));
    net.deliver(addr(2), RELAY, &fwd(77, &[0xff; 3]));
    let mut sframe = conclave_wire::sframe::SframeHeader::new(1, 5_000).to_bytes();
    sframe.extend_from_slice(&[0u8; 41]);
    net.deliver(addr(2), RELAY, &fwd(1, &sframe));
    let after = net.peer(2).p.stats();
    let d = |r: &str| {
        after.frames_dropped.get(r).copied().unwrap_or(0)
            - before.frames_dropped.get(r).copied().unwrap_or(0)
    };
    assert_eq!(
        (d("unknown_kid"), d("bad_sframe_header"), d("auth_failed")),
        (1, 1, 1)
    );
    net.pump();
    let delivered: u64 = net.peer(2).seen.frames.values().sum();
    assert_eq!(delivered, after.participants[&1].frames_decrypted);
    // B is still fine: more media arrives and decrypts.
    net.tamper = Box::new(|_, _| true);
    let decrypted = after.participants[&1].frames_decrypted;
    net.run_until(Duration::from_secs(3));
    assert!(net.peer(2).p.stats().participants[&1].frames_decrypted > decrypted + 40);
}

#[test]
fn staged_rekey_cuts_out_the_leaver() {
    let mut net = Net::new();
    let t = net.now;
    net.add(1, &[1, 2, 3], vec![audio(t, 1), video(t, 2)]);
    net.add(2, &[1, 2, 3], vec![audio(t, 3)]);
    net.add(3, &[1, 2, 3], vec![audio(t, 5)]);
    net.run_until(Duration::from_secs(1));
    // C leaves; the relay tells the others.
    let now = net.now;
    net.peer_mut(3).p.leave(now);
    net.pump();
    assert_eq!(
        net.peer(3).seen.ends,
        vec![SessionEnd::Closed(CloseReason::Left)]
    );
    assert_eq!(net.peer(1).seen.gone.len(), 1);
    // C's old keys, kept by an attacker.
    let mut c_old = crypto(0, 1, 3, &[1, 2, 3]);

    // A and B install epoch 1 at slightly different times; each sends in epoch 0 for 250 ms.
    let now = net.now;
    net.peer_mut(1)
        .p
        .install_epoch(now, keys(1, 2, &[1, 2]), Duration::from_millis(250))
        .unwrap();
    net.run_until(Duration::from_millis(1_100));
    let now = net.now;
    net.peer_mut(2)
        .p
        .install_epoch(now, keys(1, 2, &[1, 2]), Duration::from_millis(250))
        .unwrap();
    net.recorded = Some(Vec::new());
    net.run_until(Duration::from_secs(2));
    for (me, other) in [(1u8, 2u16), (2, 1)] {
        let s = net.peer(me).p.stats();
        assert_eq!((s.sending_epoch, s.pending_epoch), (1, None));
        assert_eq!(net.peer(me).seen.switched, vec![1]);
        assert_eq!(s.participants[&other].last_epoch, Some(1), "{me}");
        assert_eq!(
            s.participants[&other].failures, 0,
            "{me}: {:?}",
            s.participants[&other]
        );
        assert_eq!(net.peer(me).seen.epochs[&other], 1);
    }
    // C, fed copies of every datagram, opens nothing of epoch 1.
    let mut r = Reassembler::new(ReassemblyConfig::default());
    let (mut new_epoch, mut opened_new) = (0, 0);
    for (_, d) in net.recorded.take().unwrap() {
        let Ok(parsed) = media::parse(&d, Direction::ToClient) else {
            continue;
        };
        let Body::MediaFwd { header, fragment } = parsed.body else {
            continue;
        };
        let Some(mut frame) = r.push(net.now, parsed.prefix.conn_id, &header, fragment) else {
            continue;
        };
        let (h, _) = conclave_wire::sframe::SframeHeader::parse(&frame.data).unwrap();
        if MediaKid::from_kid(h.kid).epoch == 1 {
            new_epoch += 1;
            match c_old.open_in_place(b"", &mut frame.data) {
                Ok(_) => opened_new += 1,
                Err(e) => assert!(matches!(e, ClientError::UnknownKid(_))),
            }
        }
    }
    assert!(new_epoch > 50);
    assert_eq!(opened_new, 0);
    // The old epoch's receive keys go 5 s after the switch.
    let old_kid = MediaKid {
        epoch: 0,
        sender_index: 2,
    }
    .to_kid();
    assert!(net.peer(1).p.crypto().can_open(old_kid));
    net.run_until(Duration::from_millis(1_000 + 250 + 5_000 + 100));
    assert!(!net.peer(1).p.crypto().can_open(old_kid));
}

#[test]
fn join_is_retransmitted_and_rejections_end_the_session() {
    let mut net = Net::new();
    net.relay.drop_joins = 2;
    net.add(1, &[1, 2], vec![]);
    net.run_until(Duration::from_millis(400));
    assert!(net.peer(1).seen.joined.is_none());
    net.run_until(Duration::from_millis(600));
    assert_eq!(
        net.peer(1).seen.joined,
        Some(1),
        "joined by the third JOIN at 500 ms"
    );
    assert_eq!(net.peer(1).p.session().stats().datagrams_sent, 3);

    let mut net = Net::new();
    net.relay.reject = Some(RejectReason::Removed);
    net.add(1, &[1, 2], vec![]);
    assert_eq!(
        net.peer(1).seen.ends,
        vec![SessionEnd::Rejected(RejectReason::Removed)]
    );
    assert_eq!(net.peer(1).p.poll_timeout(), None);

    // A relay that never answers: the join gives up after 10 s.
    let mut net = Net::new();
    net.relay.drop_joins = u32::MAX;
    net.add(1, &[1, 2], vec![audio(net.now, 1)]);
    net.run_until(Duration::from_secs(11));
    assert_eq!(net.peer(1).seen.ends, vec![SessionEnd::JoinTimedOut]);
    let s = net.peer(1).p.session().stats();
    assert_eq!(s.datagrams_sent, 40, "one JOIN every 250 ms for 10 s");
    assert!(net.peer(1).p.stats().frames_not_sent["not_joined"] > 0);
}

#[test]
fn a_silent_relay_times_the_session_out() {
    let mut net = Net::new();
    net.add(1, &[1, 2], vec![]);
    assert!(net.peer(1).seen.joined.is_some());
    // From now on the relay drops everything.
    net.tamper = Box::new(|_, _| false);
    net.run_until(Duration::from_secs(11));
    assert_eq!(net.peer(1).seen.ends, vec![SessionEnd::RelayTimedOut]);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
    /// Arbitrary bytes and mutations of real datagrams, thrown at a joined client: nothing
    /// panics, nothing undecryptable is delivered, and the client keeps receiving.
    #[test]
    fn hostile_datagrams_never_panic_nor_deliver(
        noise in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1300), 0..20),
        flips in proptest::collection::vec((proptest::prelude::any::<usize>(), 1u8..=255), 0..40),
    ) {
        let mut net = Net::new();
        let t = net.now;
        net.add(1, &[1, 2], vec![audio(t, 1), video(t, 2)]);
        net.add(2, &[1, 2], vec![]);
        net.recorded = Some(Vec::new());
        net.run_until(Duration::from_millis(300));
        let recorded = net.recorded.take().unwrap_or_default();
        for d in &noise {
            net.deliver(addr(2), RELAY, d);
        }
        for (i, (pos, flip)) in flips.iter().enumerate() {
            if recorded.is_empty() {
                break;
            }
            let (_, d) = &recorded[i % recorded.len()];
            let mut d = d.clone();
            let at = pos % d.len();
            d[at] ^= flip;
            net.deliver(addr(2), RELAY, &d);
        }
        net.pump();
        let before = net.peer(2).p.stats().participants[&1].frames_decrypted;
        net.run_until(Duration::from_millis(800));
        let s = net.peer(2).p.stats();
        let delivered: u64 = net.peer(2).seen.frames.values().sum();
        proptest::prop_assert_eq!(delivered, s.participants[&1].frames_decrypted);
        proptest::prop_assert!(s.participants[&1].frames_decrypted > before + 20);
    }
}

/// Frames sent in epoch 1 before B has its keys: held, then opened when B installs it.
#[test]
fn new_epoch_frames_wait_for_their_keys() {
    let mut net = Net::new();
    let t = net.now;
    net.add(1, &[1, 2, 3], vec![audio(t, 1)]);
    net.add(2, &[1, 2, 3], vec![]);
    net.run_until(Duration::from_millis(500));
    // A switches to epoch 1 at once; B's rekey container is 400 ms late.
    let now = net.now;
    net.peer_mut(1)
        .p
        .install_epoch(now, keys(1, 2, &[1, 2]), Duration::ZERO)
        .unwrap();
    net.run_until(Duration::from_millis(900));
    let held = net.peer(2).p.held_frames();
    assert!(held >= 15, "{held} frames held");
    let s = net.peer(2).p.stats();
    assert_eq!(s.participants[&1].failures, 0, "{:?}", s.frames_dropped);
    assert_eq!(
        net.peer(2).seen.epochs[&1],
        0,
        "nothing of epoch 1 delivered yet"
    );
    let before = net.peer(2).seen.frames[&(1, Stream::Audio)];
    let now = net.now;
    net.peer_mut(2)
        .p
        .install_epoch(now, keys(1, 2, &[1, 2]), Duration::from_millis(250))
        .unwrap();
    net.pump();
    assert_eq!(net.peer(2).p.held_frames(), 0);
    assert_eq!(
        net.peer(2).seen.frames[&(1, Stream::Audio)],
        before + held as u64
    );
    assert_eq!(net.peer(2).seen.epochs[&1], 1);
    net.run_until(Duration::from_secs(2));
    let s = net.peer(2).p.stats();
    let a = &s.participants[&1];
    assert_eq!(a.failures, 0, "{:?}", s.frames_dropped);
    assert_eq!(a.frames_received, a.frames_decrypted);
    // Their latency counts from their send time: the 400 ms they waited show.
    assert!(a.latency_p99_us >= Some(300_000), "{:?}", a.latency_p99_us);
}

/// The hold is bounded: per sender (the newest are dropped), in time (expired frames are
/// dropped and counted), in epochs ahead; and what is held opens only if it authenticates.
#[test]
fn held_frames_are_bounded_and_must_authenticate() {
    let mut net = Net::new();
    let t = net.now;
    // Audio and three video layers: about 140 frames a second, above the per-sender bound.
    net.add(1, &[1, 2, 3], vec![audio(t, 1), video(t, 2)]);
    net.add(2, &[1, 2, 3], vec![]);
    net.run_until(Duration::from_millis(500));
    let now = net.now;
    net.peer_mut(1)
        .p
        .install_epoch(now, keys(1, 2, &[1, 2]), Duration::ZERO)
        .unwrap();
    // Every 5th MEDIA_FWD to B is corrupted.
    let mut n = 0u32;
    net.tamper = Box::new(move |to, bytes| {
        if to == addr(2) && bytes[0] == 0x11 {
            n += 1;
            if n.is_multiple_of(5) {
                let last = bytes.len() - 1;
                bytes[last] ^= 0x40;
            }
        }
        true
    });
    let mut max_held = 0;
    for ms in (520..=2_000).step_by(20) {
        net.run_until(Duration::from_millis(ms));
        max_held = max_held.max(net.peer(2).p.held_frames());
    }
    assert!(max_held <= crate::media::pipeline::HOLD_MAX_PER_SENDER);
    let s = net.peer(2).p.stats();
    let dropped = |r: &str| s.frames_dropped.get(r).copied().unwrap_or(0);
    assert!(dropped("key_pending_full") > 0, "{:?}", s.frames_dropped);
    assert!(dropped("key_pending_expired") > 0, "{:?}", s.frames_dropped);
    assert_eq!(dropped("unknown_kid"), 0);
    // Nothing of epoch 1 was delivered; nothing held is older than a second.
    assert_eq!(net.peer(2).seen.epochs[&1], 0);
    // A frame two epochs past the hold window is dropped at once.
    let held = net.peer(2).p.held_frames();
    let f = crypto(5, 9, 1, &[1, 2]).seal(b"", &[0; 40]).unwrap();
    let fwd = {
        let header = MediaHeader {
            stream: Stream::Audio,
            keyframe: false,
            codec: false,
            audio_level: 30,
            frame_number: 3_000_000,
            frag_index: 0,
            frag_count: 1,
        };
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let n = media::encode(
            &mut buf,
            1,
            5,
            &Body::MediaFwd {
                header,
                fragment: &f,
            },
        )
        .unwrap();
        buf.truncate(n);
        buf
    };
    net.deliver(addr(2), RELAY, &fwd);
    assert_eq!(net.peer(2).p.held_frames(), held);
    assert_eq!(net.peer(2).p.stats().frames_dropped["unknown_kid"], 1);

    // B gets the keys: the held frames open, the corrupted ones fail authentication.
    let now = net.now;
    net.peer_mut(2)
        .p
        .install_epoch(now, keys(1, 2, &[1, 2]), Duration::from_millis(250))
        .unwrap();
    net.pump();
    assert_eq!(net.peer(2).p.held_frames(), 0);
    assert_eq!(net.peer(2).seen.epochs[&1], 1);
    let s = net.peer(2).p.stats();
    let a = &s.participants[&1];
    assert!(
        a.failures_by_reason
            .get("auth_failed")
            .copied()
            .unwrap_or(0)
            > 0
    );
    let delivered: u64 = net.peer(2).seen.frames.values().sum();
    assert_eq!(delivered, a.frames_decrypted, "no failed frame delivered");
}

/// Frames held under a future epoch that are not what they claim (a forger's key for the
/// right KID) fail when the real keys arrive, and are never delivered.
#[test]
fn forged_future_epoch_frames_are_never_delivered() {
    let mut net = Net::new();
    net.add(1, &[1, 2, 3], vec![]);
    net.add(2, &[1, 2, 3], vec![]);
    net.run_until(Duration::from_millis(200));
    // Someone with a wrong epoch-1 key for A's index.
    let mut forger = crypto(1, 66, 1, &[1, 2]);
    for i in 0..10u32 {
        let f = forger.seal(b"", &[0; 40]).unwrap();
        let header = MediaHeader {
            stream: Stream::Audio,
            keyframe: false,
            codec: false,
            audio_level: 30,
            frame_number: 4_000_000 + i,
            frag_index: 0,
            frag_count: 1,
        };
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let n = media::encode(
            &mut buf,
            1,
            5,
            &Body::MediaFwd {
                header,
                fragment: &f,
            },
        )
        .unwrap();
        buf.truncate(n);
        net.deliver(addr(2), RELAY, &buf);
    }
    assert_eq!(net.peer(2).p.held_frames(), 10);
    let now = net.now;
    net.peer_mut(2)
        .p
        .install_epoch(now, keys(1, 2, &[1, 2]), Duration::from_millis(250))
        .unwrap();
    net.pump();
    let s = net.peer(2).p.stats();
    assert_eq!(s.frames_dropped["auth_failed"], 10);
    assert_eq!(net.peer(2).seen.frames.values().sum::<u64>(), 0);
}

/// Many claimed senders of a future epoch: the total bound holds, the excess is counted.
#[test]
fn the_hold_is_bounded_in_total() {
    use crate::media::pipeline::{HOLD_MAX_FRAMES, HOLD_MAX_PER_SENDER};
    let mut net = Net::new();
    let all: Vec<u8> = (1..=20).collect();
    net.add(2, &all, vec![]);
    net.run_until(Duration::from_millis(100));
    let per_sender = HOLD_MAX_PER_SENDER + 2;
    let mut sent = 0;
    for i in (1..=20u8).filter(|&i| i != 2) {
        let mut forger = crypto(1, 66, i, &all);
        for n in 0..per_sender {
            let f = forger.seal(b"", &[0; 40]).unwrap();
            let header = MediaHeader {
                stream: Stream::Audio,
                keyframe: false,
                codec: false,
                audio_level: 30,
                frame_number: 5_000_000 + n as u32,
                frag_index: 0,
                frag_count: 1,
            };
            let mut buf = vec![0u8; MAX_DATAGRAM];
            let body = Body::MediaFwd {
                header,
                fragment: &f,
            };
            let len = media::encode(&mut buf, 100 + u32::from(i), 5, &body).unwrap();
            buf.truncate(len);
            net.deliver(addr(2), RELAY, &buf);
            sent += 1;
        }
    }
    assert!(sent > HOLD_MAX_FRAMES);
    assert_eq!(net.peer(2).p.held_frames(), HOLD_MAX_FRAMES);
    let s = net.peer(2).p.stats();
    assert_eq!(
        s.frames_dropped["key_pending_full"],
        (sent - HOLD_MAX_FRAMES) as u64
    );
    // Their time runs out: all dropped and counted, nothing delivered.
    net.run_until(Duration::from_millis(1_200));
    assert_eq!(net.peer(2).p.held_frames(), 0);
    let s = net.peer(2).p.stats();
    assert_eq!(
        s.frames_dropped["key_pending_expired"],
        HOLD_MAX_FRAMES as u64
    );
    assert_eq!(net.peer(2).seen.frames.values().sum::<u64>(), 0);
}

/// A participant who joins in a later epoch hears the others' frames of the earlier epoch
/// until they switch: those are dropped as `before_join`, never as anyone's decrypt failure,
/// and the new epoch's frames decrypt.
#[test]
fn a_late_joiner_drops_earlier_epochs_without_failures() {
    let mut net = Net::new();
    let t = net.now;
    net.add(1, &[1, 2], vec![audio(t, 1)]);
    net.add(2, &[1, 2], vec![]);
    net.run_until(Duration::from_millis(300));
    // C joins with the keys of epoch 1 (roster 1, 2, 3) while A still sends in epoch 0.
    let p = MediaPipeline::new(
        net.now,
        ticket(&SECRET, MEETING, 3),
        crypto(1, 2, 3, &[1, 2, 3]),
        vec![],
        PipelineConfig {
            wall_clock_us: Some(1_700_000_000_000_000),
            ..Default::default()
        },
    );
    net.peers.push(Peer {
        device: 3,
        p,
        seen: Seen::default(),
    });
    net.pump();
    net.run_until(Duration::from_millis(600));
    let s = net.peer(3).p.stats();
    let before_join = s.frames_dropped.get("before_join").copied().unwrap_or(0);
    assert!(before_join >= 5, "{:?}", s.frames_dropped);
    let failures: u64 = s.participants.values().map(|p| p.failures).sum();
    assert_eq!(failures, 0, "{:?}", s.frames_dropped);
    // A switches to epoch 1: C decrypts A from then on.
    let now = net.now;
    net.peer_mut(1)
        .p
        .install_epoch(now, keys(1, 2, &[1, 2, 3]), Duration::ZERO)
        .unwrap();
    net.run_until(Duration::from_millis(1_000));
    let heard = net
        .peer(3)
        .seen
        .frames
        .get(&(1, Stream::Audio))
        .copied()
        .unwrap_or(0);
    assert!(heard >= 5, "{heard} frames of A decrypted");
    let s = net.peer(3).p.stats();
    let failures: u64 = s.participants.values().map(|p| p.failures).sum();
    assert_eq!(failures, 0, "{:?}", s.frames_dropped);
}
