//! The media plane as the rest of the relay sees it: starts one worker thread per
//! configured worker (each with its own socket), issues join tickets for the meeting's
//! worker, forwards the control plane's membership events to that worker, and stops the
//! workers with the server.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use conclave_wire::media::{CloseReason, Join};
use socket2::{Domain, Protocol, Socket, Type};

use super::command::Command;
use super::core::{CoreConfig, WorkerCore};
use super::egress::EgressConfig;
use super::pins::{MeetingBytes, Pins};
use super::stats::MediaStats;
use super::sys::gso_supported;
use super::table::TableConfig;
use super::ticket::session_key;
use super::worker::Worker;
use crate::config::MediaConfig;
use crate::media::router::RouterConfig;

/// Socket buffer sizes asked for (the kernel may grant less).
const SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// A join ticket (docs/PROTOCOL.md §11.1).
#[derive(Debug, Clone)]
pub struct Ticket {
    /// The fields a `JOIN` carries.
    pub join: Join,
    pub key: [u8; 32],
    /// The UDP address of the meeting's worker, as announced.
    pub address: String,
}

struct WorkerHandle {
    address: String,
    rtc_local: Option<SocketAddr>,
    local: SocketAddr,
    commands: Mutex<Sender<Command>>,
}

/// The running media plane.
pub struct MediaPlane {
    workers: Vec<WorkerHandle>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    pins: Arc<Pins>,
    stats: Arc<MediaStats>,
    stop: Arc<AtomicBool>,
    ticket_secret: [u8; 32],
    gso: bool,
}

impl std::fmt::Debug for MediaPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaPlane")
            .field("workers", &self.local_addrs())
            .finish()
    }
}

fn bind(addr: SocketAddr) -> Result<UdpSocket, String> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| format!("media socket: {e}"))?;
    // Larger buffers absorb fan-out bursts; a smaller grant is not an error.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket
        .bind(&addr.into())
        .map_err(|e| format!("media.bind {addr}: {e}"))?;
    Ok(socket.into())
}

/// The host candidates of a WebRTC socket bound at `local`: the announced address (or the
/// bound one), and 127.0.0.1 for browsers on the same machine when the socket listens on
/// every IPv4 address.
fn rtc_candidates(local: SocketAddr, announced: Option<std::net::IpAddr>) -> Vec<SocketAddr> {
    let mut out = vec![SocketAddr::new(
        announced.unwrap_or(local.ip()),
        local.port(),
    )];
    let loopback = SocketAddr::from(([127, 0, 0, 1], local.port()));
    if local.ip() == std::net::IpAddr::from([0, 0, 0, 0]) && !out.contains(&loopback) {
        out.push(loopback);
    }
    out
}

impl MediaPlane {
    /// Binds every worker's socket and starts the workers. Errors are one line.
    pub fn start(config: &MediaConfig, ticket_secret: [u8; 32]) -> Result<MediaPlane, String> {
        Self::start_with(config, ticket_secret, RouterConfig::default())
    }

    /// [`Self::start`] with a router configuration.
    pub fn start_with(
        config: &MediaConfig,
        ticket_secret: [u8; 32],
        router: RouterConfig,
    ) -> Result<MediaPlane, String> {
        config.validate()?;
        let n = config.worker_count();
        let advertised = config.advertised()?;
        let pins = Arc::new(Pins::new(n));
        let stats = Arc::new(MediaStats::new(n));
        let stop = Arc::new(AtomicBool::new(false));
        let mut sockets = Vec::with_capacity(n);
        for i in 0..n {
            let mut addr = config.bind;
            if addr.port() != 0 {
                addr.set_port(config.bind.port() + i as u16);
            }
            sockets.push(bind(addr)?);
        }
        let mut rtc_sockets = Vec::with_capacity(n);
        if config.webrtc {
            // Idempotent: a second install (another plane in the process) is ignored.
            str0m::crypto::from_feature_flags().install_process_default();
            for i in 0..n {
                let mut addr = config.webrtc_bind();
                if addr.port() != 0 {
                    addr.set_port(addr.port() + i as u16);
                }
                // The same large buffers as the native sockets (bursts of key frames).
                let s = bind(addr).map_err(|e| e.replace("media.bind", "media.webrtc_bind"))?;
                rtc_sockets.push(Some(s));
            }
        } else {
            rtc_sockets.resize_with(n, || None);
        }
        let gso = config.gso && sockets.first().is_some_and(gso_supported);
        if config.gso && !gso {
            tracing::warn!("media.gso is on but this kernel has no UDP GSO; sending without it");
        }
        let mut workers = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for (i, (socket, rtc_socket)) in sockets.into_iter().zip(rtc_sockets).enumerate() {
            let rtc_local = match &rtc_socket {
                Some(s) => Some(s.local_addr().map_err(|e| format!("WebRTC socket: {e}"))?),
                None => None,
            };
            let rtc_candidates = rtc_local
                .map(|l| rtc_candidates(l, config.webrtc_ip))
                .unwrap_or_default();
            let local = socket
                .local_addr()
                .map_err(|e| format!("media socket: {e}"))?;
            let address = match &advertised {
                Some((host, 0)) => format!("{host}:{}", local.port()),
                Some((host, port)) => format!("{host}:{}", port + i as u16),
                None => local.to_string(),
            };
            let (tx, rx) = channel();
            let core = WorkerCore::new(
                CoreConfig {
                    table: TableConfig {
                        worker: i as u8,
                        ticket_secret,
                        keepalive: Duration::from_millis(u64::from(config.keepalive_ms)),
                        timeout: Duration::from_millis(u64::from(config.timeout_ms)),
                        max_sessions: config.max_sessions_per_worker,
                    },
                    router: router.clone(),
                    rtc_candidates,
                },
                Some(pins.clone()),
            );
            let worker = Worker {
                index: i as u8,
                socket,
                core,
                commands: rx,
                stop: stop.clone(),
                stats: stats.clone(),
                egress: EgressConfig {
                    sendmmsg: config.sendmmsg,
                    gso,
                },
                rtc_socket,
            };
            let thread = std::thread::Builder::new()
                .name(format!("media-worker-{i}"))
                .spawn(move || worker.run())
                .map_err(|e| format!("media worker thread: {e}"))?;
            threads.push(thread);
            workers.push(WorkerHandle {
                address,
                rtc_local,
                local,
                commands: Mutex::new(tx),
            });
        }
        Ok(MediaPlane {
            workers,
            threads: Mutex::new(threads),
            pins,
            stats,
            stop,
            ticket_secret,
            gso,
        })
    }

    /// The workers' WebRTC sockets (none when WebRTC is off).
    pub fn rtc_addrs(&self) -> Vec<SocketAddr> {
        self.workers.iter().filter_map(|w| w.rtc_local).collect()
    }

    /// Is WebRTC served?
    pub fn webrtc(&self) -> bool {
        self.workers.iter().any(|w| w.rtc_local.is_some())
    }

    /// The relay's ticket secret (to check `Ticket` credentials, §13.2).
    pub fn ticket_secret(&self) -> &[u8; 32] {
        &self.ticket_secret
    }

    /// Hands a browser's offer to the worker its ticket names and waits (blocking, at most
    /// 5 s) for the answer.
    pub fn webrtc_offer(
        &self,
        join: Join,
        offer: str0m::change::SdpOffer,
    ) -> Result<String, crate::media::webrtc::OfferRefused> {
        use crate::media::webrtc::{OfferCommand, OfferRefused};
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let worker = usize::from(join.worker);
        if worker >= self.workers.len() {
            return Err(OfferRefused::Rejected(
                conclave_wire::media::RejectReason::WrongWorker,
            ));
        }
        self.send(
            worker,
            Command::WebrtcOffer(OfferCommand {
                join,
                offer,
                reply: tx,
            }),
        );
        rx.recv_timeout(Duration::from_secs(5))
            .unwrap_or(Err(OfferRefused::Unavailable))
    }

    /// Ends a browser's session (`DELETE` of its WHIP resource).
    pub fn webrtc_close(&self, worker: u8, meeting: MeetingBytes, session_id: [u8; 16]) {
        self.send(
            usize::from(worker),
            Command::WebrtcClose {
                meeting,
                session_id,
            },
        );
    }

    /// The workers' bound addresses.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.workers.iter().map(|w| w.local).collect()
    }

    /// The workers' announced addresses.
    pub fn addresses(&self) -> Vec<String> {
        self.workers.iter().map(|w| w.address.clone()).collect()
    }

    /// Is UDP GSO in use?
    pub fn gso(&self) -> bool {
        self.gso
    }

    pub fn stats(&self) -> Arc<MediaStats> {
        self.stats.clone()
    }

    /// A fresh ticket for `device` in `meeting`, valid until `expires_ms`, for the
    /// meeting's worker (pinned to the least-loaded worker at its first join).
    pub fn ticket(
        &self,
        meeting: MeetingBytes,
        device: [u8; 16],
        expires_ms: u64,
    ) -> Result<Ticket, String> {
        let worker = self.pins.assign(&meeting);
        let address = self
            .workers
            .get(usize::from(worker))
            .map(|w| w.address.clone())
            .ok_or_else(|| "no media worker".to_string())?;
        let mut session_id = [0u8; 16];
        getrandom::fill(&mut session_id).map_err(|_| "random number generator failed")?;
        let join = Join {
            meeting_id: meeting,
            device_id: device,
            session_id,
            expires_ms,
            worker,
        };
        Ok(Ticket {
            key: session_key(&self.ticket_secret, &join),
            join,
            address,
        })
    }

    fn send(&self, worker: usize, command: Command) {
        if let Some(w) = self.workers.get(worker)
            && let Ok(tx) = w.commands.lock()
        {
            let _ = tx.send(command);
        }
    }

    /// The control plane recorded `device` (every device: `None`) as gone from `meeting`
    /// (`Left`, `Removed`) or ended the meeting (`MeetingEnded`): its sessions are closed and
    /// the tickets issued so far (expiring at or before `expiring_by`) refused.
    pub fn member_gone(
        &self,
        meeting: MeetingBytes,
        device: Option<[u8; 16]>,
        reason: CloseReason,
        expiring_by: u64,
    ) {
        let command = || Command::Refuse {
            meeting,
            device,
            expiring_by,
            reason,
        };
        // Tickets from before a restart may name any worker: tell all of them when the
        // meeting is not pinned.
        match self.pins.get(&meeting) {
            Some(w) => self.send(usize::from(w), command()),
            None => (0..self.workers.len()).for_each(|w| self.send(w, command())),
        }
        if reason == CloseReason::MeetingEnded {
            self.pins.release(&meeting, None);
        }
    }

    /// Stops every worker (each closes its sessions with `CLOSED(5)`) and waits for them.
    pub fn shutdown(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let threads = match self.threads.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(_) => return,
        };
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Drop for MediaPlane {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::rtc_candidates;
    use std::net::{IpAddr, SocketAddr};

    #[test]
    fn candidates_announce_the_configured_address_and_loopback_behind_a_wildcard() {
        let any: SocketAddr = "0.0.0.0:7100".parse().unwrap();
        let public: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(
            rtc_candidates(any, Some(public)),
            vec![
                "203.0.113.7:7100".parse::<SocketAddr>().unwrap(),
                "127.0.0.1:7100".parse().unwrap()
            ]
        );
        let lo: SocketAddr = "127.0.0.1:7100".parse().unwrap();
        assert_eq!(rtc_candidates(lo, None), vec![lo]);
        let host: SocketAddr = "192.0.2.1:7100".parse().unwrap();
        assert_eq!(rtc_candidates(host, None), vec![host]);
    }
}
