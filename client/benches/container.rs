//! Sealing one container for many recipient devices, and opening one, with the software
//! provider. `cargo bench -p conclave-client --bench container`

use std::hint::black_box;
use std::sync::Arc;

use conclave_client::container::{OpenOptions, Payload, Recipient, SealOptions, open, seal};
use conclave_client::identity::{Identity, verify_bundle};
use conclave_crypto::CryptoProvider;
use conclave_crypto_software::SoftwareProvider;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const NOW: u64 = 1_800_000_000_000;

fn bench(c: &mut Criterion) {
    let p: Arc<dyn CryptoProvider> = Arc::new(SoftwareProvider::new());
    let sender = Identity::create(p.clone(), NOW).unwrap();
    let payload = Payload::Text {
        text: "x".repeat(600),
    };
    let opts = SealOptions {
        now_ms: NOW,
        ttl_seconds: 3600,
    };
    let mut g = c.benchmark_group("container");
    g.sample_size(20);
    for n in [1usize, 10, 100] {
        let recipients: Vec<Recipient> = (0..n)
            .map(|_| {
                let mut id = Identity::create(p.clone(), NOW).unwrap();
                let pre = id.generate_prekeys(1).unwrap();
                let mut vb = verify_bundle(p.as_ref(), &id.bundle(pre)).unwrap();
                Recipient::take_from_bundle(p.as_ref(), &mut vb).unwrap()
            })
            .collect();
        g.bench_function(format!("seal/{n}-recipients"), |b| {
            b.iter(|| black_box(seal(&sender, &payload, &recipients, opts).unwrap()))
        });
    }
    // Bundle verification (certificate + prekey signature) per recipient, done before sealing.
    let mut id = Identity::create(p.clone(), NOW).unwrap();
    let pre = id.generate_prekeys(1).unwrap();
    let bundle = id.bundle(pre);
    g.bench_function("verify-bundle/1-prekey", |b| {
        b.iter(|| black_box(verify_bundle(p.as_ref(), &bundle).unwrap()))
    });
    // Opening: each iteration needs an unused prekey, so setup seals a fresh container.
    g.bench_function("open/1-recipient", |b| {
        b.iter_batched(
            || {
                let mut me = Identity::create(p.clone(), NOW).unwrap();
                let pre = me.generate_prekeys(1).unwrap();
                let mut vb = verify_bundle(p.as_ref(), &me.bundle(pre)).unwrap();
                let r = Recipient::take_from_bundle(p.as_ref(), &mut vb).unwrap();
                let c = seal(&sender, &payload, &[r], opts).unwrap();
                (me, c)
            },
            |(mut me, c)| {
                black_box(
                    open(
                        &mut me,
                        &c,
                        OpenOptions {
                            now_ms: NOW,
                            expected_sender: None,
                        },
                    )
                    .unwrap(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
