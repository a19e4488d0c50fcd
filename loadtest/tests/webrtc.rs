//! Native ⇄ WebRTC interop through the real relay binary on loopback: one meeting with two
//! str0m WebRTC participants (what a browser does: DTLS-SRTP, codec frames sealed with the
//! meeting keys) and one native participant sending the VP8/Opus fixtures as codec frames.
//! Every participant must decrypt frames of both others, with no decrypt failure. And
//! simulcast on the WebRTC path: a str0m publisher sends three layers, and a str0m
//! subscriber gets exactly the layer it asks for, at the full frame rate after each switch.

mod common;

use common::relay_binary;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_client::api::{MeetingOptions, MeetingRunner, Next, Role, Session};
use conclave_client::container::CallType;
use conclave_client::media::{CodecFileSource, Source, parse_ivf, parse_ogg_opus};
use conclave_client::meeting::EpochKeys;
use conclave_crypto::CryptoProvider;
use conclave_loadtest::relay::{RelaySettings, RelayUnderTest};
use conclave_loadtest::run::{self, register};
use conclave_loadtest::webrtc::{self, RtcConfig, RtcParticipant, RtcStats, SyntheticMedia};

const IVF: &[u8] = include_bytes!("../../web/test/fixtures/vp8.ivf");
const OGG: &[u8] = include_bytes!("../../web/test/fixtures/opus.ogg");

/// How long media flows once everyone is in.
const MEDIA_FOR: Duration = Duration::from_secs(6);

/// The meeting keys of the invite waiting for `s`.
async fn invite_keys(s: &mut Session) -> EpochKeys {
    run::invite_keys(s.receive().await.unwrap()).expect("an invite")
}

/// The relay binary on loopback, one media worker.
fn start_relay() -> RelayUnderTest {
    RelayUnderTest::start(
        &relay_binary(),
        RelaySettings {
            workers: 1,
            sendmmsg: true,
            gso: true,
            session_timeout_ms: None,
        },
    )
    .expect("relay starts")
}

fn check_rtc(name: &str, s: &RtcStats, expect_from: &[u16]) {
    assert!(s.error.is_none(), "{name}: {s:?}");
    assert!(
        s.connected_after_ms.is_some(),
        "{name} never connected: {s:?}"
    );
    assert!(s.audio_sent > 100 && s.video_sent > 60, "{name}: {s:?}");
    assert_eq!(s.decrypt_failures(), 0, "{name}: {s:?}");
    for index in expect_from {
        let from = s
            .senders
            .values()
            .find(|f| f.sender_index == Some(*index))
            .unwrap_or_else(|| panic!("{name} got nothing from index {index}: {s:?}"));
        // Audio at 50/s and video at 30/s for several seconds: dozens of each.
        assert!(
            from.audio_decrypted > 20 && from.video_decrypted > 10,
            "{name} from index {index}: {s:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webrtc_and_native_participants_decrypt_each_other() {
    relay_binary();
    let started = Instant::now();
    let relay = start_relay();
    let url = relay.url.clone();
    let outcome = tokio::time::timeout(Duration::from_secs(50), async move {
        let provider: Arc<dyn CryptoProvider> =
            Arc::new(conclave_crypto_software::SoftwareProvider::new());
        let mut native = register(&url, provider.clone(), "native".into())
            .await
            .unwrap();
        let mut others = Vec::new();
        for name in ["rtc-a", "rtc-b"] {
            others.push(register(&url, provider.clone(), name.into()).await.unwrap());
        }
        let hashes: Vec<String> = others.iter().map(|s| s.user_hash().to_string()).collect();
        let invitation = native.call(&hashes, CallType::Video).await.unwrap();
        let native_index = 0u16;

        // The WebRTC participants take their invites and join over WebRTC.
        let media = Arc::new(SyntheticMedia::new(11, 300));
        let mut rtc = Vec::new();
        for mut s in others {
            let keys = invite_keys(&mut s).await;
            let p = webrtc::start(
                &url,
                s,
                keys,
                RtcConfig {
                    publish: true,
                    simulcast: false,
                    media: media.clone(),
                },
            )
            .await
            .expect("WebRTC participant joins");
            rtc.push(p);
        }
        let rtc_indexes: Vec<u16> = rtc.iter().map(|p| p.stats().own_index).collect();
        assert_eq!(rtc_indexes.len(), 2);
        assert!(!rtc_indexes.contains(&native_index));

        // The native participant (the initiator) sends the fixtures as codec frames.
        let source = CodecFileSource::new(
            Instant::now(),
            Some(parse_ivf(IVF).unwrap()),
            Some(parse_ogg_opus(OGG).unwrap()),
        );
        let options = MeetingOptions {
            sources: vec![Source::Codec(source)],
            ..MeetingOptions::default()
        };
        let role = Role::Initiator {
            members: invitation.members.clone(),
            call_type: CallType::Video,
        };
        let mut runner = MeetingRunner::start(native, invitation.keys, role, options)
            .await
            .expect("native participant joins");
        let until = tokio::time::Instant::now() + MEDIA_FOR;
        loop {
            match runner.next_event_until(Some(until)).await {
                Next::Timeout | Next::Done => break,
                Next::Event(_) => {}
            }
        }
        let native_stats = runner.stats().await.expect("native stats");
        let rtc_stats: Vec<RtcStats> = rtc.into_iter().map(|p| p.stop()).collect();
        drop(runner.finish().await);
        (native_stats, rtc_stats, rtc_indexes)
    })
    .await;
    let (native_stats, rtc_stats, rtc_indexes) = outcome.expect("done within 50 s");

    // Each WebRTC participant decrypts the other one and the native one.
    check_rtc("rtc-a", &rtc_stats[0], &[0, rtc_indexes[1]]);
    check_rtc("rtc-b", &rtc_stats[1], &[0, rtc_indexes[0]]);
    // The native participant decrypts both WebRTC participants' frames.
    for index in &rtc_indexes {
        let p = native_stats
            .participants
            .get(index)
            .unwrap_or_else(|| panic!("native has no stats of index {index}: {native_stats:?}"));
        assert!(p.frames_decrypted > 50, "index {index}: {native_stats:?}");
        assert_eq!(p.failures, 0, "index {index}: {native_stats:?}");
    }
    assert!(
        native_stats.frames_dropped.values().sum::<u64>() == 0,
        "{native_stats:?}"
    );
    drop(relay);
    eprintln!(
        "interop: relay start to stop in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Video frames from `from` by layer, between two snapshots of a subscriber.
fn layers_between(before: &RtcStats, after: &RtcStats, from: u16) -> [u64; 3] {
    let of = |s: &RtcStats| {
        s.senders
            .values()
            .find(|f| f.sender_index == Some(from))
            .map(|f| f.video_layers.clone())
            .unwrap_or_default()
    };
    let (a, b) = (of(before), of(after));
    let mut out = [0u64; 3];
    for (l, n) in out.iter_mut().enumerate() {
        let k = l as u8;
        *n = b.get(&k).copied().unwrap_or(0) - a.get(&k).copied().unwrap_or(0);
    }
    out
}

/// Waits (at most 10 s) for a one-second window in which `sub` receives only `want`'s
/// layer of `from`'s video (`None`: no video, audio still flowing), at a steady rate.
async fn wait_for_layer(sub: &RtcParticipant, from: u16, want: Option<u8>) -> [u64; 3] {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = [0u64; 3];
    while Instant::now() < deadline {
        let before = sub.stats();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let after = sub.stats();
        last = layers_between(&before, &after, from);
        let audio = |s: &RtcStats| {
            s.senders
                .values()
                .find(|f| f.sender_index == Some(from))
                .map_or(0, |f| f.audio_decrypted)
        };
        let audio_flows = audio(&after) - audio(&before) > 25;
        let only_want = match want {
            // 30 frames a second are sent; a steady stream, not a trickle.
            Some(l) => {
                let l = usize::from(l);
                last[l] >= 20 && (0..3).all(|o| o == l || last[o] == 0)
            }
            None => last == [0, 0, 0],
        };
        if only_want && audio_flows {
            return last;
        }
    }
    panic!("never only layer {want:?} of index {from}; the last second: {last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webrtc_subscriber_receives_the_simulcast_layer_it_asks_for() {
    let relay = start_relay();
    let url = relay.url.clone();
    let outcome = tokio::time::timeout(Duration::from_secs(90), async move {
        let provider: Arc<dyn CryptoProvider> =
            Arc::new(conclave_crypto_software::SoftwareProvider::new());
        let mut host = register(&url, provider.clone(), "host".into())
            .await
            .unwrap();
        let mut publisher = register(&url, provider.clone(), "pub".into())
            .await
            .unwrap();
        let mut subscriber = register(&url, provider.clone(), "sub".into())
            .await
            .unwrap();
        let hashes = [publisher.user_hash(), subscriber.user_hash()].map(|h| h.to_string());
        let invitation = host.call(&hashes, CallType::Video).await.unwrap();
        let (pub_keys, sub_keys) = (
            invite_keys(&mut publisher).await,
            invite_keys(&mut subscriber).await,
        );
        // The initiator is in the meeting (it receives; it sends nothing).
        let role = Role::Initiator {
            members: invitation.members.clone(),
            call_type: CallType::Video,
        };
        let runner = MeetingRunner::start(host, invitation.keys, role, MeetingOptions::default())
            .await
            .expect("the initiator joins");

        // 300 kbit/s at the top layer: well inside the relay's starting estimate.
        let media = Arc::new(SyntheticMedia::new(12, 300));
        let publisher = webrtc::start(
            &url,
            publisher,
            pub_keys,
            RtcConfig {
                publish: true,
                simulcast: true,
                media: media.clone(),
            },
        )
        .await
        .expect("the publisher joins");
        let subscriber = webrtc::start(
            &url,
            subscriber,
            sub_keys,
            RtcConfig {
                publish: false,
                simulcast: false,
                media,
            },
        )
        .await
        .expect("the subscriber joins");
        let from = publisher.stats().own_index;

        // Down to the lowest layer, up to the highest, one down, then no video at all, and
        // back: each switch lands at a key frame and the stream goes on at full rate.
        let mut seen = Vec::new();
        for want in [Some(0), Some(2), Some(1), None, Some(2)] {
            subscriber.prefer_layer(want);
            seen.push((want, wait_for_layer(&subscriber, from, want).await));
        }
        let pub_stats = publisher.stop();
        let sub_stats = subscriber.stop();
        drop(runner.finish().await);
        (seen, pub_stats, sub_stats)
    })
    .await;
    let (seen, pub_stats, sub_stats) = outcome.expect("done within 90 s");
    eprintln!("simulcast: frames per layer in the settled second after each switch: {seen:?}");
    assert!(pub_stats.error.is_none(), "{pub_stats:?}");
    assert!(sub_stats.error.is_none(), "{sub_stats:?}");
    assert_eq!(sub_stats.decrypt_failures(), 0, "{sub_stats:?}");
    assert_eq!(sub_stats.unknown_track, 0, "{sub_stats:?}");
    drop(relay);
}
