//! `kill -9` of the relay and a restart on the same data directory: every container the
//! relay acknowledged (201) is still stored and opens, and no prekey handed out before the
//! crash is handed out again.

mod relay_harness;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use conclave_client::api::{Received, RelayClient, Session, SessionOptions};
use conclave_client::container::{Payload, Recipient, SealOptions, seal};
use conclave_client::identity::IdentityStore;
use relay_harness::{Relay, UNLIMITED, bounded, provider, user};

const POOL: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_lose_no_container_and_no_prekey_state() {
    let mut relay = Relay::start(UNLIMITED);
    let root = tempfile::tempdir().unwrap();
    bounded(300, async {
        let alice = user(&relay, root.path(), "alice", 1, 5).await;
        let bob = user(&relay, root.path(), "bob", 1, POOL).await;
        let bh = bob[0].user_hash().to_string();
        let bob_device = bob[0].device_id().to_string();

        // Before the crash: 5 bundles fetched (prekeys handed out) and 12 containers sealed
        // with 12 more; the containers are posted while the relay is killed.
        let mut handed_out = HashSet::new();
        for _ in 0..5 {
            let b = alice[0].fetch_bundles(&bh).await.unwrap();
            handed_out.insert(b.devices[0].prekeys[0].0);
        }
        let p = provider();
        let mut containers = Vec::new();
        for i in 0..12 {
            let mut b = alice[0].fetch_bundles(&bh).await.unwrap();
            handed_out.insert(b.devices[0].prekeys[0].0);
            let r = Recipient::take_from_bundle(p.as_ref(), &mut b.devices[0]).unwrap();
            containers.push(
                seal(
                    alice[0].identity(),
                    &Payload::Text {
                        text: format!("message {i}"),
                    },
                    &[r],
                    SealOptions {
                        now_ms: alice[0].now_ms(),
                        ttl_seconds: 3600,
                    },
                )
                .unwrap(),
            );
        }
        assert_eq!(handed_out.len(), 17);

        // Post them one after the other; kill -9 the relay after the 8th acknowledgement.
        let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
        let count = Arc::new(AtomicUsize::new(0));
        let client = alice[0].client().clone();
        let poster = {
            let (acked, count) = (acked.clone(), count.clone());
            tokio::spawn(async move {
                for c in containers {
                    if let Ok(posted) = client.post_container(&c).await {
                        acked.lock().unwrap().push(posted.container_id);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        };
        while count.load(Ordering::SeqCst) < 8 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        relay.kill9();
        poster.await.unwrap();
        let acked: Vec<String> = acked.lock().unwrap().clone();
        assert!(acked.len() >= 8, "{} acknowledged", acked.len());
        drop(alice);
        drop(bob);

        relay.restart();
        let client = RelayClient::new(&relay.url).unwrap();
        let reconnect = |name: &str| {
            let store = IdentityStore::new(root.path().join(format!("{name}-0")));
            let id = store.load(provider()).unwrap();
            (store, id)
        };
        let (store, id) = reconnect("bob");
        let mut bob = Session::connect_with_hash(
            client.clone(),
            id,
            Some(store),
            &bh,
            SessionOptions::default(),
        )
        .await
        .unwrap();
        let (store, id) = reconnect("alice");
        let ah = alice_hash(&client, "alice").await;
        let alice =
            Session::connect_with_hash(client, id, Some(store), &ah, SessionOptions::default())
                .await
                .unwrap();

        // Every acknowledged container is still there and opens.
        let pending = bob.client().fetch_messages(100).await.unwrap().messages;
        let ids: HashSet<&str> = pending.iter().map(|m| m.container_id.as_str()).collect();
        for a in &acked {
            assert!(ids.contains(a.as_str()), "container {a} lost by the crash");
        }
        let got = bob.receive().await.unwrap();
        assert_eq!(got.len(), pending.len());
        for r in &got {
            assert!(matches!(r, Received::Opened(_)), "{r:?}");
        }

        // The pool lost exactly the prekeys handed out; none of them comes back.
        let pool = bob.client().pool_size(&bob_device).await.unwrap().pool_size;
        assert_eq!(pool, (POOL - handed_out.len()) as u64);
        let mut after = HashSet::new();
        for _ in 0..pool {
            let b = alice.fetch_bundles(&bh).await.unwrap();
            let id = b.devices[0].prekeys[0].0;
            assert!(
                !handed_out.contains(&id),
                "prekey {id} handed out again after the crash"
            );
            assert!(after.insert(id));
        }
        assert!(
            alice.fetch_bundles(&bh).await.unwrap().devices[0]
                .prekeys
                .is_empty()
        );
        assert!(relay.running());
    })
    .await;
}

/// The user hash of a username on this relay.
async fn alice_hash(client: &RelayClient, name: &str) -> String {
    let salt = client.info().await.unwrap().salt().unwrap();
    conclave_client::api::user_hash(provider().as_ref(), &salt, name).unwrap()
}
