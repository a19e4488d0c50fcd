//! Meetings: the meeting id, the meeting key of each epoch, the roster with sender
//! indexes, per-sender SFrame base keys, rekeying, and [`MeetingCrypto`], the sans-IO
//! media key state of one participant (time is passed in).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use conclave_crypto::{CryptoProvider, HashAlg, P256PublicKey, Secret};
use conclave_wire::container::DEVICE_ID_LEN;
use conclave_wire::sframe::{MediaKid, SframeHeader};

use crate::sframe::{CipherSuite, FrameRef, SealedFrames, SframeKey, SframeReceiver, SframeSender};
use crate::{ClientError, Result};

/// Meeting id length: SHA-256.
pub const MEETING_ID_LEN: usize = 32;
/// Meeting key length.
pub const MEETING_KEY_LEN: usize = 32;
/// Random bits mixed into every meeting id.
pub const MEETING_NONCE_LEN: usize = 16;
/// Most participants in one roster.
pub const MAX_ROSTER: usize = 1024;
/// How long old-epoch receive keys stay usable after a new epoch is installed.
pub const DEFAULT_GRACE_MS: u64 = 5_000;

const MEETING_ID_LABEL: &[u8] = b"conclave-v1 meeting-id";
const SFRAME_BASE_LABEL: &[u8] = b"conclave-v1 sframe";

/// A meeting identifier: `SHA-256("conclave-v1 meeting-id" ‖ len(properties) as u32 ‖
/// properties ‖ 16 random bytes)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MeetingId(pub [u8; MEETING_ID_LEN]);

impl MeetingId {
    pub fn generate(p: &dyn CryptoProvider, properties: &[u8]) -> Result<Self> {
        let mut nonce = [0u8; MEETING_NONCE_LEN];
        p.fill_random(&mut nonce)?;
        Ok(Self::from_parts(p, properties, &nonce))
    }

    pub fn from_parts(
        p: &dyn CryptoProvider,
        properties: &[u8],
        nonce: &[u8; MEETING_NONCE_LEN],
    ) -> Self {
        let len = u32::try_from(properties.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        let digest = p.hash(
            HashAlg::Sha256,
            &[MEETING_ID_LABEL, &len, properties, nonce],
        );
        let mut id = [0u8; MEETING_ID_LEN];
        id.copy_from_slice(&digest[..MEETING_ID_LEN]);
        MeetingId(id)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Result<Self> {
        let v =
            hex::decode(s).map_err(|_| ClientError::BadPayload("meeting id is not hex".into()))?;
        v.try_into()
            .map(MeetingId)
            .map_err(|_| ClientError::BadPayload("meeting id must be 32 bytes".into()))
    }
}

impl fmt::Debug for MeetingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MeetingId({}…)", &self.to_hex()[..12])
    }
}

/// A participant of one epoch: the sender index that appears in its SFrame KIDs, its
/// device and its user key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub index: u16,
    pub device_id: [u8; DEVICE_ID_LEN],
    pub user_key: P256PublicKey,
}

/// The participants of one epoch: indexes and devices are unique.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Roster(Vec<RosterEntry>);

impl Roster {
    pub fn new(mut entries: Vec<RosterEntry>) -> Result<Self> {
        if entries.is_empty() {
            return Err(ClientError::BadRoster("empty"));
        }
        if entries.len() > MAX_ROSTER {
            return Err(ClientError::BadRoster("too many participants"));
        }
        entries.sort_by_key(|e| e.index);
        if entries.windows(2).any(|w| w[0].index == w[1].index) {
            return Err(ClientError::BadRoster("duplicate sender index"));
        }
        let mut devices: Vec<_> = entries.iter().map(|e| e.device_id).collect();
        devices.sort_unstable();
        if devices.windows(2).any(|w| w[0] == w[1]) {
            return Err(ClientError::BadRoster("duplicate device"));
        }
        Ok(Roster(entries))
    }

    pub fn entries(&self) -> &[RosterEntry] {
        &self.0
    }

    pub fn get(&self, index: u16) -> Option<&RosterEntry> {
        self.0
            .binary_search_by_key(&index, |e| e.index)
            .ok()
            .map(|i| &self.0[i])
    }

    pub fn by_device(&self, device_id: &[u8; DEVICE_ID_LEN]) -> Option<&RosterEntry> {
        self.0.iter().find(|e| &e.device_id == device_id)
    }

    /// The roster without the given devices (leavers, removed or rejecting participants).
    pub fn without(&self, devices: &[[u8; DEVICE_ID_LEN]]) -> Result<Roster> {
        Roster::new(
            self.0
                .iter()
                .filter(|e| !devices.contains(&e.device_id))
                .cloned()
                .collect(),
        )
    }
}

/// The key material of one epoch of a meeting.
pub struct EpochKeys {
    meeting_id: MeetingId,
    epoch: u64,
    meeting_key: Secret,
    roster: Roster,
}

impl fmt::Debug for EpochKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EpochKeys")
            .field("meeting_id", &self.meeting_id)
            .field("epoch", &self.epoch)
            .field("roster", &self.roster.0.len())
            .finish_non_exhaustive()
    }
}

impl EpochKeys {
    /// Epoch 0 of a new meeting: a fresh random meeting key.
    pub fn start(p: &dyn CryptoProvider, meeting_id: MeetingId, roster: Roster) -> Result<Self> {
        Self::with_fresh_key(p, meeting_id, 0, roster)
    }

    fn with_fresh_key(
        p: &dyn CryptoProvider,
        meeting_id: MeetingId,
        epoch: u64,
        roster: Roster,
    ) -> Result<Self> {
        let mut meeting_key = Secret::zeroed(MEETING_KEY_LEN);
        p.fill_random(meeting_key.expose_mut())?;
        Self::from_parts(meeting_id, epoch, meeting_key, roster)
    }

    /// Keys received in an invite or rekey.
    pub fn from_parts(
        meeting_id: MeetingId,
        epoch: u64,
        meeting_key: Secret,
        roster: Roster,
    ) -> Result<Self> {
        if meeting_key.len() != MEETING_KEY_LEN {
            return Err(ClientError::BadPayload(
                "meeting key must be 32 bytes".into(),
            ));
        }
        if epoch > MediaKid::MAX_EPOCH {
            return Err(ClientError::BadPayload("epoch out of range".into()));
        }
        Ok(EpochKeys {
            meeting_id,
            epoch,
            meeting_key,
            roster,
        })
    }

    pub fn meeting_id(&self) -> MeetingId {
        self.meeting_id
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    pub fn meeting_key(&self) -> &Secret {
        &self.meeting_key
    }

    /// The sender index of a device in the roster.
    pub fn index_of(&self, device_id: &[u8; DEVICE_ID_LEN]) -> Result<u16> {
        self.roster
            .by_device(device_id)
            .map(|e| e.index)
            .ok_or(ClientError::NotAMember)
    }

    /// The next epoch for the `remaining` roster, under a fresh random key — never derived
    /// from the old one, so a participant who left cannot follow.
    pub fn rekey(&self, p: &dyn CryptoProvider, remaining: Roster) -> Result<Self> {
        let epoch = self
            .epoch
            .checked_add(1)
            .filter(|&e| e <= MediaKid::MAX_EPOCH)
            .ok_or_else(|| ClientError::BadPayload("epoch space exhausted".into()))?;
        Self::with_fresh_key(p, self.meeting_id, epoch, remaining)
    }

    /// The SFrame KID of a sender in this epoch.
    pub fn kid(&self, sender_index: u16) -> u64 {
        // `from_parts` bounds the epoch, so the layout always holds it.
        MediaKid {
            epoch: self.epoch,
            sender_index,
        }
        .to_kid()
    }

    /// The SFrame base key of one sender:
    /// `HKDF-Expand(HKDF-Extract(salt = meeting_id, ikm = meeting_key),
    ///  "conclave-v1 sframe" ‖ epoch (u64) ‖ sender_index (u16), 32)` with SHA-256.
    pub fn sender_base_key(&self, p: &dyn CryptoProvider, sender_index: u16) -> Result<Secret> {
        let prk = p.hkdf_extract(
            HashAlg::Sha256,
            &self.meeting_id.0,
            self.meeting_key.expose(),
        )?;
        self.expand_base_key(p, &prk, sender_index)
    }

    fn expand_base_key(
        &self,
        p: &dyn CryptoProvider,
        prk: &Secret,
        sender_index: u16,
    ) -> Result<Secret> {
        let mut base = Secret::zeroed(32);
        p.hkdf_expand(
            HashAlg::Sha256,
            prk.expose(),
            &[
                SFRAME_BASE_LABEL,
                &self.epoch.to_be_bytes(),
                &sender_index.to_be_bytes(),
            ],
            base.expose_mut(),
        )?;
        Ok(base)
    }

    /// Base keys of every roster member.
    fn all_base_keys(&self, p: &dyn CryptoProvider) -> Result<Vec<(u16, Secret)>> {
        let prk = p.hkdf_extract(
            HashAlg::Sha256,
            &self.meeting_id.0,
            self.meeting_key.expose(),
        )?;
        self.roster
            .entries()
            .iter()
            .map(|e| Ok((e.index, self.expand_base_key(p, &prk, e.index)?)))
            .collect()
    }
}

/// A decrypted media frame.
#[derive(Debug, PartialEq, Eq)]
pub struct OpenedFrame {
    pub sender_index: u16,
    pub epoch: u64,
    pub ctr: u64,
    pub payload: Vec<u8>,
}

/// One participant's media keys across epochs: seals its own frames under the current
/// epoch and opens everyone else's frames of the current and (during a grace period)
/// previous epochs. Sans-IO: the caller passes the time and calls [`MeetingCrypto::poll`].
///
/// A sender's SFrame counter starts at 0 in each epoch, so a sender state must never be
/// created twice for the same epoch (that would reuse AES-GCM nonces): a participant who
/// restarts or rejoins gets a new epoch (a rekey), never the keys it already sent with.
#[derive(Debug)]
pub struct MeetingCrypto {
    provider: Arc<dyn CryptoProvider>,
    suite: CipherSuite,
    own_device: [u8; DEVICE_ID_LEN],
    own_index: u16,
    current: EpochKeys,
    sender: SframeSender,
    receiver: SframeReceiver,
    /// Epoch → the time after which its receive keys are dropped.
    retiring: BTreeMap<u64, u64>,
    grace_ms: u64,
}

impl MeetingCrypto {
    /// The media state of device `own_device`, which must be in the roster; its sender
    /// index is looked up there.
    pub fn new(
        provider: Arc<dyn CryptoProvider>,
        suite: CipherSuite,
        keys: EpochKeys,
        own_device: &[u8; DEVICE_ID_LEN],
    ) -> Result<Self> {
        let p = provider.as_ref();
        let own_index = keys.index_of(own_device)?;
        let sender = Self::make_sender(p, suite, &keys, own_index)?;
        let mut receiver = SframeReceiver::new(provider.clone(), suite);
        Self::add_epoch(&mut receiver, p, &keys, own_index)?;
        Ok(MeetingCrypto {
            provider,
            suite,
            own_device: *own_device,
            own_index,
            current: keys,
            sender,
            receiver,
            retiring: BTreeMap::new(),
            grace_ms: DEFAULT_GRACE_MS,
        })
    }

    pub fn set_grace_ms(&mut self, grace_ms: u64) {
        self.grace_ms = grace_ms;
    }

    fn make_sender(
        p: &dyn CryptoProvider,
        suite: CipherSuite,
        keys: &EpochKeys,
        index: u16,
    ) -> Result<SframeSender> {
        let base = keys.sender_base_key(p, index)?;
        Ok(SframeSender::new(SframeKey::new(
            p,
            suite,
            keys.kid(index),
            base.expose(),
        )?))
    }

    /// Installs the receive keys of every sender but ourselves, so that our own frames
    /// echoed back are not accepted as someone's.
    fn add_epoch(
        receiver: &mut SframeReceiver,
        p: &dyn CryptoProvider,
        keys: &EpochKeys,
        own_index: u16,
    ) -> Result<()> {
        for (index, base) in keys.all_base_keys(p)? {
            if index != own_index {
                receiver.add_key(keys.kid(index), base.expose())?;
            }
        }
        Ok(())
    }

    pub fn epoch(&self) -> u64 {
        self.current.epoch
    }

    pub fn own_index(&self) -> u16 {
        self.own_index
    }

    pub fn meeting_id(&self) -> MeetingId {
        self.current.meeting_id
    }

    pub fn roster(&self) -> &Roster {
        &self.current.roster
    }

    /// Switches to a newer epoch (our index is looked up again in its roster). Frames of
    /// older epochs still open until `now_ms + grace`; then their keys are dropped (and
    /// zeroized) by [`Self::poll`].
    pub fn install(&mut self, keys: EpochKeys, now_ms: u64) -> Result<()> {
        if keys.meeting_id != self.current.meeting_id {
            return Err(ClientError::BadPayload(
                "keys are for another meeting".into(),
            ));
        }
        if keys.epoch <= self.current.epoch {
            return Err(ClientError::StaleEpoch {
                got: keys.epoch,
                current: self.current.epoch,
            });
        }
        let own_index = keys.index_of(&self.own_device)?;
        let p = self.provider.as_ref();
        let sender = Self::make_sender(p, self.suite, &keys, own_index)?;
        Self::add_epoch(&mut self.receiver, p, &keys, own_index)?;
        self.retiring
            .insert(self.current.epoch, now_ms.saturating_add(self.grace_ms));
        self.sender = sender;
        self.own_index = own_index;
        self.current = keys;
        Ok(())
    }

    /// Drops the receive keys of epochs whose grace period has ended.
    pub fn poll(&mut self, now_ms: u64) {
        let expired: Vec<u64> = self
            .retiring
            .iter()
            .filter(|&(_, &deadline)| deadline <= now_ms)
            .map(|(&e, _)| e)
            .collect();
        for epoch in expired {
            self.retiring.remove(&epoch);
            let kids: Vec<u64> = self
                .receiver
                .kids()
                .filter(|&k| MediaKid::from_kid(k).epoch == epoch)
                .collect();
            for kid in kids {
                self.receiver.remove_key(kid);
            }
        }
    }

    /// When [`Self::poll`] next has work to do.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.retiring.values().min().copied()
    }

    /// Seals one of our frames (`header ‖ ciphertext ‖ tag`) with `metadata` authenticated.
    pub fn seal(&mut self, metadata: &[u8], payload: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(payload.len() + 40);
        self.sender.seal(metadata, payload, &mut out)?;
        Ok(out)
    }

    /// Seals several of our frames at once, `(metadata, payload)` each, appending them to
    /// `out` in order: through the provider's batched AEAD when it has one (the accel
    /// provider), one by one otherwise. The frames are identical to those of [`Self::seal`]
    /// called once per frame.
    pub fn seal_batch(&mut self, frames: &[FrameRef<'_>], out: &mut SealedFrames) -> Result<()> {
        self.sender.seal_batch(frames, out)
    }

    /// Opens a frame from any participant. Failures are errors; the frame must be dropped.
    pub fn open(&mut self, metadata: &[u8], frame: &[u8]) -> Result<OpenedFrame> {
        let (header, payload): (SframeHeader, Vec<u8>) = self.receiver.open(metadata, frame)?;
        let kid = MediaKid::from_kid(header.kid);
        Ok(OpenedFrame {
            sender_index: kid.sender_index,
            epoch: kid.epoch,
            ctr: header.ctr,
            payload,
        })
    }
}
