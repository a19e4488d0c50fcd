//! A real local HTTP receiver for the webhook tests: a std `TcpListener` thread on
//! 127.0.0.1 that checks each request's signature with the shared secret, records it, and
//! answers with scripted statuses.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const SECRET: &str = "webhook-test-secret-0123456789";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Hit {
    pub at: Instant,
    pub path: String,
    pub content_type: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
    /// The signature checked out with [`SECRET`].
    pub valid: bool,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// How the receiver answers.
#[derive(Clone)]
pub struct Script {
    /// Statuses for the first requests, in order; then 200.
    pub statuses: Vec<u16>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Script {
    pub fn ok() -> Script {
        Script {
            statuses: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    pub fn statuses(statuses: &[u16]) -> Script {
        Script {
            statuses: statuses.to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub fn slow(delay: Duration) -> Script {
        Script {
            statuses: Vec::new(),
            delay,
        }
    }
}

pub struct Receiver {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    pub fn start(script: Script) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (hits, stop) = (Arc::clone(&hits), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut served = 0;
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let status = script.statuses.get(served).copied().unwrap_or(200);
                    served += 1;
                    serve(stream, status, script.delay, &hits);
                }
            })
        };
        Receiver {
            addr,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/conclave", self.addr)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (or panics after `timeout`).
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Hit> {
        let deadline = Instant::now() + timeout;
        loop {
            let hits = self.hits();
            if hits.len() >= n {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} requests arrived",
                hits.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, status: u16, delay: Duration, hits: &Mutex<Vec<Hit>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return; // the wake-up connection, or a client that gave up
    }
    let path = request_line
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let (mut length, mut content_type, mut timestamp, mut signature) =
        (None, String::new(), String::new(), String::new());
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        let value = value.trim().to_string();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.parse::<usize>().unwrap()),
            "content-type" => content_type = value,
            "x-conclave-timestamp" => timestamp = value,
            "x-conclave-signature" => signature = value,
            _ => {}
        }
    }
    let mut body = vec![0; length.expect("a Content-Length header")];
    reader.read_exact(&mut body).unwrap();
    let valid = conclave_notify_webhook::verify(SECRET.as_bytes(), &timestamp, &body, &signature);
    hits.lock().unwrap().push(Hit {
        at: Instant::now(),
        path,
        content_type,
        timestamp,
        signature,
        body,
        valid,
    });
    std::thread::sleep(delay);
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} Scripted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

/// A configuration for `url` with short backoffs, merged with `extra`.
pub fn config(url: &str, extra: Value) -> String {
    let mut c = serde_json::json!({
        "url": url,
        "secret": SECRET,
        "timeout_ms": 2000,
        "max_retries": 5,
        "queue_capacity": 1000,
        "backoff_initial_ms": 20,
        "backoff_max_ms": 200,
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    c.to_string()
}

/// A URL on which nothing listens (connections are refused).
pub fn unreachable_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/nothing")
}
