//! Removal and rejection through the real relay. The initiator removes a participant: the
//! relay closes the removed device's media session (`CLOSED(2)`) and refuses it a new join
//! ticket, the initiator rekeys without it, and the others follow into the new epoch, which
//! the removed device's old keys cannot open. An invitee who declines while the others talk
//! is cut out the same way (one rekey, though the relay's member event and the `reject`
//! container both report it).

mod relay_harness;

use std::time::{Duration, Instant};

use conclave_client::ClientError;
use conclave_client::api::{Session, SessionOptions};
use conclave_client::identity::IdentityStore;
use conclave_client::media::{AudioConfig, AudioSource, SessionEnd, Source};
use conclave_client::meeting::MeetingCrypto;
use conclave_client::sframe::CipherSuite;
use conclave_wire::media::CloseReason;
use conclave_wire::sframe::{MediaKid, SframeHeader};
use relay_harness::media::{
    MEDIA_CONFIG, reassemble, start_three, wait_until_each_hears_the_others,
};
use relay_harness::{Relay, bounded, provider};

fn audio(i: usize) -> Vec<Source> {
    vec![Source::Audio(AudioSource::new(
        Instant::now(),
        AudioConfig {
            seed: i as u64 + 1,
            ..AudioConfig::default()
        },
    ))]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_initiator_removes_carol_and_rekeys_without_her() {
    let relay = Relay::start(MEDIA_CONFIG);
    let root = tempfile::tempdir().unwrap();
    bounded(120, async {
        let mut m = start_three(&relay, root.path(), audio, b"").await;
        wait_until_each_hears_the_others(&m.parties, 20).await;
        let carol = hex::encode(m.parties[2].device);
        let removed_at = Instant::now();
        m.parties[0].remove(&carol);
        m.parties[2]
            .wait_for("the relay to close her session", 10, |l| l.ended.is_some())
            .await;
        for (p, from) in [(&m.parties[0], 1u16), (&m.parties[1], 0u16)] {
            p.wait_for("epoch 1", 10, |l| {
                l.frames
                    .iter()
                    .any(|f| f.sender_index == from && f.epoch == 1)
            })
            .await;
        }
        eprintln!("epoch 1 after {:?}", removed_at.elapsed());
        tokio::time::sleep(Duration::from_millis(500)).await;
        for p in &mut m.parties {
            p.stop().await;
        }
        {
            let (la, lb, lc) = (
                m.parties[0].log.lock().unwrap(),
                m.parties[1].log.lock().unwrap(),
                m.parties[2].log.lock().unwrap(),
            );
            assert_eq!(
                lc.ended,
                Some(SessionEnd::Closed(CloseReason::Removed)),
                "carol: {:?}",
                lc.warnings
            );
            assert!(lc.rekeyed.is_empty() && lc.frames.iter().all(|f| f.epoch == 0));
            // One rekey (the relay's member event for the removal changed nothing more).
            let epochs = |l: &relay_harness::media::PartyLog| {
                l.rekeyed.iter().map(|(_, e)| *e).collect::<Vec<_>>()
            };
            assert_eq!(epochs(&la), vec![1], "alice: {:?}", la.warnings);
            assert_eq!(epochs(&lb), vec![1], "bob: {:?}", lb.warnings);
            assert!(la.warnings.is_empty(), "alice: {:?}", la.warnings);
        }
        // Carol cannot come back: the relay refuses her a join ticket.
        let identity = IdentityStore::new(root.path().join("carol-0"))
            .load(provider())
            .unwrap();
        let again = Session::connect(
            &relay.url,
            identity,
            None,
            "carol",
            SessionOptions::default(),
        )
        .await
        .unwrap();
        let refused = again.accept(&m.meeting_id).await.unwrap_err();
        assert!(refused.api().is_some(), "{refused}");
        // Carol's old keys open nothing of epoch 1.
        let mut old = MeetingCrypto::new(
            provider(),
            CipherSuite::DEFAULT,
            conclave_client::api::membership::copy_keys(&m.keys[2]).unwrap(),
            &m.parties[2].device,
        )
        .unwrap();
        let mut tried = 0;
        for px in &m.proxies[..2] {
            for f in reassemble(&px.captured()) {
                let (h, _) = SframeHeader::parse(&f.bytes).unwrap();
                let kid = MediaKid::from_kid(h.kid);
                if kid.epoch >= 1 {
                    tried += 1;
                    assert!(matches!(
                        old.open(&[], &f.bytes),
                        Err(ClientError::UnknownKid(_))
                    ));
                }
            }
        }
        assert!(tried >= 20, "{tried} frames of epoch 1");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carol_declines_while_alice_and_bob_talk_and_alice_rekeys_without_her() {
    use conclave_client::api::{MeetingOptions, MeetingRunner, Role};
    use conclave_client::container::CallType;
    use relay_harness::media::{Party, alice_calls_bob_and_carol, invite_keys};

    let relay = Relay::start(MEDIA_CONFIG);
    let root = tempfile::tempdir().unwrap();
    bounded(120, async {
        let (a, mut b, mut c, inv) =
            alice_calls_bob_and_carol(&relay, root.path(), CallType::Audio).await;
        let mid = inv.meeting_id.to_hex();
        let kb = invite_keys(&b.receive().await.unwrap());
        c.receive().await.unwrap();
        let options = |i: usize| MeetingOptions {
            sources: audio(i),
            deliver_frames: true,
            ..MeetingOptions::default()
        };
        let member = Role::Member {
            initiator_device: a.device_id().to_string(),
            initiator_user: Some(a.user_hash().to_string()),
        };
        let a_hash = a.user_hash().to_string();
        let initiator = Role::Initiator {
            members: inv.members.clone(),
            call_type: CallType::Audio,
        };
        let ra = MeetingRunner::start(a, inv.keys, initiator, options(0))
            .await
            .unwrap();
        let rb = MeetingRunner::start(b, kb, member, options(1))
            .await
            .unwrap();
        let mut parties = [Party::spawn("alice", ra, b""), Party::spawn("bob", rb, b"")];
        parties[1]
            .wait_for("alice's frames", 20, |l| l.frames.len() >= 20)
            .await;
        // Carol declines: the relay records it (member event) and Alice gets her `reject`.
        c.reject(&mid, &[a_hash]).await.unwrap();
        for (p, from) in [(&parties[0], 1u16), (&parties[1], 0u16)] {
            p.wait_for("epoch 1", 10, |l| {
                l.frames
                    .iter()
                    .any(|f| f.sender_index == from && f.epoch == 1)
            })
            .await;
        }
        for p in &mut parties {
            p.stop().await;
        }
        let la = parties[0].log.lock().unwrap();
        let lb = parties[1].log.lock().unwrap();
        assert_eq!(
            la.rekeyed.iter().map(|(_, e)| *e).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(
            lb.rekeyed.iter().map(|(_, e)| *e).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(la.departed, vec![hex::encode(c.identity().device_id())]);
        assert!(la.warnings.is_empty(), "{:?}", la.warnings);
    })
    .await;
}
