//! The router's hot path: packet × subscriber forwarding decisions per second for one
//! publisher and 10, 100 or 500 subscribers (`Router::route_media`, with the router's timers
//! run as they fall due), and a counting global allocator that checks that a routed packet
//! allocates nothing in steady state.
//! `cargo bench -p conclave-relay --bench router`

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use std::time::{Duration, Instant};

use conclave_relay::media::router::{MeetingKey, ParticipantId, Router, RouterConfig};
use conclave_wire::media::{Layer, MAX_FRAGMENT, MediaHeader, SILENT_LEVEL, Stream};
use conclave_wire::sframe::{MediaKid, SframeHeader};
use criterion::{BenchmarkId, Criterion, Throughput};

#[path = "common/alloc.rs"]
mod alloc;
use alloc::allocations;

/// One publisher and `subscribers` subscribers in one meeting, every subscriber settled on
/// the publisher's L2; the publisher sends 3-fragment L2 frames and 20 ms audio frames.
struct Scene {
    router: Router<SocketAddr>,
    publisher: ParticipantId,
    start: Instant,
    now: Instant,
    frame_number: u32,
    frag0: Vec<u8>,
    frag: Vec<u8>,
    last: Vec<u8>,
    audio: Vec<u8>,
    out: Vec<SocketAddr>,
    /// Run the router's timers as they fall due.
    timers: bool,
}

fn addr(i: u32) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 + i), 40000))
}

fn header(
    stream: Stream,
    keyframe: bool,
    frame_number: u32,
    index: u16,
    count: u16,
) -> MediaHeader {
    MediaHeader {
        stream,
        keyframe,
        codec: false,
        audio_level: if stream == Stream::Audio {
            20
        } else {
            SILENT_LEVEL
        },
        frame_number,
        frag_index: index,
        frag_count: count,
    }
}

impl Scene {
    fn new(subscribers: u32) -> Self {
        let now = Instant::now();
        let mut router = Router::new(RouterConfig::default());
        let m = MeetingKey([7; 32]);
        let publisher = router.add_participant(now, m, addr(0));
        for i in 1..=subscribers {
            router.add_participant(now, m, addr(i));
        }
        let kid = MediaKid::new(3, 1).map(MediaKid::to_kid).unwrap_or(0);
        let mut frag0 = SframeHeader::new(kid, 1000).to_bytes();
        frag0.resize(MAX_FRAGMENT, 0xa5);
        let mut audio = SframeHeader::new(kid, 1001).to_bytes();
        audio.resize(80, 0x5a);
        let mut s = Scene {
            router,
            publisher,
            start: now,
            now,
            frame_number: 0,
            frag0,
            frag: vec![0x3c; MAX_FRAGMENT],
            last: vec![0x3c; 500],
            audio,
            out: Vec::with_capacity(subscribers as usize),
            timers: true,
        };
        // Every layer appears, then an L2 keyframe settles every subscriber on L2.
        for l in Layer::ALL {
            s.route(header(Stream::Video(l), false, 0, 0, 1), true);
        }
        s.route(header(Stream::Video(Layer::L2), true, 1, 0, 1), true);
        s.drain();
        s
    }

    fn route(&mut self, h: MediaHeader, first: bool) -> usize {
        let fragment = if h.stream == Stream::Audio {
            &self.audio
        } else if first {
            &self.frag0
        } else if h.is_last_fragment() {
            &self.last
        } else {
            &self.frag
        };
        let r = self
            .router
            .route_media(self.now, self.publisher, &h, fragment, &mut self.out);
        debug_assert!(r.is_ok());
        self.out.len()
    }

    fn drain(&mut self) {
        while self.router.poll_output().is_some() {}
    }

    /// One 3-fragment L2 delta frame (frag 0 carries the SFrame header); returns the
    /// forwarding decisions made (packets × subscribers).
    fn video_frame(&mut self) -> usize {
        self.frame_number = self.frame_number.wrapping_add(1);
        let f = self.frame_number;
        let mut n = 0;
        for i in 0..3 {
            n += self.route(header(Stream::Video(Layer::L2), false, f, i, 3), i == 0);
        }
        self.tick(Duration::from_micros(33_333 / 3));
        n
    }

    fn audio_frame(&mut self) -> usize {
        self.frame_number = self.frame_number.wrapping_add(1);
        let n = self.route(header(Stream::Audio, false, self.frame_number, 0, 1), true);
        self.tick(Duration::from_micros(20));
        n
    }

    /// Advances the simulated clock and runs the router's timers when due, as a transport
    /// would.
    fn tick(&mut self, d: Duration) {
        self.now += d;
        if self.timers && self.router.poll_timeout().is_some_and(|t| t <= self.now) {
            self.router.handle_timeout(self.now);
            self.drain();
        }
    }
}

/// Steady state: no allocation per routed packet (timers included).
fn allocation_check() {
    for subscribers in [10u32, 100, 500] {
        let mut s = Scene::new(subscribers);
        for _ in 0..3_000 {
            s.video_frame();
            s.audio_frame();
        }
        let before = allocations();
        let mut packets = 0u64;
        let mut decisions = 0u64;
        for _ in 0..30_000 {
            decisions += s.video_frame() as u64;
            decisions += s.audio_frame() as u64;
            packets += 4;
        }
        let allocations = allocations() - before;
        println!(
            "router allocation check, {subscribers} subscribers: {packets} packets routed \
             ({decisions} forwarding decisions, {:.1} s simulated): {allocations} allocations \
             ({:.6} per packet)",
            (s.now - s.start).as_secs_f64(),
            allocations as f64 / packets as f64
        );
        assert_eq!(
            decisions,
            packets * u64::from(subscribers),
            "every packet reached every subscriber"
        );
        assert_eq!(allocations, 0, "a routed packet allocated in steady state");
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("router/route_media");
    for subscribers in [10u32, 100, 500] {
        // Elements = packet × subscriber forwarding decisions. The clock advances but the
        // timers do not run here (their cost per second is the next group).
        g.throughput(Throughput::Elements(3 * u64::from(subscribers)));
        g.bench_with_input(
            BenchmarkId::new("video_frame_3_fragments", subscribers),
            &subscribers,
            |b, &n| {
                let mut s = Scene::new(n);
                s.timers = false;
                b.iter(|| black_box(s.video_frame()));
            },
        );
        g.throughput(Throughput::Elements(u64::from(subscribers)));
        g.bench_with_input(
            BenchmarkId::new("audio_packet", subscribers),
            &subscribers,
            |b, &n| {
                let mut s = Scene::new(n);
                s.timers = false;
                b.iter(|| black_box(s.audio_frame()));
            },
        );
    }
    g.finish();
    // The router's periodic work for one second of a meeting (20 speaker ticks, one
    // bitrate window with every layer choice re-evaluated), no packets.
    let mut g = c.benchmark_group("router/timers_per_second");
    for subscribers in [10u32, 100, 500] {
        g.bench_with_input(
            BenchmarkId::from_parameter(subscribers),
            &subscribers,
            |b, &n| {
                let mut s = Scene::new(n);
                b.iter(|| {
                    let end = s.now + Duration::from_secs(1);
                    while let Some(t) = s.router.poll_timeout().filter(|t| *t <= end) {
                        s.now = t;
                        s.router.handle_timeout(t);
                        s.drain();
                    }
                    s.now = end;
                    // Keep the publisher's layers alive.
                    s.video_frame();
                    s.audio_frame();
                });
            },
        );
    }
    g.finish();
}

fn main() {
    allocation_check();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
