//! The machine's raw limit: a minimal UDP fan-out on loopback with the relay's packet sizes
//! and fan-out pattern — each sender thread sends every packet to all of its subscribers
//! with `sendmmsg` (identical bytes, one `mmsghdr` per destination), one thread drains every
//! subscriber socket with `recvmmsg` — and nothing else: no parsing, no authentication, no
//! routing. Relay figures are reported as ratios to this, measured in the same run.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::net::UdpSocket as MioSocket;
use mio::{Events, Interest, Poll, Token};
use serde::Serialize;

/// Most destinations per `sendmmsg` call (the kernel's UIO_MAXIOV).
const MAX_BATCH: usize = 1024;

/// What the baseline sends.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineSpec {
    /// Sender threads (the relay's busy workers), each with its own socket and subscribers.
    pub senders: usize,
    /// Subscribers per sender: every packet goes to each of them.
    pub fanout: usize,
    /// Datagram size in bytes.
    pub packet_size: usize,
    /// Ingress packets per second per sender; `None` sends as fast as possible.
    pub rate_pps: Option<f64>,
    #[serde(rename = "duration_s", serialize_with = "seconds")]
    pub duration: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// What the baseline measured.
#[derive(Debug, Clone, Serialize)]
pub struct BaselineResult {
    pub spec: BaselineSpec,
    /// Datagrams the senders handed to the kernel, per second.
    pub sent_pps: f64,
    /// Datagrams the subscribers received, per second: the figure relays are compared to.
    pub delivered_pps: f64,
    pub delivered_bits_per_s: f64,
    /// Fraction of sent datagrams that were not received.
    pub loss: f64,
}

/// Runs the baseline on 127.0.0.1 for `spec.duration` and stops by itself.
pub fn run(spec: &BaselineSpec) -> io::Result<BaselineResult> {
    if spec.senders == 0 || spec.fanout == 0 || !(16..=65_507).contains(&spec.packet_size) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "baseline needs senders ≥ 1, fanout ≥ 1 and packet sizes of 16..=65507 bytes",
        ));
    }
    let mut receivers = Vec::with_capacity(spec.senders * spec.fanout);
    for _ in 0..spec.senders * spec.fanout {
        let s = UdpSocket::bind("127.0.0.1:0")?;
        s.set_nonblocking(true)?;
        receivers.push(s);
    }
    let addrs: Vec<SocketAddrV4> = receivers
        .iter()
        .map(|s| match s.local_addr() {
            Ok(SocketAddr::V4(a)) => Ok(a),
            Ok(other) => Err(io::Error::other(format!("unexpected address {other}"))),
            Err(e) => Err(e),
        })
        .collect::<io::Result<_>>()?;

    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicU64::new(0));
    let drain = {
        let (stop, received) = (stop.clone(), received.clone());
        std::thread::Builder::new()
            .name("baseline-recv".into())
            .spawn(move || {
                drain_all(receivers, &stop, |_, _| {
                    received.fetch_add(1, Ordering::Relaxed);
                })
            })?
    };

    let started = Instant::now();
    let mut senders = Vec::new();
    for chunk in addrs.chunks(spec.fanout) {
        let (dests, spec) = (chunk.to_vec(), spec.clone());
        let stop = stop.clone();
        senders.push(
            std::thread::Builder::new()
                .name("baseline-send".into())
                .spawn(move || fan_out(&dests, &spec, &stop))?,
        );
    }
    std::thread::sleep(spec.duration);
    stop.store(true, Ordering::Relaxed);
    let mut sent = 0u64;
    for s in senders {
        sent += s
            .join()
            .map_err(|_| io::Error::other("sender panicked"))??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // Let in-flight datagrams land before counting.
    std::thread::sleep(Duration::from_millis(100));
    drain
        .join()
        .map_err(|_| io::Error::other("receiver panicked"))??;
    let delivered = received.load(Ordering::Relaxed);
    Ok(BaselineResult {
        spec: spec.clone(),
        sent_pps: sent as f64 / elapsed,
        delivered_pps: delivered as f64 / elapsed,
        delivered_bits_per_s: delivered as f64 * spec.packet_size as f64 * 8.0 / elapsed,
        loss: if sent == 0 {
            0.0
        } else {
            sent.saturating_sub(delivered) as f64 / sent as f64
        },
    })
}

/// Sends one packet to every destination per ingress packet, in `sendmmsg` batches.
fn fan_out(dests: &[SocketAddrV4], spec: &BaselineSpec, stop: &AtomicBool) -> io::Result<u64> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    let mut packet = vec![0u8; spec.packet_size];
    let names: Vec<libc::sockaddr_in> = dests.iter().map(sockaddr_in).collect();
    let mut iov = libc::iovec {
        iov_base: packet.as_mut_ptr().cast(),
        iov_len: packet.len(),
    };
    let batch = dests.len().min(MAX_BATCH);
    // SAFETY: mmsghdr is plain data; all-zero is a valid (empty) value.
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; batch];
    let interval = spec.rate_pps.map(|r| Duration::from_secs_f64(1.0 / r));
    let started = Instant::now();
    let mut sent = 0u64;
    let mut ingress = 0u64;
    while !stop.load(Ordering::Relaxed) {
        if let Some(interval) = interval {
            let due = started + interval.mul_f64(ingress as f64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep((due - now).min(Duration::from_millis(5)));
                continue;
            }
        }
        ingress += 1;
        packet[..8].copy_from_slice(&ingress.to_be_bytes());
        iov.iov_base = packet.as_mut_ptr().cast();
        for chunk in names.chunks(batch) {
            for (m, name) in msgs.iter_mut().zip(chunk) {
                m.msg_hdr.msg_name = (name as *const libc::sockaddr_in).cast_mut().cast();
                m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                m.msg_hdr.msg_iov = &mut iov;
                m.msg_hdr.msg_iovlen = 1;
            }
            let mut off = 0;
            while off < chunk.len() {
                // SAFETY: msgs[off..chunk.len()] point at `names` and `iov`, which outlive
                // the call; the count passed is within the array.
                let n = unsafe {
                    libc::sendmmsg(
                        socket.as_raw_fd(),
                        msgs[off..].as_mut_ptr(),
                        (chunk.len() - off) as u32,
                        0,
                    )
                };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EINTR) => continue,
                        // Loopback receivers with full buffers: the datagram is lost, as
                        // it would be for the relay.
                        Some(libc::ENOBUFS) | Some(libc::EAGAIN) => break,
                        _ => return Err(e),
                    }
                }
                off += n as usize;
                sent += n as u64;
            }
        }
    }
    Ok(sent)
}

fn sockaddr_in(a: &SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Drains every receiver with `recvmmsg` when epoll says it is readable, until `stop` and
/// 50 ms of quiet, calling `on_datagram(receiver index, bytes)` for each datagram.
pub(crate) fn drain_all(
    sockets: Vec<UdpSocket>,
    stop: &AtomicBool,
    mut on_datagram: impl FnMut(usize, &[u8]),
) -> io::Result<()> {
    let mut poll = Poll::new()?;
    let mut sockets: Vec<MioSocket> = sockets.into_iter().map(MioSocket::from_std).collect();
    for (i, s) in sockets.iter_mut().enumerate() {
        poll.registry().register(s, Token(i), Interest::READABLE)?;
    }
    const RECV_BATCH: usize = 64;
    let mut bufs = vec![[0u8; 2048]; RECV_BATCH];
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: mmsghdr is plain data; all-zero is a valid (empty) value.
    let mut msgs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; RECV_BATCH];
    for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
        m.msg_hdr.msg_iov = iov;
        m.msg_hdr.msg_iovlen = 1;
    }
    let mut events = Events::with_capacity(1024);
    let mut quiet_since: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            // Keep draining until the sockets have been quiet for 50 ms.
            match quiet_since {
                Some(t) if t.elapsed() > Duration::from_millis(50) => return Ok(()),
                None => quiet_since = Some(Instant::now()),
                _ => {}
            }
        }
        poll.poll(&mut events, Some(Duration::from_millis(10)))?;
        if !events.is_empty() {
            quiet_since = None;
        }
        for ev in events.iter() {
            let index = ev.token().0;
            let Some(s) = sockets.get(index) else {
                continue;
            };
            loop {
                // SAFETY: msgs point at iovs, which point at bufs; all live across the
                // call and the count is the array length.
                let n = unsafe {
                    libc::recvmmsg(
                        s.as_raw_fd(),
                        msgs.as_mut_ptr(),
                        RECV_BATCH as u32,
                        libc::MSG_DONTWAIT,
                        std::ptr::null_mut(),
                    )
                };
                if n <= 0 {
                    break;
                }
                for (m, b) in msgs.iter().zip(bufs.iter()).take(n as usize) {
                    let len = (m.msg_len as usize).min(b.len());
                    on_datagram(index, &b[..len]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paced_fan_out_is_delivered_completely() {
        let r = run(&BaselineSpec {
            senders: 1,
            fanout: 10,
            packet_size: 200,
            rate_pps: Some(500.0),
            duration: Duration::from_millis(400),
        })
        .unwrap();
        // ~200 ingress packets × 10 subscribers; loopback at this rate loses (almost)
        // nothing, even on a busy machine.
        assert!(r.sent_pps > 1000.0, "{r:?}");
        assert!(r.loss < 0.05, "{r:?}");
    }

    #[test]
    fn bad_specs_are_refused() {
        let spec = BaselineSpec {
            senders: 1,
            fanout: 0,
            packet_size: 1200,
            rate_pps: None,
            duration: Duration::from_millis(10),
        };
        assert!(run(&spec).is_err());
    }
}
