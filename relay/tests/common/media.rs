//! A real relay process for the media tests, the control-plane calls they need (dev
//! credentials), and a minimal native media client speaking docs/PROTOCOL.md §11 with
//! `conclave_wire::media` and its own HMAC-SHA256.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use conclave_wire::b64;
use conclave_wire::media::{
    Body, Datagram, Direction, Join, MAX_DATAGRAM, MediaHeader, Stream, encode_tagged, parse,
};
use conclave_wire::sframe::{MediaKid, SframeHeader};
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A relay process on loopback, killed on drop.
pub struct RelayProcess {
    child: Child,
    pub dir: tempfile::TempDir,
    pub url: String,
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl RelayProcess {
    /// Starts `conclave-relay` with `config` (TOML), media workers on free loopback ports.
    pub fn start(config: &str) -> RelayProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("relay.toml"), config).expect("relay.toml");
        for _ in 0..5 {
            let port = free_port();
            let log = std::fs::File::create(dir.path().join("relay.log")).expect("log");
            let mut child = Command::new(env!("CARGO_BIN_EXE_conclave-relay"))
                .current_dir(dir.path())
                .args(["--config", "relay.toml", "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .args(["--media-bind", "127.0.0.1:0"])
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("log"))
                .stderr(log)
                .spawn()
                .expect("spawn conclave-relay");
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return RelayProcess {
                        child,
                        dir,
                        url: format!("http://{addr}"),
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "the relay did not start: {}",
            std::fs::read_to_string(dir.path().join("relay.log")).unwrap_or_default()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("relay.log")).unwrap_or_default()
    }

    /// The relay's ticket secret, from its data directory.
    pub fn ticket_secret(&self) -> [u8; 32] {
        let text =
            std::fs::read_to_string(self.dir.path().join("conclave-data/relay-secrets.json"))
                .expect("relay-secrets.json");
        let v: Value = serde_json::from_str(&text).expect("secrets json");
        let bytes = b64::decode(v["ticket_secret"].as_str().expect("ticket_secret")).expect("b64");
        bytes.try_into().expect("32 bytes")
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .new_agent()
    }

    /// A control API call as `device` of `user`; returns the status and the JSON body.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        who: &Device,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let auth = format!("Bearer dev:{}:{}", who.user, who.device);
        let agent = self.agent();
        let result = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
            ("POST", Some(b)) => agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.to_string()),
            ("POST", None) => agent.post(&url).header("Authorization", &auth).send_empty(),
            _ => panic!("method {method}"),
        };
        let mut resp = result.expect("HTTP request");
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The Prometheus text of `/metrics`.
    pub fn metrics(&self) -> String {
        let mut resp = self
            .agent()
            .get(format!("{}/metrics", self.url))
            .call()
            .expect("metrics");
        resp.body_mut().read_to_string().expect("metrics text")
    }

    /// The value of a metric line starting with `name` and containing `label` (summed over
    /// matching lines).
    pub fn metric(&self, name: &str, label: &str) -> u64 {
        metric_value(&self.metrics(), name, label)
    }
}

pub fn metric_value(text: &str, name: &str, label: &str) -> u64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
                && l.contains(label)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|v| v as u64)
        .sum()
}

/// A user's device, as dev credentials name it.
#[derive(Debug, Clone)]
pub struct Device {
    pub user: String,
    pub device: String,
}

impl Device {
    pub fn new(n: u8) -> Device {
        Device {
            user: hex::encode([n; 32]),
            device: hex::encode([n; 16]),
        }
    }
}

/// A join ticket as the control plane returns it.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub address: SocketAddr,
    pub join: Join,
    pub key: [u8; 32],
}

impl Ticket {
    pub fn from_json(v: &Value) -> Ticket {
        let hex32 = |s: &str| -> [u8; 32] { hex::decode(s).expect("hex").try_into().expect("32") };
        let hex16 = |s: &str| -> [u8; 16] { hex::decode(s).expect("hex").try_into().expect("16") };
        assert_eq!(v["media"]["transport"], "native");
        Ticket {
            address: v["media"]["address"]
                .as_str()
                .expect("address")
                .parse()
                .expect("socket address"),
            join: Join {
                meeting_id: hex32(v["meeting_id"].as_str().expect("meeting_id")),
                device_id: [0; 16],
                session_id: hex16(v["session"]["id"].as_str().expect("session id")),
                expires_ms: v["session"]["expires_ms"].as_u64().expect("expires_ms"),
                worker: u8::try_from(v["media"]["worker"].as_u64().expect("worker")).expect("u8"),
            },
            key: b64::decode(v["session"]["key"].as_str().expect("key"))
                .expect("b64")
                .try_into()
                .expect("32 bytes"),
        }
    }
}

/// Creates a meeting (initiator `host`) and returns its id.
pub fn create_meeting(relay: &RelayProcess, host: &Device, n: u8) -> String {
    let meeting = hex::encode([n; 32]);
    let (status, _) = relay.call(
        "POST",
        "/v1/meetings",
        host,
        Some(json!({"meeting_id": meeting})),
    );
    assert_eq!(status, 201);
    meeting
}

/// Joins `meeting` as `who`: the ticket (its device id filled in).
pub fn join_ticket(relay: &RelayProcess, meeting: &str, who: &Device) -> Ticket {
    let (status, v) = relay.call("POST", &format!("/v1/meetings/{meeting}/join"), who, None);
    assert_eq!(status, 200, "{v}");
    let mut t = Ticket::from_json(&v);
    t.join.device_id = hex::decode(&who.device)
        .expect("hex")
        .try_into()
        .expect("16");
    t
}

/// HMAC-SHA256 truncated to 16 bytes.
pub fn tag(key: &[u8; 32], data: &[u8]) -> [u8; 16] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("hmac key");
    mac.update(data);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// §11.1, computed independently of the relay.
pub fn session_key(secret: &[u8; 32], j: &Join) -> [u8; 32] {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret).expect("hmac key");
    mac.update(b"conclave-v1 media-session");
    mac.update(&j.meeting_id);
    mac.update(&j.device_id);
    mac.update(&j.session_id);
    mac.update(&j.expires_ms.to_be_bytes());
    mac.update(&[j.worker]);
    mac.finalize().into_bytes().into()
}

/// A joined native media client.
pub struct MediaClient {
    pub socket: UdpSocket,
    pub ticket: Ticket,
    pub conn_id: u32,
    pub source_id: u32,
    pub pn: u64,
    /// Every datagram sent so far (for replays).
    pub sent: Vec<Vec<u8>>,
}

impl MediaClient {
    /// Binds a loopback socket and joins with `ticket` (JOIN every 250 ms, up to 5 s).
    pub fn join(ticket: Ticket) -> Result<MediaClient, Body<'static>> {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(250)))
            .expect("timeout");
        let mut c = MediaClient {
            socket,
            ticket,
            conn_id: 0,
            source_id: 0,
            pn: 0,
            sent: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let join = Body::Join(c.ticket.join);
            c.send(0, &join);
            let mut buf = [0u8; 2048];
            while let Ok(n) = c.socket.recv(&mut buf) {
                let Some(d) = c.open(&buf[..n]) else { continue };
                match d.body {
                    Body::JoinAck(a) => {
                        c.conn_id = d.prefix.conn_id;
                        c.source_id = a.source_id;
                        return Ok(c);
                    }
                    Body::JoinReject(r) => return Err(Body::JoinReject(r)),
                    _ => {}
                }
            }
        }
        panic!("no answer to JOIN");
    }

    /// Seals a datagram with the next packet number without sending it.
    pub fn seal(&mut self, conn_id: u32, body: &Body) -> Vec<u8> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let key = self.ticket.key;
        let n = encode_tagged(&mut buf, conn_id, self.pn, body, |a| tag(&key, a)).expect("encode");
        buf.truncate(n);
        self.pn += 1;
        buf
    }

    /// Sends a tagged datagram with the next packet number; returns its bytes.
    pub fn send(&mut self, conn_id: u32, body: &Body) -> Vec<u8> {
        let buf = self.seal(conn_id, body);
        self.raw(&buf);
        self.sent.push(buf.clone());
        buf
    }

    /// Sends arbitrary bytes to the relay.
    pub fn raw(&self, bytes: &[u8]) {
        self.socket
            .send_to(bytes, self.ticket.address)
            .expect("send_to");
    }

    /// A sealed media datagram (not sent): one audio fragment starting with an SFrame
    /// header.
    pub fn audio(&mut self, frame_number: u32, payload: &[u8]) -> Vec<u8> {
        let kid = MediaKid::new(1, 0).expect("kid").to_kid();
        let mut fragment = SframeHeader::new(kid, u64::from(frame_number)).to_bytes();
        fragment.extend_from_slice(payload);
        let header = MediaHeader {
            stream: Stream::Audio,
            keyframe: false,
            codec: false,
            audio_level: 20,
            frame_number,
            frag_index: 0,
            frag_count: 1,
        };
        self.seal(
            self.conn_id,
            &Body::Media {
                header,
                fragment: &fragment,
            },
        )
    }

    /// Sends one audio fragment; returns its bytes.
    pub fn send_audio(&mut self, frame_number: u32, payload: &[u8]) -> Vec<u8> {
        let d = self.audio(frame_number, payload);
        self.raw(&d);
        self.sent.push(d.clone());
        d
    }

    /// A relay → client datagram, parsed; tagged ones must verify under the session key.
    pub fn open<'a>(&self, bytes: &'a [u8]) -> Option<Datagram<'a>> {
        let d = parse(bytes, Direction::ToClient).ok()?;
        if let Some(t) = d.tag
            && tag(&self.ticket.key, d.authenticated) != *t
        {
            return None;
        }
        Some(d)
    }

    /// Receives for `window`; returns every datagram (raw bytes).
    pub fn drain(&self, window: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                out.push(buf[..n].to_vec());
            }
        }
        out
    }

    /// Receives until `count` MEDIA_FWD datagrams arrived or `timeout` passed.
    pub fn media(&self, count: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while out.len() < count && Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf)
                && buf.first() == Some(&0x11)
            {
                out.push(buf[..n].to_vec());
            }
        }
        out
    }
}
