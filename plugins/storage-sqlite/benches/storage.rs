//! SQLite storage plugin through the host handle (across the plugin ABI, as the relay calls
//! it), on a database file in a temporary directory:
//! - `take_prekey`: one atomic random take from a pool of 100 (refilled outside the timing);
//! - `container store+fetch+ack`: store a 1 KiB container for one device, fetch the
//!   device's pending list, acknowledge it (three transactions; one element = one cycle);
//! - the cross-ABI call overhead: `prekey_count` and `health` on an in-memory database
//!   through the handle and on `SqliteStorage` directly.
//!
//! `cargo bench -p conclave-storage-sqlite --bench storage -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant};

use conclave_plugin_api::HostContext;
use conclave_plugin_api::host::{LoadedPlugin, StorageHandle};
use conclave_plugin_api::storage::{
    ContainerRecord, DeviceRecord, PrekeyRecord, PrivacyMode, Storage, UserRecord,
};
use conclave_storage_sqlite::SqliteStorage;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const USER: &str = "00aa";
const DEVICE: &str = "d0d0";
const SENDER: &str = "5e5e";
const POOL: u32 = 100;

fn handle(config: &str) -> StorageHandle {
    let host = HostContext {
        loopback_only: true,
        host_version: "bench".into(),
    };
    LoadedPlugin::builtin("sqlite", conclave_storage_sqlite::plugin_module())
        .new_storage(config, &host)
        .unwrap()
}

fn user(st: &StorageHandle) {
    st.create_user(&UserRecord {
        user_hash: USER.into(),
        privacy: PrivacyMode::Everyone,
        created_ms: 1,
    })
    .unwrap();
    for device in [DEVICE, SENDER] {
        st.add_device(&DeviceRecord {
            user_hash: USER.into(),
            device_id: device.into(),
            certificate: vec![7; 200].into(),
            created_ms: 2,
            revoked_ms: None.into(),
        })
        .unwrap();
    }
}

fn prekey(id: u32) -> PrekeyRecord {
    PrekeyRecord {
        id,
        public_key: vec![4; 65].into(),
        signature: vec![9; 64].into(),
    }
}

fn take_prekey(c: &mut Criterion, st: &StorageHandle) {
    let mut g = c.benchmark_group("storage-sqlite/file");
    g.throughput(Throughput::Elements(1));
    let mut next_id = 0u32;
    let mut left = 0u32;
    g.bench_function("take_prekey", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            for _ in 0..iters {
                if left == 0 {
                    let batch = (next_id..next_id + POOL).map(prekey).collect();
                    st.add_prekeys(DEVICE, batch).unwrap();
                    next_id += POOL;
                    left = POOL;
                }
                let start = Instant::now();
                let p = st.take_prekey(black_box(DEVICE)).unwrap();
                timed += start.elapsed();
                assert!(p.is_some());
                left -= 1;
            }
            timed
        })
    });
    g.finish();
}

fn containers(c: &mut Criterion, st: &StorageHandle) {
    let mut g = c.benchmark_group("storage-sqlite/file");
    g.throughput(Throughput::Elements(1));
    let mut n = 0u64;
    let bytes: Vec<u8> = (0..1024u32).map(|i| i as u8).collect();
    g.bench_function("container store+fetch+ack", |b| {
        b.iter(|| {
            n += 1;
            let id = format!("{n:032x}");
            st.store_container(&ContainerRecord {
                container_id: id.as_str().into(),
                sender_device: SENDER.into(),
                recipients: vec![DEVICE.into()].into(),
                bytes: bytes.clone().into(),
                created_ms: n,
                expires_ms: u64::from(u32::MAX),
            })
            .unwrap();
            let pending = st.fetch_pending(DEVICE, n, 16).unwrap();
            assert_eq!(pending.len(), 1);
            assert!(st.acknowledge(DEVICE, &id).unwrap());
        })
    });
    g.finish();
}

fn abi_overhead(c: &mut Criterion) {
    let config = r#"{"path": ":memory:"}"#;
    let st = handle(config);
    user(&st);
    let direct = SqliteStorage::open(config).unwrap();
    direct
        .create_user(&UserRecord {
            user_hash: USER.into(),
            privacy: PrivacyMode::Everyone,
            created_ms: 1,
        })
        .unwrap();
    direct
        .add_device(&DeviceRecord {
            user_hash: USER.into(),
            device_id: DEVICE.into(),
            certificate: vec![7; 200].into(),
            created_ms: 2,
            revoked_ms: None.into(),
        })
        .unwrap();
    let mut g = c.benchmark_group("storage-sqlite/memory");
    g.throughput(Throughput::Elements(1));
    g.bench_function("prekey_count via handle (ABI)", |b| {
        b.iter(|| st.prekey_count(black_box(DEVICE)).unwrap())
    });
    g.bench_function("prekey_count direct", |b| {
        b.iter(|| direct.prekey_count(black_box(DEVICE)).unwrap())
    });
    g.bench_function("health via handle (ABI)", |b| {
        b.iter(|| st.health().unwrap())
    });
    g.bench_function("health direct", |b| b.iter(|| direct.health().unwrap()));
    g.finish();
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.db");
    let st = handle(&serde_json::json!({ "path": path }).to_string());
    user(&st);
    take_prekey(c, &st);
    containers(c, &st);
    abi_overhead(c);
}

criterion_group!(benches, bench);
criterion_main!(benches);
