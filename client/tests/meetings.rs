//! Meetings end to end in memory: invites through containers, every participant decrypting
//! everyone's frames, a rekey that cuts a leaver out, the grace period for old keys.

mod common;

use common::{NOW, identity, opts, provider, recipient};
use conclave_client::ClientError;
use conclave_client::container::{CallType, MeetingKeysJson, OpenOptions, Payload, open, seal};
use conclave_client::identity::Identity;
use conclave_client::meeting::{EpochKeys, MeetingCrypto, MeetingId, Roster, RosterEntry};
use conclave_client::sframe::CipherSuite;

fn entry(index: u16, id: &Identity) -> RosterEntry {
    RosterEntry {
        index,
        device_id: *id.device_id(),
        user_key: id.user_public_key(),
    }
}

/// Delivers `keys` to `to` in a sealed container and returns what it opened.
fn deliver(from: &Identity, to: &mut Identity, payload: Payload) -> EpochKeys {
    let c = seal(from, &payload, &[recipient(to)], opts()).unwrap();
    let opened = open(
        to,
        &c,
        OpenOptions {
            now_ms: NOW,
            expected_sender: Some(&from.user_public_key()),
        },
    )
    .unwrap();
    match opened.payload {
        Payload::Invite(k) | Payload::Rekey(k) => k.to_keys().unwrap(),
        other => panic!("unexpected payload {other:?}"),
    }
}

#[test]
fn three_party_meeting_with_rekey_after_leave() {
    let p = provider();
    let alice = identity(0);
    let mut bob = identity(2);
    let mut carol = identity(2);
    let roster = Roster::new(vec![entry(0, &alice), entry(1, &bob), entry(2, &carol)]).unwrap();
    let meeting = MeetingId::generate(p.as_ref(), b"{\"call_type\":\"video\"}").unwrap();
    let e0 = EpochKeys::start(p.as_ref(), meeting, roster).unwrap();
    let invite = || Payload::Invite(MeetingKeysJson::from_keys(&e0, CallType::Video));
    let bob_keys = deliver(&alice, &mut bob, invite());
    let carol_keys = deliver(&alice, &mut carol, invite());

    let suite = CipherSuite::DEFAULT;
    let mut a = MeetingCrypto::new(
        p.clone(),
        suite,
        EpochKeys::from_parts(meeting, 0, e0.meeting_key().clone(), e0.roster().clone()).unwrap(),
        alice.device_id(),
    )
    .unwrap();
    let mut b = MeetingCrypto::new(p.clone(), suite, bob_keys, bob.device_id()).unwrap();
    let mut c = MeetingCrypto::new(p.clone(), suite, carol_keys, carol.device_id()).unwrap();

    // Our own frames echoed back are not accepted as anyone's.
    let echo = a.seal(b"", b"echo").unwrap();
    assert!(matches!(
        a.open(b"", &echo),
        Err(ClientError::UnknownKid(_))
    ));
    assert_eq!((a.own_index(), b.own_index(), c.own_index()), (0, 1, 2));
    // A device outside the roster has no sender index.
    let stranger = identity(0);
    let keys =
        EpochKeys::from_parts(meeting, 0, e0.meeting_key().clone(), e0.roster().clone()).unwrap();
    assert!(matches!(
        MeetingCrypto::new(p.clone(), suite, keys, stranger.device_id()),
        Err(ClientError::NotAMember)
    ));

    // Everyone decrypts everyone.
    let fa = a.seal(b"", b"frame from alice").unwrap();
    let fb = b.seal(b"", b"frame from bob").unwrap();
    let fc = c.seal(b"", b"frame from carol").unwrap();
    for (rx, frames) in [
        (&mut a, [&fb, &fc]),
        (&mut b, [&fa, &fc]),
        (&mut c, [&fa, &fb]),
    ] {
        for f in frames {
            let opened = rx.open(b"", f).unwrap();
            assert!(opened.payload.starts_with(b"frame from"));
            assert_eq!(opened.epoch, 0);
        }
    }
    // Frames that fail are errors, never payloads; the window does not move on failure.
    let fa2 = a.seal(b"", b"second frame from alice").unwrap();
    let mut tampered = fa2.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(matches!(
        b.open(b"", &tampered),
        Err(ClientError::FrameAuthFailed)
    ));
    assert_eq!(
        b.open(b"", &fa2).unwrap().payload,
        b"second frame from alice"
    );
    assert!(matches!(
        b.open(b"", &fa),
        Err(ClientError::FrameReplay { .. })
    ));

    // Carol leaves: Alice rekeys for Alice and Bob with a fresh random key.
    let old_alice_frame = a.seal(b"", b"late epoch-0 frame").unwrap();
    let e1 = e0
        .rekey(
            p.as_ref(),
            e0.roster().without(&[*carol.device_id()]).unwrap(),
        )
        .unwrap();
    let bob_e1 = deliver(
        &alice,
        &mut bob,
        Payload::Rekey(MeetingKeysJson::from_keys(&e1, CallType::Video)),
    );
    a.install(
        EpochKeys::from_parts(meeting, 1, e1.meeting_key().clone(), e1.roster().clone()).unwrap(),
        NOW,
    )
    .unwrap();
    b.install(bob_e1, NOW).unwrap();

    let new_frame = a.seal(b"", b"after carol left").unwrap();
    assert_eq!(b.open(b"", &new_frame).unwrap().epoch, 1);
    assert!(
        matches!(c.open(b"", &new_frame), Err(ClientError::UnknownKid(_))),
        "the leaver cannot decrypt"
    );
    // Even with the old meeting key Carol cannot derive epoch-1 keys: they are unrelated.
    assert_ne!(e0.meeting_key(), e1.meeting_key());

    // Bob still opens a late epoch-0 frame during the grace period, not after.
    assert_eq!(b.poll_timeout(), Some(NOW + 5_000));
    b.poll(NOW + 4_999);
    let late = b.open(b"", &old_alice_frame).unwrap();
    assert_eq!(late.epoch, 0);
    b.poll(NOW + 5_000);
    let another_old = c.seal(b"", b"carol still sending on epoch 0").unwrap();
    assert!(matches!(
        b.open(b"", &another_old),
        Err(ClientError::UnknownKid(_))
    ));
    assert_eq!(b.poll_timeout(), None);

    // Going back is refused.
    let stale =
        EpochKeys::from_parts(meeting, 1, e1.meeting_key().clone(), e1.roster().clone()).unwrap();
    assert!(matches!(
        b.install(stale, NOW),
        Err(ClientError::StaleEpoch { got: 1, current: 1 })
    ));
}

#[test]
fn sender_keys_differ_per_sender_and_epoch() {
    let p = provider();
    let alice = identity(0);
    let bob = identity(0);
    let roster = Roster::new(vec![entry(0, &alice), entry(1, &bob)]).unwrap();
    let id = MeetingId::generate(p.as_ref(), b"").unwrap();
    let e0 = EpochKeys::start(p.as_ref(), id, roster.clone()).unwrap();
    let e1 = e0.rekey(p.as_ref(), roster).unwrap();
    let k00 = e0.sender_base_key(p.as_ref(), 0).unwrap();
    let k01 = e0.sender_base_key(p.as_ref(), 1).unwrap();
    let k10 = e1.sender_base_key(p.as_ref(), 0).unwrap();
    assert_ne!(k00, k01);
    assert_ne!(k00, k10);
    assert_eq!(e1.kid(3), (1 << 16) | 3);
    // Meeting ids mix in fresh randomness: the same properties give different ids.
    assert_ne!(
        MeetingId::generate(p.as_ref(), b"same").unwrap(),
        MeetingId::generate(p.as_ref(), b"same").unwrap()
    );
}

#[test]
fn rosters_are_validated() {
    let alice = identity(0);
    assert!(matches!(
        Roster::new(vec![]),
        Err(ClientError::BadRoster(_))
    ));
    assert!(matches!(
        Roster::new(vec![entry(0, &alice), entry(0, &identity(0))]),
        Err(ClientError::BadRoster("duplicate sender index"))
    ));
    assert!(matches!(
        Roster::new(vec![entry(0, &alice), entry(1, &alice)]),
        Err(ClientError::BadRoster("duplicate device"))
    ));
}
