//! A capturing UDP proxy for one client: the client sends to [`UdpProxy::addr`] instead of
//! the relay's media address; every datagram is recorded (with its direction and arrival
//! time) and passed on unchanged. Loopback only; stops when dropped.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Which way a datagram went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    ToRelay,
    ToClient,
}

/// One datagram seen by the proxy.
#[derive(Debug, Clone)]
pub struct Captured {
    pub at: Instant,
    pub way: Way,
    pub bytes: Vec<u8>,
}

/// A running proxy between one client and the relay.
pub struct UdpProxy {
    pub addr: SocketAddr,
    captured: Arc<Mutex<Vec<Captured>>>,
    task: JoinHandle<()>,
}

impl UdpProxy {
    /// Listens on a free loopback port and forwards to `relay`.
    pub async fn start(relay: SocketAddr) -> UdpProxy {
        let front = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind proxy front");
        let back = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind proxy back");
        back.connect(relay)
            .await
            .expect("connect proxy to the relay");
        let addr = front.local_addr().expect("proxy address");
        let captured = Arc::new(Mutex::new(Vec::new()));
        let log = captured.clone();
        let task = tokio::spawn(async move {
            let mut client: Option<SocketAddr> = None;
            let mut a = vec![0u8; 65536];
            let mut b = vec![0u8; 65536];
            loop {
                tokio::select! {
                    r = front.recv_from(&mut a) => {
                        let Ok((n, from)) = r else { continue };
                        client = Some(from);
                        record(&log, Way::ToRelay, &a[..n]);
                        let _ = back.send(&a[..n]).await;
                    }
                    r = back.recv(&mut b) => {
                        let Ok(n) = r else { continue };
                        record(&log, Way::ToClient, &b[..n]);
                        if let Some(c) = client {
                            let _ = front.send_to(&b[..n], c).await;
                        }
                    }
                }
            }
        });
        UdpProxy {
            addr,
            captured,
            task,
        }
    }

    /// Everything seen so far.
    pub fn captured(&self) -> Vec<Captured> {
        self.captured.lock().expect("proxy log").clone()
    }
}

fn record(log: &Mutex<Vec<Captured>>, way: Way, bytes: &[u8]) {
    log.lock().expect("proxy log").push(Captured {
        at: Instant::now(),
        way,
        bytes: bytes.to_vec(),
    });
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
