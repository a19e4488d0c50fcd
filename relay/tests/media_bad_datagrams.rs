//! The real relay binary on loopback: a legitimate publisher and subscriber exchange media
//! through a worker; forged datagrams (bad tag, wrong connection id, replays, truncated,
//! oversized, random bytes, a JOIN with a forged ticket) are dropped and counted, none
//! reaches the subscriber, and the relay keeps serving the pair.

mod common;

use std::time::Duration;

use common::media::{Device, MediaClient, RelayProcess, create_meeting, join_ticket, tag};
use conclave_wire::media::{Body, Join, MAX_DATAGRAM, Prefix, encode_tagged};

const DROPPED: &str = "conclave_media_dropped_total";

/// Waits until the counter of `reason` reaches `at_least` (workers publish each turn).
fn wait_for_drops(relay: &RelayProcess, reason: &str, at_least: u64) -> u64 {
    let label = format!("reason=\"{reason}\"");
    let mut v = 0;
    for _ in 0..100 {
        v = relay.metric(DROPPED, &label);
        if v >= at_least {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    v
}

#[test]
fn forged_datagrams_are_dropped_counted_and_never_forwarded() {
    let relay = RelayProcess::start("[media]\nworkers = 2\n");
    let (host, guest) = (Device::new(1), Device::new(2));
    let meeting = create_meeting(&relay, &host, 7);
    let pub_ticket = join_ticket(&relay, &meeting, &host);
    let sub_ticket = join_ticket(&relay, &meeting, &guest);
    assert_eq!(
        pub_ticket.address, sub_ticket.address,
        "one meeting, one worker"
    );
    assert_eq!(pub_ticket.join.worker, sub_ticket.join.worker);
    let mut publisher = MediaClient::join(pub_ticket).expect("publisher joins");
    let subscriber = MediaClient::join(sub_ticket).expect("subscriber joins");
    assert_ne!(publisher.conn_id, subscriber.conn_id);
    assert_ne!(publisher.source_id, subscriber.source_id);

    // The legitimate pair: identical bytes (the MEDIA with its tag removed, type 0x11,
    // conn_id = the publisher's source id).
    let mut sent = Vec::new();
    for i in 0..10u32 {
        sent.push(publisher.send_audio(i, &[i as u8; 200]));
    }
    let got = subscriber.media(10, Duration::from_secs(5));
    assert_eq!(got.len(), 10, "the subscriber gets every frame");
    for (s, g) in sent.iter().zip(&got) {
        assert_eq!(g.len(), s.len() - 16);
        assert_eq!(g[0], 0x11);
        assert_eq!(g[1..5], publisher.source_id.to_be_bytes());
        assert_eq!(g[5..], s[5..s.len() - 16]);
    }

    let before = |reason: &str| wait_for_drops(&relay, reason, 0);
    let base_tag = before("bad_tag");
    let base_conn = before("unknown_conn");
    let base_replay = before("replay");
    let base_malformed = before("malformed");
    let base_oversized = before("oversized");

    // Bad tag: a genuine MEDIA with one tag bit flipped (fresh pn).
    let mut forged = 0u64;
    for i in 0..5u32 {
        let mut d = publisher.audio(100 + i, b"fresh");
        let n = d.len();
        d[n - 1 - i as usize] ^= 0x80;
        publisher.raw(&d);
        forged += 1;
    }
    // A modified payload under the original tag.
    let mut d = publisher.audio(200, b"payload");
    d[30] ^= 1;
    publisher.raw(&d);
    forged += 1;
    // From a stranger's socket, with the publisher's connection id: bad tag too.
    let stranger = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut d = publisher.sent.last().unwrap().clone();
    d[5..13].copy_from_slice(&(publisher.pn + 1000).to_be_bytes());
    stranger.send_to(&d, publisher.ticket.address).unwrap();
    forged += 1;
    assert!(wait_for_drops(&relay, "bad_tag", base_tag + forged) >= base_tag + forged);

    // Wrong connection id.
    let mut wrong = publisher.sent.last().unwrap().clone();
    let bad_conn = publisher.conn_id ^ subscriber.conn_id ^ 0x00ff_ff00 | 1;
    wrong[1..5].copy_from_slice(&bad_conn.to_be_bytes());
    for _ in 0..3 {
        publisher.raw(&wrong);
    }
    assert!(wait_for_drops(&relay, "unknown_conn", base_conn + 3) >= base_conn + 3);

    // Replays of genuine datagrams (already forwarded once).
    for d in sent.iter().take(4) {
        publisher.raw(d);
        stranger.send_to(d, publisher.ticket.address).unwrap();
    }
    assert!(wait_for_drops(&relay, "replay", base_replay + 8) >= base_replay + 8);

    // Truncated, random bytes, wrong direction: malformed.
    let genuine = sent[5].clone();
    let mut malformed = 0;
    for len in [0usize, 1, 12, 13, 20, 40] {
        publisher.raw(&genuine[..len.min(genuine.len())]);
        malformed += 1;
    }
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for len in [7usize, 64, 333, 1000, 1199] {
        let junk: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Avoid valid type bytes in the first position so that these are
                // malformed, not (for example) a JOIN with a forged ticket.
                (x as u8) | 0x80
            })
            .collect();
        stranger.send_to(&junk, publisher.ticket.address).unwrap();
        malformed += 1;
    }
    let mut fwd = genuine.clone();
    fwd[0] = 0x11;
    publisher.raw(&fwd);
    malformed += 1;
    assert!(
        wait_for_drops(&relay, "malformed", base_malformed + malformed)
            >= base_malformed + malformed
    );

    // Oversized.
    let mut big = genuine.clone();
    big.resize(MAX_DATAGRAM + 100, 0);
    publisher.raw(&big);
    stranger
        .send_to(&[0x10; 4000], publisher.ticket.address)
        .unwrap();
    assert!(wait_for_drops(&relay, "oversized", base_oversized + 2) >= base_oversized + 2);

    // A JOIN with a forged ticket (a made-up key): dropped silently, no answer.
    let forged_join = Join {
        device_id: [0x66; 16],
        session_id: [0x67; 16],
        ..publisher.ticket.join
    };
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let n = encode_tagged(&mut buf, 0, 0, &Body::Join(forged_join), |a| {
        tag(&[0x42; 32], a)
    })
    .unwrap();
    let base_tag = wait_for_drops(&relay, "bad_tag", 0);
    stranger
        .send_to(&buf[..n], publisher.ticket.address)
        .unwrap();
    assert!(wait_for_drops(&relay, "bad_tag", base_tag + 1) > base_tag);
    stranger
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut reply = [0u8; 2048];
    assert!(
        stranger.recv(&mut reply).is_err(),
        "no answer to unauthenticated input"
    );

    // Nothing forged reached the subscriber.
    let leaked: Vec<_> = subscriber
        .drain(Duration::from_millis(300))
        .into_iter()
        .filter(|d| d.first() == Some(&0x11))
        .collect();
    assert!(
        leaked.is_empty(),
        "{} datagrams reached the subscriber: {:?}",
        leaked.len(),
        leaked.iter().map(|d| Prefix::parse(d)).collect::<Vec<_>>()
    );

    // The relay keeps serving the pair (the publisher continues after its forged pns).
    let mut more = Vec::new();
    for i in 0..10u32 {
        more.push(publisher.send_audio(1000 + i, &[0x5a; 300]));
    }
    let got = subscriber.media(10, Duration::from_secs(5));
    assert_eq!(got.len(), 10, "log:\n{}", relay.log());
    for (s, g) in more.iter().zip(&got) {
        assert_eq!(g[5..], s[5..s.len() - 16]);
    }
    let text = relay.metrics();
    assert!(common::media::metric_value(&text, "conclave_media_sessions", "") >= 2);
    assert!(common::media::metric_value(&text, "conclave_media_datagrams_out_total", "") >= 20);
    for line in text.lines().filter(|l| l.starts_with("conclave_media")) {
        assert!(
            !line.contains(&hex::encode([7u8; 32])) && !line.contains(&hex::encode([1u8; 16])),
            "no ids in metric labels: {line}"
        );
    }
}
