//! The relay at its limit, measured exactly like the baseline: one publisher (real ticket,
//! real SFrame frames, tagged MEDIA datagrams) in a meeting with `fanout` subscribers that
//! joined through the control plane and the media plane, whose sockets are drained by the
//! baseline's receiver (`recvmmsg`, counting MEDIA_FWD datagrams, no decryption). Phase 1
//! offers more than the baseline's delivered rate and measures the relay's egress; phase 2
//! runs at half that rate and measures the relay-added latency (publisher send → subscriber
//! socket, same clock).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave_client::api::Session;
use conclave_client::api::meeting_runner::media_ticket;
use conclave_client::media::{MediaSession, MediaTicket, SessionConfig, Stream};
use conclave_client::meeting::{EpochKeys, MeetingCrypto, MeetingId, Roster, RosterEntry};
use conclave_client::sframe::CipherSuite;
use conclave_crypto::CryptoProvider;
use serde::Serialize;

use crate::baseline::{self, BaselineResult, BaselineSpec};
use crate::procstat;
use crate::stats::{Latency, LatencySummary};

/// MEDIA_FWD's type byte (PROTOCOL §11.2).
const MEDIA_FWD: u8 = 0x11;
/// Offset of the frame number in a MEDIA / MEDIA_FWD datagram: prefix (13) + stream,
/// flags, level (3).
const FRAME_NUMBER_AT: usize = 16;
/// Datagram overhead around a one-fragment frame: prefix, media header, ingress tag,
/// SFrame header (at most 9 bytes here) and AEAD tag.
const OVERHEAD: usize = 13 + 11 + 16 + 9 + 16;

#[derive(Debug, Clone, Serialize)]
pub struct SaturateSpec {
    pub fanout: usize,
    pub datagram_size: usize,
    #[serde(rename = "duration_s", serialize_with = "seconds")]
    pub duration: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// One phase at one offered rate.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// MEDIA datagrams the publisher sent per second.
    pub ingress_pps: f64,
    /// MEDIA_FWD datagrams the subscribers received per second.
    pub delivered_pps: f64,
    /// Relay CPU, cores (1.0 = one core busy).
    pub relay_cpu_cores: Option<f64>,
    /// Relay CPU per delivered datagram, µs.
    pub relay_cpu_us_per_datagram: Option<f64>,
    /// Fraction of the datagrams the relay should have sent that never arrived (at the
    /// maximum, the relay is offered more than it can forward: this is its overload drop).
    pub loss: f64,
    /// Publisher send → first subscriber's socket, over all datagrams of the phase.
    pub relay_latency: LatencySummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct SaturateResult {
    pub spec: SaturateSpec,
    pub baseline: BaselineResult,
    /// The relay offered more than the baseline delivered.
    pub max: Phase,
    /// The relay at half of `max.delivered_pps`.
    pub half: Phase,
    /// `max.delivered_pps / baseline.delivered_pps`.
    pub egress_ratio: f64,
}

struct Joined {
    socket: UdpSocket,
    session: MediaSession,
}

/// Joins the media plane on a blocking socket (JOIN retransmitted until JOIN_ACK).
fn join(ticket: MediaTicket) -> Result<Joined, String> {
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("udp socket: {e}"))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| format!("udp socket: {e}"))?;
    let mut session = MediaSession::new(Instant::now(), ticket, SessionConfig::default());
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    loop {
        while let Some(t) = session.poll_transmit() {
            socket
                .send_to(&t.contents, t.destination)
                .map_err(|e| format!("sending JOIN: {e}"))?;
        }
        if session.is_joined() {
            return Ok(Joined { socket, session });
        }
        if session.is_ended() || Instant::now() > deadline {
            return Err("the relay did not accept the media join".into());
        }
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            session.handle_datagram(Instant::now(), from, &buf[..n]);
        }
        session.handle_timeout(Instant::now());
    }
}

/// Registers `n` participants and has them join one meeting; the first is the publisher.
async fn tickets(
    url: &str,
    provider: Arc<dyn CryptoProvider>,
    n: usize,
    seed: u64,
) -> Result<(Vec<MediaTicket>, EpochKeys, [u8; 16]), String> {
    let mut sessions: Vec<Session> = Vec::with_capacity(n);
    for i in 0..n {
        sessions
            .push(crate::run::register(url, provider.clone(), format!("sat-{seed}-{i}")).await?);
    }
    let first = &sessions[0];
    let meeting = MeetingId::generate(provider.as_ref(), b"saturate")
        .map_err(|e| format!("meeting id: {e}"))?;
    let mid = meeting.to_hex();
    first
        .client()
        .create_meeting(&mid)
        .await
        .map_err(|e| format!("creating the meeting: {e}"))?;
    let device = *first.identity().device_id();
    let keys = EpochKeys::start(
        provider.as_ref(),
        meeting,
        Roster::new(vec![RosterEntry {
            index: 0,
            device_id: device,
            user_key: first.identity().user_public_key(),
        }])
        .map_err(|e| format!("roster: {e}"))?,
    )
    .map_err(|e| format!("meeting keys: {e}"))?;
    let mut out = Vec::with_capacity(n);
    for s in &sessions {
        let t = s
            .accept(&mid)
            .await
            .map_err(|e| format!("join ticket: {e}"))?;
        let address: SocketAddr = tokio::net::lookup_host(&t.media.address)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("media address {} does not resolve", t.media.address))?;
        out.push(
            media_ticket(&t, s.identity().device_id(), address)
                .map_err(|e| format!("join ticket: {e}"))?,
        );
    }
    Ok((out, keys, device))
}

/// Runs the publisher at `rate_pps` for `duration`; returns the datagrams sent and the send
/// time of each frame number.
fn publish(
    publisher: &mut Joined,
    crypto: &mut MeetingCrypto,
    plaintext: &[u8],
    rate_pps: f64,
    duration: Duration,
    sent_at: &Mutex<Vec<Instant>>,
) -> Result<u64, String> {
    let interval = Duration::from_secs_f64(1.0 / rate_pps.max(1.0));
    let started = Instant::now();
    let mut sent = 0u64;
    let mut times = Vec::with_capacity((rate_pps * duration.as_secs_f64()) as usize + 16);
    while started.elapsed() < duration {
        let due = started + interval.mul_f64(sent as f64);
        let now = Instant::now();
        if due > now {
            let wait = due - now;
            if wait > Duration::from_micros(200) {
                std::thread::sleep(wait - Duration::from_micros(100));
            }
            continue;
        }
        let sealed = crypto
            .seal(&[], plaintext)
            .map_err(|e| format!("sealing: {e}"))?;
        publisher
            .session
            .send_frame(Stream::Audio, false, 30, &sealed)
            .map_err(|e| format!("sending: {e:?}"))?;
        let at = Instant::now();
        while let Some(t) = publisher.session.poll_transmit() {
            // A full socket buffer loses the datagram, as any UDP sender would.
            let _ = publisher.socket.send_to(&t.contents, t.destination);
        }
        times.push(at);
        sent += 1;
    }
    let mut all = sent_at.lock().map_err(|_| "poisoned".to_string())?;
    all.extend(times);
    Ok(sent)
}

/// Runs both phases against the relay at `url` (started by this tool: `pid`).
pub fn run(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    pid: Option<u32>,
    provider: Arc<dyn CryptoProvider>,
    spec: &SaturateSpec,
) -> Result<SaturateResult, String> {
    if spec.fanout == 0 || spec.fanout > 1000 {
        return Err("--fanout must be 1..=1000".into());
    }
    if !(OVERHEAD + 1..=1200).contains(&spec.datagram_size) {
        return Err(format!("--size must be {}..=1200 bytes", OVERHEAD + 1));
    }
    let baseline = baseline::run(&BaselineSpec {
        senders: 1,
        fanout: spec.fanout,
        packet_size: spec.datagram_size,
        rate_pps: None,
        duration: spec.duration,
    })
    .map_err(|e| format!("baseline: {e}"))?;

    let (mut tickets, keys, device) =
        runtime.block_on(tickets(url, provider.clone(), spec.fanout + 1, 1))?;
    let mut publisher = join(tickets.remove(0))?;
    let mut subscribers = Vec::with_capacity(spec.fanout);
    for t in tickets {
        subscribers.push(join(t)?);
    }
    let mut crypto = MeetingCrypto::new(provider, CipherSuite::DEFAULT, keys, &device)
        .map_err(|e| format!("media keys: {e}"))?;
    let plaintext = vec![0x5a; spec.datagram_size - OVERHEAD];

    // The subscribers' sockets go to the baseline's receiver; their sessions stay silent
    // (the relay is started with a long session timeout for this).
    let stop = Arc::new(AtomicBool::new(false));
    let delivered = Arc::new(AtomicU64::new(0));
    let arrivals: Arc<Mutex<Vec<(u32, Instant)>>> = Arc::new(Mutex::new(Vec::new()));
    let sockets: Vec<UdpSocket> = subscribers
        .iter()
        .map(|s| s.socket.try_clone())
        .collect::<std::io::Result<_>>()
        .map_err(|e| format!("udp socket: {e}"))?;
    for s in &sockets {
        s.set_nonblocking(true)
            .map_err(|e| format!("udp socket: {e}"))?;
    }
    let drain = {
        let (stop, delivered, arrivals) = (stop.clone(), delivered.clone(), arrivals.clone());
        std::thread::spawn(move || {
            let mut local: Vec<(u32, Instant)> = Vec::with_capacity(1 << 20);
            let r = baseline::drain_all(sockets, &stop, |index, d| {
                if d.first() != Some(&MEDIA_FWD) {
                    return;
                }
                delivered.fetch_add(1, Ordering::Relaxed);
                if index == 0
                    && let Some(b) = d.get(FRAME_NUMBER_AT..FRAME_NUMBER_AT + 4)
                {
                    let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                    local.push((n, Instant::now()));
                }
            });
            if let Ok(mut a) = arrivals.lock() {
                *a = local;
            }
            r
        })
    };

    let sent_at = Mutex::new(Vec::new());
    let mut phase = |rate: f64| -> Result<(Phase, u64), String> {
        let before_delivered = delivered.load(Ordering::Relaxed);
        let first_frame = sent_at.lock().map_err(|_| "poisoned")?.len();
        let p0 = pid.and_then(procstat::sample);
        let t0 = Instant::now();
        let sent = publish(
            &mut publisher,
            &mut crypto,
            &plaintext,
            rate,
            spec.duration,
            &sent_at,
        )?;
        // Throughput while the publisher ran; then wait for the relay's queues to empty
        // (no delivery for 300 ms, at most 10 s) before counting what arrived in all.
        let elapsed = t0.elapsed().as_secs_f64();
        let during = delivered.load(Ordering::Relaxed) - before_delivered;
        let p1 = pid.and_then(procstat::sample);
        let quiet_deadline = Instant::now() + Duration::from_secs(10);
        let mut last = delivered.load(Ordering::Relaxed);
        let mut last_change = Instant::now();
        while Instant::now() < quiet_deadline && last_change.elapsed() < Duration::from_millis(300)
        {
            std::thread::sleep(Duration::from_millis(50));
            let now = delivered.load(Ordering::Relaxed);
            if now != last {
                last = now;
                last_change = Instant::now();
            }
        }
        let got = last - before_delivered;
        let cpu = match (&p0, &p1) {
            (Some(a), Some(b)) => Some(procstat::cpu_between(a, b)),
            _ => None,
        };
        let delivered_pps = during as f64 / elapsed;
        let expected = sent * spec.fanout as u64;
        Ok((
            Phase {
                ingress_pps: sent as f64 / elapsed,
                delivered_pps,
                relay_cpu_cores: cpu,
                relay_cpu_us_per_datagram: cpu
                    .filter(|_| delivered_pps > 0.0)
                    .map(|c| c * 1e6 / delivered_pps),
                loss: if expected == 0 {
                    0.0
                } else {
                    expected.saturating_sub(got) as f64 / expected as f64
                },
                relay_latency: LatencySummary::default(),
            },
            first_frame as u64,
        ))
    };
    // Offer 20 % more than the machine's limit at this fan-out.
    let offered = baseline.delivered_pps * 1.2 / spec.fanout as f64;
    let (mut max, max_first) = phase(offered)?;
    let half_rate = (max.delivered_pps * 0.5 / spec.fanout as f64).max(1.0);
    let (mut half, half_first) = phase(half_rate)?;
    stop.store(true, Ordering::Relaxed);
    drain
        .join()
        .map_err(|_| "the receiver thread panicked".to_string())?
        .map_err(|e| format!("receiving: {e}"))?;

    // Relay-added latency per phase, from the first subscriber's arrivals.
    let sent_at = sent_at.into_inner().map_err(|_| "poisoned")?;
    let arrivals = arrivals.lock().map_err(|_| "poisoned")?;
    let latency_between = |from: u64, to: u64| -> LatencySummary {
        let mut l = Latency::new();
        for &(n, at) in arrivals.iter() {
            let n = u64::from(n);
            if (from..to).contains(&n)
                && let Some(sent) = sent_at.get(n as usize)
            {
                l.record_us(at.saturating_duration_since(*sent).as_micros() as u64);
            }
        }
        l.summary()
    };
    max.relay_latency = latency_between(max_first, half_first);
    half.relay_latency = latency_between(half_first, sent_at.len() as u64);
    let egress_ratio = if baseline.delivered_pps > 0.0 {
        max.delivered_pps / baseline.delivered_pps
    } else {
        0.0
    };
    Ok(SaturateResult {
        spec: spec.clone(),
        baseline,
        max,
        half,
        egress_ratio,
    })
}
