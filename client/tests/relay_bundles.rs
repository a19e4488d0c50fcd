//! Bundles never repeat a prekey, also under many concurrent fetches from several callers,
//! and the relay's pool accounting matches what was handed out.

mod relay_harness;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use conclave_client::api::Session;
use relay_harness::{Relay, UNLIMITED, bounded, user};

/// Fetches `n` bundles of `target` concurrently, spread over `callers`; returns, per
/// device, the prekey ids handed out and the number of bundles without a prekey.
async fn fetch_concurrently(
    callers: &[Arc<Session>],
    target: &str,
    n: usize,
) -> HashMap<String, (Vec<u32>, usize)> {
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let caller = callers[i % callers.len()].clone();
        let target = target.to_string();
        tasks.push(tokio::spawn(async move {
            caller
                .fetch_bundles(&target)
                .await
                .expect("verified bundles")
        }));
    }
    let mut out: HashMap<String, (Vec<u32>, usize)> = HashMap::new();
    for t in tasks {
        let bundles = t.await.expect("task");
        for d in bundles.devices {
            let e = out.entry(hex::encode(d.device.device_id)).or_default();
            assert!(d.prekeys.len() <= 1, "a bundle carries at most one prekey");
            match d.prekeys.first() {
                Some((id, _)) => e.0.push(*id),
                None => e.1 += 1,
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_fetches_never_repeat_a_prekey() {
    const POOL: usize = 120;
    let relay = Relay::start(UNLIMITED);
    let root = tempfile::tempdir().unwrap();
    bounded(300, async {
        let bob = user(&relay, root.path(), "bob", 2, POOL).await;
        let mut callers = Vec::new();
        for name in ["alice", "carol", "dave"] {
            callers.extend(
                user(&relay, root.path(), name, 1, 1)
                    .await
                    .into_iter()
                    .map(Arc::new),
            );
        }
        let target = bob[0].user_hash().to_string();

        // Phase 1: fewer fetches than prekeys — every fetch gets a distinct prekey.
        let first = fetch_concurrently(&callers, &target, 80).await;
        assert_eq!(first.len(), 2, "both of Bob's devices in every bundle");
        let mut seen: HashMap<String, HashSet<u32>> = HashMap::new();
        for (device, (ids, empty)) in &first {
            assert_eq!(*empty, 0);
            assert_eq!(ids.len(), 80);
            let set = seen.entry(device.clone()).or_default();
            for id in ids {
                assert!(set.insert(*id), "prekey {id} of {device} handed out twice");
            }
        }
        for b in &bob {
            let pool = b.client().pool_size(b.device_id()).await.unwrap().pool_size;
            assert_eq!(
                pool,
                (POOL - 80) as u64,
                "pool accounting of {}",
                b.device_id()
            );
        }

        // Phase 2: more fetches than prekeys left — the rest are empty, none repeats.
        let second = fetch_concurrently(&callers, &target, 60).await;
        for (device, (ids, empty)) in &second {
            assert_eq!(ids.len(), POOL - 80, "{device}");
            assert_eq!(*empty, 60 - (POOL - 80), "{device}");
            let set = seen.entry(device.clone()).or_default();
            for id in ids {
                assert!(set.insert(*id), "prekey {id} of {device} handed out twice");
            }
        }
        for b in &bob {
            assert_eq!(
                b.client().pool_size(b.device_id()).await.unwrap().pool_size,
                0
            );
            // Exactly the uploaded ids, each once.
            let uploaded: HashSet<u32> = (1..=POOL as u32).collect();
            assert_eq!(seen[b.device_id()], uploaded);
        }
    })
    .await;
}
