//! [`Membership`]: who is in a meeting and who moves it to which epoch (docs/PROTOCOL.md
//! §12.3), sans-IO. The initiator keeps the roster: when a participant leaves (a `leave`
//! container or the relay's member event), rejects, or is removed, it draws the next epoch
//! (fresh random meeting key, roster without that device) and says to whom the `rekey`
//! container goes. Every participant accepts a `rekey` only from the initiator's device,
//! only for a newer epoch, and stops when it is no longer in the roster.
//!
//! Inputs are what arrived (an opened container's payload and its sender, a member event)
//! and the caller's own decisions (remove); outputs are [`Action`]s for the I/O shell.
//! The same departure reported twice (the `leave` container and the member event) leads
//! to one rekey: the second finds the device no longer in the roster.

use std::collections::BTreeSet;
use std::sync::Arc;

use conclave_crypto::{CryptoProvider, P256PublicKey, Secret};
use conclave_wire::container::DEVICE_ID_LEN;

use super::types::MemberState;
use crate::container::{CallType, MeetingKeysJson, Payload};
use crate::meeting::{EpochKeys, MeetingId, Roster, RosterEntry};
use crate::{ClientError, Result};

/// A device id (16 bytes).
pub type DeviceId = [u8; DEVICE_ID_LEN];

/// Why a device is no longer in the meeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// It left (a `leave` container, or the relay's member event `left`).
    Left,
    /// It declined the invitation.
    Rejected,
    /// The initiator removed it.
    Removed,
}

impl Departure {
    /// The departure a member state stands for (`None` for `invited` and `joined`).
    pub fn from_state(state: MemberState) -> Option<Self> {
        match state {
            MemberState::Left => Some(Departure::Left),
            MemberState::Rejected => Some(Departure::Rejected),
            MemberState::Removed => Some(Departure::Removed),
            MemberState::Invited | MemberState::Joined => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Departure::Left => "left",
            Departure::Rejected => "rejected",
            Departure::Removed => "removed",
        }
    }
}

/// What the I/O shell must do.
#[derive(Debug)]
pub enum Action {
    /// Install these keys in the media client: receive at once, switch sending at
    /// `switch_at_ms` (master clock) when the rekey named one, else after the fixed overlap.
    Install {
        keys: EpochKeys,
        switch_at_ms: Option<u64>,
    },
    /// Seal this `rekey` payload to exactly these devices and post it (initiator only).
    SendRekey {
        payload: Payload,
        epoch: u64,
        to: Vec<DeviceId>,
    },
    /// Seal this `invite` payload (the keys of `epoch`, no switch time) to exactly these
    /// devices, the ones added to a running meeting, and post it (initiator only).
    SendInvite {
        payload: Payload,
        epoch: u64,
        to: Vec<DeviceId>,
    },
    /// A participant is gone (shown to the user; the rekey, if any, is a separate action).
    Departed { device: DeviceId, why: Departure },
    /// This device is not in the meeting any more (removed, or left elsewhere): stop.
    Excluded,
}

/// The initiator's extra state: the keys it rekeys from.
struct Keeper {
    provider: Arc<dyn CryptoProvider>,
    keys: EpochKeys,
    call_type: CallType,
}

/// One device's view of a meeting's membership and epochs.
pub struct Membership {
    meeting_id: MeetingId,
    own_device: DeviceId,
    initiator: DeviceId,
    epoch: u64,
    /// The current epoch's devices.
    roster: BTreeSet<DeviceId>,
    /// Devices that departed (so that late reports of them are ignored).
    departed: BTreeSet<DeviceId>,
    /// The highest sender index of any roster seen: added devices get the ones after it,
    /// so that an index never names two devices in one meeting.
    max_index: u16,
    keeper: Option<Keeper>,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("meeting_id", &self.meeting_id)
            .field("epoch", &self.epoch)
            .field("roster", &self.roster.len())
            .field("initiator", &self.keeper.is_some())
            .finish_non_exhaustive()
    }
}

/// The initiator's overlap grows by this much per device its rekey is sealed to.
pub const REKEY_OVERLAP_PER_DEVICE_MS: u64 = 3;
/// The largest overlap the initiator chooses (PROTOCOL §12.3).
pub const REKEY_OVERLAP_MAX_MS: u64 = 5_000;
/// A rekey's switch time further ahead than this is refused (PROTOCOL §12.3).
pub const MAX_SWITCH_AHEAD_MS: u64 = 60_000;

/// The initiator's overlap for a rekey sealed to `recipients` devices: `base_ms` (reference
/// 250 ms) plus [`REKEY_OVERLAP_PER_DEVICE_MS`] per device, at most
/// [`REKEY_OVERLAP_MAX_MS`] (or `base_ms` if that is more).
pub fn rekey_overlap_ms(base_ms: u64, recipients: usize) -> u64 {
    let per_device = u64::try_from(recipients)
        .unwrap_or(u64::MAX)
        .saturating_mul(REKEY_OVERLAP_PER_DEVICE_MS);
    base_ms
        .saturating_add(per_device)
        .min(REKEY_OVERLAP_MAX_MS.max(base_ms))
}

/// How long after `now_ms` (master clock) sending switches for a rekey's `switch_at_ms`:
/// 0 if that time has passed; [`ClientError::SwitchTooFar`] if it is more than
/// [`MAX_SWITCH_AHEAD_MS`] ahead.
pub fn switch_delay_ms(switch_at_ms: u64, now_ms: u64) -> Result<u64> {
    if switch_at_ms > now_ms.saturating_add(MAX_SWITCH_AHEAD_MS) {
        return Err(ClientError::SwitchTooFar {
            switch_at_ms,
            now_ms,
        });
    }
    Ok(switch_at_ms.saturating_sub(now_ms))
}

/// The initiator, about to seal the rekey to epoch `epoch` for `recipients` devices at
/// `now_ms` (master clock): sets its switch time to `now_ms + rekey_overlap_ms(base_ms,
/// recipients)`, and the same time on its own pending install of that epoch in `actions`.
/// Returns the switch time (`None` if `payload` is not a rekey).
pub fn stamp_rekey(
    payload: &mut Payload,
    actions: &mut std::collections::VecDeque<Action>,
    epoch: u64,
    now_ms: u64,
    base_ms: u64,
    recipients: usize,
) -> Option<u64> {
    let Payload::Rekey(k) = payload else {
        return None;
    };
    let at = now_ms.saturating_add(rekey_overlap_ms(base_ms, recipients));
    k.switch_at_ms = Some(at);
    for a in actions.iter_mut() {
        if let Action::Install { keys, switch_at_ms } = a
            && keys.epoch() == epoch
        {
            *switch_at_ms = Some(at);
        }
    }
    Some(at)
}

/// A copy of an epoch's keys (the meeting key is copied into a fresh zeroising buffer).
pub fn copy_keys(k: &EpochKeys) -> Result<EpochKeys> {
    EpochKeys::from_parts(
        k.meeting_id(),
        k.epoch(),
        Secret::from_slice(k.meeting_key().expose()),
        k.roster().clone(),
    )
}

fn max_index_of(keys: &EpochKeys) -> u16 {
    keys.roster()
        .entries()
        .iter()
        .map(|e| e.index)
        .max()
        .unwrap_or(0)
}

fn devices_of(keys: &EpochKeys) -> BTreeSet<DeviceId> {
    keys.roster()
        .entries()
        .iter()
        .map(|e| e.device_id)
        .collect()
}

/// A device id from 32 hex digits.
pub fn device_from_hex(s: &str) -> Result<DeviceId> {
    hex::decode(s)
        .ok()
        .and_then(|v| DeviceId::try_from(v).ok())
        .ok_or_else(|| ClientError::BadPayload("device id must be 32 hex digits".into()))
}

impl Membership {
    /// The initiator's view: it keeps the roster and rekeys from `keys` (its current epoch).
    pub fn initiator(
        provider: Arc<dyn CryptoProvider>,
        own_device: DeviceId,
        keys: &EpochKeys,
        call_type: CallType,
    ) -> Result<Self> {
        keys.index_of(&own_device)?;
        Ok(Membership {
            meeting_id: keys.meeting_id(),
            own_device,
            initiator: own_device,
            epoch: keys.epoch(),
            roster: devices_of(keys),
            departed: BTreeSet::new(),
            max_index: max_index_of(keys),
            keeper: Some(Keeper {
                provider,
                keys: copy_keys(keys)?,
                call_type,
            }),
        })
    }

    /// A member's view: keys received from `initiator` (an invite or a rekey).
    pub fn member(own_device: DeviceId, initiator: DeviceId, keys: &EpochKeys) -> Result<Self> {
        keys.index_of(&own_device)?;
        if own_device == initiator {
            return Err(ClientError::BadPayload(
                "a member's initiator is another device".into(),
            ));
        }
        Ok(Membership {
            meeting_id: keys.meeting_id(),
            own_device,
            initiator,
            epoch: keys.epoch(),
            roster: devices_of(keys),
            departed: BTreeSet::new(),
            max_index: max_index_of(keys),
            keeper: None,
        })
    }

    pub fn meeting_id(&self) -> MeetingId {
        self.meeting_id
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn is_initiator(&self) -> bool {
        self.keeper.is_some()
    }

    pub fn initiator_device(&self) -> DeviceId {
        self.initiator
    }

    /// The devices of the current epoch.
    pub fn roster(&self) -> impl Iterator<Item = &DeviceId> {
        self.roster.iter()
    }

    pub fn is_member(&self, device: &DeviceId) -> bool {
        self.roster.contains(device)
    }

    /// Did this device leave, reject or get removed?
    pub fn has_departed(&self, device: &DeviceId) -> bool {
        self.departed.contains(device)
    }

    /// An opened container from `sender` (already through the SDK's replay and epoch
    /// guards). Containers of other meetings and other types give no action.
    pub fn on_container(&mut self, sender: &DeviceId, payload: &Payload) -> Result<Vec<Action>> {
        match payload {
            Payload::Rekey(k) if k.meeting_id == self.meeting_id.to_hex() => {
                self.on_rekey(sender, k)
            }
            Payload::Leave { meeting_id, .. } if *meeting_id == self.meeting_id.to_hex() => {
                self.on_departure(sender, Departure::Left)
            }
            Payload::Reject { meeting_id } if *meeting_id == self.meeting_id.to_hex() => {
                self.on_departure(sender, Departure::Rejected)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The relay's member event for this meeting.
    pub fn on_member_event(
        &mut self,
        device: &DeviceId,
        state: MemberState,
    ) -> Result<Vec<Action>> {
        match Departure::from_state(state) {
            Some(why) => self.on_departure(device, why),
            None => Ok(Vec::new()),
        }
    }

    /// The initiator removes `device` (after recording `removed` with the relay).
    pub fn remove(&mut self, device: &DeviceId) -> Result<Vec<Action>> {
        if self.keeper.is_none() {
            return Err(ClientError::BadPayload(
                "only the initiator removes participants".into(),
            ));
        }
        if *device == self.own_device {
            return Err(ClientError::BadPayload(
                "the initiator cannot remove itself; leave or end the meeting".into(),
            ));
        }
        if !self.roster.contains(device) {
            return Err(ClientError::NotAMember);
        }
        self.on_departure(device, Departure::Removed)
    }

    /// The initiator adds devices to the running meeting (after fetching and verifying
    /// their bundles; `entries` are each device with its user key). The next epoch is the
    /// current roster plus the new devices at the sender indexes after the highest one
    /// used so far, under a fresh key: a `rekey` to the devices already in it, an `invite`
    /// to the new ones, then the install (PROTOCOL §5.2, §12.3). Devices already in the
    /// roster or departed are refused, as is an empty list.
    pub fn add(&mut self, entries: Vec<(DeviceId, P256PublicKey)>) -> Result<Vec<Action>> {
        let Some(keeper) = self.keeper.as_mut() else {
            return Err(ClientError::BadPayload(
                "only the initiator adds participants".into(),
            ));
        };
        if entries.is_empty() {
            return Err(ClientError::BadPayload("no device to add".into()));
        }
        let mut new_devices: BTreeSet<DeviceId> = BTreeSet::new();
        for (d, _) in &entries {
            if self.roster.contains(d) || *d == self.own_device {
                return Err(ClientError::BadPayload(format!(
                    "device {} is already in the meeting",
                    hex::encode(d)
                )));
            }
            if self.departed.contains(d) {
                return Err(ClientError::BadPayload(format!(
                    "device {} has left the meeting",
                    hex::encode(d)
                )));
            }
            if !new_devices.insert(*d) {
                return Err(ClientError::BadPayload(format!(
                    "device {} is named twice",
                    hex::encode(d)
                )));
            }
        }
        let mut roster: Vec<RosterEntry> = keeper.keys.roster().entries().to_vec();
        let mut index = self.max_index;
        for (device_id, user_key) in entries {
            index = index
                .checked_add(1)
                .ok_or(ClientError::BadRoster("sender indexes exhausted"))?;
            roster.push(RosterEntry {
                index,
                device_id,
                user_key,
            });
        }
        let next = keeper
            .keys
            .rekey(keeper.provider.as_ref(), Roster::new(roster)?)?;
        let rekey = Payload::Rekey(MeetingKeysJson::from_keys(&next, keeper.call_type));
        rekey.validate()?;
        let invite = Payload::Invite(MeetingKeysJson::from_keys(&next, keeper.call_type));
        invite.validate()?;
        let existing: Vec<DeviceId> = self
            .roster
            .iter()
            .filter(|d| **d != self.own_device)
            .copied()
            .collect();
        self.epoch = next.epoch();
        self.max_index = index;
        self.roster = devices_of(&next);
        let install = copy_keys(&next)?;
        keeper.keys = next;
        Ok(vec![
            Action::SendRekey {
                payload: rekey,
                epoch: self.epoch,
                to: existing,
            },
            Action::SendInvite {
                payload: invite,
                epoch: self.epoch,
                to: new_devices.into_iter().collect(),
            },
            Action::Install {
                keys: install,
                switch_at_ms: None,
            },
        ])
    }

    fn on_rekey(&mut self, sender: &DeviceId, k: &MeetingKeysJson) -> Result<Vec<Action>> {
        if *sender != self.initiator || self.keeper.is_some() {
            // Only the initiator rekeys (and it never receives its own rekeys).
            return Err(ClientError::NotAMember);
        }
        if k.epoch <= self.epoch {
            return Err(ClientError::StaleEpoch {
                got: k.epoch,
                current: self.epoch,
            });
        }
        let keys = k.to_keys()?;
        self.epoch = keys.epoch();
        self.max_index = self.max_index.max(max_index_of(&keys));
        let new_roster = devices_of(&keys);
        let mut out: Vec<Action> = self
            .roster
            .difference(&new_roster)
            .filter(|d| !self.departed.contains(*d))
            .map(|d| Action::Departed {
                device: *d,
                why: Departure::Left,
            })
            .collect();
        for a in &out {
            if let Action::Departed { device, .. } = a {
                self.departed.insert(*device);
            }
        }
        self.roster = new_roster;
        if !self.roster.contains(&self.own_device) {
            out.push(Action::Excluded);
        } else {
            out.push(Action::Install {
                keys,
                switch_at_ms: k.switch_at_ms,
            });
        }
        Ok(out)
    }

    fn on_departure(&mut self, device: &DeviceId, why: Departure) -> Result<Vec<Action>> {
        if *device == self.own_device {
            // This device left or was removed (e.g. from another process).
            return Ok(if matches!(why, Departure::Removed | Departure::Left) {
                vec![Action::Excluded]
            } else {
                Vec::new()
            });
        }
        if !self.roster.contains(device) || self.departed.contains(device) {
            return Ok(Vec::new()); // reported twice, or never a member: nothing to do
        }
        self.departed.insert(*device);
        let mut out = vec![Action::Departed {
            device: *device,
            why,
        }];
        let Some(keeper) = self.keeper.as_mut() else {
            // A member learns of departures; the initiator's rekey changes the roster.
            return Ok(out);
        };
        let remaining = keeper.keys.roster().without(&[*device])?;
        let next = keeper.keys.rekey(keeper.provider.as_ref(), remaining)?;
        let payload = Payload::Rekey(MeetingKeysJson::from_keys(&next, keeper.call_type));
        payload.validate()?;
        let to: Vec<DeviceId> = next
            .roster()
            .entries()
            .iter()
            .map(|e| e.device_id)
            .filter(|d| *d != self.own_device)
            .collect();
        self.epoch = next.epoch();
        self.roster = devices_of(&next);
        let install = copy_keys(&next)?;
        keeper.keys = next;
        out.push(Action::SendRekey {
            payload,
            epoch: self.epoch,
            to,
        });
        // The I/O shell sets the switch time when it seals the rekey ([`stamp_rekey`]).
        out.push(Action::Install {
            keys: install,
            switch_at_ms: None,
        });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::{Roster, RosterEntry};
    use conclave_crypto_software::SoftwareProvider;

    fn provider() -> Arc<dyn CryptoProvider> {
        Arc::new(SoftwareProvider::new())
    }

    fn dev(n: u8) -> DeviceId {
        [n; 16]
    }

    fn keys(p: &dyn CryptoProvider, n: u8) -> EpochKeys {
        let user = p
            .generate_p256(conclave_crypto::KeyUsage::Signing)
            .expect("key")
            .public_key();
        let entries = (0..n)
            .map(|i| RosterEntry {
                index: u16::from(i),
                device_id: dev(i + 1),
                user_key: user,
            })
            .collect();
        let id = MeetingId::generate(p, b"test").expect("id");
        EpochKeys::start(p, id, Roster::new(entries).expect("roster")).expect("keys")
    }

    fn rekey_of(actions: &[Action]) -> (&Payload, u64, &[DeviceId]) {
        actions
            .iter()
            .find_map(|a| match a {
                Action::SendRekey { payload, epoch, to } => Some((payload, *epoch, to.as_slice())),
                _ => None,
            })
            .expect("a rekey")
    }

    fn installed(actions: &[Action]) -> Option<&EpochKeys> {
        actions.iter().find_map(|a| match a {
            Action::Install { keys, .. } => Some(keys),
            _ => None,
        })
    }

    #[test]
    fn a_leave_makes_the_initiator_rekey_once_without_the_leaver() {
        let p = provider();
        let k0 = keys(p.as_ref(), 3);
        let mut m = Membership::initiator(p.clone(), dev(1), &k0, CallType::Video).unwrap();
        let leave = Payload::Leave {
            meeting_id: k0.meeting_id().to_hex(),
            epoch: 0,
        };
        let out = m.on_container(&dev(3), &leave).unwrap();
        let (payload, epoch, to) = rekey_of(&out);
        assert_eq!(epoch, 1);
        assert_eq!(to, &[dev(2)]);
        let Payload::Rekey(k) = payload else {
            panic!("not a rekey")
        };
        let k1 = k.to_keys().unwrap();
        assert_eq!(k1.epoch(), 1);
        assert_ne!(k1.meeting_key().expose(), k0.meeting_key().expose());
        assert!(k1.roster().by_device(&dev(3)).is_none());
        assert_eq!(k1.roster().entries().len(), 2);
        let inst = installed(&out).unwrap();
        assert_eq!(inst.meeting_key(), k1.meeting_key());
        assert_eq!(m.epoch(), 1);
        // The relay's member event for the same departure: nothing more.
        assert!(
            m.on_member_event(&dev(3), MemberState::Left)
                .unwrap()
                .is_empty()
        );
        assert!(m.on_container(&dev(3), &leave).unwrap().is_empty());
    }

    #[test]
    fn member_event_reject_and_remove_each_rekey() {
        let p = provider();
        let k0 = keys(p.as_ref(), 4);
        let mut m = Membership::initiator(p.clone(), dev(1), &k0, CallType::Audio).unwrap();
        let out = m.on_member_event(&dev(4), MemberState::Rejected).unwrap();
        assert_eq!(rekey_of(&out).1, 1);
        assert!(
            m.on_member_event(&dev(2), MemberState::Joined)
                .unwrap()
                .is_empty()
        );
        let out = m.remove(&dev(2)).unwrap();
        let (_, epoch, to) = rekey_of(&out);
        assert_eq!((epoch, to), (2, &[dev(3)][..]));
        assert!(m.remove(&dev(2)).is_err(), "not a member any more");
        assert!(m.remove(&dev(1)).is_err(), "not itself");
        assert!(m.is_member(&dev(3)) && !m.is_member(&dev(2)) && !m.is_member(&dev(4)));
    }

    #[test]
    fn everyone_gone_leaves_the_initiator_alone_in_a_new_epoch() {
        let p = provider();
        let k0 = keys(p.as_ref(), 2);
        let mut m = Membership::initiator(p.clone(), dev(1), &k0, CallType::Audio).unwrap();
        let out = m.on_member_event(&dev(2), MemberState::Left).unwrap();
        let (_, epoch, to) = rekey_of(&out);
        assert_eq!(epoch, 1);
        assert!(to.is_empty());
        assert_eq!(installed(&out).unwrap().roster().entries().len(), 1);
    }

    #[test]
    fn members_take_rekeys_only_from_the_initiator_and_only_newer() {
        let p = provider();
        let k0 = keys(p.as_ref(), 3);
        let mut init = Membership::initiator(p.clone(), dev(1), &k0, CallType::Video).unwrap();
        let mut b = Membership::member(dev(2), dev(1), &k0).unwrap();
        let mut c = Membership::member(dev(3), dev(1), &k0).unwrap();
        let out = init.on_member_event(&dev(3), MemberState::Left).unwrap();
        let (payload, _, _) = rekey_of(&out);
        // From someone else: refused.
        assert!(b.on_container(&dev(3), payload).is_err());
        let got = b.on_container(&dev(1), payload).unwrap();
        assert_eq!(installed(&got).unwrap().epoch(), 1);
        assert!(got.iter().any(|a| matches!(
            a,
            Action::Departed { device, .. } if *device == dev(3)
        )));
        // Again: stale.
        assert!(matches!(
            b.on_container(&dev(1), payload),
            Err(ClientError::StaleEpoch { .. })
        ));
        // The leaver (had it received it) is excluded, never installs.
        let got = c.on_container(&dev(1), payload).unwrap();
        assert!(got.iter().any(|a| matches!(a, Action::Excluded)));
        assert!(installed(&got).is_none());
    }

    #[test]
    fn a_member_told_it_was_removed_stops_and_others_are_only_noted() {
        let p = provider();
        let k0 = keys(p.as_ref(), 3);
        let mut b = Membership::member(dev(2), dev(1), &k0).unwrap();
        let out = b.on_member_event(&dev(3), MemberState::Left).unwrap();
        assert!(matches!(out.as_slice(), [Action::Departed { .. }]));
        let out = b.on_member_event(&dev(2), MemberState::Removed).unwrap();
        assert!(matches!(out.as_slice(), [Action::Excluded]));
        assert!(b.remove(&dev(3)).is_err());
    }

    #[test]
    fn other_meetings_and_texts_are_ignored() {
        let p = provider();
        let k0 = keys(p.as_ref(), 3);
        let mut m = Membership::initiator(p.clone(), dev(1), &k0, CallType::Video).unwrap();
        let other = Payload::Leave {
            meeting_id: "00".repeat(32),
            epoch: 0,
        };
        assert!(m.on_container(&dev(2), &other).unwrap().is_empty());
        let text = Payload::Text { text: "hi".into() };
        assert!(m.on_container(&dev(2), &text).unwrap().is_empty());
        assert_eq!(m.epoch(), 0);
    }
    #[test]
    fn the_initiators_overlap_grows_with_the_recipients_up_to_5_s() {
        assert_eq!(rekey_overlap_ms(250, 0), 250);
        assert_eq!(rekey_overlap_ms(250, 1), 253);
        assert_eq!(rekey_overlap_ms(250, 498), 250 + 3 * 498);
        assert_eq!(rekey_overlap_ms(250, 1024), 3_322);
        assert_eq!(rekey_overlap_ms(250, 5_000), REKEY_OVERLAP_MAX_MS);
        assert_eq!(rekey_overlap_ms(250, usize::MAX), REKEY_OVERLAP_MAX_MS);
        // A base above the cap is kept as it is.
        assert_eq!(rekey_overlap_ms(8_000, 10), 8_000);
        assert_eq!(rekey_overlap_ms(0, 0), 0);
    }

    #[test]
    fn switch_times_convert_to_a_delay_and_far_ones_are_refused() {
        let now = 1_700_000_000_000;
        assert_eq!(switch_delay_ms(now + 1_744, now).unwrap(), 1_744);
        assert_eq!(switch_delay_ms(now, now).unwrap(), 0);
        // Passed: at once.
        assert_eq!(switch_delay_ms(now - 3_000, now).unwrap(), 0);
        assert_eq!(switch_delay_ms(0, now).unwrap(), 0);
        assert_eq!(
            switch_delay_ms(now + MAX_SWITCH_AHEAD_MS, now).unwrap(),
            MAX_SWITCH_AHEAD_MS
        );
        assert!(matches!(
            switch_delay_ms(now + MAX_SWITCH_AHEAD_MS + 1, now),
            Err(ClientError::SwitchTooFar { switch_at_ms, now_ms })
                if switch_at_ms == now + MAX_SWITCH_AHEAD_MS + 1 && now_ms == now
        ));
        assert!(switch_delay_ms(u64::MAX, now).is_err());
        assert_eq!(switch_delay_ms(u64::MAX, u64::MAX).unwrap(), 0);
    }

    #[test]
    fn the_stamped_switch_time_reaches_the_rekey_the_initiator_and_the_members() {
        let p = provider();
        let k0 = keys(p.as_ref(), 4);
        let mut init = Membership::initiator(p.clone(), dev(1), &k0, CallType::Video).unwrap();
        let mut b = Membership::member(dev(2), dev(1), &k0).unwrap();
        let out = init.on_member_event(&dev(4), MemberState::Left).unwrap();
        // As the runner queues them: the rekey is sent, the install waits behind it.
        let mut queue: std::collections::VecDeque<Action> = out.into_iter().collect();
        assert!(queue.iter().any(|a| matches!(
            a,
            Action::Install {
                switch_at_ms: None,
                ..
            }
        )));
        let Some(pos) = queue
            .iter()
            .position(|a| matches!(a, Action::SendRekey { .. }))
        else {
            panic!("no rekey")
        };
        let Some(Action::SendRekey {
            mut payload,
            epoch,
            to,
        }) = queue.remove(pos)
        else {
            panic!("no rekey")
        };
        assert_eq!(to.len(), 2);
        let now = 1_700_000_000_000;
        let at = stamp_rekey(&mut payload, &mut queue, epoch, now, 250, to.len()).unwrap();
        assert_eq!(at, now + 256);
        // The initiator's own install switches at the same time.
        assert!(queue.iter().any(|a| matches!(
            a,
            Action::Install { keys, switch_at_ms: Some(t) } if keys.epoch() == 1 && *t == at
        )));
        // It survives sealing (bytes) and a member installs with it.
        let payload = Payload::from_bytes(&payload.to_bytes().unwrap()).unwrap();
        let got = b.on_container(&dev(1), &payload).unwrap();
        assert!(got.iter().any(|a| matches!(
            a,
            Action::Install { keys, switch_at_ms: Some(t) } if keys.epoch() == 1 && *t == at
        )));
        // Not a rekey: nothing stamped.
        let mut text = Payload::Text { text: "hi".into() };
        assert_eq!(stamp_rekey(&mut text, &mut queue, 1, now, 250, 2), None);
    }

    #[test]
    fn a_rekey_without_a_switch_time_installs_with_the_fixed_overlap() {
        let p = provider();
        let k0 = keys(p.as_ref(), 3);
        let mut init = Membership::initiator(p.clone(), dev(1), &k0, CallType::Video).unwrap();
        let mut b = Membership::member(dev(2), dev(1), &k0).unwrap();
        let out = init.on_member_event(&dev(3), MemberState::Left).unwrap();
        let (payload, _, _) = rekey_of(&out);
        let got = b.on_container(&dev(1), payload).unwrap();
        assert!(got.iter().any(|a| matches!(
            a,
            Action::Install {
                switch_at_ms: None,
                ..
            }
        )));
    }

    fn user_key(p: &dyn CryptoProvider) -> P256PublicKey {
        p.generate_p256(conclave_crypto::KeyUsage::Signing)
            .expect("key")
            .public_key()
    }

    fn invite_of(actions: &[Action]) -> (&Payload, u64, &[DeviceId]) {
        actions
            .iter()
            .find_map(|a| match a {
                Action::SendInvite { payload, epoch, to } => Some((payload, *epoch, to.as_slice())),
                _ => None,
            })
            .expect("an invite")
    }

    #[test]
    fn an_add_rekeys_the_others_and_invites_the_new_devices_at_fresh_indexes() {
        let p = provider();
        let k0 = keys(p.as_ref(), 3);
        let mut init = Membership::initiator(p.clone(), dev(1), &k0, CallType::Video).unwrap();
        let mut b = Membership::member(dev(2), dev(1), &k0).unwrap();
        // A departure first: index 2 (device 3) is gone, the next index is still 3.
        let out = init.on_member_event(&dev(3), MemberState::Left).unwrap();
        assert_eq!(rekey_of(&out).1, 1);
        let joiner_key = user_key(p.as_ref());
        let out = init
            .add(vec![(dev(7), joiner_key), (dev(8), joiner_key)])
            .unwrap();
        // In order: the rekey, the invite, the install.
        assert!(matches!(
            out.as_slice(),
            [
                Action::SendRekey { .. },
                Action::SendInvite { .. },
                Action::Install { .. }
            ]
        ));
        let (rekey, epoch, to) = rekey_of(&out);
        assert_eq!(
            (epoch, to),
            (2, &[dev(2)][..]),
            "not itself, not the new ones"
        );
        let (invite, ie, ito) = invite_of(&out);
        assert_eq!((ie, ito), (2, &[dev(7), dev(8)][..]));
        let Payload::Invite(ik) = invite else {
            panic!("not an invite")
        };
        assert_eq!(ik.switch_at_ms, None);
        invite.validate().unwrap();
        let Payload::Rekey(rk) = rekey else {
            panic!("not a rekey")
        };
        let k2 = rk.to_keys().unwrap();
        let ki = ik.to_keys().unwrap();
        assert_eq!(k2.meeting_key().expose(), ki.meeting_key().expose());
        assert_eq!(k2.roster(), ki.roster());
        assert_eq!(k2.index_of(&dev(1)).unwrap(), 0);
        assert_eq!(k2.index_of(&dev(2)).unwrap(), 1);
        assert_eq!(k2.index_of(&dev(7)).unwrap(), 3, "index 2 is never reused");
        assert_eq!(k2.index_of(&dev(8)).unwrap(), 4);
        assert_eq!(k2.roster().by_device(&dev(7)).unwrap().user_key, joiner_key);
        assert_eq!(installed(&out).unwrap().epoch(), 2);
        assert_eq!(installed(&out).unwrap().meeting_key(), k2.meeting_key());
        assert_eq!(init.epoch(), 2);
        assert!(init.is_member(&dev(7)) && init.is_member(&dev(8)));
        // The member takes the rekey; the joiner starts from the invite.
        let got = b.on_container(&dev(1), rekey).unwrap();
        assert_eq!(installed(&got).unwrap().epoch(), 2);
        assert!(b.is_member(&dev(7)));
        let mut j = Membership::member(dev(7), dev(1), &ki).unwrap();
        assert_eq!(j.epoch(), 2);
        // A later add goes on after the highest index, one epoch per add.
        let out = init.add(vec![(dev(9), joiner_key)]).unwrap();
        let (rekey, epoch, to) = rekey_of(&out);
        assert_eq!((epoch, to), (3, &[dev(2), dev(7), dev(8)][..]));
        let Payload::Rekey(rk) = rekey else {
            panic!("not a rekey")
        };
        assert_eq!(rk.to_keys().unwrap().index_of(&dev(9)).unwrap(), 5);
        assert_eq!(invite_of(&out).2, &[dev(9)]);
        assert_eq!(
            installed(&j.on_container(&dev(1), rekey).unwrap())
                .unwrap()
                .epoch(),
            3
        );
        // The joiner's departure makes the usual rekey.
        let out = init.on_member_event(&dev(7), MemberState::Left).unwrap();
        assert_eq!(rekey_of(&out).1, 4);
    }

    #[test]
    fn adds_of_members_departed_devices_or_nobody_are_refused() {
        let p = provider();
        let k0 = keys(p.as_ref(), 3);
        let mut init = Membership::initiator(p.clone(), dev(1), &k0, CallType::Audio).unwrap();
        let key = user_key(p.as_ref());
        assert!(init.add(vec![(dev(2), key)]).is_err(), "already a member");
        assert!(init.add(vec![(dev(1), key)]).is_err(), "itself");
        assert!(init.add(Vec::new()).is_err(), "nobody");
        assert!(
            init.add(vec![(dev(5), key), (dev(5), key)]).is_err(),
            "twice"
        );
        init.on_member_event(&dev(3), MemberState::Left).unwrap();
        assert!(init.add(vec![(dev(3), key)]).is_err(), "departed");
        assert_eq!(init.epoch(), 1, "refusals draw no epoch");
        let mut b = Membership::member(dev(2), dev(1), &k0).unwrap();
        assert!(b.add(vec![(dev(5), key)]).is_err(), "only the initiator");
    }
}
