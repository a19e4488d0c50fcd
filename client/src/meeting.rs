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
/// How long old-epoch receive keys stay usable after sending switches to a newer epoch.
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

/// Who sent a frame opened in place, in which epoch, with which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    pub sender_index: u16,
    pub epoch: u64,
    pub ctr: u64,
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
    /// A newer epoch whose receive keys are installed and to which sending switches at
    /// `switch_at_ms` (PROTOCOL §12.3).
    pending: Option<PendingEpoch>,
    /// Epochs whose receive keys are installed and not yet scheduled for removal, other
    /// than the sending epoch (epochs that were staged and then superseded).
    skipped: Vec<u64>,
    /// The highest epoch a sending state was created for: a sending state is created only
    /// for a strictly higher epoch, so a `(KID, CTR)` pair can never repeat.
    last_sending_epoch: u64,
}

/// A staged epoch: receiving already, sending from `switch_at_ms`.
struct PendingEpoch {
    keys: EpochKeys,
    own_index: u16,
    /// Created once, at staging (never used before the switch).
    sender: SframeSender,
    switch_at_ms: u64,
}

impl fmt::Debug for PendingEpoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingEpoch")
            .field("epoch", &self.keys.epoch)
            .field("switch_at_ms", &self.switch_at_ms)
            .finish_non_exhaustive()
    }
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
        let epoch = keys.epoch;
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
            pending: None,
            skipped: Vec::new(),
            last_sending_epoch: epoch,
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

    /// The KID our frames are sealed with now.
    pub fn sending_kid(&self) -> u64 {
        self.sender.kid()
    }

    pub fn meeting_id(&self) -> MeetingId {
        self.current.meeting_id
    }

    pub fn roster(&self) -> &Roster {
        &self.current.roster
    }

    /// The epoch staged by [`Self::install_staged`] that sending has not switched to yet.
    pub fn pending_epoch(&self) -> Option<u64> {
        self.pending.as_ref().map(|p| p.keys.epoch)
    }

    /// The highest epoch installed, staged or not.
    pub fn latest_epoch(&self) -> u64 {
        self.pending_epoch().unwrap_or(self.current.epoch)
    }

    /// Checks that `keys` may be installed now: the same meeting, an epoch newer than every
    /// installed one (staged included), a roster with our device. Returns our index.
    fn check_newer(&self, keys: &EpochKeys) -> Result<u16> {
        if keys.meeting_id != self.current.meeting_id {
            return Err(ClientError::BadPayload(
                "keys are for another meeting".into(),
            ));
        }
        let latest = self.latest_epoch().max(self.last_sending_epoch);
        if keys.epoch <= latest {
            return Err(ClientError::StaleEpoch {
                got: keys.epoch,
                current: latest,
            });
        }
        keys.index_of(&self.own_device)
    }

    /// Switches to a newer epoch at once (our index is looked up again in its roster).
    /// Frames of older epochs still open until `now_ms + grace`; then their keys are dropped
    /// (and zeroized) by [`Self::poll`]. A staged epoch that sending had not switched to yet
    /// is superseded (its receive keys retire like the old epoch's).
    pub fn install(&mut self, keys: EpochKeys, now_ms: u64) -> Result<()> {
        let own_index = self.check_newer(&keys)?;
        let p = self.provider.as_ref();
        let sender = Self::make_sender(p, self.suite, &keys, own_index)?;
        Self::add_epoch(&mut self.receiver, p, &keys, own_index)?;
        if let Some(pending) = self.pending.take() {
            self.skipped.push(pending.keys.epoch);
        }
        self.last_sending_epoch = keys.epoch;
        self.start_sending(keys, own_index, sender, now_ms);
        Ok(())
    }

    /// Installs a newer epoch in two steps (PROTOCOL §12.3): its receive keys at once, so
    /// that frames of the others who switch first open; sending stays in the current epoch
    /// until `now_ms + overlap_ms`, when [`Self::poll`] switches it (new KID, counter 0).
    /// The current epoch's receive keys then stay for the grace period counted from the
    /// switch. Installing another epoch while one is staged supersedes the staged one (it
    /// is never sent in); [`Self::install`] does the same at once.
    pub fn install_staged(&mut self, keys: EpochKeys, now_ms: u64, overlap_ms: u64) -> Result<()> {
        let own_index = self.check_newer(&keys)?;
        let p = self.provider.as_ref();
        let sender = Self::make_sender(p, self.suite, &keys, own_index)?;
        Self::add_epoch(&mut self.receiver, p, &keys, own_index)?;
        if let Some(old) = self.pending.take() {
            self.skipped.push(old.keys.epoch);
        }
        // The sending state exists from now on; `check_newer` refuses this epoch and any
        // older one from here, so it is never created again.
        self.last_sending_epoch = keys.epoch;
        self.pending = Some(PendingEpoch {
            keys,
            own_index,
            sender,
            switch_at_ms: now_ms.saturating_add(overlap_ms),
        });
        Ok(())
    }

    /// Makes `keys` the sending epoch; every older epoch's receive keys retire at
    /// `now_ms + grace`.
    fn start_sending(
        &mut self,
        keys: EpochKeys,
        own_index: u16,
        sender: SframeSender,
        now_ms: u64,
    ) {
        let deadline = now_ms.saturating_add(self.grace_ms);
        for epoch in std::iter::once(self.current.epoch).chain(self.skipped.drain(..)) {
            self.retiring.entry(epoch).or_insert(deadline);
        }
        self.sender = sender;
        self.own_index = own_index;
        self.current = keys;
    }

    /// Switches sending to a staged epoch whose overlap has ended, and drops the receive
    /// keys of epochs whose grace period has ended. Returns the epoch sending switched to,
    /// if it did (the media layer then starts a keyframe).
    pub fn poll(&mut self, now_ms: u64) -> Option<u64> {
        let mut switched = None;
        if self
            .pending
            .as_ref()
            .is_some_and(|pending| pending.switch_at_ms <= now_ms)
            && let Some(pending) = self.pending.take()
        {
            switched = Some(pending.keys.epoch);
            self.start_sending(pending.keys, pending.own_index, pending.sender, now_ms);
        }
        self.retire(now_ms);
        switched
    }

    fn retire(&mut self, now_ms: u64) {
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

    /// When [`Self::poll`] next has work to do: a staged switch or the end of a grace
    /// period.
    pub fn poll_timeout(&self) -> Option<u64> {
        let retire = self.retiring.values().min().copied();
        let switch = self.pending.as_ref().map(|p| p.switch_at_ms);
        match (retire, switch) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a receive key for `kid` is installed.
    pub fn can_open(&self, kid: u64) -> bool {
        self.receiver.has_key(kid)
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

    /// Opens a frame from any participant in place: on success `frame` holds the plaintext
    /// (no allocation). On failure the frame must be dropped; its contents are unspecified.
    pub fn open_in_place(&mut self, metadata: &[u8], frame: &mut Vec<u8>) -> Result<FrameInfo> {
        let header = self.receiver.open_in_place(metadata, frame)?;
        let kid = MediaKid::from_kid(header.kid);
        Ok(FrameInfo {
            sender_index: kid.sender_index,
            epoch: kid.epoch,
            ctr: header.ctr,
        })
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use conclave_wire::sframe::SframeHeader;
    use proptest::prelude::*;

    use super::*;

    fn provider() -> Arc<dyn CryptoProvider> {
        Arc::new(conclave_crypto_software::SoftwareProvider::new())
    }

    fn device(n: u8) -> [u8; DEVICE_ID_LEN] {
        [n; DEVICE_ID_LEN]
    }

    fn roster(devices: &[u8]) -> Roster {
        let key = P256PublicKey::from_sec1(&[4; 65]).unwrap();
        Roster::new(
            devices
                .iter()
                .map(|&d| RosterEntry {
                    index: u16::from(d),
                    device_id: device(d),
                    user_key: key,
                })
                .collect(),
        )
        .unwrap()
    }

    fn keys(epoch: u64, key: u8, devices: &[u8]) -> EpochKeys {
        EpochKeys::from_parts(
            MeetingId([7; 32]),
            epoch,
            Secret::new(vec![key; 32]),
            roster(devices),
        )
        .unwrap()
    }

    fn member(
        p: &Arc<dyn CryptoProvider>,
        epoch: u64,
        key: u8,
        me: u8,
        all: &[u8],
    ) -> MeetingCrypto {
        MeetingCrypto::new(
            p.clone(),
            CipherSuite::DEFAULT,
            keys(epoch, key, all),
            &device(me),
        )
        .unwrap()
    }

    fn kid_ctr(frame: &[u8]) -> (u64, u64) {
        let (h, _) = SframeHeader::parse(frame).unwrap();
        (h.kid, h.ctr)
    }

    #[test]
    fn staged_epoch_receives_at_once_and_sends_after_the_overlap() {
        let p = provider();
        let mut a = member(&p, 0, 1, 1, &[1, 2, 3]);
        let mut b = member(&p, 0, 1, 2, &[1, 2, 3]);
        // Epoch 1 without participant 3; b stages it at 1000 with a 250 ms overlap.
        b.install_staged(keys(1, 2, &[1, 2]), 1_000, 250).unwrap();
        assert_eq!((b.epoch(), b.pending_epoch()), (0, Some(1)));
        assert_eq!(b.poll_timeout(), Some(1_250));
        // b still sends in epoch 0, which a opens.
        let f = b.seal(b"", b"old").unwrap();
        assert_eq!(MediaKid::from_kid(kid_ctr(&f).0).epoch, 0);
        assert_eq!(a.open(b"", &f).unwrap().payload, b"old");
        // a switches immediately; b already opens a's epoch-1 frames.
        a.install(keys(1, 2, &[1, 2]), 1_010).unwrap();
        let f = a.seal(b"", b"new").unwrap();
        assert_eq!(b.open(b"", &f).unwrap().epoch, 1);
        // Not yet: the overlap runs.
        assert_eq!(b.poll(1_249), None);
        assert_eq!(b.epoch(), 0);
        assert_eq!(b.poll(1_250), Some(1));
        assert_eq!((b.epoch(), b.pending_epoch()), (1, None));
        let f = b.seal(b"", b"switched").unwrap();
        assert_eq!(
            kid_ctr(&f),
            (
                MediaKid {
                    epoch: 1,
                    sender_index: 2
                }
                .to_kid(),
                0
            )
        );
        assert_eq!(a.open(b"", &f).unwrap().payload, b"switched");
        // The old epoch's receive keys retire 5 s after the switch, not after the staging.
        assert_eq!(b.poll_timeout(), Some(1_250 + DEFAULT_GRACE_MS));
        let old = MediaKid {
            epoch: 0,
            sender_index: 1,
        }
        .to_kid();
        assert!(b.can_open(old));
        assert_eq!(b.poll(1_249 + DEFAULT_GRACE_MS), None);
        assert!(b.can_open(old));
        b.poll(1_250 + DEFAULT_GRACE_MS);
        assert!(!b.can_open(old));
        assert_eq!(b.poll_timeout(), None);
    }

    #[test]
    fn staged_epochs_refuse_old_or_foreign_keys() {
        let p = provider();
        let mut b = member(&p, 0, 1, 2, &[1, 2, 3]);
        b.install_staged(keys(2, 2, &[1, 2]), 0, 250).unwrap();
        for e in [0, 1, 2] {
            assert!(matches!(
                b.install_staged(keys(e, 3, &[1, 2]), 10, 250),
                Err(ClientError::StaleEpoch { .. })
            ));
            assert!(matches!(
                b.install(keys(e, 3, &[1, 2]), 10),
                Err(ClientError::StaleEpoch { .. })
            ));
        }
        assert!(matches!(
            b.install_staged(keys(3, 3, &[1, 3]), 10, 250),
            Err(ClientError::NotAMember)
        ));
        let foreign = EpochKeys::from_parts(
            MeetingId([8; 32]),
            5,
            Secret::new(vec![1; 32]),
            roster(&[1, 2]),
        )
        .unwrap();
        assert!(matches!(
            b.install_staged(foreign, 10, 250),
            Err(ClientError::BadPayload(_))
        ));
        // A failed install changes nothing.
        assert_eq!((b.epoch(), b.pending_epoch()), (0, Some(2)));
    }

    #[test]
    fn a_newer_install_supersedes_a_staged_epoch() {
        let p = provider();
        let mut b = member(&p, 0, 1, 2, &[1, 2, 3]);
        b.install_staged(keys(1, 2, &[1, 2, 3]), 0, 250).unwrap();
        b.install(keys(2, 3, &[1, 2]), 100).unwrap();
        assert_eq!((b.epoch(), b.pending_epoch()), (2, None));
        let e1 = MediaKid {
            epoch: 1,
            sender_index: 1,
        }
        .to_kid();
        assert!(
            b.can_open(e1),
            "the skipped epoch is still in its grace period"
        );
        assert_eq!(b.poll_timeout(), Some(100 + DEFAULT_GRACE_MS));
        assert_eq!(b.poll(100 + DEFAULT_GRACE_MS), None);
        assert!(!b.can_open(e1));
        assert!(
            !b.can_open(
                MediaKid {
                    epoch: 0,
                    sender_index: 1
                }
                .to_kid()
            )
        );
        assert!(
            b.can_open(
                MediaKid {
                    epoch: 2,
                    sender_index: 1
                }
                .to_kid()
            )
        );
        assert_eq!(MediaKid::from_kid(b.sending_kid()).epoch, 2);
    }

    #[test]
    fn open_in_place_gives_the_plaintext_in_the_buffer() {
        let p = provider();
        let mut a = member(&p, 0, 1, 1, &[1, 2]);
        let mut b = member(&p, 0, 1, 2, &[1, 2]);
        let mut f = a.seal(b"", b"in place").unwrap();
        let info = b.open_in_place(b"", &mut f).unwrap();
        assert_eq!(f, b"in place");
        assert_eq!((info.sender_index, info.epoch, info.ctr), (1, 0, 0));
        let mut f = a.seal(b"", b"x").unwrap();
        let last = f.len() - 1;
        f[last] ^= 1;
        assert!(matches!(
            b.open_in_place(b"", &mut f),
            Err(ClientError::FrameAuthFailed)
        ));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Install { bump: u64 },
        Stage { bump: u64, overlap: u64 },
        Poll { advance: u64 },
        Seal,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u64..3).prop_map(|bump| Op::Install { bump }),
            (0u64..3, 0u64..400).prop_map(|(bump, overlap)| Op::Stage { bump, overlap }),
            (0u64..600).prop_map(|advance| Op::Poll { advance }),
            Just(Op::Seal),
            Just(Op::Seal),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the order of installs, staged installs, polls and seals, no `(KID, CTR)`
        /// pair is ever sealed twice: a sending state is never created twice for an epoch.
        #[test]
        fn no_kid_ctr_pair_is_ever_sealed_twice(ops in proptest::collection::vec(op(), 1..40)) {
            let p = provider();
            let mut b = member(&p, 0, 1, 2, &[1, 2]);
            let mut now = 0u64;
            let mut seen = HashSet::new();
            let mut epoch_requested = 0u64;
            for op in ops {
                match op {
                    Op::Install { bump } => {
                        epoch_requested += bump;
                        let newer = epoch_requested > b.latest_epoch();
                        let r = b.install(keys(epoch_requested, 9, &[1, 2]), now);
                        prop_assert_eq!(r.is_ok(), newer);
                    }
                    Op::Stage { bump, overlap } => {
                        epoch_requested += bump;
                        let newer = epoch_requested > b.latest_epoch();
                        let r = b.install_staged(keys(epoch_requested, 9, &[1, 2]), now, overlap);
                        prop_assert_eq!(r.is_ok(), newer);
                    }
                    Op::Poll { advance } => {
                        now += advance;
                        if let Some(e) = b.poll(now) {
                            prop_assert_eq!(e, b.epoch());
                        }
                        if let Some(t) = b.poll_timeout() {
                            prop_assert!(t > now);
                        }
                    }
                    Op::Seal => {
                        let f = b.seal(b"", b"x").unwrap();
                        prop_assert!(seen.insert(kid_ctr(&f)), "(KID, CTR) sealed twice");
                    }
                }
            }
        }
    }
}
