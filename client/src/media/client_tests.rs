//! [`MediaClient`] on real UDP sockets (127.0.0.1) against the in-test fake relay run as a
//! tokio task.

use std::time::Duration;

use tokio::net::UdpSocket;

use super::loopback_tests::{audio, crypto, keys};
use crate::media::client::{MediaClient, MediaClientConfig};
use crate::media::fake_relay::{FakeRelay, ticket};
use crate::media::pipeline::MediaEvent;
use crate::media::session::SessionEnd;
use crate::media::{CloseReason, Stream};

const SECRET: [u8; 32] = [5; 32];
const MEETING: [u8; 32] = [7; 32];

async fn relay() -> std::net::SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut relay = FakeRelay::new(SECRET);
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            for (to, d) in relay.handle(from, &buf[..n]) {
                let _ = socket.send_to(&d, to).await;
            }
        }
    });
    addr
}

fn config(relay: std::net::SocketAddr, device: u8) -> MediaClientConfig {
    let mut t = ticket(&SECRET, MEETING, device);
    t.address = relay;
    MediaClientConfig::new(t)
}

#[tokio::test]
async fn two_clients_talk_rekey_and_leave() {
    let relay = relay().await;
    let now = std::time::Instant::now();
    let (a, mut a_events, a_task) = MediaClient::connect(
        config(relay, 1),
        crypto(0, 1, 1, &[1, 2]),
        vec![audio(now, 1)],
    )
    .await
    .unwrap();
    let (b, mut b_events, b_task) = MediaClient::connect(
        config(relay, 2),
        crypto(0, 1, 2, &[1, 2]),
        vec![audio(now, 2)],
    )
    .await
    .unwrap();
    assert!(a.local_addr().ip().is_unspecified());

    // B receives A's audio.
    let frames = tokio::time::timeout(Duration::from_secs(5), async {
        let mut n = 0;
        while let Some(ev) = b_events.recv().await {
            if let MediaEvent::Frame(f) = ev {
                assert_eq!((f.sender_index, f.stream), (1, Stream::Audio));
                n += 1;
                if n == 20 {
                    break;
                }
            }
        }
        n
    })
    .await
    .unwrap();
    assert_eq!(frames, 20);

    // Both move to epoch 1 with a short overlap; B then decrypts A's epoch-1 frames.
    a.install_epoch(keys(1, 2, &[1, 2]), Duration::from_millis(50))
        .await
        .unwrap();
    b.install_epoch(keys(1, 2, &[1, 2]), Duration::from_millis(50))
        .await
        .unwrap();
    assert!(
        a.install_epoch(keys(1, 3, &[1, 2]), Duration::ZERO)
            .await
            .is_err()
    );
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = b_events.recv().await {
            if let MediaEvent::Frame(f) = ev
                && f.epoch == 1
            {
                break;
            }
        }
    })
    .await
    .unwrap();
    let stats = b.stats().await.unwrap();
    assert_eq!(stats.sending_epoch, 1);
    assert!(stats.participants[&1].frames_decrypted >= 20);
    assert_eq!(stats.participants[&1].failures, 0);
    assert!(stats.participants[&2].frames_sent > 0);

    // A leaves: its events end with CLOSED(left), its task ends; B hears SOURCE_GONE.
    a.leave().unwrap();
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match a_events.recv().await {
                Some(MediaEvent::Ended(e)) => break e,
                Some(_) => {}
                None => panic!("events ended without Ended"),
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(end, SessionEnd::Closed(CloseReason::Left));
    tokio::time::timeout(Duration::from_secs(5), a_task)
        .await
        .unwrap()
        .unwrap();
    assert!(a.stats().await.is_err(), "the task is gone");
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(ev) = b_events.recv().await {
            if matches!(ev, MediaEvent::SourceGone { .. }) {
                break;
            }
        }
    })
    .await
    .unwrap();
    // Dropping B's only handle leaves too.
    drop(b);
    tokio::time::timeout(Duration::from_secs(5), b_task)
        .await
        .unwrap()
        .unwrap();
}
