//! A three-party meeting through the real relay binary on loopback, with real clients
//! (the SDK's `MeetingRunner`): audio and video for a few seconds and a file, every
//! participant decrypting every other's frames with no failure, the file arriving
//! byte-identical — and the relay never seeing plaintext: every frame carries a known
//! marker, a capturing UDP proxy between each client and the relay records every datagram
//! both ways, the relay's logs are captured, and the marker is nowhere in them (while it is
//! in the plaintext the clients deliver).

mod relay_harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use conclave_client::media::{
    AudioConfig, AudioSource, FileSource, Source, Stream, VideoConfig, VideoSource,
};
use relay_harness::media::{MEDIA_CONFIG, Three, start_three};
use relay_harness::{Relay, bounded};

/// Known plaintext at the start of every audio and video frame and all over the file.
const MARKER: &[u8] = b"<<CONCLAVE-PLAINTEXT-MARKER-5b1e9d>>";

fn sources(seed: u64, file: Option<Vec<u8>>) -> Vec<Source> {
    let now = Instant::now();
    let mut s = vec![
        Source::Audio(AudioSource::new(
            now,
            AudioConfig {
                seed,
                marker: MARKER.to_vec(),
                ..AudioConfig::default()
            },
        )),
        Source::Video(VideoSource::new(
            now,
            VideoConfig {
                seed: seed + 100,
                marker: MARKER.to_vec(),
                // Small layers: three parties on two loaded cores.
                layer_bitrates: vec![100_000, 200_000, 400_000],
                ..VideoConfig::default()
            },
        )),
    ];
    if let Some(bytes) = file {
        s.push(Source::File(
            FileSource::new(now, bytes, 64).expect("file source"),
        ));
    }
    s
}

/// A file of `len` bytes: noise with the marker every 1000 bytes.
fn test_file(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        if out.len() % 1000 == 0 {
            out.extend_from_slice(MARKER);
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out.truncate(len);
    out
}

fn find(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_parties_exchange_audio_video_and_a_file_and_the_relay_sees_no_plaintext() {
    let relay = Relay::start_logging(MEDIA_CONFIG, "debug");
    let root = tempfile::tempdir().unwrap();
    let file = test_file(100_000);
    let t0 = Instant::now();
    bounded(120, async {
        let Three {
            mut parties,
            proxies,
            ..
        } = start_three(
            &relay,
            root.path(),
            |i| sources(i as u64 + 1, (i == 0).then(|| file.clone())),
            MARKER,
        )
        .await;
        eprintln!("{:?}: started", t0.elapsed());
        for p in &parties {
            p.wait_for("joining", 15, |l| l.joined.is_some()).await;
        }
        eprintln!("{:?}: joined", t0.elapsed());
        // A few seconds of media, and the file to both others.
        for p in &parties[1..] {
            p.wait_for("the file", 30, |l| !l.files.is_empty()).await;
        }
        eprintln!("{:?}: files received", t0.elapsed());
        tokio::time::sleep(Duration::from_secs(3)).await;
        for p in &mut parties {
            p.stop().await;
        }
        eprintln!("{:?}: stopped", t0.elapsed());

        // Every participant decrypted every other's audio and video; nothing failed.
        for (i, p) in parties.iter().enumerate() {
            let log = p.log.lock().unwrap();
            let stats = log.final_stats.clone().expect("final stats");
            assert!(log.warnings.is_empty(), "{}: {:?}", p.name, log.warnings);
            let mut per_sender: BTreeMap<u16, (u64, u64)> = BTreeMap::new();
            for f in &log.frames {
                let e = per_sender.entry(f.sender_index).or_default();
                match f.stream {
                    Stream::Audio => e.0 += 1,
                    Stream::Video(_) => e.1 += 1,
                    Stream::Data => {}
                }
            }
            for j in 0..3u16 {
                if usize::from(j) == i {
                    continue;
                }
                let (audio, video) = per_sender.get(&j).copied().unwrap_or_default();
                assert!(
                    audio >= 100 && video >= 50,
                    "{} decrypted {audio} audio and {video} video frames of #{j}",
                    p.name
                );
                let ps = &stats.participants[&j];
                assert!(ps.frames_decrypted >= audio + video, "{}: {ps:?}", p.name);
                assert_eq!(ps.failures, 0, "{}: failures from #{j}: {ps:?}", p.name);
            }
            let failures: u64 = stats.participants.values().map(|s| s.failures).sum();
            assert_eq!(failures, 0, "{}: {stats:?}", p.name);
            assert!(
                stats.frames_dropped.is_empty(),
                "{}: frames dropped {:?}",
                p.name,
                stats.frames_dropped
            );
            // Control: the marker is in the plaintext the client delivers.
            let long: Vec<bool> = log
                .frames
                .iter()
                .filter(|f| f.stream != Stream::Data)
                .filter_map(|f| f.marker)
                .collect();
            assert!(long.len() >= 100, "{}: {} frames", p.name, long.len());
            assert!(
                long.iter().all(|m| *m),
                "{}: a media frame without the marker",
                p.name
            );
        }
        // The file arrived byte-identical at Bob and Carol, and contains the marker.
        for p in &parties[1..] {
            let log = p.log.lock().unwrap();
            let (from, bytes) = &log.files[0];
            assert_eq!(*from, 0, "{}: the file is Alice's", p.name);
            assert!(bytes == &file, "{}: the file differs", p.name);
            assert!(find(bytes, MARKER));
        }

        // The relay saw no plaintext: not in any datagram either way, not in its logs.
        let mut datagrams = 0;
        for (proxy, p) in proxies.iter().zip(&parties) {
            let captured = proxy.captured();
            assert!(
                captured.len() > 500,
                "{}: {} datagrams",
                p.name,
                captured.len()
            );
            for d in &captured {
                assert!(
                    !find(&d.bytes, MARKER) && !find(&d.bytes, &MARKER[..12]),
                    "the marker crossed the relay in a datagram ({:?})",
                    d.way
                );
            }
            datagrams += captured.len();
        }
        let log = relay.log();
        assert!(!log.is_empty(), "control: the relay's log is captured");
        let hex_marker = hex::encode(MARKER);
        for needle in [
            String::from_utf8_lossy(MARKER).to_string(),
            "CONCLAVE-PLAINTEXT-MARKER".to_string(),
            hex_marker.clone(),
            hex_marker.to_uppercase(),
            format!("{:?}", &MARKER[..8]),
        ] {
            assert!(
                !log.contains(&needle),
                "the relay logged the marker ({needle})"
            );
        }
        eprintln!(
            "checked {datagrams} datagrams and {} bytes of relay log",
            log.len()
        );
    })
    .await;
}
