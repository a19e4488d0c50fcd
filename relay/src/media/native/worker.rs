//! The I/O shell of one worker: an OS thread with its own UDP socket that receives batches
//! with `recvmmsg`, feeds them to its [`WorkerCore`], queues what the core decides in its
//! [`Egress`] and flushes it, polls the control plane's commands every turn, and publishes
//! its counters.

use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use super::command::Command;
use super::core::{Ingress, WorkerCore};
use super::egress::{Egress, EgressConfig};
use super::stats::{Counters, MediaStats};
use super::sys::RecvBatch;
use crate::control::state::now_ms;

/// Datagrams received per `recvmmsg`.
pub const RECV_BATCH: usize = 64;
/// Messages per `sendmmsg`.
const SEND_BATCH: usize = 1024;
/// The longest a worker waits for a datagram before it looks at commands and timers.
pub const TURN: Duration = Duration::from_millis(5);

/// Everything a worker thread owns.
pub struct Worker {
    pub index: u8,
    pub socket: UdpSocket,
    pub core: WorkerCore,
    pub commands: Receiver<Command>,
    pub stop: Arc<AtomicBool>,
    pub stats: Arc<MediaStats>,
    pub egress: EgressConfig,
    /// The WebRTC socket (docs/PROTOCOL.md §13), when WebRTC is on.
    pub rtc_socket: Option<UdpSocket>,
}

/// Datagrams read from the WebRTC socket per turn.
const RTC_BATCH: usize = 64;
/// Room, in full-size datagrams, for what the WebRTC socket sends between flushes.
const RTC_EGRESS: usize = RECV_BATCH * 2;

impl Worker {
    /// Runs until `stop` is set, then closes every session (`CLOSED(5)`).
    pub fn run(mut self) {
        if let Err(e) = self.socket.set_read_timeout(Some(TURN)) {
            tracing::error!(worker = self.index, error = %e, "media worker: socket timeout");
            return;
        }
        if let Some(s) = &self.rtc_socket
            && let Err(e) = s.set_nonblocking(true)
        {
            tracing::error!(worker = self.index, error = %e, "media worker: WebRTC socket");
            return;
        }
        let mut recv = RecvBatch::new(RECV_BATCH);
        let mut rtc_buf = vec![0u8; 2048];
        let mut egress = Egress::new(self.egress, RECV_BATCH * 2, SEND_BATCH);
        // The WebRTC socket's datagrams (str0m's, already encrypted per peer) go out in
        // batches too; GSO needs equal-size segments to one destination, which they are not.
        let mut rtc_egress = Egress::new(
            EgressConfig {
                gso: false,
                ..self.egress
            },
            RTC_EGRESS,
            SEND_BATCH,
        );
        let mut published = Counters::default();
        loop {
            let stopping = self.stop.load(Ordering::Relaxed);
            let now = Instant::now();
            let wall = now_ms();
            if stopping {
                self.core.shutdown(now);
            }
            while let Ok(command) = self.commands.try_recv() {
                self.core.on_command(now, wall, command);
            }
            self.core.handle_timeout(now, wall);
            self.queue_control(&mut egress);
            if !stopping {
                match self.rtc_socket.is_some() {
                    false => self.receive(&mut recv, &mut egress),
                    true => {
                        let wait = self
                            .core
                            .poll_timeout()
                            .map_or(TURN, |t| t.saturating_duration_since(now).min(TURN));
                        let (native, rtc) = self.wait_readable(wait);
                        if native {
                            self.receive(&mut recv, &mut egress);
                        }
                        if rtc {
                            self.receive_rtc(&mut rtc_buf);
                        }
                        self.queue_control(&mut egress);
                    }
                }
            }
            self.queue_bridged(&mut egress);
            self.flush(&mut egress);
            self.send_rtc(&mut rtc_egress);
            self.stats.publish(
                usize::from(self.index),
                &mut published,
                self.core.counters(),
                self.core.sessions(),
                self.core.meetings(),
            );
            if stopping {
                return;
            }
        }
    }

    fn receive(&mut self, recv: &mut RecvBatch, egress: &mut Egress) {
        let n = match recv.recv(&self.socket) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(worker = self.index, error = %e, "media worker: receive failed");
                std::thread::sleep(TURN);
                return;
            }
        };
        if n == 0 {
            return;
        }
        let now = Instant::now();
        let wall = now_ms();
        for i in 0..n {
            let Some((buf, Some(from))) = recv.datagram(i) else {
                continue;
            };
            if let Ingress::Forward(fwd) = self.core.on_datagram(now, wall, from, buf) {
                let bytes = buf.get(..fwd.len).unwrap_or_default();
                if !egress.push_media(fwd, bytes, self.core.destinations()) {
                    Self::flush_into(&self.socket, &mut self.core, egress);
                    if !egress.push_media(fwd, bytes, self.core.destinations()) {
                        self.core
                            .count_send_errors(self.core.destinations().len() as u64);
                    }
                }
            }
            self.queue_control(egress);
        }
    }

    /// Which of the two sockets has a datagram, waiting at most `wait`.
    fn wait_readable(&self, wait: Duration) -> (bool, bool) {
        let Some(rtc) = &self.rtc_socket else {
            return (true, false);
        };
        super::sys::poll_readable(&self.socket, rtc, wait)
    }

    /// Reads a batch from the WebRTC socket (non-blocking) into the core.
    fn receive_rtc(&mut self, buf: &mut [u8]) {
        let Some(socket) = &self.rtc_socket else {
            return;
        };
        let Ok(local) = socket.local_addr() else {
            return;
        };
        for _ in 0..RTC_BATCH {
            match socket.recv_from(buf) {
                Ok((n, from)) => {
                    let now = Instant::now();
                    self.core
                        .on_rtc_datagram(now, from, local, buf.get(..n).unwrap_or_default());
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(worker = self.index, error = %e, "media worker: WebRTC receive failed");
                    break;
                }
            }
        }
    }

    /// Sends what the WebRTC peers queued, batched like the native egress.
    fn send_rtc(&mut self, egress: &mut Egress) {
        let Some(socket) = &self.rtc_socket else {
            return;
        };
        while let Some((dest, data)) = self.core.poll_rtc_transmit() {
            if !egress.push_control(&data, dest) {
                Self::flush_into(socket, &mut self.core, egress);
                if !egress.push_control(&data, dest) {
                    self.core.count_send_errors(1);
                }
            }
        }
        Self::flush_into(socket, &mut self.core, egress);
    }

    /// Moves the browsers' frames, fragmented for native subscribers, into the native egress.
    fn queue_bridged(&mut self, egress: &mut Egress) {
        while let Some((dest, data)) = self.core.poll_bridged() {
            if !egress.push_control(&data, dest) {
                Self::flush_into(&self.socket, &mut self.core, egress);
                if !egress.push_control(&data, dest) {
                    self.core.count_send_errors(1);
                }
            }
        }
    }

    /// Moves the core's own datagrams into the egress queue.
    fn queue_control(&mut self, egress: &mut Egress) {
        while let Some(t) = self.core.poll_transmit() {
            if !egress.push_control(t.bytes(), t.dest) {
                Self::flush_into(&self.socket, &mut self.core, egress);
                if !egress.push_control(t.bytes(), t.dest) {
                    self.core.count_send_errors(1);
                }
            }
        }
    }

    fn flush(&mut self, egress: &mut Egress) {
        Self::flush_into(&self.socket, &mut self.core, egress);
    }

    fn flush_into(socket: &UdpSocket, core: &mut WorkerCore, egress: &mut Egress) {
        if egress.is_empty() {
            return;
        }
        let sent = egress.flush(socket);
        core.count_sent(sent.datagrams, sent.bytes);
        core.count_send_errors(sent.failed);
        if sent.gso_refused && egress.config().gso {
            tracing::warn!("media worker: the kernel refused UDP GSO; sending without it");
            egress.disable_gso();
        }
    }
}
