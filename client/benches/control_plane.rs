//! Control-plane throughput and push latency against a real relay (release build, SQLite,
//! dev auth) on loopback, over keep-alive connections:
//!
//! - bundle fetches/s (each takes and deletes one prekey; the answer is not verified here,
//!   the relay is what is measured), spread over `TARGETS` users whose single devices start
//!   with pools of about 1000 prekeys (the largest single upload),
//! - container posts/s (distinct containers sealed beforehand, one recipient),
//! - WebSocket push latency: post → push frame received, p50/p99.
//!
//! `cargo bench -p conclave-client --bench control_plane` (the relay's bundle rate limit is
//! raised in the bench's relay configuration). Three rounds each; the median is reported.

#[path = "../tests/relay_harness/mod.rs"]
mod relay_harness;

use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_client::api::{PushEvent, RelayClient};
use conclave_client::container::{Payload, Recipient, SealOptions, seal};
use conclave_client::identity::verify_bundle;
use relay_harness::{Relay, UNLIMITED, user};

const ROUNDS: usize = 3;
const PER_ROUND: usize = 3000;
const CONCURRENCY: usize = 32;
const PUSH_SAMPLES: usize = 300;
/// Users whose bundles are fetched, round-robin.
const TARGETS: usize = 10;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `jobs` requests with `CONCURRENCY` workers; returns requests per second.
async fn run<F, Fut>(jobs: usize, make: F) -> f64
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let make = Arc::new(make);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (make, next) = (make.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= jobs {
                    break;
                }
                make(i).await;
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    jobs as f64 / start.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        // `cargo bench -- --list` and test discovery: nothing to list.
        return;
    }
    let relay = Relay::start(UNLIMITED);
    let root = tempfile::tempdir().expect("tempdir");
    let alice = user(&relay, root.path(), "alice", 1, 10).await;
    // Bob receives the containers; he keeps (locally) one prekey per container sealed.
    let bob = user(
        &relay,
        root.path(),
        "bob",
        1,
        ROUNDS * PER_ROUND + PUSH_SAMPLES,
    )
    .await;
    let mut targets = Vec::with_capacity(TARGETS);
    for t in 0..TARGETS {
        let s = user(
            &relay,
            root.path(),
            &format!("target{t}"),
            1,
            ROUNDS * PER_ROUND / TARGETS + 10,
        )
        .await;
        targets.push(s[0].user_hash().to_string());
    }
    let targets = Arc::new(targets);
    let client: RelayClient = alice[0].client().clone();
    println!(
        "relay {} (release, SQLite, dev auth), {CONCURRENCY} concurrent requests",
        relay.url
    );

    // Bundle fetches.
    let mut bundle_rates = Vec::new();
    for round in 0..ROUNDS {
        let (c, u) = (client.clone(), targets.clone());
        let rate = run(PER_ROUND, move |i| {
            let (c, u) = (c.clone(), u.clone());
            async move {
                let b = c.fetch_bundle(&u[i % TARGETS]).await.expect("bundle");
                assert_eq!(b.devices.len(), 1);
            }
        })
        .await;
        println!("bundle fetches   round {round}: {rate:8.0} /s");
        bundle_rates.push(rate);
    }

    // Container posts: distinct containers, sealed beforehand to Bob's device.
    let p = alice[0].identity().provider().clone();
    let bob_id = bob[0].identity();
    let mut verified = verify_bundle(
        p.as_ref(),
        &bob_id.bundle(bob_id.prekeys().public().cloned().collect()),
    )
    .expect("bob's bundle");
    let total = ROUNDS * PER_ROUND + PUSH_SAMPLES;
    let mut containers = Vec::with_capacity(total);
    let t = Instant::now();
    for i in 0..total {
        let r = Recipient::take_from_bundle(p.as_ref(), &mut verified).expect("prekey");
        containers.push(
            seal(
                alice[0].identity(),
                &Payload::Text {
                    text: format!("bench {i}"),
                },
                &[r],
                SealOptions {
                    now_ms: alice[0].now_ms(),
                    ttl_seconds: 3600,
                },
            )
            .expect("seal"),
        );
    }
    println!(
        "(sealed {total} containers in {:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let containers = Arc::new(containers);
    let mut post_rates = Vec::new();
    for round in 0..ROUNDS {
        let (c, all) = (client.clone(), containers.clone());
        let offset = round * PER_ROUND;
        let rate = run(PER_ROUND, move |i| {
            let (c, all) = (c.clone(), all.clone());
            async move {
                c.post_container(&all[offset + i]).await.expect("post");
            }
        })
        .await;
        println!("container posts  round {round}: {rate:8.0} /s");
        post_rates.push(rate);
    }

    // Push latency: one post at a time, timed until Bob's push frame arrives.
    let mut push = bob[0].push().await.expect("push");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut latencies = Vec::with_capacity(PUSH_SAMPLES);
    for i in 0..PUSH_SAMPLES {
        let bytes = &containers[ROUNDS * PER_ROUND + i];
        let start = Instant::now();
        let posted = client.post_container(bytes).await.expect("post");
        loop {
            match push.next().await.expect("push open").expect("push frame") {
                PushEvent::Container(m) if m.container_id == posted.container_id => break,
                _ => continue,
            }
        }
        latencies.push(start.elapsed());
    }
    latencies.sort();
    let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));
    println!();
    println!(
        "bundle fetches/s  median {:8.0}  (target >= 2000)",
        median(bundle_rates.clone())
    );
    println!(
        "container posts/s median {:8.0}  (target >= 2000)",
        median(post_rates.clone())
    );
    println!(
        "push latency (post -> push received, {PUSH_SAMPLES} samples): p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3
    );
    push.close().await;
}
