//! Meetings with media against the real relay: a relay configuration with the media plane
//! on free loopback ports, parties that run a [`MeetingRunner`] in a task and record what
//! they see, and a sans-IO reassembly of captured `MEDIA_FWD` datagrams.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conclave_client::api::{MeetingEvent, MeetingRunner, Next, Session};
use conclave_client::media::{MediaClient, MediaEvent, MediaStats, SessionEnd, Stream};
use conclave_wire::media::{Body, Direction, parse};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::udp_proxy::{Captured, Way};

/// Bundle fetches unlimited, the media plane on free loopback ports with two workers.
pub const MEDIA_CONFIG: &str = "[limits]\nbundle_burst = 1000000\nbundle_per_second = 1000000.0\n\n[media]\nbind = \"127.0.0.1:0\"\nworkers = 2\n";

/// A frame a party's application received (decrypted and authenticated).
#[derive(Debug, Clone)]
pub struct FrameSeen {
    pub at: Instant,
    pub sender_index: u16,
    pub epoch: u64,
    pub stream: Stream,
    /// Whether the plaintext contains the test's marker (`None`: too short to hold it).
    pub marker: Option<bool>,
}

/// Everything a party saw.
#[derive(Debug, Default)]
pub struct PartyLog {
    pub joined: Option<Instant>,
    pub frames: Vec<FrameSeen>,
    /// Files received: sender index and bytes.
    pub files: Vec<(u16, Vec<u8>)>,
    /// Epochs installed (rekeys), with the time.
    pub rekeyed: Vec<(Instant, u64)>,
    /// Epochs sending switched to.
    pub switched: Vec<(Instant, u64)>,
    pub departed: Vec<String>,
    pub warnings: Vec<String>,
    pub ended: Option<SessionEnd>,
    pub excluded: bool,
    /// The statistics when the party stopped.
    pub final_stats: Option<MediaStats>,
}

enum Cmd {
    Leave,
    Remove(String),
    Stop,
}

/// A participant running in its own task.
pub struct Party {
    pub name: &'static str,
    pub device: [u8; 16],
    pub media: MediaClient,
    pub log: Arc<Mutex<PartyLog>>,
    cmd: mpsc::UnboundedSender<Cmd>,
    task: Option<JoinHandle<()>>,
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

impl Party {
    /// Drives `runner` in a task, recording its events; `marker` is looked for in every
    /// delivered plaintext.
    pub fn spawn(name: &'static str, runner: MeetingRunner, marker: &'static [u8]) -> Party {
        let device = *runner.session().identity().device_id();
        let media = runner.media().clone();
        let log = Arc::new(Mutex::new(PartyLog::default()));
        let (cmd, mut rx) = mpsc::unbounded_channel();
        let l = log.clone();
        let task = tokio::spawn(async move {
            let mut runner = runner;
            loop {
                match rx.try_recv() {
                    Ok(Cmd::Leave) => {
                        if let Err(e) = runner.leave().await {
                            l.lock().unwrap().warnings.push(format!("leave: {e}"));
                        }
                    }
                    Ok(Cmd::Remove(device)) => {
                        if let Err(e) = runner.remove(&device).await {
                            l.lock().unwrap().warnings.push(format!("remove: {e}"));
                        }
                    }
                    Ok(Cmd::Stop) => break,
                    Err(_) => {}
                }
                let wake = tokio::time::Instant::now() + Duration::from_millis(20);
                match runner.next_event_until(Some(wake)).await {
                    Next::Done => break,
                    Next::Timeout => {}
                    Next::Event(ev) => record(&l, ev, marker),
                }
            }
            let stats = runner.stats().await;
            l.lock().unwrap().final_stats = stats;
            runner.finish().await;
        });
        Party {
            name,
            device,
            media,
            log,
            cmd,
            task: Some(task),
        }
    }

    /// Leaves the meeting (the runner's `leave`); the party keeps recording until it ends.
    pub fn leave(&self) {
        let _ = self.cmd.send(Cmd::Leave);
    }

    /// Removes a participant (the runner's `remove`; initiator only).
    pub fn remove(&self, device_id: &str) {
        let _ = self.cmd.send(Cmd::Remove(device_id.to_string()));
    }

    /// Stops the party (taking its final statistics) and waits for its task.
    pub async fn stop(&mut self) {
        let _ = self.cmd.send(Cmd::Stop);
        if let Some(t) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("the party stops")
                .expect("the party's task");
        }
    }

    /// Waits (bounded) until `f` holds for the log.
    pub async fn wait_for(&self, what: &str, secs: u64, f: impl Fn(&PartyLog) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if f(&self.log.lock().unwrap()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{}: timed out waiting for {what}; warnings {:?}",
                self.name,
                self.log.lock().unwrap().warnings
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn record(log: &Mutex<PartyLog>, ev: MeetingEvent, marker: &[u8]) {
    let now = Instant::now();
    let mut l = log.lock().unwrap();
    match ev {
        MeetingEvent::Media(MediaEvent::Joined { .. }) => l.joined = Some(now),
        MeetingEvent::Media(MediaEvent::Frame(f)) => l.frames.push(FrameSeen {
            at: now,
            sender_index: f.sender_index,
            epoch: f.epoch,
            stream: f.stream,
            marker: (f.data().len() >= marker.len()).then(|| contains(f.data(), marker)),
        }),
        MeetingEvent::Media(MediaEvent::FileReceived {
            sender_index, file, ..
        }) => l.files.push((sender_index, file.bytes)),
        MeetingEvent::Media(MediaEvent::EpochSwitched { epoch }) => l.switched.push((now, epoch)),
        MeetingEvent::Media(MediaEvent::Ended(e)) => l.ended = Some(e),
        MeetingEvent::Media(_) => {}
        MeetingEvent::Rekeyed { epoch, .. } => l.rekeyed.push((now, epoch)),
        MeetingEvent::Departed { device_id, .. } => l.departed.push(device_id),
        MeetingEvent::Excluded => l.excluded = true,
        MeetingEvent::Ended => {}
        MeetingEvent::Other(_) => {}
        MeetingEvent::Warning(w) => l.warnings.push(w),
    }
}

/// The relay's media address for a meeting, from a join ticket of `session`.
pub async fn media_address(session: &Session, meeting_id: &str) -> SocketAddr {
    let t = session
        .client()
        .join_meeting(meeting_id)
        .await
        .expect("join ticket");
    t.media.address.parse().expect("a socket address")
}

/// A complete sealed frame rebuilt from captured `MEDIA_FWD` datagrams.
#[derive(Debug, Clone)]
pub struct SealedFrame {
    /// When its last fragment was captured.
    pub at: Instant,
    pub source_id: u32,
    pub stream: Stream,
    pub frame_number: u32,
    pub bytes: Vec<u8>,
}

/// Reassembles every complete frame of the `MEDIA_FWD` datagrams sent to the client.
pub fn reassemble(captured: &[Captured]) -> Vec<SealedFrame> {
    type Key = (u32, u8, u32);
    let mut partial: BTreeMap<Key, (u16, BTreeMap<u16, Vec<u8>>)> = BTreeMap::new();
    let mut out = Vec::new();
    for c in captured.iter().filter(|c| c.way == Way::ToClient) {
        let Ok(d) = parse(&c.bytes, Direction::ToClient) else {
            continue;
        };
        let Body::MediaFwd { header, fragment } = d.body else {
            continue;
        };
        let key = (
            d.prefix.conn_id,
            header.stream.to_byte(),
            header.frame_number,
        );
        let entry = partial
            .entry(key)
            .or_insert_with(|| (header.frag_count, BTreeMap::new()));
        entry.1.insert(header.frag_index, fragment.to_vec());
        if entry.1.len() == usize::from(entry.0) {
            let (_, frags) = partial.remove(&key).expect("entry");
            out.push(SealedFrame {
                at: c.at,
                source_id: key.0,
                stream: header.stream,
                frame_number: key.2,
                bytes: frags.into_values().flatten().collect(),
            });
        }
    }
    out
}

/// A three-party meeting started through the SDK: Alice (the initiator, index 0) called
/// Bob and Carol; each runs a [`MeetingRunner`] through its own capturing proxy.
pub struct Three {
    pub meeting_id: String,
    pub parties: [Party; 3],
    pub proxies: [super::udp_proxy::UdpProxy; 3],
    /// Each party's epoch-0 keys (copies).
    pub keys: [conclave_client::meeting::EpochKeys; 3],
}

/// The epoch-0 keys of the first invite in `got` (panics on a refused container).
pub fn invite_keys(got: &[conclave_client::api::Received]) -> conclave_client::meeting::EpochKeys {
    use conclave_client::api::Received;
    use conclave_client::container::Payload;
    got.iter()
        .find_map(|r| match r {
            Received::Opened(d) => match &d.opened.payload {
                Payload::Invite(k) => Some(k.to_keys().expect("invite keys")),
                _ => None,
            },
            Received::Refused(r) => panic!("refused: {}", r.error),
        })
        .expect("an invite")
}

/// Registers Alice, Bob and Carol (one device, 20 prekeys each, identities under `root`)
/// and has Alice call the other two; their invites wait in their inboxes.
pub async fn alice_calls_bob_and_carol(
    relay: &super::Relay,
    root: &std::path::Path,
    call_type: conclave_client::container::CallType,
) -> (Session, Session, Session, conclave_client::api::Invitation) {
    let mut a = super::user(relay, root, "alice", 1, 20).await.remove(0);
    let b = super::user(relay, root, "bob", 1, 20).await.remove(0);
    let c = super::user(relay, root, "carol", 1, 20).await.remove(0);
    let inv = a
        .call(
            &[b.user_hash().to_string(), c.user_hash().to_string()],
            call_type,
        )
        .await
        .expect("call");
    (a, b, c, inv)
}

/// Waits until every party delivered at least `frames` frames of every other party
/// (a party's sender index is its position in `parties`).
pub async fn wait_until_each_hears_the_others(parties: &[Party], frames: usize) {
    for (i, p) in parties.iter().enumerate() {
        for j in (0..parties.len() as u16).filter(|j| usize::from(*j) != i) {
            p.wait_for("frames of every other", 20, |l| {
                l.frames.iter().filter(|f| f.sender_index == j).count() >= frames
            })
            .await;
        }
    }
}

/// Starts [`Three`]: `sources(i)` gives party `i`'s sources; frames are delivered and
/// looked at for `marker`.
pub async fn start_three(
    relay: &super::Relay,
    root: &std::path::Path,
    sources: impl Fn(usize) -> Vec<conclave_client::media::Source>,
    marker: &'static [u8],
) -> Three {
    use conclave_client::api::membership::copy_keys;
    use conclave_client::api::{MeetingOptions, Role};
    use conclave_client::container::CallType;
    let (a, mut b, mut c, inv) = alice_calls_bob_and_carol(relay, root, CallType::Video).await;
    let meeting_id = inv.meeting_id.to_hex();
    let kb = invite_keys(&b.receive().await.expect("bob's inbox"));
    let kc = invite_keys(&c.receive().await.expect("carol's inbox"));
    let keys = [
        copy_keys(&inv.keys).unwrap(),
        copy_keys(&kb).unwrap(),
        copy_keys(&kc).unwrap(),
    ];
    let relay_media = media_address(&a, &meeting_id).await;
    let proxies = [
        super::udp_proxy::UdpProxy::start(relay_media).await,
        super::udp_proxy::UdpProxy::start(relay_media).await,
        super::udp_proxy::UdpProxy::start(relay_media).await,
    ];
    let options = |i: usize| MeetingOptions {
        media_address: Some(proxies[i].addr),
        sources: sources(i),
        deliver_frames: true,
        ..MeetingOptions::default()
    };
    let member = Role::Member {
        initiator_device: a.device_id().to_string(),
        initiator_user: Some(a.user_hash().to_string()),
    };
    let initiator = Role::Initiator {
        members: inv.members.clone(),
        call_type: CallType::Video,
    };
    let ra = MeetingRunner::start(a, inv.keys, initiator, options(0))
        .await
        .expect("alice starts");
    let rb = MeetingRunner::start(b, kb, member.clone(), options(1))
        .await
        .expect("bob starts");
    let rc = MeetingRunner::start(c, kc, member, options(2))
        .await
        .expect("carol starts");
    Three {
        meeting_id,
        parties: [
            Party::spawn("alice", ra, marker),
            Party::spawn("bob", rb, marker),
            Party::spawn("carol", rc, marker),
        ],
        proxies,
        keys,
    }
}
