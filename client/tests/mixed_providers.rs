//! Every end-to-end flow across crypto providers: containers sealed by an identity on the
//! accel provider open for a software identity and the other way round, a three-party meeting
//! whose participants use different providers, and batched SFrame sealing (native batch on
//! accel, one-by-one on software) giving exactly the frames of single sealing.

use std::sync::Arc;

use conclave_client::container::{
    CallType, MeetingKeysJson, OpenOptions, Payload, Recipient, SealOptions, open, seal,
};
use conclave_client::identity::{Identity, verify_bundle};
use conclave_client::meeting::{EpochKeys, MeetingCrypto, MeetingId, Roster, RosterEntry};
use conclave_client::sframe::{
    CipherSuite, FrameRef, SealedFrames, SframeKey, SframeReceiver, SframeSender,
};
use conclave_crypto::CryptoProvider;
use conclave_crypto_accel::AccelProvider;
use conclave_crypto_software::SoftwareProvider;

const NOW: u64 = 1_800_000_000_000;

fn software() -> Arc<dyn CryptoProvider> {
    Arc::new(SoftwareProvider::new())
}

fn accel() -> Arc<dyn CryptoProvider> {
    Arc::new(AccelProvider::new().expect("accel provider starts"))
}

fn identity(p: Arc<dyn CryptoProvider>, prekeys: usize) -> Identity {
    let mut id = Identity::create(p, NOW - 1000).unwrap();
    id.generate_prekeys(prekeys).unwrap();
    id
}

/// `to`'s bundle, verified and turned into a recipient by the sealer's provider.
fn recipient(sealer: &Identity, to: &Identity) -> Recipient {
    let bundle = to.bundle(to.prekeys().public().cloned().collect());
    let p = sealer.provider().as_ref();
    let mut verified = verify_bundle(p, &bundle).unwrap();
    Recipient::take_from_bundle(p, &mut verified).unwrap()
}

fn opts() -> SealOptions {
    SealOptions {
        now_ms: NOW,
        ttl_seconds: 3600,
    }
}

fn open_from(to: &mut Identity, from: &Identity, container: &[u8]) -> Payload {
    open(
        to,
        container,
        OpenOptions {
            now_ms: NOW,
            expected_sender: Some(&from.user_public_key()),
        },
    )
    .unwrap()
    .payload
}

fn text(s: &str) -> Payload {
    Payload::Text { text: s.into() }
}

#[test]
fn containers_cross_between_accel_and_software() {
    let accel_alice = identity(accel(), 2);
    let mut software_bob = identity(software(), 2);
    let mut accel_carol = identity(accel(), 2);

    // Accel → software and accel in one container.
    let c = seal(
        &accel_alice,
        &text("from accel"),
        &[
            recipient(&accel_alice, &software_bob),
            recipient(&accel_alice, &accel_carol),
        ],
        opts(),
    )
    .unwrap();
    assert_eq!(
        open_from(&mut software_bob, &accel_alice, &c),
        text("from accel")
    );
    assert_eq!(
        open_from(&mut accel_carol, &accel_alice, &c),
        text("from accel")
    );

    // Software → accel.
    let mut accel_alice = accel_alice;
    accel_alice.generate_prekeys(1).unwrap();
    let c = seal(
        &software_bob,
        &text("from software"),
        &[recipient(&software_bob, &accel_alice)],
        opts(),
    )
    .unwrap();
    assert_eq!(
        open_from(&mut accel_alice, &software_bob, &c),
        text("from software")
    );
}

fn entry(index: u16, id: &Identity) -> RosterEntry {
    RosterEntry {
        index,
        device_id: *id.device_id(),
        user_key: id.user_public_key(),
    }
}

/// Delivers meeting keys in a sealed container and returns what the recipient opened.
fn deliver(from: &Identity, to: &mut Identity, keys: &EpochKeys) -> EpochKeys {
    let payload = Payload::Invite(MeetingKeysJson::from_keys(keys, CallType::Video));
    let c = seal(from, &payload, &[recipient(from, to)], opts()).unwrap();
    match open_from(to, from, &c) {
        Payload::Invite(k) => k.to_keys().unwrap(),
        other => panic!("unexpected payload {other:?}"),
    }
}

#[test]
fn three_party_meeting_with_mixed_providers() {
    // Alice on accel (the initiator), Bob on software, Carol on accel.
    let alice = identity(accel(), 0);
    let mut bob = identity(software(), 1);
    let mut carol = identity(accel(), 1);
    let roster = Roster::new(vec![entry(0, &alice), entry(1, &bob), entry(2, &carol)]).unwrap();
    let pa = alice.provider().clone();
    let meeting = MeetingId::generate(pa.as_ref(), b"mixed").unwrap();
    let e0 = EpochKeys::start(pa.as_ref(), meeting, roster).unwrap();
    let bob_keys = deliver(&alice, &mut bob, &e0);
    let carol_keys = deliver(&alice, &mut carol, &e0);

    let suite = CipherSuite::DEFAULT;
    let own =
        EpochKeys::from_parts(meeting, 0, e0.meeting_key().clone(), e0.roster().clone()).unwrap();
    let mut a = MeetingCrypto::new(pa, suite, own, alice.device_id()).unwrap();
    let mut b =
        MeetingCrypto::new(bob.provider().clone(), suite, bob_keys, bob.device_id()).unwrap();
    let mut c = MeetingCrypto::new(
        carol.provider().clone(),
        suite,
        carol_keys,
        carol.device_id(),
    )
    .unwrap();

    // Single frames: everyone decrypts everyone.
    let fa = a.seal(b"m", b"alice (accel)").unwrap();
    let fb = b.seal(b"m", b"bob (software)").unwrap();
    let fc = c.seal(b"m", b"carol (accel)").unwrap();
    for (rx, frames) in [
        (&mut a, [(&fb, 1u16), (&fc, 2)]),
        (&mut b, [(&fa, 0), (&fc, 2)]),
        (&mut c, [(&fa, 0), (&fb, 1)]),
    ] {
        for (frame, sender) in frames {
            let opened = rx.open(b"m", frame).unwrap();
            assert_eq!(opened.sender_index, sender);
        }
    }

    // Batches: accel seals natively, software one by one; every receiver opens every frame.
    let payloads: Vec<Vec<u8>> = (0..10).map(|i| vec![i as u8; 40 + 100 * i]).collect();
    let frames: Vec<FrameRef<'_>> = payloads.iter().map(|p| (&b"meta"[..], &p[..])).collect();
    let mut from_a = SealedFrames::new();
    let mut from_b = SealedFrames::new();
    a.seal_batch(&frames, &mut from_a).unwrap();
    b.seal_batch(&frames, &mut from_b).unwrap();
    assert_eq!((from_a.len(), from_b.len()), (10, 10));
    let check = |rx: &mut MeetingCrypto, batch: &SealedFrames, sender: u16| {
        for (i, frame) in batch.iter().enumerate() {
            let opened = rx.open(b"meta", frame).unwrap();
            assert_eq!(opened.sender_index, sender);
            assert_eq!(opened.payload, payloads[i]);
            // Counters continue after the single frame sealed first.
            assert_eq!(opened.ctr, 1 + i as u64);
        }
    };
    check(&mut a, &from_b, 1);
    check(&mut b, &from_a, 0);
    check(&mut c, &from_a, 0);
    check(&mut c, &from_b, 1);
    // Wrong metadata fails.
    let mut a_late = SealedFrames::new();
    a.seal_batch(&frames[..1], &mut a_late).unwrap();
    assert!(b.open(b"other", a_late.get(0).unwrap()).is_err());
}

/// One KID's frames sealed as batches and one by one, with both providers: all identical.
#[test]
fn batched_sframe_is_identical_to_single_sealing() {
    let kid = 0x1_0002;
    let base = [0x24u8; 32];
    let lengths = [0usize, 1, 15, 16, 17, 100, 1200, 1200, 5000];
    let payloads: Vec<Vec<u8>> = lengths
        .iter()
        .map(|&n| (0..n).map(|j| (j * 13 + n) as u8).collect())
        .collect();
    let metas: [&[u8]; 3] = [b"", b"m", b"longer metadata for the AAD"];

    for suite in [CipherSuite::Aes256GcmSha512, CipherSuite::Aes128GcmSha256] {
        for (meta_case, all_meta) in [("no metadata", false), ("mixed metadata", true)] {
            let frames: Vec<FrameRef<'_>> = payloads
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let meta = if all_meta { metas[i % 3] } else { b"" };
                    (meta, &p[..])
                })
                .collect();

            // Reference: software, single frames.
            let sw = software();
            let mut reference = Vec::new();
            let mut single =
                SframeSender::new(SframeKey::new(sw.as_ref(), suite, kid, &base).unwrap());
            for (meta, payload) in &frames {
                let mut out = Vec::new();
                single.seal(meta, payload, &mut out).unwrap();
                reference.push(out);
            }

            for p in [software(), accel()] {
                let id = format!("{} {suite:?} {meta_case}", p.name());
                let mut tx =
                    SframeSender::new(SframeKey::new(p.as_ref(), suite, kid, &base).unwrap());
                assert_eq!(
                    tx.uses_batched_aead(),
                    p.capabilities().batched_aead,
                    "{id}"
                );
                // Two batches (split unevenly) into one output.
                let mut out = SealedFrames::new();
                tx.seal_batch(&frames[..4], &mut out).unwrap();
                tx.seal_batch(&frames[4..], &mut out).unwrap();
                tx.seal_batch(&[], &mut out).unwrap();
                assert_eq!(out.len(), frames.len(), "{id}");
                let got: Vec<Vec<u8>> = out.iter().map(<[u8]>::to_vec).collect();
                assert_eq!(
                    got, reference,
                    "{id}: batched frames differ from single ones"
                );
                assert_eq!(
                    out.total_bytes(),
                    reference.iter().map(Vec::len).sum::<usize>()
                );

                // They open with both providers' receivers.
                for rp in [software(), accel()] {
                    let mut rx = SframeReceiver::new(rp, suite);
                    rx.add_key(kid, &base).unwrap();
                    for (i, frame) in out.iter().enumerate() {
                        let (header, pt) = rx.open(frames[i].0, frame).unwrap();
                        assert_eq!(header.ctr, i as u64, "{id}");
                        assert_eq!(pt, payloads[i], "{id}");
                    }
                }
                // A single frame after the batches continues the counter.
                let mut next = Vec::new();
                tx.seal(b"", b"after", &mut next).unwrap();
                let mut rx = SframeReceiver::new(software(), suite);
                rx.add_key(kid, &base).unwrap();
                assert_eq!(rx.open(b"", &next).unwrap().0.ctr, frames.len() as u64);
            }
        }
    }
}

#[test]
fn sealed_frames_reuse_and_indexing() {
    let p = accel();
    let mut tx =
        SframeSender::new(SframeKey::new(p.as_ref(), CipherSuite::DEFAULT, 7, &[1; 32]).unwrap());
    let mut out = SealedFrames::with_capacity(4, 4096);
    assert!(out.is_empty() && out.get(0).is_none());
    tx.seal_batch(&[(b"", b"a"), (b"", b"bb")], &mut out)
        .unwrap();
    assert_eq!(out.len(), 2);
    let first = out.get(0).unwrap().to_vec();
    assert_eq!(out.get(1).unwrap().len(), first.len() + 1);
    assert!(out.get(2).is_none());
    out.clear();
    assert!(out.is_empty() && out.total_bytes() == 0);
    tx.seal_batch(&[(b"", b"c")], &mut out).unwrap();
    assert_ne!(out.get(0).unwrap(), first.as_slice(), "a fresh counter");
    assert!(format!("{out:?}").contains("frames: 1"));
}

/// `seal_into` writes exactly what `seal` appends, and refuses a buffer that is too small
/// without spending a counter.
#[test]
fn seal_into_a_packet_buffer() {
    for p in [software(), accel()] {
        let key = || SframeKey::new(p.as_ref(), CipherSuite::DEFAULT, 9, &[5; 32]).unwrap();
        let (mut a, mut b) = (SframeSender::new(key()), SframeSender::new(key()));
        let mut packet = [0u8; 1500];
        for payload in [&b""[..], b"x", &[7u8; 1200]] {
            let mut expected = Vec::new();
            a.seal(b"meta", payload, &mut expected).unwrap();
            let len = b.seal_into(b"meta", payload, &mut packet).unwrap();
            assert_eq!(&packet[..len], expected.as_slice(), "{}", p.name());
        }
        let mut small = [0u8; 20];
        assert!(b.seal_into(b"", &[1u8; 10], &mut small).is_err());
        // The refused frame spent no counter: the next one is still counter 3.
        let len = b.seal_into(b"", b"next", &mut packet).unwrap();
        let mut rx = SframeReceiver::new(p.clone(), CipherSuite::DEFAULT);
        rx.add_key(9, &[5; 32]).unwrap();
        assert_eq!(rx.open(b"", &packet[..len]).unwrap().0.ctr, 3);
    }
}
