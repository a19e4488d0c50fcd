//! Rekey on leave through the real relay binary, with real clients: A (the initiator), B
//! and C exchange audio and video; C leaves. A rekeys once (C's `leave` container and the
//! relay's member event report the same departure), A and B continue in the new epoch
//! within a second, and C — still holding the old keys and fed copies of every datagram A
//! and B receive after the switch (captured by UDP proxies) — decrypts nothing of the new
//! epoch, not even by deriving "epoch 1" keys from the old meeting key. As a control, the
//! same old keys open the old epoch's frames from the same captures.

mod relay_harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_client::ClientError;
use conclave_client::api::membership::copy_keys;
use conclave_client::media::{
    AudioConfig, AudioSource, SessionEnd, Source, Stream, VideoConfig, VideoSource,
};
use conclave_client::meeting::{EpochKeys, MeetingCrypto};
use conclave_client::sframe::CipherSuite;
use conclave_crypto::{CryptoProvider, Secret};
use conclave_wire::media::CloseReason;
use conclave_wire::sframe::{MediaKid, SframeHeader};
use relay_harness::media::{
    MEDIA_CONFIG, PartyLog, SealedFrame, Three, reassemble, start_three,
    wait_until_each_hears_the_others,
};
use relay_harness::{Relay, bounded, provider};

fn sources(seed: u64) -> Vec<Source> {
    let now = Instant::now();
    vec![
        Source::Audio(AudioSource::new(
            now,
            AudioConfig {
                seed,
                ..AudioConfig::default()
            },
        )),
        Source::Video(VideoSource::new(
            now,
            VideoConfig {
                seed: seed + 100,
                layer_bitrates: vec![100_000, 200_000, 400_000],
                ..VideoConfig::default()
            },
        )),
    ]
}

/// The first frame from `sender` in `epoch` (or later) that `log` delivered.
fn first_in_epoch(log: &PartyLog, sender: u16, epoch: u64) -> Option<Instant> {
    log.frames
        .iter()
        .find(|f| f.sender_index == sender && f.epoch >= epoch)
        .map(|f| f.at)
}

fn kid_epoch(frame: &SealedFrame) -> Option<(u64, u16)> {
    let (h, _) = SframeHeader::parse(&frame.bytes).ok()?;
    let kid = MediaKid::from_kid(h.kid);
    Some((kid.epoch, kid.sender_index))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_c_leaves_a_and_b_continue_in_a_new_epoch_that_c_cannot_decrypt() {
    let relay = Relay::start(MEDIA_CONFIG);
    let root = tempfile::tempdir().unwrap();
    bounded(120, async {
        let Three {
            mut parties,
            proxies,
            keys,
            ..
        } = start_three(&relay, root.path(), |i| sources(i as u64 + 1), b"").await;
        // What C keeps after leaving: its epoch-0 keys.
        let c_old = copy_keys(&keys[2]).unwrap();
        let c_device = parties[2].device;
        let c_index = keys[2].index_of(&c_device).unwrap();
        // Media flows between all three.
        wait_until_each_hears_the_others(&parties, 30).await;

        // C leaves.
        let left_at = Instant::now();
        parties[2].leave();
        parties[2]
            .wait_for("its session to end", 10, |l| l.ended.is_some())
            .await;
        // A and B decrypt each other in epoch 1.
        parties[0]
            .wait_for("B in epoch 1", 10, |l| first_in_epoch(l, 1, 1).is_some())
            .await;
        parties[1]
            .wait_for("A in epoch 1", 10, |l| first_in_epoch(l, 0, 1).is_some())
            .await;
        let a_got_b = first_in_epoch(&parties[0].log.lock().unwrap(), 1, 1).unwrap();
        let b_got_a = first_in_epoch(&parties[1].log.lock().unwrap(), 0, 1).unwrap();
        let switched = a_got_b.max(b_got_a);
        let took = switched.duration_since(left_at);
        eprintln!("A and B in epoch 1 {} ms after C left", took.as_millis());
        assert!(
            took <= Duration::from_secs(1),
            "A and B continued in the new epoch only after {took:?}"
        );
        // They continue in it.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        for p in &mut parties {
            p.stop().await;
        }

        let (la, lb, lc) = (
            parties[0].log.lock().unwrap(),
            parties[1].log.lock().unwrap(),
            parties[2].log.lock().unwrap(),
        );
        // One rekey, although the departure was reported twice (leave container and the
        // relay's member event); B installed it; C never did.
        let epochs = |l: &PartyLog| l.rekeyed.iter().map(|(_, e)| *e).collect::<Vec<_>>();
        assert_eq!(epochs(&la), vec![1], "alice: {:?}", la.warnings);
        assert_eq!(epochs(&lb), vec![1], "bob: {:?}", lb.warnings);
        assert!(epochs(&lc).is_empty());
        assert!(la.switched.iter().any(|(_, e)| *e == 1));
        assert!(lb.switched.iter().any(|(_, e)| *e == 1));
        assert_eq!(
            la.departed,
            vec![hex::encode(c_device)],
            "alice saw carol depart"
        );
        assert!(
            matches!(
                lc.ended,
                Some(SessionEnd::Closed(CloseReason::Left)) | Some(SessionEnd::LeftUnconfirmed)
            ),
            "carol: {:?}",
            lc.ended
        );
        assert!(lc.frames.iter().all(|f| f.epoch == 0));
        // A and B kept going in epoch 1: more than a second of each other's audio.
        for (l, from, name) in [(&la, 1u16, "alice"), (&lb, 0u16, "bob")] {
            let n = l
                .frames
                .iter()
                .filter(|f| f.sender_index == from && f.epoch == 1 && f.stream == Stream::Audio)
                .count();
            assert!(n >= 50, "{name}: {n} audio frames in epoch 1");
        }
        // No frame failed authentication or was replayed. (A frame of the new epoch that
        // arrives before its receiver installed the keys would count as `unknown_kid`: the
        // staged switch makes that a matter of timing, so it is only shown.)
        for (l, name) in [(&la, "alice"), (&lb, "bob")] {
            let s = l.final_stats.as_ref().unwrap();
            for (i, p) in &s.participants {
                eprintln!("{name}: failures from #{i}: {:?}", p.failures_by_reason);
                let bad: u64 = p
                    .failures_by_reason
                    .iter()
                    .filter(|(r, _)| **r != "unknown_kid")
                    .map(|(_, n)| *n)
                    .sum();
                assert_eq!(
                    bad, 0,
                    "{name}: failures from #{i}: {:?}",
                    p.failures_by_reason
                );
            }
        }
        drop((la, lb, lc));

        // C, with its old keys, fed everything A and B received.
        let p: Arc<dyn CryptoProvider> = provider();
        let mut old = MeetingCrypto::new(
            p.clone(),
            CipherSuite::DEFAULT,
            copy_keys(&c_old).unwrap(),
            &c_device,
        )
        .unwrap();
        // And a guess: "epoch 1" keys derived from the old meeting key.
        let guess = EpochKeys::from_parts(
            c_old.meeting_id(),
            1,
            Secret::from_slice(c_old.meeting_key().expose()),
            c_old.roster().clone(),
        )
        .unwrap();
        let mut guessed = MeetingCrypto::new(p, CipherSuite::DEFAULT, guess, &c_device).unwrap();
        let mut frames: Vec<SealedFrame> = proxies[..2]
            .iter()
            .flat_map(|px| reassemble(&px.captured()))
            .collect();
        frames.sort_by_key(|f| f.at);
        let (mut old_opened, mut new_tried) = (0, 0);
        for f in &frames {
            let Some((epoch, sender)) = kid_epoch(f) else {
                panic!("a forwarded frame without an SFrame header")
            };
            if sender == c_index {
                continue; // C's own frames
            }
            if epoch == 0 {
                // Control: the old keys open the old epoch's frames.
                if f.at < left_at {
                    old.open(&[], &f.bytes).expect("C's old keys open epoch 0");
                    old_opened += 1;
                }
                continue;
            }
            assert_eq!(epoch, 1);
            new_tried += 1;
            assert!(
                matches!(old.open(&[], &f.bytes), Err(ClientError::UnknownKid(_))),
                "C opened a frame of the new epoch"
            );
            assert!(
                guessed.open(&[], &f.bytes).is_err(),
                "the old meeting key opens the new epoch"
            );
        }
        eprintln!("C opened {old_opened} old-epoch frames and none of {new_tried} new ones");
        assert!(old_opened >= 30, "control: {old_opened}");
        assert!(new_tried >= 100, "new-epoch frames tried: {new_tried}");
    })
    .await;
}
