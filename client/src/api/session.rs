//! [`Session`]: an [`Identity`] tied to a relay account. It registers the user, the device
//! and its prekeys, keeps the prekey pool filled, fetches and verifies bundles, seals and
//! posts containers, and fetches, opens, checks and acknowledges what arrives.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use conclave_crypto::P256PublicKey;
use conclave_wire::bundle::{DeviceBundle, MAX_BUNDLE_PREKEYS};

use super::client::RelayClient;
use super::credentials::Credentials;
use super::push::PushStream;
use super::types::{JoinTicket, MemberState, PushEvent, StoredMessage};
use super::user_hash::{is_user_hash, user_hash};
use super::{SdkError, SdkResult};
use crate::ClientError;
use crate::container::{
    CallType, DEFAULT_TTL_SECONDS, EpochGuard, MeetingKeysJson, OpenOptions, OpenedContainer,
    Payload, Recipient, SealOptions, SeenContainers, open, seal,
};
use crate::identity::{Identity, IdentityStore, VerifiedBundle, fingerprint, verify_bundle};
use crate::meeting::{EpochKeys, MeetingId, Roster, RosterEntry};

/// Tunables of a [`Session`].
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// How the session authenticates (development credential by default).
    pub credentials: Credentials,
    /// Prekeys uploaded at registration and at each refill.
    pub prekey_batch: usize,
    /// Refill when the relay's pool for this device is below this.
    pub prekey_threshold: u64,
    /// Time to live of the containers this session seals.
    pub ttl_seconds: u32,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            credentials: Credentials::Dev,
            prekey_batch: 100,
            prekey_threshold: 20,
            ttl_seconds: DEFAULT_TTL_SECONDS,
        }
    }
}

/// What [`Session::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration {
    /// The user was new (else it existed: this is a further device of the user).
    pub user_created: bool,
    /// The device was new (else it was registered before).
    pub device_created: bool,
    /// The relay's prekey pool of this device after the upload.
    pub pool_size: u64,
}

/// The verified bundles of every device of one user.
#[derive(Debug, Clone)]
pub struct UserBundles {
    pub user_hash: String,
    /// One entry per active device, each verified (user key → app key → prekey).
    pub devices: Vec<VerifiedBundle>,
}

impl UserBundles {
    /// The user key all devices carry (`None` for a user without devices).
    pub fn user_key(&self) -> Option<&P256PublicKey> {
        self.devices.first().map(|d| &d.device.user_key)
    }
}

/// A container sealed and posted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub container_id: String,
    pub expires_ms: u64,
    /// Devices the container was sealed to.
    pub recipients: Vec<String>,
    /// Devices left out because the relay had no prekey for them.
    pub skipped: Vec<String>,
}

/// A sealed container not posted yet ([`Session::seal_to_bundles`]).
pub(crate) struct SealedContainer {
    container: Vec<u8>,
    recipients: Vec<String>,
    skipped: Vec<String>,
}

impl SealedContainer {
    /// Posts it with `client` (the session's credential).
    pub(crate) async fn post(self, client: &RelayClient) -> SdkResult<Sent> {
        let posted = client.post_container(&self.container).await?;
        Ok(Sent {
            container_id: posted.container_id,
            expires_ms: posted.expires_ms,
            recipients: self.recipients,
            skipped: self.skipped,
        })
    }
}

/// A meeting started by [`Session::call`].
#[derive(Debug)]
pub struct Invitation {
    pub meeting_id: MeetingId,
    /// Epoch 0: the meeting key and the roster (this device has index 0).
    pub keys: EpochKeys,
    pub sent: Sent,
    /// The user hash of every invited device (32 hex digits → user hash), for rekeys.
    pub members: BTreeMap<String, String>,
}

/// A container delivered to this device that opened and passed the replay and epoch
/// guards.
#[derive(Debug, Clone)]
pub struct Delivered {
    pub container_id: String,
    pub sender_device: String,
    /// Fingerprint of the sender's (verified) user key.
    pub sender_fingerprint: String,
    pub opened: OpenedContainer,
}

/// A container that can never be opened here (tampered, expired, replayed, stale epoch,
/// prekey already used, …). It was acknowledged so that it is not delivered again.
#[derive(Debug)]
pub struct Refused {
    pub container_id: String,
    pub sender_device: String,
    pub error: ClientError,
}

/// The outcome of one delivery.
#[derive(Debug)]
pub enum Received {
    Opened(Box<Delivered>),
    Refused(Refused),
}

/// What a push event led to.
#[derive(Debug)]
pub enum SessionEvent {
    /// A container arrived and was handled.
    Message(Received),
    /// The relay said the pool was low; new prekeys were uploaded.
    PrekeysRefilled { pool_size: u64, uploaded: usize },
    /// A meeting was ended by its initiator.
    MeetingEnded { meeting_id: String },
    /// A member of a meeting became `left`, `removed` or `rejected` (the relay's event).
    Member {
        meeting_id: String,
        device_id: String,
        state: MemberState,
    },
    /// An event this SDK does not know.
    Unknown,
}

/// An identity connected to a relay account.
#[derive(Debug)]
pub struct Session {
    client: RelayClient,
    identity: Identity,
    store: Option<IdentityStore>,
    user_hash: String,
    device_id: String,
    salt: Vec<u8>,
    clock_offset_ms: i64,
    options: SessionOptions,
    seen: SeenContainers,
    epochs: EpochGuard,
}

fn local_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Fetches and verifies bundles ([`Session::fetch_bundles`]) without holding the session.
#[derive(Clone)]
pub(crate) struct BundleFetcher {
    client: RelayClient,
    provider: std::sync::Arc<dyn conclave_crypto::CryptoProvider>,
}

impl BundleFetcher {
    /// See [`Session::fetch_bundles`].
    pub(crate) async fn fetch(&self, user_hash: &str) -> SdkResult<UserBundles> {
        let raw = self.client.fetch_bundle(user_hash).await?;
        if raw.user_hash != user_hash {
            return Err(SdkError::BadResponse(format!(
                "asked for the bundles of {user_hash}, got {}",
                raw.user_hash
            )));
        }
        let p = self.provider.as_ref();
        let mut devices: Vec<VerifiedBundle> = Vec::with_capacity(raw.devices.len());
        for doc in &raw.devices {
            let bundle = DeviceBundle::from_json(&doc.to_string())
                .map_err(|e| SdkError::BadResponse(format!("bundle of {user_hash}: {e}")))?;
            let verified = verify_bundle(p, &bundle)?;
            if let Some(first) = devices.first()
                && first.device.user_key != verified.device.user_key
            {
                return Err(SdkError::Protocol(ClientError::UntrustedSender));
            }
            if devices
                .iter()
                .any(|d| d.device.device_id == verified.device.device_id)
            {
                return Err(SdkError::BadResponse(format!(
                    "device {} appears twice in a bundle",
                    hex::encode(verified.device.device_id)
                )));
            }
            devices.push(verified);
        }
        Ok(UserBundles {
            user_hash: user_hash.to_string(),
            devices,
        })
    }
}

impl Session {
    /// Connects `identity` to the relay as `username`: reads the deployment's salt and
    /// hashes the username with it, and synchronises with the master clock. When `store`
    /// is given, prekey changes are persisted there (always before they matter: new
    /// prekeys before they are uploaded, consumed ones before a message is acknowledged).
    pub async fn connect(
        relay: &str,
        identity: Identity,
        store: Option<IdentityStore>,
        username: &str,
        options: SessionOptions,
    ) -> SdkResult<Self> {
        let client = RelayClient::new(relay)?;
        let info = client.info().await?;
        let salt = info.salt()?;
        let hash = user_hash(identity.provider().as_ref(), &salt, username)?;
        Self::connect_with(client, identity, store, &hash, salt, options).await
    }

    /// Like [`Session::connect`] with a known user hash and an existing client.
    pub async fn connect_with_hash(
        client: RelayClient,
        identity: Identity,
        store: Option<IdentityStore>,
        user_hash: &str,
        options: SessionOptions,
    ) -> SdkResult<Self> {
        let salt = client.info().await?.salt()?;
        Self::connect_with(client, identity, store, user_hash, salt, options).await
    }

    async fn connect_with(
        client: RelayClient,
        identity: Identity,
        store: Option<IdentityStore>,
        user_hash: &str,
        salt: Vec<u8>,
        options: SessionOptions,
    ) -> SdkResult<Self> {
        if !is_user_hash(user_hash) {
            return Err(SdkError::Invalid(format!(
                "{user_hash:?} is not a user hash (64 lowercase hex digits)"
            )));
        }
        if options.prekey_batch == 0 || options.prekey_batch > 10 * MAX_BUNDLE_PREKEYS {
            return Err(SdkError::Invalid(
                "prekey batch must be 1..=10000 prekeys".into(),
            ));
        }
        let device_id = hex::encode(identity.device_id());
        let client = client.with_bearer(options.credentials.bearer(user_hash, Some(&device_id)));
        let before = local_ms();
        let relay_now = client.clock().await?.now_ms;
        let after = local_ms();
        let local_mid = before / 2 + after / 2;
        let clock_offset_ms = relay_now as i64 - local_mid as i64;
        Ok(Session {
            client,
            identity,
            store,
            user_hash: user_hash.to_string(),
            device_id,
            salt,
            clock_offset_ms,
            options,
            seen: SeenContainers::new(),
            epochs: EpochGuard::new(),
        })
    }

    /// The relay client, acting with this device's credential.
    pub fn client(&self) -> &RelayClient {
        &self.client
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    pub fn user_hash(&self) -> &str {
        &self.user_hash
    }

    /// This device's id, 32 hex digits.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The fingerprint of this user's key.
    pub fn fingerprint(&self) -> String {
        fingerprint(
            self.identity.provider().as_ref(),
            &self.identity.user_public_key(),
        )
    }

    /// The user hash of another username on this relay.
    pub fn user_hash_of(&self, username: &str) -> SdkResult<String> {
        user_hash(self.identity.provider().as_ref(), &self.salt, username)
    }

    /// The master clock, estimated from the offset measured at connection.
    pub fn now_ms(&self) -> u64 {
        local_ms().saturating_add_signed(self.clock_offset_ms)
    }

    fn persist_prekeys(&self) -> SdkResult<()> {
        if let Some(store) = &self.store {
            store.save_prekeys(&self.identity)?;
        }
        Ok(())
    }

    // --- Registration and prekeys --------------------------------------------------------

    /// Registers the user (unless it exists: then this is a further device of it), this
    /// device with its certificate, and `prekeys` fresh prekeys.
    pub async fn register(&mut self, prekeys: usize) -> SdkResult<Registration> {
        let user_created = match self.client.create_user(&self.user_hash).await {
            Ok(_) => true,
            Err(e) if e.is_api("conflict") => false,
            Err(e) => return Err(e),
        };
        let cert = self.identity.certificate().to_bytes();
        let device_created = match self.client.register_device(&self.user_hash, &cert).await {
            Ok(created) if created.device_id == self.device_id => true,
            Ok(created) => {
                return Err(SdkError::BadResponse(format!(
                    "registered device {} instead of {}",
                    created.device_id, self.device_id
                )));
            }
            Err(e) if e.is_api("conflict") && self.is_registered().await? => false,
            Err(e) => return Err(e),
        };
        let pool_size = if prekeys > 0 {
            self.upload_prekeys(prekeys).await?
        } else {
            self.client.pool_size(&self.device_id).await?.pool_size
        };
        Ok(Registration {
            user_created,
            device_created,
            pool_size,
        })
    }

    /// Is this device (with this certificate) registered under the user?
    async fn is_registered(&self) -> SdkResult<bool> {
        let cert = conclave_wire::b64::encode(&self.identity.certificate().to_bytes());
        Ok(self
            .client
            .list_devices(&self.user_hash)
            .await?
            .devices
            .iter()
            .any(|d| d.device_id == self.device_id && d.certificate == cert))
    }

    /// Generates `n` prekeys, persists them (private halves first), and uploads them in
    /// batches of at most 1000. Returns the relay's pool size.
    pub async fn upload_prekeys(&mut self, n: usize) -> SdkResult<u64> {
        let fresh = self.identity.generate_prekeys(n)?;
        self.persist_prekeys()?;
        let mut pool = 0;
        for chunk in fresh.chunks(MAX_BUNDLE_PREKEYS) {
            pool = self
                .client
                .upload_prekeys(&self.device_id, chunk)
                .await?
                .pool_size;
        }
        Ok(pool)
    }

    /// Asks the relay for this device's pool size and refills it with
    /// [`SessionOptions::prekey_batch`] prekeys when it is below the threshold. Returns the
    /// number uploaded and the pool size.
    pub async fn ensure_prekeys(&mut self) -> SdkResult<(usize, u64)> {
        let pool = self.client.pool_size(&self.device_id).await?.pool_size;
        self.refill_if_low(pool).await
    }

    async fn refill_if_low(&mut self, pool: u64) -> SdkResult<(usize, u64)> {
        if pool >= self.options.prekey_threshold {
            return Ok((0, pool));
        }
        let n = self.options.prekey_batch;
        Ok((n, self.upload_prekeys(n).await?))
    }

    // --- Bundles and sending -------------------------------------------------------------

    /// Fetches the bundles of every device of `user_hash` (taking one prekey of each) and
    /// verifies every one of them before anything is used: the certificate under the user
    /// key, every prekey under the app key, and that all devices carry the same user key.
    pub async fn fetch_bundles(&self, user_hash: &str) -> SdkResult<UserBundles> {
        self.fetcher().fetch(user_hash).await
    }

    /// What fetches and verifies bundles, detached from the session (for a task of its own).
    pub(crate) fn fetcher(&self) -> BundleFetcher {
        BundleFetcher {
            client: self.client.clone(),
            provider: self.identity.provider().clone(),
        }
    }

    /// Recipients out of verified bundles: this device is left out, devices without a
    /// prekey are skipped (and named).
    fn recipients(&self, bundles: &mut [UserBundles]) -> SdkResult<(Vec<Recipient>, Vec<String>)> {
        let p = self.identity.provider().clone();
        let mut recipients = Vec::new();
        let mut skipped = Vec::new();
        for user in bundles.iter_mut() {
            for b in user.devices.iter_mut() {
                if &b.device.device_id == self.identity.device_id() {
                    continue;
                }
                match Recipient::take_from_bundle(p.as_ref(), b) {
                    Ok(r) => recipients.push(r),
                    Err(ClientError::NoPrekeys) => skipped.push(hex::encode(b.device.device_id)),
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if recipients.is_empty() {
            return Err(SdkError::Invalid(if skipped.is_empty() {
                "nobody to send to: the users have no registered device".into()
            } else {
                format!(
                    "nobody to send to: the relay has no prekeys left for device(s) {}",
                    skipped.join(", ")
                )
            }));
        }
        Ok((recipients, skipped))
    }

    async fn seal_and_post(
        &self,
        payload: &Payload,
        recipients: &[Recipient],
        skipped: Vec<String>,
    ) -> SdkResult<Sent> {
        let sealed = self.seal_for(payload, recipients, skipped)?;
        sealed.post(&self.client).await
    }

    fn seal_for(
        &self,
        payload: &Payload,
        recipients: &[Recipient],
        skipped: Vec<String>,
    ) -> SdkResult<SealedContainer> {
        let container = seal(
            &self.identity,
            payload,
            recipients,
            SealOptions {
                now_ms: self.now_ms(),
                ttl_seconds: self.options.ttl_seconds,
            },
        )?;
        Ok(SealedContainer {
            container,
            recipients: recipients
                .iter()
                .map(|r| hex::encode(r.device.device_id))
                .collect(),
            skipped,
        })
    }

    /// Seals `payload` to the devices of already fetched bundles without posting it (the
    /// caller posts it with [`SealedContainer::post`], e.g. from a task of its own).
    pub(crate) fn seal_to_bundles(
        &self,
        payload: &Payload,
        bundles: &mut [UserBundles],
    ) -> SdkResult<SealedContainer> {
        let (recipients, skipped) = self.recipients(bundles)?;
        self.seal_for(payload, &recipients, skipped)
    }

    /// A client of the relay with this session's credential (cheap: shares the pool).
    pub(crate) fn relay_client(&self) -> RelayClient {
        self.client.clone()
    }

    /// Seals `payload` to every device of every user in `user_hashes` (one container for
    /// all) and posts it.
    pub async fn send(&self, payload: &Payload, user_hashes: &[String]) -> SdkResult<Sent> {
        let mut bundles = Vec::with_capacity(user_hashes.len());
        for u in user_hashes {
            bundles.push(self.fetch_bundles(u).await?);
        }
        self.send_to_bundles(payload, &mut bundles).await
    }

    /// Seals `payload` to the devices of already fetched bundles and posts it.
    pub async fn send_to_bundles(
        &self,
        payload: &Payload,
        bundles: &mut [UserBundles],
    ) -> SdkResult<Sent> {
        let (recipients, skipped) = self.recipients(bundles)?;
        self.seal_and_post(payload, &recipients, skipped).await
    }

    /// A text message to every device of `user_hash`.
    pub async fn send_text(&self, user_hash: &str, text: &str) -> SdkResult<Sent> {
        let payload = Payload::Text {
            text: text.to_string(),
        };
        self.send(&payload, &[user_hash.to_string()]).await
    }

    /// Starts a call with every device of the given users: fetches and verifies their
    /// bundles, makes a fresh meeting id and meeting key (epoch 0; this device is index 0,
    /// the others follow in order), registers the meeting and its invited members with the
    /// relay, and posts one invite container sealed to all of them.
    pub async fn call(
        &mut self,
        user_hashes: &[String],
        call_type: CallType,
    ) -> SdkResult<Invitation> {
        let mut bundles = Vec::with_capacity(user_hashes.len());
        for u in user_hashes {
            bundles.push(self.fetch_bundles(u).await?);
        }
        self.call_bundles(&mut bundles, call_type).await
    }

    /// [`Session::call`] with already fetched bundles.
    pub async fn call_bundles(
        &mut self,
        bundles: &mut [UserBundles],
        call_type: CallType,
    ) -> SdkResult<Invitation> {
        let (recipients, skipped) = self.recipients(bundles)?;
        let members: BTreeMap<String, String> = bundles
            .iter()
            .flat_map(|u| {
                u.devices
                    .iter()
                    .map(|d| (hex::encode(d.device.device_id), u.user_hash.clone()))
            })
            .filter(|(d, _)| {
                recipients
                    .iter()
                    .any(|r| hex::encode(r.device.device_id) == *d)
            })
            .collect();
        let p = self.identity.provider().clone();
        let mut entries = vec![RosterEntry {
            index: 0,
            device_id: *self.identity.device_id(),
            user_key: self.identity.user_public_key(),
        }];
        for (i, r) in recipients.iter().enumerate() {
            entries.push(RosterEntry {
                index: u16::try_from(i + 1)
                    .map_err(|_| SdkError::Invalid("too many participants".into()))?,
                device_id: r.device.device_id,
                user_key: r.device.user_key,
            });
        }
        let properties = format!(
            "{{\"initiator\":\"{}\",\"created_ms\":{}}}",
            self.device_id,
            self.now_ms()
        );
        let meeting_id = MeetingId::generate(p.as_ref(), properties.as_bytes())?;
        let keys = EpochKeys::start(p.as_ref(), meeting_id, Roster::new(entries)?)?;
        let mid = meeting_id.to_hex();
        self.client.create_meeting(&mid).await?;
        for r in &recipients {
            self.client
                .set_member(&mid, &hex::encode(r.device.device_id), MemberState::Invited)
                .await?;
        }
        let payload = Payload::Invite(MeetingKeysJson::from_keys(&keys, call_type));
        let sent = self.seal_and_post(&payload, &recipients, skipped).await?;
        self.epochs.record(&keys);
        Ok(Invitation {
            meeting_id,
            keys,
            sent,
            members,
        })
    }

    /// Seals `payload` to exactly the given devices of the given users (bundles of the
    /// users are fetched; their other devices are left out) and posts it.
    pub async fn send_to_devices(
        &self,
        payload: &Payload,
        user_hashes: &[String],
        devices: &[[u8; 16]],
    ) -> SdkResult<Sent> {
        let mut bundles = Vec::with_capacity(user_hashes.len());
        for u in user_hashes {
            let mut b = self.fetch_bundles(u).await?;
            b.devices.retain(|d| devices.contains(&d.device.device_id));
            bundles.push(b);
        }
        self.send_to_bundles(payload, &mut bundles).await
    }

    /// Tells the replay and epoch guards about a meeting's keys this device knows first
    /// hand (its own invite or rekey, or an invitation opened by an earlier process), so
    /// that later `leave` and `rekey` containers of its members are accepted.
    pub fn track_meeting(&mut self, keys: &EpochKeys) {
        self.epochs.record(keys);
    }

    /// Leaves a meeting: when the initiator's user is known, sends a `leave` container at
    /// `epoch` to the initiator's device (first, so that the initiator learns it from this
    /// device's signature), then records this device as `left` with the relay (which
    /// closes its media session and tells the others). The relay is told even when the
    /// container could not be sent; then that error is returned.
    pub async fn leave(
        &self,
        meeting_id: &str,
        epoch: u64,
        initiator: Option<(&str, [u8; 16])>,
    ) -> SdkResult<Option<Sent>> {
        MeetingId::from_hex(meeting_id)?;
        let told = match initiator {
            Some((user_hash, device)) if &device != self.identity.device_id() => {
                let payload = Payload::Leave {
                    meeting_id: meeting_id.to_string(),
                    epoch,
                };
                Some(
                    self.send_to_devices(&payload, &[user_hash.to_string()], &[device])
                        .await,
                )
            }
            _ => None,
        };
        self.client
            .set_member(meeting_id, &self.device_id, MemberState::Left)
            .await?;
        told.transpose()
    }

    /// Removes a device from a meeting this device started: records it as `removed` with
    /// the relay (which closes its media session and refuses its tickets). The rekey that
    /// cuts it out cryptographically is the initiator's meeting runner's job.
    pub async fn remove_member(&self, meeting_id: &str, device_id: &str) -> SdkResult<()> {
        MeetingId::from_hex(meeting_id)?;
        self.client
            .set_member(meeting_id, device_id, MemberState::Removed)
            .await
    }

    // --- Meetings --------------------------------------------------------------------------

    /// Accepts an invitation: records this device as joined and returns the join ticket.
    pub async fn accept(&self, meeting_id: &str) -> SdkResult<JoinTicket> {
        self.client.join_meeting(meeting_id).await
    }

    /// Rejects an invitation: records this device as rejected and sends a `reject`
    /// container to every device of the users in `notify` (the initiator's user).
    pub async fn reject(&self, meeting_id: &str, notify: &[String]) -> SdkResult<Option<Sent>> {
        MeetingId::from_hex(meeting_id)?;
        self.client
            .set_member(meeting_id, &self.device_id, MemberState::Rejected)
            .await?;
        if notify.is_empty() {
            return Ok(None);
        }
        let payload = Payload::Reject {
            meeting_id: meeting_id.to_string(),
        };
        self.send(&payload, notify).await.map(Some)
    }

    // --- Receiving -------------------------------------------------------------------------

    /// Fetches every pending container, and opens, checks and acknowledges each one.
    pub async fn receive(&mut self) -> SdkResult<Vec<Received>> {
        const BATCH: u32 = 50;
        let mut out = Vec::new();
        loop {
            let batch = self.client.fetch_messages(BATCH).await?.messages;
            let n = batch.len();
            for m in &batch {
                out.push(self.handle_message(m).await?);
            }
            if n < BATCH as usize {
                return Ok(out);
            }
        }
    }

    /// Handles one delivery: opens it (signature, then device key, then prekey), persists
    /// the prekey's consumption, applies the replay guard and the epoch guard, and only
    /// then acknowledges it. A container that can never open here is acknowledged too and
    /// comes back as [`Received::Refused`]; a container from the future (clock skew) is
    /// left on the relay. Errors (persistence, network) leave the message unacknowledged.
    pub async fn handle_message(&mut self, m: &StoredMessage) -> SdkResult<Received> {
        let now = self.now_ms();
        let refused = |error: ClientError| {
            Received::Refused(Refused {
                container_id: m.container_id.clone(),
                sender_device: m.sender_device.clone(),
                error,
            })
        };
        let outcome = match m.bytes() {
            Err(_) => Err(ClientError::Wire(conclave_wire::WireError::Invalid(
                "container is not base64",
            ))),
            Ok(bytes) => open(
                &mut self.identity,
                &bytes,
                OpenOptions {
                    now_ms: now,
                    expected_sender: None,
                },
            ),
        };
        let received = match outcome {
            Ok(opened) => {
                // The prekey's private half is gone from disk before anything else happens.
                self.persist_prekeys()?;
                match self
                    .seen
                    .check_and_record(&opened, now)
                    .and_then(|()| self.epochs.check(&opened))
                {
                    Ok(()) => {
                        let sender_fingerprint =
                            fingerprint(self.identity.provider().as_ref(), &opened.sender.user_key);
                        Received::Opened(Box::new(Delivered {
                            container_id: m.container_id.clone(),
                            sender_device: m.sender_device.clone(),
                            sender_fingerprint,
                            opened,
                        }))
                    }
                    Err(e) => refused(e),
                }
            }
            Err(e @ ClientError::FromTheFuture { .. }) => return Ok(refused(e)),
            Err(e) => refused(e),
        };
        match self.client.acknowledge(&m.container_id).await {
            Ok(()) => Ok(received),
            Err(e) if e.is_api("not_found") => Ok(received),
            Err(e) => Err(e),
        }
    }

    /// Opens the push channel for this device.
    pub async fn push(&self) -> SdkResult<PushStream> {
        self.client.connect_push().await
    }

    /// Acts on one push event: containers are handled like fetched ones, a low prekey pool
    /// is refilled.
    pub async fn handle_push(&mut self, event: PushEvent) -> SdkResult<SessionEvent> {
        Ok(match event {
            PushEvent::Container(m) => SessionEvent::Message(self.handle_message(&m).await?),
            PushEvent::PrekeysLow { pool_size } => {
                let (uploaded, pool_size) = self.refill_if_low(pool_size).await?;
                SessionEvent::PrekeysRefilled {
                    pool_size,
                    uploaded,
                }
            }
            PushEvent::MeetingEnded { meeting_id } => SessionEvent::MeetingEnded { meeting_id },
            PushEvent::Member {
                meeting_id,
                device_id,
                state,
            } => SessionEvent::Member {
                meeting_id,
                device_id,
                state,
            },
            PushEvent::Unknown => SessionEvent::Unknown,
        })
    }

    /// Consumes the session, returning the identity (with its current prekey pool).
    pub fn into_identity(self) -> Identity {
        self.identity
    }
}
