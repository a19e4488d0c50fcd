//! [`MeetingRunner`]: one device in one meeting, online — the media plane joined with the
//! control plane's ticket ([`crate::media::MediaClient`]), and the push channel listened
//! to for what changes the meeting (docs/PROTOCOL.md §12.3): `rekey` containers from the
//! initiator are installed (staged switch), and the initiator, which keeps the roster,
//! rekeys when a participant leaves, rejects or is removed. The decisions are
//! [`Membership`]'s; this is the I/O around it. Used by the `conclave` CLI and the load
//! tester.
//!
//! The initiator's rekey (fetching the bundles of every remaining user, posting the
//! container) runs in a task of its own while media events keep flowing; the actions after
//! it (installing the new epoch, later departures) wait until it has finished, so that the
//! containers are posted before the initiator installs the keys, and rekeys go out one at a
//! time, in order. Adding a participant to the running meeting ([`MeetingRunner::add`]) is
//! a rekey too: the `rekey` to those already in it, then the `invite` to the new devices,
//! both posted before the initiator installs the new epoch.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};

use super::membership::{
    Action, Departure, DeviceId, Membership, copy_keys, device_from_hex, stamp_rekey,
    switch_delay_ms,
};
use super::push::PushStream;
use super::session::{BundleFetcher, Received, Sent, Session, SessionEvent, UserBundles};
use super::types::JoinTicket;
use super::{SdkError, SdkResult};
use crate::ClientError;
use crate::container::{CallType, Payload};
use crate::media::{
    MediaClient, MediaClientConfig, MediaEvent, MediaStats, MediaTicket, PipelineConfig, Source,
};
use crate::meeting::{EpochKeys, MeetingCrypto};
use crate::sframe::CipherSuite;

/// The overlap between installing a new epoch and sending in it when the rekey names no
/// switch time, and the base of the initiator's overlap (PROTOCOL §12.3).
pub const DEFAULT_OVERLAP: Duration = Duration::from_millis(250);

/// How a [`MeetingRunner`] runs.
#[derive(Debug)]
pub struct MeetingOptions {
    /// Send media here instead of the ticket's address (e.g. a capturing proxy in tests).
    pub media_address: Option<SocketAddr>,
    /// What this device sends.
    pub sources: Vec<Source>,
    pub pipeline: PipelineConfig,
    /// Whether decrypted frames are delivered as [`MeetingEvent::Media`] events.
    pub deliver_frames: bool,
    pub suite: CipherSuite,
    /// Staged switch: keep sending in the old epoch this long after installing a new one
    /// whose rekey names no switch time. The initiator's switch time is this plus 3 ms
    /// per recipient device, at most 5 s (PROTOCOL §12.3).
    pub overlap: Duration,
    /// How long old-epoch receive keys stay usable after the switch (`None`: the default).
    pub grace_ms: Option<u64>,
}

impl Default for MeetingOptions {
    fn default() -> Self {
        MeetingOptions {
            media_address: None,
            sources: Vec::new(),
            pipeline: PipelineConfig::default(),
            deliver_frames: false,
            suite: CipherSuite::DEFAULT,
            overlap: DEFAULT_OVERLAP,
            grace_ms: None,
        }
    }
}

/// This device's part in the meeting.
#[derive(Debug, Clone)]
pub enum Role {
    /// It started the meeting: it keeps the roster and rekeys. `members` names the user
    /// hash of every invited device (32 hex digits → user hash), to send rekeys to.
    Initiator {
        members: BTreeMap<String, String>,
        call_type: CallType,
    },
    /// It was invited by `initiator_device`; `initiator_user` (the inviter's user hash),
    /// when known, lets `leave` tell the initiator in a `leave` container (else the relay's
    /// member event does).
    Member {
        initiator_device: String,
        initiator_user: Option<String>,
    },
}

/// What happened in the meeting.
#[derive(Debug)]
pub enum MeetingEvent {
    /// From the media plane: joined, frames, files, speakers, epoch switches, the end.
    Media(MediaEvent),
    /// A newer epoch was installed (sending switches at the rekey's time); `sent_to` is the
    /// number of devices this initiator sent it to (0 for members).
    Rekeyed { epoch: u64, sent_to: usize },
    /// A participant left, rejected or was removed.
    Departed { device_id: String, why: Departure },
    /// This device is out of the meeting (removed, or left elsewhere): media stops.
    Excluded,
    /// The initiator ended the meeting: media stops.
    Ended,
    /// Another push event (a text, an invitation to another meeting, a prekey refill).
    Other(SessionEvent),
    /// Something failed without ending the meeting (a refused container, a rekey that
    /// could not be posted, the push channel closing).
    Warning(String),
}

/// What [`MeetingRunner::next_event_until`] returns.
#[derive(Debug)]
pub enum Next {
    Event(MeetingEvent),
    /// The deadline passed first.
    Timeout,
    /// The media session has ended and every event was returned.
    Done,
}

enum Arrived {
    Media(Option<MediaEvent>),
    Push(Option<SdkResult<super::types::PushEvent>>),
    Rekey(RekeyStep),
}

/// Users whose bundles are fetched at once while rekeying.
const BUNDLE_FETCHES_IN_FLIGHT: usize = 16;

/// What a rekey task reports.
enum RekeyStep {
    /// The bundles of the remaining users, restricted to the remaining devices.
    Fetched(SdkResult<Vec<UserBundles>>),
    /// The container was posted (or not).
    Posted(SdkResult<Sent>),
}

/// The rekey (or the invite of an add) being sent: its task and what it is for.
struct RekeyJob {
    epoch: u64,
    payload: Payload,
    task: JoinHandle<RekeyStep>,
}

impl RekeyJob {
    fn what(&self) -> &'static str {
        match self.payload {
            Payload::Invite(_) => "invite",
            _ => "rekey",
        }
    }
}

/// Fetches and verifies the bundles of `users`, a few at a time, keeping only `devices`.
async fn fetch_for_rekey(
    fetcher: BundleFetcher,
    users: Vec<String>,
    devices: Vec<DeviceId>,
) -> SdkResult<Vec<UserBundles>> {
    let mut out = Vec::with_capacity(users.len());
    for chunk in users.chunks(BUNDLE_FETCHES_IN_FLIGHT) {
        let mut set = JoinSet::new();
        for u in chunk {
            let (f, u) = (fetcher.clone(), u.clone());
            set.spawn(async move { f.fetch(&u).await });
        }
        while let Some(r) = set.join_next().await {
            let mut b = r.map_err(|e| SdkError::Transport(format!("fetching bundles: {e}")))??;
            b.devices.retain(|d| devices.contains(&d.device.device_id));
            out.push(b);
        }
    }
    Ok(out)
}

/// One device in one meeting. Drive it with [`MeetingRunner::next_event`].
pub struct MeetingRunner {
    session: Session,
    push: Option<PushStream>,
    membership: Membership,
    media: MediaClient,
    media_events: mpsc::Receiver<MediaEvent>,
    media_task: Option<JoinHandle<()>>,
    media_done: bool,
    /// The user hash of each device (initiator: every invited device).
    users: BTreeMap<DeviceId, String>,
    initiator_user: Option<String>,
    /// Every sender index seen in a roster, with its device.
    indexes: BTreeMap<u16, DeviceId>,
    overlap: Duration,
    pending: VecDeque<MeetingEvent>,
    /// The rekey being sent, if any; `actions` waits for it.
    rekey: Option<RekeyJob>,
    /// Actions not applied yet (those after a rekey being sent), in order.
    actions: VecDeque<Action>,
    /// The devices the last rekey was sent to, for the `Rekeyed` event of its install.
    sent_to: usize,
    /// The bundles fetched by [`Self::add`] for the invite of each epoch it drew.
    invite_bundles: BTreeMap<u64, Vec<UserBundles>>,
}

impl std::fmt::Debug for MeetingRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeetingRunner")
            .field("membership", &self.membership)
            .finish_non_exhaustive()
    }
}

fn invalid(what: &str) -> SdkError {
    SdkError::BadResponse(format!("join ticket: {what}"))
}

/// The media-plane ticket of a control-plane join ticket, sent to `address`.
pub fn media_ticket(
    ticket: &JoinTicket,
    device_id: &DeviceId,
    address: SocketAddr,
) -> SdkResult<MediaTicket> {
    let session_id: [u8; 16] = hex::decode(&ticket.session.id)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| invalid("session id must be 32 hex digits"))?;
    let key = zeroize::Zeroizing::new(
        conclave_wire::b64::decode(&ticket.session.key)
            .map_err(|_| invalid("session key is not base64"))?,
    );
    let session_key: [u8; 32] = key
        .as_slice()
        .try_into()
        .map_err(|_| invalid("session key must be 32 bytes"))?;
    let meeting_id: [u8; 32] = hex::decode(&ticket.meeting_id)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| invalid("meeting id must be 64 hex digits"))?;
    let worker = u8::try_from(ticket.media.worker).map_err(|_| invalid("worker out of range"))?;
    if ticket.media.transport != "native" {
        return Err(invalid(&format!(
            "transport {:?} is not supported (native only)",
            ticket.media.transport
        )));
    }
    Ok(MediaTicket {
        address,
        worker,
        session_id,
        session_key,
        expires_ms: ticket.session.expires_ms,
        meeting_id,
        device_id: *device_id,
    })
}

/// Resolves the ticket's `host:port`.
async fn resolve(address: &str) -> SdkResult<SocketAddr> {
    let mut addrs = tokio::net::lookup_host(address)
        .await
        .map_err(|e| SdkError::Transport(format!("media address {address}: {e}")))?;
    addrs
        .next()
        .ok_or_else(|| SdkError::Transport(format!("media address {address} does not resolve")))
}

impl MeetingRunner {
    /// Joins the meeting whose current keys are `keys`: asks the relay for a join ticket
    /// (recording this device as joined), opens the push channel, starts the media client
    /// with `options.sources`, and handles what waited on the relay meanwhile.
    pub async fn start(
        mut session: Session,
        keys: EpochKeys,
        role: Role,
        options: MeetingOptions,
    ) -> SdkResult<Self> {
        let own = *session.identity().device_id();
        let provider = session.identity().provider().clone();
        let (membership, users, initiator_user) = match &role {
            Role::Initiator { members, call_type } => {
                let m = Membership::initiator(provider.clone(), own, &keys, *call_type)?;
                let mut users = BTreeMap::new();
                for (d, u) in members {
                    users.insert(device_from_hex(d)?, u.clone());
                }
                (m, users, None)
            }
            Role::Member {
                initiator_device,
                initiator_user,
            } => {
                let init = device_from_hex(initiator_device)?;
                let m = Membership::member(own, init, &keys)?;
                let mut users = BTreeMap::new();
                if let Some(u) = initiator_user {
                    users.insert(init, u.clone());
                }
                (m, users, initiator_user.clone())
            }
        };
        let mid = keys.meeting_id().to_hex();
        session.track_meeting(&keys);
        let push = session.push().await?;
        let ticket = session.accept(&mid).await?;
        let address = match options.media_address {
            Some(a) => a,
            None => resolve(&ticket.media.address).await?,
        };
        let mticket = media_ticket(&ticket, &own, address)?;
        let indexes = keys
            .roster()
            .entries()
            .iter()
            .map(|e| (e.index, e.device_id))
            .collect();
        let mut crypto = MeetingCrypto::new(provider, options.suite, copy_keys(&keys)?, &own)?;
        if let Some(g) = options.grace_ms {
            crypto.set_grace_ms(g);
        }
        let mut config = MediaClientConfig::new(mticket);
        config.pipeline = options.pipeline;
        config.deliver_frames = options.deliver_frames;
        let (media, media_events, task) = MediaClient::connect(config, crypto, options.sources)
            .await
            .map_err(|e| SdkError::Transport(format!("media socket: {e}")))?;
        let mut runner = MeetingRunner {
            session,
            push: Some(push),
            membership,
            media,
            media_events,
            media_task: Some(task),
            media_done: false,
            users,
            initiator_user,
            indexes,
            overlap: options.overlap,
            pending: VecDeque::new(),
            rekey: None,
            actions: VecDeque::new(),
            sent_to: 0,
            invite_bundles: BTreeMap::new(),
        };
        // Containers that arrived before the push channel was open.
        match runner.session.receive().await {
            Ok(waiting) => {
                for r in waiting {
                    runner.on_received(r).await;
                }
            }
            Err(e) => runner.warn(format!("fetching waiting messages: {e}")),
        }
        Ok(runner)
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// The media client (stats, layer preference, more sources).
    pub fn media(&self) -> &MediaClient {
        &self.media
    }

    /// The meeting id, 64 hex digits.
    pub fn meeting_id(&self) -> String {
        self.membership.meeting_id().to_hex()
    }

    /// The device of a sender index (any epoch's roster this device has seen).
    pub fn device_of_index(&self, index: u16) -> Option<String> {
        self.indexes.get(&index).map(hex::encode)
    }

    /// A snapshot of the media statistics (`None` once the media task has ended).
    pub async fn stats(&self) -> Option<MediaStats> {
        self.media.stats().await.ok()
    }

    /// The next thing that happened; `None` when the media session has ended and every
    /// event was returned. Do not drop this future before it completes (a push event being
    /// handled would be lost); to wake up at a time, use [`Self::next_event_until`].
    pub async fn next_event(&mut self) -> Option<MeetingEvent> {
        loop {
            match self.next_event_until(None).await {
                Next::Event(e) => return Some(e),
                Next::Done => return None,
                Next::Timeout => {}
            }
        }
    }

    /// Like [`Self::next_event`], but returns [`Next::Timeout`] at `deadline` if nothing
    /// happened by then. Only waiting is interrupted by the deadline, never the handling
    /// of what arrived.
    pub async fn next_event_until(&mut self, deadline: Option<tokio::time::Instant>) -> Next {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Next::Event(e);
            }
            if self.media_done {
                return Next::Done;
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            // Only waiting happens inside the select (every branch is cancel-safe); what
            // arrived is handled after it, to completion.
            let got = tokio::select! {
                ev = self.media_events.recv() => Arrived::Media(ev),
                ev = next_push(&mut self.push), if self.push.is_some() => Arrived::Push(ev),
                step = rekey_step(&mut self.rekey), if self.rekey.is_some() => {
                    Arrived::Rekey(step)
                }
                () = sleep => return Next::Timeout,
            };
            match got {
                Arrived::Media(Some(ev)) => {
                    if matches!(ev, MediaEvent::Ended(_)) {
                        self.media_done = true;
                    }
                    return Next::Event(MeetingEvent::Media(ev));
                }
                Arrived::Media(None) => self.media_done = true,
                Arrived::Push(Some(Ok(ev))) => match self.session.handle_push(ev).await {
                    Ok(ev) => self.on_session_event(ev).await,
                    Err(e) => self.warn(format!("handling a push event: {e}")),
                },
                Arrived::Push(Some(Err(e))) => self.warn(format!("push channel: {e}")),
                Arrived::Push(None) => {
                    self.push = None;
                    self.warn("the relay closed the push channel".into());
                }
                Arrived::Rekey(step) => self.on_rekey_step(step).await,
            }
        }
    }

    fn warn(&mut self, msg: String) {
        self.pending.push_back(MeetingEvent::Warning(msg));
    }

    async fn on_session_event(&mut self, ev: SessionEvent) {
        match ev {
            SessionEvent::Message(r) => self.on_received(r).await,
            SessionEvent::Member {
                meeting_id,
                device_id,
                state,
            } if meeting_id == self.meeting_id() => match device_from_hex(&device_id) {
                Ok(d) => {
                    let actions = self.membership.on_member_event(&d, state);
                    self.apply(actions).await;
                }
                Err(e) => self.warn(format!("member event: {e}")),
            },
            SessionEvent::MeetingEnded { meeting_id } if meeting_id == self.meeting_id() => {
                let _ = self.media.leave();
                self.pending.push_back(MeetingEvent::Ended);
            }
            other => self.pending.push_back(MeetingEvent::Other(other)),
        }
    }

    async fn on_received(&mut self, r: Received) {
        let d = match r {
            Received::Opened(d) => d,
            Received::Refused(r) => {
                // A departed device's late `leave` or `reject` (the relay's member event came
                // first and the epoch moved on) is expected, not worth a warning.
                let late = device_from_hex(&r.sender_device)
                    .is_ok_and(|d| self.membership.has_departed(&d))
                    && matches!(
                        r.error,
                        ClientError::NotAMember | ClientError::StaleEpoch { .. }
                    );
                if late {
                    return;
                }
                self.warn(format!(
                    "refused container {} from device {}: {}",
                    r.container_id, r.sender_device, r.error
                ));
                return;
            }
        };
        let ours = match &d.opened.payload {
            Payload::Rekey(k) | Payload::Invite(k) => k.meeting_id == self.meeting_id(),
            Payload::Leave { meeting_id, .. } | Payload::Reject { meeting_id } => {
                *meeting_id == self.meeting_id()
            }
            Payload::Text { .. } => false,
        };
        if !ours {
            self.pending
                .push_back(MeetingEvent::Other(SessionEvent::Message(
                    Received::Opened(d),
                )));
            return;
        }
        let sender = d.opened.sender.device_id;
        let actions = self.membership.on_container(&sender, &d.opened.payload);
        self.apply(actions).await;
    }

    /// Queues `actions` and applies them in order; a rekey being sent holds back those
    /// after it until its task has finished.
    async fn apply(&mut self, actions: crate::Result<Vec<Action>>) {
        match actions {
            Ok(a) => self.actions.extend(a),
            Err(e) => return self.warn(format!("meeting: {e}")),
        }
        self.run_actions().await;
    }

    async fn run_actions(&mut self) {
        while self.rekey.is_none()
            && let Some(a) = self.actions.pop_front()
        {
            match a {
                Action::SendRekey { payload, epoch, to } => {
                    self.sent_to = to.len();
                    self.start_rekey(payload, epoch, &to, None);
                }
                Action::SendInvite { payload, epoch, to } => {
                    self.sent_to += to.len();
                    let bundles = self.invite_bundles.remove(&epoch);
                    self.start_rekey(payload, epoch, &to, bundles);
                }
                Action::Install { keys, switch_at_ms } => {
                    let epoch = keys.epoch();
                    let overlap = self.overlap_until(epoch, switch_at_ms);
                    let sent_to = std::mem::take(&mut self.sent_to);
                    self.session.track_meeting(&keys);
                    for e in keys.roster().entries() {
                        self.indexes.insert(e.index, e.device_id);
                    }
                    match self.media.install_epoch(keys, overlap).await {
                        Ok(()) => self
                            .pending
                            .push_back(MeetingEvent::Rekeyed { epoch, sent_to }),
                        Err(e) => self.warn(format!("installing epoch {epoch}: {e}")),
                    }
                }
                Action::Departed { device, why } => {
                    self.pending.push_back(MeetingEvent::Departed {
                        device_id: hex::encode(device),
                        why,
                    })
                }
                Action::Excluded => {
                    let _ = self.media.leave();
                    self.pending.push_back(MeetingEvent::Excluded);
                }
            }
        }
    }

    /// How long after now sending switches to `epoch`: until `switch_at_ms` (master clock)
    /// when the rekey named it, at once if that has passed; else (or if it is too far
    /// ahead: a warning) the fixed overlap.
    fn overlap_until(&mut self, epoch: u64, switch_at_ms: Option<u64>) -> Duration {
        let Some(at) = switch_at_ms else {
            return self.overlap;
        };
        match switch_delay_ms(at, self.session.now_ms()) {
            Ok(ms) => Duration::from_millis(ms),
            Err(e) => {
                self.warn(format!(
                    "epoch {epoch}: {e}; switching after the fixed overlap"
                ));
                self.overlap
            }
        }
    }

    /// Starts sending a rekey (or an add's invite) to `to`: a task fetches the bundles of
    /// their users, unless they were fetched already ([`Self::on_rekey_step`] seals and
    /// posts).
    fn start_rekey(
        &mut self,
        payload: Payload,
        epoch: u64,
        to: &[DeviceId],
        fetched: Option<Vec<UserBundles>>,
    ) {
        if to.is_empty() {
            return;
        }
        if let Some(mut bundles) = fetched {
            for b in &mut bundles {
                b.devices.retain(|d| to.contains(&d.device.device_id));
            }
            let task = tokio::spawn(async move { RekeyStep::Fetched(Ok(bundles)) });
            self.rekey = Some(RekeyJob {
                epoch,
                payload,
                task,
            });
            return;
        }
        let mut hashes: Vec<String> = to
            .iter()
            .filter_map(|d| self.users.get(d).cloned())
            .collect();
        hashes.sort();
        hashes.dedup();
        let unknown: Vec<String> = to
            .iter()
            .filter(|d| !self.users.contains_key(*d))
            .map(hex::encode)
            .collect();
        if !unknown.is_empty() {
            self.warn(format!(
                "no user known for device(s) {}: they get no {}",
                unknown.join(", "),
                match payload {
                    Payload::Invite(_) => "invite",
                    _ => "rekey",
                }
            ));
        }
        if hashes.is_empty() {
            return;
        }
        let fetch = fetch_for_rekey(self.session.fetcher(), hashes, to.to_vec());
        let task = tokio::spawn(async move { RekeyStep::Fetched(fetch.await) });
        self.rekey = Some(RekeyJob {
            epoch,
            payload,
            task,
        });
    }

    /// A step of the rekey being sent: bundles fetched → seal here and post in a task;
    /// posted → done, the actions after it go on. Failures are warnings.
    async fn on_rekey_step(&mut self, step: RekeyStep) {
        let Some(mut job) = self.rekey.take() else {
            return;
        };
        let (epoch, what) = (job.epoch, job.what());
        let failed =
            |e: &dyn std::fmt::Display| format!("sending the {what} to epoch {epoch}: {e}");
        match step {
            RekeyStep::Fetched(Ok(mut bundles)) => {
                // The switch time is chosen now, just before sealing: the fetching is over,
                // what is left is sealing and the relay's pushes, which take longer the more
                // devices there are (PROTOCOL §12.3).
                let devices = bundles.iter().map(|b| b.devices.len()).sum();
                let base = u64::try_from(self.overlap.as_millis()).unwrap_or(u64::MAX);
                stamp_rekey(
                    &mut job.payload,
                    &mut self.actions,
                    epoch,
                    self.session.now_ms(),
                    base,
                    devices,
                );
                match self.session.seal_to_bundles(&job.payload, &mut bundles) {
                    Ok(sealed) => {
                        let client = self.session.relay_client();
                        let task =
                            tokio::spawn(
                                async move { RekeyStep::Posted(sealed.post(&client).await) },
                            );
                        self.rekey = Some(RekeyJob { task, ..job });
                        return;
                    }
                    Err(e) => self.warn(failed(&e)),
                }
            }
            RekeyStep::Fetched(Err(e)) | RekeyStep::Posted(Err(e)) => self.warn(failed(&e)),
            RekeyStep::Posted(Ok(sent)) => {
                if !sent.skipped.is_empty() {
                    self.warn(format!(
                        "{what} not sent to device(s) {} (no prekeys on the relay)",
                        sent.skipped.join(", ")
                    ));
                }
            }
        }
        self.run_actions().await;
    }

    /// Removes a participant (initiator only): records `removed` with the relay (which
    /// closes its media session) and starts the rekey without it, which goes on while
    /// [`Self::next_event`] is called ([`MeetingEvent::Rekeyed`] once it is installed).
    pub async fn remove(&mut self, device_id: &str) -> SdkResult<()> {
        let device = device_from_hex(device_id)?;
        if !self.membership.is_initiator() {
            return Err(SdkError::Invalid(
                "only the meeting's initiator removes participants".into(),
            ));
        }
        if !self.membership.is_member(&device) {
            return Err(SdkError::Invalid(format!(
                "device {device_id} is not in the meeting's current roster"
            )));
        }
        self.session
            .remove_member(&self.meeting_id(), device_id)
            .await?;
        let actions = self.membership.remove(&device);
        self.apply(actions).await;
        Ok(())
    }

    /// Adds every device of `user_hash` to the running meeting (initiator only): fetches
    /// and verifies the user's bundles, records each device not in the meeting yet (and
    /// with a prekey on the relay) as `invited` with the relay, and starts the next epoch
    /// with them: the `rekey` to the devices already in it, then the `invite` (the new
    /// epoch's keys) to the new devices, which go on while [`Self::next_event`] is called;
    /// the initiator installs the epoch once both are posted ([`MeetingEvent::Rekeyed`]).
    /// Returns the added devices (32 hex digits each).
    pub async fn add(&mut self, user_hash: &str) -> SdkResult<Vec<String>> {
        if !self.membership.is_initiator() {
            return Err(SdkError::Invalid(
                "only the meeting's initiator adds participants".into(),
            ));
        }
        let mut bundles = self.session.fetch_bundles(user_hash).await?;
        bundles
            .devices
            .retain(|d| !self.membership.is_member(&d.device.device_id) && !d.prekeys.is_empty());
        if bundles.devices.is_empty() {
            return Err(SdkError::Invalid(format!(
                "user {user_hash} has no device to add (all in the meeting, or no prekeys)"
            )));
        }
        if let Some(d) = bundles
            .devices
            .iter()
            .find(|d| self.membership.has_departed(&d.device.device_id))
        {
            return Err(SdkError::Invalid(format!(
                "device {} has left the meeting",
                hex::encode(d.device.device_id)
            )));
        }
        let mid = self.meeting_id();
        let devices: Vec<String> = bundles
            .devices
            .iter()
            .map(|d| hex::encode(d.device.device_id))
            .collect();
        for d in &devices {
            self.session
                .client()
                .set_member(&mid, d, super::types::MemberState::Invited)
                .await?;
        }
        let entries = bundles
            .devices
            .iter()
            .map(|d| (d.device.device_id, d.device.user_key))
            .collect();
        let actions = self.membership.add(entries)?;
        for d in &bundles.devices {
            self.users.insert(d.device.device_id, user_hash.to_string());
        }
        self.invite_bundles
            .insert(self.membership.epoch(), vec![bundles]);
        self.apply(Ok(actions)).await;
        Ok(devices)
    }

    /// Leaves the meeting: a member records `left` with the relay and tells the initiator
    /// in a `leave` container (when its user is known); the initiator ends the meeting
    /// (nobody would rekey after it). Then the media session sends LEAVE; keep calling
    /// [`Self::next_event`] to see it end.
    pub async fn leave(&mut self) -> SdkResult<()> {
        let mid = self.meeting_id();
        let result = if self.membership.is_initiator() {
            self.session.client().end_meeting(&mid).await
        } else {
            let initiator = self
                .initiator_user
                .as_deref()
                .map(|u| (u, self.membership.initiator_device()));
            self.session
                .leave(&mid, self.membership.epoch(), initiator)
                .await
                .map(|_| ())
        };
        let _ = self.media.leave();
        result
    }

    /// Waits for the media task to finish (after [`Self::leave`] or the end) and returns
    /// the session.
    pub async fn finish(mut self) -> Session {
        // A rekey being sent is finished first (bounded), as if it had been sent inline.
        let rekey = async {
            while self.rekey.is_some() {
                let step = rekey_step(&mut self.rekey).await;
                self.on_rekey_step(step).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), rekey).await;
        if let Some(t) = self.media_task.take() {
            let _ = self.media.leave();
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
        if let Some(p) = self.push.take() {
            p.close().await;
        }
        self.session
    }
}

/// The next step of the rekey being sent (pending when there is none).
async fn rekey_step(job: &mut Option<RekeyJob>) -> RekeyStep {
    match job {
        Some(j) => match (&mut j.task).await {
            Ok(step) => step,
            Err(e) => RekeyStep::Posted(Err(SdkError::Transport(format!("rekey task: {e}")))),
        },
        None => std::future::pending().await,
    }
}

async fn next_push(push: &mut Option<PushStream>) -> Option<SdkResult<super::types::PushEvent>> {
    match push {
        Some(p) => p.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::{MediaEndpoint, MediaSession};

    fn ticket(key: &str, worker: u32, transport: &str) -> JoinTicket {
        JoinTicket {
            meeting_id: "ab".repeat(32),
            media: MediaEndpoint {
                transport: transport.into(),
                address: "127.0.0.1:7000".into(),
                worker,
            },
            session: MediaSession {
                id: "cd".repeat(16),
                key: key.into(),
                expires_ms: 42,
            },
        }
    }

    #[test]
    fn join_tickets_decode_into_media_tickets_and_bad_ones_are_refused() {
        let key = conclave_wire::b64::encode(&[7u8; 32]);
        let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let t = media_ticket(&ticket(&key, 3, "native"), &[1; 16], to).unwrap();
        assert_eq!(t.address, to, "the override wins");
        assert_eq!(t.worker, 3);
        assert_eq!(t.session_id, [0xcd; 16]);
        assert_eq!(t.session_key, [7; 32]);
        assert_eq!(t.meeting_id, [0xab; 32]);
        assert_eq!(t.device_id, [1; 16]);
        assert_eq!(t.expires_ms, 42);
        let short = conclave_wire::b64::encode(&[7u8; 31]);
        for bad in [
            ticket(&short, 0, "native"),
            ticket("not base64!", 0, "native"),
            ticket(&key, 256, "native"),
            ticket(&key, 0, "webrtc"),
        ] {
            assert!(media_ticket(&bad, &[1; 16], to).is_err());
        }
        let mut odd = ticket(&key, 0, "native");
        odd.session.id = "xyz".into();
        assert!(media_ticket(&odd, &[1; 16], to).is_err());
    }
}
