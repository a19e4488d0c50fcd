//! Sealing and opening containers: recipients, verification order, tampering, prekey
//! consumption, time window, replay and epoch guards.

mod common;

use common::{NOW, identity, opts, provider, recipient};
use conclave_client::ClientError;
use conclave_client::container::{
    CallType, EpochGuard, MeetingKeysJson, OpenOptions, Payload, SeenContainers, open, seal,
};
use conclave_client::identity::verify_bundle;
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

fn invite_payload(keys: &EpochKeys) -> Payload {
    Payload::Invite(MeetingKeysJson::from_keys(keys, CallType::Video))
}

#[test]
fn replay_and_stale_epoch_guards() {
    let p = provider();
    let alice = identity(0);
    let bob = identity(0);
    let roster = Roster::new(vec![
        RosterEntry {
            index: 0,
            device_id: *alice.device_id(),
            user_key: alice.user_public_key(),
        },
        RosterEntry {
            index: 1,
            device_id: *bob.device_id(),
            user_key: bob.user_public_key(),
        },
    ])
    .unwrap();
    let id = MeetingId::generate(p.as_ref(), b"call properties").unwrap();
    let e0 = EpochKeys::start(p.as_ref(), id, roster.clone()).unwrap();
    let e1 = e0.rekey(p.as_ref(), roster).unwrap();
    assert_ne!(e0.meeting_key(), e1.meeting_key());

    let mut guard = EpochGuard::new();
    guard.check(&invite_payload(&e1)).unwrap();
    assert!(matches!(
        guard.check(&invite_payload(&e0)),
        Err(ClientError::StaleEpoch { got: 0, current: 1 })
    ));
    let rekey_same = Payload::Rekey(MeetingKeysJson::from_keys(&e1, CallType::Video));
    assert!(matches!(
        guard.check(&rekey_same),
        Err(ClientError::StaleEpoch { .. })
    ));

    let mut carol = identity(2);
    let c = seal(&alice, &invite_payload(&e1), &[recipient(&carol)], opts()).unwrap();
    let opened = open(&mut carol, &c, at(NOW)).unwrap();
    let mut seen = SeenContainers::new();
    seen.check_and_record(&opened, NOW).unwrap();
    assert!(matches!(
        seen.check_and_record(&opened, NOW),
        Err(ClientError::Replay)
    ));
    // Forgotten once its TTL has passed (the container is then refused as expired).
    seen.check_and_record(&text_opened(&mut carol, &alice), NOW + 3601 * 1000)
        .unwrap();
    assert_eq!(seen.len(), 1);
    let Payload::Invite(k) = opened.payload else {
        panic!("expected an invite")
    };
    assert_eq!(k.to_keys().unwrap().meeting_key(), e1.meeting_key());
}

fn text_opened(
    me: &mut conclave_client::identity::Identity,
    from: &conclave_client::identity::Identity,
) -> conclave_client::container::OpenedContainer {
    let c = seal(from, &text("t"), &[recipient(me)], opts()).unwrap();
    open(me, &c, at(NOW)).unwrap()
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
