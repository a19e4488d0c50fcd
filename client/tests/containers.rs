//! Sealing and opening containers: recipients, verification order, tampering, prekey
//! consumption, time window, replay and epoch guards.

mod common;

use common::{NOW, identity, opts, provider, recipient};
use conclave_client::ClientError;
use conclave_client::container::{
    CallType, EpochGuard, MeetingKeysJson, OpenOptions, OpenedContainer, Payload, SeenContainers,
    open, seal,
};
use conclave_client::identity::{Identity, verify_bundle};
use conclave_client::meeting::{EpochKeys, MeetingId, Roster, RosterEntry};
use conclave_wire::container::Container;
use proptest::prelude::*;

fn at(now_ms: u64) -> OpenOptions<'static> {
    OpenOptions {
        now_ms,
        expected_sender: None,
    }
}

fn text(s: &str) -> Payload {
    Payload::Text { text: s.into() }
}

#[test]
fn two_recipients_open_and_a_third_is_not_a_recipient() {
    let alice = identity(0);
    let mut bob = identity(3);
    let mut carol = identity(3);
    let mut dave = identity(3);
    let c = seal(
        &alice,
        &text("hello"),
        &[recipient(&bob), recipient(&carol)],
        opts(),
    )
    .unwrap();
    for who in [&mut bob, &mut carol] {
        let opened = open(who, &c, at(NOW)).unwrap();
        assert_eq!(opened.payload, text("hello"));
        assert_eq!(opened.sender.user_key, alice.user_public_key());
        assert_eq!(&opened.sender.device_id, alice.device_id());
        assert_eq!(who.prekeys().len(), 2, "the used prekey was deleted");
        assert!(who.prekeys().is_consumed(opened.prekey_id));
    }
    assert!(matches!(
        open(&mut dave, &c, at(NOW)),
        Err(ClientError::NotARecipient)
    ));
    assert_eq!(dave.prekeys().len(), 3);
}

#[test]
fn a_consumed_prekey_is_rejected() {
    let alice = identity(0);
    let mut bob = identity(1);
    let r = recipient(&bob);
    let c1 = seal(&alice, &text("one"), std::slice::from_ref(&r), opts()).unwrap();
    let c2 = seal(&alice, &text("two"), &[r], opts()).unwrap();
    let first = open(&mut bob, &c1, at(NOW)).unwrap();
    assert!(matches!(
        open(&mut bob, &c2, at(NOW)),
        Err(ClientError::PrekeyConsumed(id)) if id == first.prekey_id
    ));
    // Opening the same container twice fails the same way: the prekey is gone.
    assert!(matches!(
        open(&mut bob, &c1, at(NOW)),
        Err(ClientError::PrekeyConsumed(_))
    ));
}

#[test]
fn every_single_flipped_byte_fails_and_consumes_nothing() {
    let alice = identity(0);
    let mut bob = identity(1);
    let c = seal(&alice, &text("flip me"), &[recipient(&bob)], opts()).unwrap();
    for i in 0..c.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = c.clone();
            bad[i] ^= bit;
            assert!(
                open(&mut bob, &bad, at(NOW)).is_err(),
                "flip of byte {i} (mask {bit:#x}) opened"
            );
        }
    }
    for cut in [0, 1, 4, 100, c.len() - 1] {
        assert!(open(&mut bob, &c[..cut], at(NOW)).is_err());
    }
    assert_eq!(bob.prekeys().len(), 1);
    assert_eq!(
        open(&mut bob, &c, at(NOW)).unwrap().payload,
        text("flip me")
    );
}

#[test]
fn a_different_signer_is_caught_before_any_decryption() {
    let alice = identity(0);
    let mallory = identity(0);
    let mut bob = identity(2);
    let c = seal(&alice, &text("x"), &[recipient(&bob)], opts()).unwrap();
    // Mallory swaps in her own certificate: the signature no longer verifies.
    let mut parsed = Container::parse(&c).unwrap();
    parsed.sender = mallory.certificate().clone();
    let forged = parsed.to_bytes().unwrap();
    assert!(matches!(
        open(&mut bob, &forged, at(NOW)),
        Err(ClientError::BadContainerSignature)
    ));
    // Expecting a particular sender refuses everyone else.
    let other = mallory.user_public_key();
    let opts = OpenOptions {
        now_ms: NOW,
        expected_sender: Some(&other),
    };
    assert!(matches!(
        open(&mut bob, &c, opts),
        Err(ClientError::UntrustedSender)
    ));
    assert_eq!(bob.prekeys().len(), 2);
}

#[test]
fn high_s_signatures_are_refused() {
    // The P-256 group order.
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63,
        0x25, 0x51,
    ];
    let alice = identity(0);
    let mut bob = identity(1);
    let c = seal(&alice, &text("x"), &[recipient(&bob)], opts()).unwrap();
    // (r, n − s) verifies under plain ECDSA; Conclave accepts only the low-S form.
    let mut high = c.clone();
    let s_start = high.len() - 32;
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(c[s_start + i]) - borrow;
        borrow = i16::from(d < 0);
        high[s_start + i] = d.rem_euclid(256) as u8;
    }
    let p = provider();
    let parsed = Container::parse(&high).unwrap();
    let app_key = conclave_crypto::P256PublicKey::from_sec1(&alice.certificate().app_key).unwrap();
    p.verify_p256(
        &app_key,
        &parsed.signed_bytes(),
        &conclave_crypto::Signature(parsed.signature),
    )
    .expect("the high-S twin is a valid plain ECDSA signature");
    assert!(matches!(
        open(&mut bob, &high, at(NOW)),
        Err(ClientError::BadContainerSignature)
    ));
    assert!(open(&mut bob, &c, at(NOW)).is_ok());
}

#[test]
fn time_window_is_enforced() {
    let alice = identity(0);
    let mut bob = identity(1);
    let c = seal(&alice, &text("x"), &[recipient(&bob)], opts()).unwrap();
    assert!(matches!(
        open(&mut bob, &c, at(NOW + 3600 * 1000 + 1)),
        Err(ClientError::Expired { .. })
    ));
    assert!(matches!(
        open(&mut bob, &c, at(NOW - 10 * 60 * 1000)),
        Err(ClientError::FromTheFuture { .. })
    ));
    assert!(open(&mut bob, &c, at(NOW + 3600 * 1000)).is_ok());
}

#[test]
fn tampered_bundles_are_refused() {
    let bob = identity(2);
    let p = provider();
    let good = bob.bundle(bob.prekeys().public().cloned().collect());
    let mut bad_prekey = good.clone();
    bad_prekey.prekeys[1].public_key = good.prekeys[0].public_key;
    assert!(matches!(
        verify_bundle(p.as_ref(), &bad_prekey),
        Err(ClientError::BadPrekeySignature(id)) if id == good.prekeys[1].id
    ));
    let mut bad_cert = good.clone();
    bad_cert.certificate.created_ms += 1;
    assert!(matches!(
        verify_bundle(p.as_ref(), &bad_cert),
        Err(ClientError::BadCertificate)
    ));
    let mut off_curve = good.clone();
    off_curve.certificate.device_key[40] ^= 1;
    assert!(verify_bundle(p.as_ref(), &off_curve).is_err());
}

/// Seals `payload` from `from` to `to` and opens it.
fn deliver(from: &Identity, to: &mut Identity, payload: &Payload) -> OpenedContainer {
    let c = seal(from, payload, &[recipient(to)], opts()).unwrap();
    open(to, &c, at(NOW)).unwrap()
}

fn entry(index: u16, id: &Identity) -> RosterEntry {
    RosterEntry {
        index,
        device_id: *id.device_id(),
        user_key: id.user_public_key(),
    }
}

#[test]
fn replay_and_epoch_guards() {
    let p = provider();
    let alice = identity(0);
    let bob = identity(0);
    let mallory = identity(0);
    let mut carol = identity(16);
    let roster = Roster::new(vec![entry(0, &alice), entry(1, &bob), entry(2, &carol)]).unwrap();
    let id = MeetingId::generate(p.as_ref(), b"call properties").unwrap();
    let e0 = EpochKeys::start(p.as_ref(), id, roster.clone()).unwrap();
    let e1 = e0.rekey(p.as_ref(), roster.clone()).unwrap();
    let e2 = e1.rekey(p.as_ref(), roster).unwrap();
    assert_ne!(e0.meeting_key(), e1.meeting_key());
    let invite = |k: &EpochKeys| Payload::Invite(MeetingKeysJson::from_keys(k, CallType::Video));
    let rekey = |k: &EpochKeys| Payload::Rekey(MeetingKeysJson::from_keys(k, CallType::Video));

    let mut guard = EpochGuard::new();
    let first = deliver(&alice, &mut carol, &invite(&e1));
    guard.check(&first).unwrap();
    assert_eq!(guard.current(&id), Some(1));
    // Going back, or a rekey that does not move forward, is stale.
    let back = deliver(&alice, &mut carol, &invite(&e0));
    assert!(matches!(
        guard.check(&back),
        Err(ClientError::StaleEpoch { got: 0, current: 1 })
    ));
    let same = deliver(&bob, &mut carol, &rekey(&e1));
    assert!(matches!(
        guard.check(&same),
        Err(ClientError::StaleEpoch { .. })
    ));
    // Someone outside the roster cannot move the meeting, whatever the epoch.
    let forged = deliver(&mallory, &mut carol, &rekey(&e2));
    assert!(matches!(guard.check(&forged), Err(ClientError::NotAMember)));
    // Device ids are public: a certificate claiming Bob's device id under another user key
    // is not Bob.
    let mut spoofed = deliver(&mallory, &mut carol, &rekey(&e2));
    spoofed.sender.device_id = *bob.device_id();
    assert!(matches!(
        guard.check(&spoofed),
        Err(ClientError::NotAMember)
    ));
    // A same-epoch invite may not swap the roster.
    let smaller = EpochKeys::from_parts(
        id,
        1,
        e1.meeting_key().clone(),
        e1.roster().without(&[*bob.device_id()]).unwrap(),
    )
    .unwrap();
    let swap = deliver(&alice, &mut carol, &invite(&smaller));
    assert!(matches!(
        guard.check(&swap),
        Err(ClientError::StaleEpoch { .. })
    ));
    guard
        .check(&deliver(&alice, &mut carol, &invite(&e1)))
        .unwrap();
    // A member's rekey to a newer epoch is accepted.
    guard
        .check(&deliver(&bob, &mut carol, &rekey(&e2)))
        .unwrap();
    assert_eq!(guard.current(&id), Some(2));
    // Leaves: from members only, not for an unknown meeting.
    let leave = |m: &MeetingId| Payload::Leave {
        meeting_id: m.to_hex(),
        epoch: 2,
    };
    guard
        .check(&deliver(&bob, &mut carol, &leave(&id)))
        .unwrap();
    assert!(matches!(
        guard.check(&deliver(&mallory, &mut carol, &leave(&id))),
        Err(ClientError::NotAMember)
    ));
    let unknown = MeetingId::generate(p.as_ref(), b"other").unwrap();
    assert!(matches!(
        guard.check(&deliver(&bob, &mut carol, &leave(&unknown))),
        Err(ClientError::NotAMember)
    ));

    // A container is accepted once, per sender.
    let mut seen = SeenContainers::new();
    seen.check_and_record(&first, NOW).unwrap();
    assert!(matches!(
        seen.check_and_record(&first, NOW),
        Err(ClientError::Replay)
    ));
    // The same container id from another sender does not burn the real one.
    let mut impostor = deliver(&mallory, &mut carol, &text("x"));
    impostor.container_id = first.container_id;
    seen.check_and_record(&impostor, NOW).unwrap();
    // Entries are forgotten once their TTL has passed (the container is refused as
    // expired then).
    seen.check_and_record(&deliver(&alice, &mut carol, &text("t")), NOW + 3601 * 1000)
        .unwrap();
    assert_eq!(seen.len(), 1);
    let Payload::Invite(k) = &first.payload else {
        panic!("expected an invite")
    };
    assert_eq!(k.to_keys().unwrap().meeting_key(), e1.meeting_key());
}

#[test]
fn bad_payloads_are_refused_before_sealing() {
    let alice = identity(0);
    let bob = identity(1);
    let bad = Payload::Leave {
        meeting_id: "not hex".into(),
        epoch: 0,
    };
    assert!(matches!(
        seal(&alice, &bad, &[recipient(&bob)], opts()),
        Err(ClientError::BadPayload(_))
    ));
    let mut o = opts();
    o.ttl_seconds = 0;
    assert!(seal(&alice, &text("x"), &[recipient(&bob)], o).is_err());
    assert!(matches!(
        seal(&alice, &text("x"), &[], opts()),
        Err(ClientError::TooManyRecipients(0))
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn random_and_mutated_containers_never_panic(
        noise in proptest::collection::vec(any::<u8>(), 0..1500),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let alice = identity(0);
        let mut bob = identity(1);
        let _ = open(&mut bob, &noise, at(NOW));
        let mut c = seal(&alice, &text("p"), &[recipient(&bob)], opts()).unwrap();
        for (pos, val) in edits {
            let i = pos % c.len();
            c[i] ^= val | 1;
        }
        prop_assert!(open(&mut bob, &c, at(NOW)).is_err());
    }
}
