//! The online flows against the real relay binary through the SDK: three users with two
//! devices each, a call invite opened by every invited device, text and reject replies,
//! push delivery with automatic prekey refill, privacy (deny list), and TTL expiry.

mod relay_harness;

use std::time::Duration;

use conclave_client::ClientError;
use conclave_client::api::{Received, SessionEvent};
use conclave_client::container::{CallType, Payload};
use conclave_client::identity::fingerprint;
use relay_harness::{Relay, UNLIMITED, bounded, user};

fn opened(r: &Received) -> &conclave_client::api::Delivered {
    match r {
        Received::Opened(d) => d,
        Received::Refused(r) => panic!("refused {}: {}", r.container_id, r.error),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calls_b_and_c_and_every_device_opens_the_invite() {
    let relay = Relay::start(UNLIMITED);
    let root = tempfile::tempdir().unwrap();
    bounded(120, async {
        let mut a = user(&relay, root.path(), "Alice", 2, 10).await;
        let mut b = user(&relay, root.path(), "bob", 2, 10).await;
        let mut c = user(&relay, root.path(), "carol", 2, 10).await;
        let (bh, ch) = (b[0].user_hash().to_string(), c[0].user_hash().to_string());
        assert_eq!(a[0].user_hash_of("alice").unwrap(), a[0].user_hash());

        let inv = a[0]
            .call(&[bh.clone(), ch.clone()], CallType::Video)
            .await
            .unwrap();
        assert_eq!(inv.sent.recipients.len(), 4);
        assert!(inv.sent.skipped.is_empty());
        assert_eq!(inv.keys.roster().entries().len(), 5);
        let mid = inv.meeting_id.to_hex();

        let a_fp = a[0].fingerprint();
        for (name, list) in [("bob", &mut b), ("carol", &mut c)] {
            for (i, s) in list.iter_mut().enumerate() {
                let got = s.receive().await.unwrap();
                assert_eq!(got.len(), 1, "one invite for {name}-{i}");
                let d = opened(&got[0]);
                assert_eq!(d.sender_fingerprint, a_fp);
                assert_eq!(d.sender_device, a[0].device_id());
                match &d.opened.payload {
                    Payload::Invite(k) => {
                        assert_eq!(k.meeting_id, mid);
                        assert_eq!(k.epoch, 0);
                        assert_eq!(k.roster.len(), 5);
                    }
                    other => panic!("not an invite: {other:?}"),
                }
                // Acknowledged: nothing left.
                assert!(
                    s.client()
                        .fetch_messages(10)
                        .await
                        .unwrap()
                        .messages
                        .is_empty()
                );
                // The prekey's consumption was persisted before the acknowledgement.
                let p = s.identity().provider().clone();
                let reloaded = conclave_client::identity::IdentityStore::new(
                    root.path().join(format!("{name}-{i}")),
                )
                .load(p)
                .unwrap();
                assert!(reloaded.prekeys().is_consumed(d.opened.prekey_id));
            }
        }
        // Alice's other device got nothing (it was not invited).
        assert!(a[1].receive().await.unwrap().is_empty());

        // The meeting is registered with the invited devices.
        let m = a[0].client().get_meeting(&mid).await.unwrap();
        assert_eq!(m.initiator_device, a[0].device_id());
        assert_eq!(m.members.len(), 5);

        // Bob accepts on one device; Carol rejects and tells Alice's devices.
        let ticket = b[0].accept(&mid).await.unwrap();
        assert_eq!(ticket.meeting_id, mid);
        let ah = a[0].user_hash().to_string();
        let sent = c[0].reject(&mid, &[ah]).await.unwrap().unwrap();
        assert_eq!(sent.recipients.len(), 2);
        for s in a.iter_mut() {
            let got = s.receive().await.unwrap();
            let d = opened(&got[0]);
            assert_eq!(
                d.opened.payload,
                Payload::Reject {
                    meeting_id: mid.clone()
                }
            );
            assert_eq!(
                d.sender_fingerprint,
                fingerprint(
                    c[0].identity().provider().as_ref(),
                    &c[0].identity().user_public_key()
                )
            );
        }
        let m = a[0].client().get_meeting(&mid).await.unwrap();
        let state = |d: &str| m.members.iter().find(|x| x.device_id == d).map(|x| x.state);
        use conclave_client::api::types::MemberState;
        assert_eq!(state(b[0].device_id()), Some(MemberState::Joined));
        assert_eq!(state(c[0].device_id()), Some(MemberState::Rejected));
        assert_eq!(state(b[1].device_id()), Some(MemberState::Invited));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_delivers_opened_messages_and_refills_prekeys() {
    let relay = Relay::start(UNLIMITED);
    let root = tempfile::tempdir().unwrap();
    bounded(120, async {
        let a = user(&relay, root.path(), "alice", 1, 5).await;
        // Bob starts with few prekeys: the relay's low-water mark is 10.
        let mut b = user(&relay, root.path(), "bob", 1, 3).await;
        let bh = b[0].user_hash().to_string();
        let mut push = b[0].push().await.unwrap();
        // Give the relay a moment to register the connection before posting.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = a[0].send_text(&bh, "hello over push").await.unwrap();
        let (mut text, mut refilled) = (false, false);
        while !(text && refilled) {
            let ev = tokio::time::timeout(Duration::from_secs(10), push.next())
                .await
                .expect("a push event in time")
                .expect("channel open")
                .unwrap();
            match b[0].handle_push(ev).await.unwrap() {
                SessionEvent::Message(r) => {
                    let d = opened(&r);
                    assert_eq!(d.container_id, sent.container_id);
                    assert_eq!(
                        d.opened.payload,
                        Payload::Text {
                            text: "hello over push".into()
                        }
                    );
                    text = true;
                }
                SessionEvent::PrekeysRefilled {
                    pool_size,
                    uploaded,
                } => {
                    assert!(uploaded > 0);
                    assert!(pool_size >= 20, "{pool_size}");
                    refilled = true;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        push.close().await;
        // The pushed message was acknowledged.
        assert!(
            b[0].client()
                .fetch_messages(10)
                .await
                .unwrap()
                .messages
                .is_empty()
        );
        // ensure_prekeys is a no-op now.
        assert_eq!(b[0].ensure_prekeys().await.unwrap().0, 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_list_blocks_a_caller() {
    let relay = Relay::start(UNLIMITED);
    let root = tempfile::tempdir().unwrap();
    bounded(120, async {
        let mut a = user(&relay, root.path(), "alice", 1, 5).await;
        let b = user(&relay, root.path(), "bob", 1, 5).await;
        let mut c = user(&relay, root.path(), "carol", 1, 5).await;
        let (ah, bh, ch) = (
            a[0].user_hash().to_string(),
            b[0].user_hash().to_string(),
            c[0].user_hash().to_string(),
        );
        use conclave_client::api::types::{PrivacyMode, PrivacyUpdate};
        // A bundle of Bob fetched before he blocks Alice.
        let mut early = a[0].fetch_bundles(&bh).await.unwrap();
        let set = b[0]
            .client()
            .set_privacy(
                &bh,
                &PrivacyUpdate {
                    mode: Some(PrivacyMode::DenyList),
                    deny: Some(vec![ah.clone()]),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(set.deny, vec![ah.clone()]);
        // Alice can neither fetch Bob's bundle nor call him.
        let e = a[0].fetch_bundles(&bh).await.unwrap_err();
        let api = e.api().expect("an API error");
        assert_eq!((api.status, api.code.as_str()), (403, "forbidden"));
        let e = a[0]
            .call(std::slice::from_ref(&bh), CallType::Audio)
            .await
            .unwrap_err();
        assert!(e.is_api("forbidden"), "{e}");
        // Nor can a container sealed with a bundle fetched earlier be delivered.
        let e = a[0]
            .send_to_bundles(
                &Payload::Text { text: "hi".into() },
                std::slice::from_mut(&mut early),
            )
            .await
            .unwrap_err();
        assert!(e.is_api("forbidden"), "{e}");
        assert!(
            b[0].client()
                .fetch_messages(10)
                .await
                .unwrap()
                .messages
                .is_empty()
        );
        // Carol is not on the list: she still gets calls.
        let inv = a[0]
            .call(std::slice::from_ref(&ch), CallType::Audio)
            .await
            .unwrap();
        assert_eq!(inv.sent.recipients.len(), 1);
        // Bob's own view and Carol reaching Bob are unaffected.
        assert!(c[0].fetch_bundles(&bh).await.is_ok());
        assert!(b[0].fetch_bundles(&bh).await.is_ok());
        assert_eq!(c[0].receive().await.unwrap().len(), 1);
        assert!(a[0].receive().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry_removes_a_message() {
    let relay = Relay::start(&format!("expiry_interval_s = 1\n{UNLIMITED}"));
    let root = tempfile::tempdir().unwrap();
    bounded(120, async {
        let a = user(&relay, root.path(), "alice", 1, 5).await;
        let b = user(&relay, root.path(), "bob", 1, 5).await;
        let bh = b[0].user_hash().to_string();
        // A one-second container, sealed by hand.
        let mut bundles = [a[0].fetch_bundles(&bh).await.unwrap()];
        let recipient = conclave_client::container::Recipient::take_from_bundle(
            a[0].identity().provider().as_ref(),
            &mut bundles[0].devices[0],
        )
        .unwrap();
        let bytes = conclave_client::container::seal(
            a[0].identity(),
            &Payload::Text {
                text: "short-lived".into(),
            },
            &[recipient],
            conclave_client::container::SealOptions {
                now_ms: a[0].now_ms(),
                ttl_seconds: 1,
            },
        )
        .unwrap();
        let posted = a[0].client().post_container(&bytes).await.unwrap();
        let long = a[0].send_text(&bh, "long-lived").await.unwrap();
        let pending = b[0].client().fetch_messages(10).await.unwrap().messages;
        assert_eq!(pending.len(), 2);
        assert!(posted.expires_ms <= a[0].now_ms() + 1000);
        let stored = |m: &str| -> u64 {
            m.lines()
                .find(|l| l.starts_with("conclave_containers_stored"))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse::<f64>().ok())
                .map(|v| v as u64)
                .expect("conclave_containers_stored in /metrics")
        };
        assert_eq!(stored(&a[0].client().metrics().await.unwrap()), 2);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        // Excluded from fetches at once, and deleted by the expiry task.
        let pending = b[0].client().fetch_messages(10).await.unwrap().messages;
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].container_id, long.container_id);
        let mut left = 2;
        for _ in 0..50 {
            left = stored(&a[0].client().metrics().await.unwrap());
            if left == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left, 1, "the expired container is deleted from storage");
        // Acknowledging the expired one: it is gone.
        let e = b[0]
            .client()
            .acknowledge(&posted.container_id)
            .await
            .unwrap_err();
        assert!(e.is_api("not_found"), "{e}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_and_tampered_containers_are_refused_and_acknowledged() {
    let relay = Relay::start(UNLIMITED);
    let root = tempfile::tempdir().unwrap();
    bounded(120, async {
        let a = user(&relay, root.path(), "alice", 1, 5).await;
        let mut b = user(&relay, root.path(), "bob", 1, 5).await;
        let bh = b[0].user_hash().to_string();
        let sent = a[0].send_text(&bh, "once").await.unwrap();
        let first = b[0].client().fetch_messages(10).await.unwrap().messages;
        let got = b[0].receive().await.unwrap();
        assert_eq!(got.len(), 1);
        opened(&got[0]);
        // The same delivery handed in again (e.g. pushed and fetched): refused, no panic.
        match b[0].handle_message(&first[0]).await.unwrap() {
            Received::Refused(r) => {
                assert_eq!(r.container_id, sent.container_id);
                assert!(
                    matches!(r.error, ClientError::PrekeyConsumed(_)),
                    "{}",
                    r.error
                );
            }
            Received::Opened(_) => panic!("a replay opened"),
        }
    })
    .await;
}
