//! SFrame seal + open of media frames with the software provider.
//! `cargo bench -p conclave-client --bench sframe`

use std::hint::black_box;
use std::sync::Arc;

use conclave_client::sframe::{CipherSuite, SframeKey, SframeReceiver, SframeSender};
use conclave_crypto::CryptoProvider;
use conclave_crypto_software::SoftwareProvider;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let p: Arc<dyn CryptoProvider> = Arc::new(SoftwareProvider::new());
    let base = [7u8; 32];
    for suite in [CipherSuite::Aes256GcmSha512, CipherSuite::Aes128GcmSha256] {
        for size in [100usize, 1200, 16 * 1024] {
            let mut g = c.benchmark_group(format!("sframe/{:#06x}", suite.id()));
            g.throughput(Throughput::Bytes(size as u64));
            let payload = vec![0x42u8; size];
            let mut sender =
                SframeSender::new(SframeKey::new(p.as_ref(), suite, 0x1_0003, &base).unwrap());
            let mut receiver = SframeReceiver::new(p.clone(), suite);
            receiver.add_key(0x1_0003, &base).unwrap();
            let mut frame = Vec::with_capacity(size + 64);
            g.bench_function(format!("seal+open/{size}"), |b| {
                b.iter(|| {
                    frame.clear();
                    sender.seal(b"", black_box(&payload), &mut frame).unwrap();
                    receiver.open_in_place(b"", &mut frame).unwrap();
                    black_box(frame.len())
                })
            });
            // Baseline in the same run: the provider's AES-GCM alone (same key size), no
            // SFrame header, KID lookup or replay window.
            let aead = p
                .aead_key(suite.aead(), &[9u8; 32][..suite.aead().key_len()])
                .unwrap();
            let mut buf = payload.clone();
            g.bench_function(format!("raw-aead-seal+open/{size}"), |b| {
                b.iter(|| {
                    let tag = aead
                        .seal_in_place(&[3; 12], b"", black_box(&mut buf))
                        .unwrap();
                    aead.open_in_place(&[3; 12], b"", &mut buf, &tag).unwrap();
                    black_box(buf.len())
                })
            });
            g.bench_function(format!("seal/{size}"), |b| {
                b.iter(|| {
                    frame.clear();
                    sender.seal(b"", black_box(&payload), &mut frame).unwrap();
                    black_box(frame.len())
                })
            });
            g.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
