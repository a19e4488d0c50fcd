//! The loopback datagram path: one publisher → 100 subscribers through a real media worker
//! (its own thread and socket), relay egress datagrams per second with `sendmmsg` on/off and
//! UDP GSO on/off; and a counting allocator showing heap allocations per forwarded packet,
//! both in the sans-IO worker core (exact, one thread) and around the running worker.
//!
//! `cargo bench -p conclave-relay --bench fanout` (`-- --quick` for a short run).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use conclave_relay::config::MediaConfig;
use conclave_relay::media::native::MediaPlane;
use conclave_relay::media::native::core::{CoreConfig, Ingress, WorkerCore};
use conclave_relay::media::native::table::TableConfig;
use conclave_relay::media::native::ticket::{TagKey, session_key};
use conclave_relay::media::router::RouterConfig;
use conclave_wire::media::{
    Body, Direction, Join, MAX_DATAGRAM, MAX_FRAGMENT, MediaHeader, Stream, encode_tagged, parse,
};
use conclave_wire::sframe::{MediaKid, SframeHeader};

#[path = "common/alloc.rs"]
mod alloc;
use alloc::allocations;

const SUBSCRIBERS: usize = 100;
/// Fragments per frame (all full-size: the GSO case).
const FRAGMENTS: u16 = 8;
const SECRET: [u8; 32] = [0x42; 32];
const MEETING: [u8; 32] = [7; 32];

fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A client's side: ticket, key, connection id, packet numbers.
struct Client {
    join: Join,
    key: TagKey,
    conn: u32,
    pn: u64,
}

impl Client {
    fn new(device: u16, worker: u8) -> Client {
        let mut device_id = [0u8; 16];
        device_id[..2].copy_from_slice(&device.to_be_bytes());
        let join = Join {
            meeting_id: MEETING,
            device_id,
            session_id: device_id,
            expires_ms: wall_ms() + 3_600_000,
            worker,
        };
        Client {
            key: TagKey::new(&session_key(&SECRET, &join)),
            join,
            conn: 0,
            pn: 0,
        }
    }

    fn seal(&mut self, body: &Body, buf: &mut [u8]) -> usize {
        let key = &self.key;
        let conn = if matches!(body, Body::Join(_)) {
            0
        } else {
            self.conn
        };
        let n = encode_tagged(buf, conn, self.pn, body, |a| key.tag(a)).expect("encode");
        self.pn += 1;
        n
    }

    /// One fragment of a data-stream frame (full size).
    fn fragment(&mut self, frame: u32, index: u16, buf: &mut [u8]) -> usize {
        let mut payload = [0x5au8; MAX_FRAGMENT];
        if index == 0 {
            let h = SframeHeader::new(MediaKid::new(1, 0).expect("kid").to_kid(), u64::from(frame));
            let _ = h.encode_into(&mut payload);
        }
        let header = MediaHeader {
            stream: Stream::Data,
            keyframe: false,
            codec: false,
            audio_level: 127,
            frame_number: frame,
            frag_index: index,
            frag_count: FRAGMENTS,
        };
        self.seal(
            &Body::Media {
                header,
                fragment: &payload,
            },
            buf,
        )
    }
}

/// Joins over a real socket: JOIN until JOIN_ACK.
fn join(socket: &UdpSocket, relay: SocketAddr, c: &mut Client) {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 2048];
    for _ in 0..50 {
        let n = c.seal(&Body::Join(c.join), &mut buf);
        socket.send_to(&buf[..n], relay).expect("send JOIN");
        while let Ok(n) = socket.recv(&mut buf) {
            if let Ok(d) = parse(&buf[..n], Direction::ToClient)
                && let Body::JoinAck(_) = d.body
            {
                c.conn = d.prefix.conn_id;
                return;
            }
        }
    }
    panic!("no JOIN_ACK");
}

/// Egress datagrams/s of one worker for one publisher → `SUBSCRIBERS`, measured over
/// `rounds` windows of `window`; also allocations per forwarded packet over the run.
fn loopback(sendmmsg: bool, gso: bool, rounds: usize, window: Duration) -> (Vec<f64>, f64, bool) {
    let config = MediaConfig {
        bind: "127.0.0.1:0".parse().expect("addr"),
        workers: Some(1),
        sendmmsg,
        gso,
        timeout_ms: 600_000,
        keepalive_ms: 1000,
        ..MediaConfig::default()
    };
    let plane = MediaPlane::start(&config, SECRET).expect("media plane");
    let relay = plane.local_addrs()[0];
    let mut subscribers = Vec::with_capacity(SUBSCRIBERS);
    for i in 0..SUBSCRIBERS {
        let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut c = Client::new(1000 + i as u16, 0);
        join(&s, relay, &mut c);
        subscribers.push(s); // never read: the kernel drops what overflows
    }
    let publisher = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut p = Client::new(1, 0);
    join(&publisher, relay, &mut p);
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; MAX_DATAGRAM];
            let mut frame = 0u32;
            let mut sent = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for i in 0..FRAGMENTS {
                    let n = p.fragment(frame, i, &mut buf);
                    let _ = publisher.send_to(&buf[..n], relay);
                    sent += 1;
                }
                frame = frame.wrapping_add(1);
                // Pace lightly so that the worker, not the receive queue, is the limit.
                if frame.is_multiple_of(4) {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            sent
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let stats = plane.stats();
    let mut rates = Vec::with_capacity(rounds);
    let a0 = allocations();
    let in0 = stats.totals().counters.datagrams_in;
    for _ in 0..rounds {
        let before = stats.totals().counters.datagrams_out;
        let t = Instant::now();
        std::thread::sleep(window);
        let after = stats.totals().counters.datagrams_out;
        rates.push((after - before) as f64 / t.elapsed().as_secs_f64());
    }
    let allocs = allocations() - a0;
    let forwarded = stats.totals().counters.datagrams_in - in0;
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    let gso_used = plane.gso();
    plane.shutdown();
    drop(subscribers);
    (rates, allocs as f64 / forwarded.max(1) as f64, gso_used)
}

/// Allocations per forwarded packet in the sans-IO core (one thread, exact).
fn core_allocations(packets: usize) -> (u64, usize) {
    let mut core = WorkerCore::new(
        CoreConfig {
            table: TableConfig {
                worker: 0,
                ticket_secret: SECRET,
                keepalive: Duration::from_secs(1),
                timeout: Duration::from_secs(600),
                max_sessions: 1000,
            },
            router: RouterConfig::default(),
            rtc_candidates: Vec::new(),
        },
        None,
    );
    let now = Instant::now();
    let wall = wall_ms();
    let mut buf = [0u8; MAX_DATAGRAM];
    let mut join = |c: &mut Client, port: u16, core: &mut WorkerCore| {
        let n = c.seal(&Body::Join(c.join), &mut buf);
        let from = SocketAddr::from(([127, 0, 0, 1], port));
        core.on_datagram(now, wall, from, &mut buf[..n]);
        while let Some(t) = core.poll_transmit() {
            if let Ok(d) = parse(t.bytes(), Direction::ToClient)
                && let Body::JoinAck(_) = d.body
            {
                c.conn = d.prefix.conn_id;
            }
        }
    };
    for i in 0..SUBSCRIBERS {
        let mut c = Client::new(1000 + i as u16, 0);
        join(&mut c, 20_000 + i as u16, &mut core);
    }
    let mut p = Client::new(1, 0);
    join(&mut p, 10_000, &mut core);
    let from = SocketAddr::from(([127, 0, 0, 1], 10_000));
    let mut run = |count: usize, core: &mut WorkerCore, p: &mut Client| {
        let mut frame = 0u32;
        let mut fanout = 0;
        for k in 0..count {
            let i = (k % usize::from(FRAGMENTS)) as u16;
            let n = p.fragment(frame, i, &mut buf);
            if let Ingress::Forward(_) = core.on_datagram(now, wall, from, &mut buf[..n]) {
                fanout = core.destinations().len();
            }
            if i + 1 == FRAGMENTS {
                frame += 1;
            }
        }
        fanout
    };
    run(1000, &mut core, &mut p); // warm-up: buffers reach their steady size
    let a0 = allocations();
    let fanout = run(packets, &mut core, &mut p);
    (allocations() - a0, fanout)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // `cargo test --benches` runs benches with `--bench`-less arguments; keep it short then.
    let testing = !std::env::args().any(|a| a == "--bench");
    let (rounds, window) = if quick || testing {
        (3, Duration::from_millis(300))
    } else {
        (7, Duration::from_secs(1))
    };
    let packets = if testing { 10_000 } else { 200_000 };
    let (allocs, fanout) = core_allocations(packets);
    println!(
        "core: {packets} MEDIA datagrams forwarded to {fanout} subscribers each: {allocs} heap allocations ({:.4} per packet)",
        allocs as f64 / packets as f64
    );
    println!(
        "loopback, 1 publisher -> {SUBSCRIBERS} subscribers, {FRAGMENTS} full-size fragments per frame, one worker; median of {rounds} x {:?}",
        window
    );
    for (sendmmsg, gso) in [(false, false), (true, false), (false, true), (true, true)] {
        let (mut rates, per_packet, gso_used) = loopback(sendmmsg, gso, rounds, window);
        let on = |b: bool| if b { "on " } else { "off" };
        println!(
            "  sendmmsg {} gso {}{}: egress {:>10.0} datagrams/s  ({:.3} allocations per forwarded packet in the process)",
            on(sendmmsg),
            on(gso),
            if gso && !gso_used {
                " (unsupported)"
            } else {
                ""
            },
            median(&mut rates),
            per_packet,
        );
    }
}
