//! The accel provider against the software provider and against raw aws-lc-rs.
//!
//! ```sh
//! cargo bench -p conclave-crypto-accel --bench accel -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p conclave-crypto-accel --bench accel -- --warm-up-time 1 --measurement-time 3 _cpu/
//! ```
//!
//! Groups:
//! * `aead/<size>`: one AES-256-GCM seal or open in place through the provider trait.
//! * `p256`: one ECDH (fixed peer), one ECDSA sign, one verify.
//! * `sframe_vs_raw/1200`: a 1200-byte SFrame frame sealed by `SframeSender` on the accel
//!   provider (header, nonce, AAD, tag, output buffer), appended to a `Vec` (`seal`) or written
//!   into a reused packet buffer (`seal_into`), against a bare aws-lc-rs
//!   `LessSafeKey::seal_in_place_separate_tag` of 1200 bytes: the framing overhead.
//! * `batch/64x1200`: 64 frames of 1200 bytes sealed one call each against one batch call, at
//!   the AEAD level and through `SframeSender`.
//! * `*_cpu`: every group again, measured in thread CPU time instead of wall time, so that
//!   figures and ratios hold on a machine shared with other work (wall time also counts the
//!   time the benchmark thread was preempted). Select with a filter, e.g. `-- _cpu/`.

use std::hint::black_box;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use conclave_client::sframe::{CipherSuite, FrameRef, SealedFrames, SframeKey, SframeSender};
use conclave_crypto::{AeadAlg, AeadBatchItem, CryptoProvider, KeyUsage, NONCE_LEN};
use conclave_crypto_accel::AccelProvider;
use conclave_crypto_software::SoftwareProvider;
use criterion::measurement::Measurement;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

use crate::cpu_time::ThreadCpuTime;

const KID: u64 = 0x1_0003;
const BASE_KEY: [u8; 32] = [7; 32];
const BATCH: usize = 64;
const FRAME: usize = 1200;

fn providers() -> [(&'static str, Arc<dyn CryptoProvider>); 2] {
    let accel = AccelProvider::new().expect("accel provider starts");
    eprintln!("{}", accel.info());
    [
        ("software", Arc::new(SoftwareProvider::new())),
        ("accel", Arc::new(accel)),
    ]
}

/// A distinct nonce per call (a counter), like SFrame's.
fn nonce(ctr: u64) -> [u8; NONCE_LEN] {
    let mut n = [0x5a; NONCE_LEN];
    n[4..].copy_from_slice(&ctr.to_be_bytes());
    n
}

fn aead(c: &mut Criterion) {
    aead_in(c, "");
}

fn aead_cpu(c: &mut Criterion<ThreadCpuTime>) {
    aead_in(c, "_cpu");
}

fn aead_in<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    for size in [100usize, 1200] {
        let mut g = c.benchmark_group(format!("aead{clock}/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        for (name, p) in providers() {
            let key = p.aead_key(AeadAlg::Aes256Gcm, &[9; 32]).unwrap();
            let mut buf = vec![0x42u8; size];
            let mut ctr = 0u64;
            g.bench_function(format!("{name}/seal"), |b| {
                b.iter(|| {
                    ctr += 1;
                    black_box(key.seal_in_place(&nonce(ctr), b"hdr", &mut buf).unwrap())
                })
            });
            let mut sealed = vec![0x42u8; size];
            let tag = key.seal_in_place(&nonce(0), b"hdr", &mut sealed).unwrap();
            g.bench_function(format!("{name}/open"), |b| {
                b.iter_batched_ref(
                    || sealed.clone(),
                    |buf| key.open_in_place(&nonce(0), b"hdr", buf, &tag).unwrap(),
                    BatchSize::SmallInput,
                )
            });
        }
        g.finish();
    }
}

fn p256(c: &mut Criterion) {
    p256_in(c, "");
}

fn p256_cpu(c: &mut Criterion<ThreadCpuTime>) {
    p256_in(c, "_cpu");
}

fn p256_in<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    let mut g = c.benchmark_group(format!("p256{clock}"));
    for (name, p) in providers() {
        let ka = p.generate_p256(KeyUsage::KeyAgreement).unwrap();
        let peer = p
            .generate_p256(KeyUsage::KeyAgreement)
            .unwrap()
            .public_key();
        g.bench_function(format!("{name}/ecdh"), |b| {
            b.iter(|| black_box(ka.ecdh(black_box(&peer)).unwrap()))
        });
        let signer = p.generate_p256(KeyUsage::Signing).unwrap();
        g.bench_function(format!("{name}/sign"), |b| {
            b.iter(|| black_box(signer.sign(black_box(b"conclave transcript")).unwrap()))
        });
        let sig = signer.sign(b"conclave transcript").unwrap();
        let public = signer.public_key();
        g.bench_function(format!("{name}/verify"), |b| {
            b.iter(|| {
                p.verify_p256(&public, b"conclave transcript", &sig)
                    .unwrap()
            })
        });
        g.bench_function(format!("{name}/generate_ecdh"), |b| {
            b.iter(|| {
                let k = p.generate_p256(KeyUsage::KeyAgreement).unwrap();
                black_box(k.ecdh(&peer).unwrap())
            })
        });
    }
    g.finish();
}

fn sframe_vs_raw(c: &mut Criterion) {
    sframe_vs_raw_in(c, "");
}

fn sframe_vs_raw_cpu(c: &mut Criterion<ThreadCpuTime>) {
    sframe_vs_raw_in(c, "_cpu");
}

fn sframe_vs_raw_in<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    let mut g = c.benchmark_group(format!("sframe_vs_raw{clock}/{FRAME}"));
    g.throughput(Throughput::Bytes(FRAME as u64));

    let raw = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[9; 32]).unwrap());
    let mut buf = vec![0x42u8; FRAME];
    let mut ctr = 0u64;
    g.bench_function("raw_aws_lc_seal", |b| {
        b.iter(|| {
            ctr += 1;
            let tag = raw
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce(ctr)),
                    Aad::from(&[0x90u8, 0x01, 0x02][..]),
                    &mut buf,
                )
                .unwrap();
            black_box(tag)
        })
    });

    // The same cipher call, reading the plaintext from one buffer and writing another.
    let plaintext = vec![0x42u8; FRAME];
    let mut ciphertext = vec![0u8; FRAME];
    g.bench_function("raw_aws_lc_seal_out_of_place", |b| {
        b.iter(|| {
            ctr += 1;
            let mut tag = [0u8; 16];
            raw.seal_out_of_place_scatter(
                Nonce::assume_unique_for_key(nonce(ctr)),
                Aad::from(&[0x90u8, 0x01, 0x02][..]),
                black_box(&plaintext),
                &mut ciphertext,
                &[],
                &mut tag,
            )
            .unwrap();
            black_box(tag)
        })
    });

    let accel: Arc<dyn CryptoProvider> = Arc::new(AccelProvider::new().unwrap());
    let payload = vec![0x42u8; FRAME];
    let mut sender = SframeSender::new(
        SframeKey::new(accel.as_ref(), CipherSuite::Aes256GcmSha512, KID, &BASE_KEY).unwrap(),
    );
    let mut frame = Vec::with_capacity(FRAME + 64);
    g.bench_function("sframe_sender_seal_accel", |b| {
        b.iter(|| {
            frame.clear();
            sender.seal(b"", black_box(&payload), &mut frame).unwrap();
            black_box(frame.len())
        })
    });
    // Into a reused packet buffer: no fresh memory to initialise per frame.
    let mut packet = vec![0u8; FRAME + 64];
    g.bench_function("sframe_sender_seal_into_accel", |b| {
        b.iter(|| {
            black_box(
                sender
                    .seal_into(b"", black_box(&payload), &mut packet)
                    .unwrap(),
            )
        })
    });
    g.finish();
}

fn batch(c: &mut Criterion) {
    batch_in(c, "");
}

fn batch_cpu(c: &mut Criterion<ThreadCpuTime>) {
    batch_in(c, "_cpu");
}

fn batch_in<M: Measurement>(c: &mut Criterion<M>, clock: &str) {
    let mut g = c.benchmark_group(format!("batch{clock}/{BATCH}x{FRAME}"));
    g.throughput(Throughput::Bytes((BATCH * FRAME) as u64));
    let payloads: Vec<Vec<u8>> = (0..BATCH).map(|i| vec![i as u8; FRAME]).collect();
    let frames: Vec<FrameRef<'_>> = payloads.iter().map(|p| (&b""[..], &p[..])).collect();

    for (name, p) in providers() {
        // AEAD level: 64 seal_in_place calls against one seal_batch of 64 items.
        let key = p.aead_key(AeadAlg::Aes256Gcm, &[9; 32]).unwrap();
        let mut bufs: Vec<Vec<u8>> = payloads.clone();
        let mut ctr = 0u64;
        g.bench_function(format!("{name}/aead_unbatched"), |b| {
            b.iter(|| {
                for buf in bufs.iter_mut() {
                    ctr += 1;
                    black_box(key.seal_in_place(&nonce(ctr), b"hdr", buf).unwrap());
                }
            })
        });
        g.bench_function(format!("{name}/aead_batched"), |b| {
            b.iter(|| {
                let mut items: Vec<AeadBatchItem<'_>> = bufs
                    .iter_mut()
                    .map(|buf| {
                        ctr += 1;
                        AeadBatchItem::to_seal(nonce(ctr), b"hdr", buf)
                    })
                    .collect();
                key.seal_batch(&mut items).unwrap();
                black_box(items.len())
            })
        });

        // SFrame level: 64 SframeSender::seal calls against one seal_batch.
        let mut sender = SframeSender::new(
            SframeKey::new(p.as_ref(), CipherSuite::Aes256GcmSha512, KID, &BASE_KEY).unwrap(),
        );
        let mut out = Vec::with_capacity(BATCH * (FRAME + 64));
        g.bench_function(format!("{name}/sframe_unbatched"), |b| {
            b.iter(|| {
                out.clear();
                for (meta, payload) in &frames {
                    sender.seal(meta, payload, &mut out).unwrap();
                }
                black_box(out.len())
            })
        });
        let mut sealed = SealedFrames::with_capacity(BATCH, BATCH * (FRAME + 64));
        g.bench_function(format!("{name}/sframe_seal_batch"), |b| {
            b.iter(|| {
                sealed.clear();
                sender.seal_batch(&frames, &mut sealed).unwrap();
                black_box(sealed.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, aead, p256, sframe_vs_raw, batch);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpuTime);
    targets = aead_cpu, p256_cpu, sframe_vs_raw_cpu, batch_cpu
}
criterion_main!(benches, cpu_benches);

mod cpu_time {
    //! A criterion measurement of the time this thread spent on a CPU
    //! (`CLOCK_THREAD_CPUTIME_ID`). On a shared machine wall time also counts the time the
    //! benchmark was preempted by other processes; CPU time does not, which keeps ratios
    //! between benchmarks run a few seconds apart meaningful.

    use criterion::Throughput;
    use criterion::measurement::{Measurement, ValueFormatter};

    /// Thread CPU time in nanoseconds.
    pub struct ThreadCpuTime;

    fn now_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable `timespec`; the clock id is a constant.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
    }

    impl Measurement for ThreadCpuTime {
        type Intermediate = u64;
        type Value = u64;

        fn start(&self) -> u64 {
            now_ns()
        }
        fn end(&self, start: u64) -> u64 {
            now_ns().saturating_sub(start)
        }
        fn add(&self, a: &u64, b: &u64) -> u64 {
            a + b
        }
        fn zero(&self) -> u64 {
            0
        }
        fn to_f64(&self, value: &u64) -> f64 {
            *value as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            &CpuTimeFormatter
        }
    }

    struct CpuTimeFormatter;

    impl ValueFormatter for CpuTimeFormatter {
        fn scale_values(&self, typical: f64, values: &mut [f64]) -> &'static str {
            let (divisor, unit) = if typical < 1e3 {
                (1.0, "ns (cpu)")
            } else if typical < 1e6 {
                (1e3, "µs (cpu)")
            } else {
                (1e6, "ms (cpu)")
            };
            for v in values {
                *v /= divisor;
            }
            unit
        }

        fn scale_throughputs(
            &self,
            _typical: f64,
            throughput: &Throughput,
            values: &mut [f64],
        ) -> &'static str {
            let (amount, unit) = match throughput {
                Throughput::Bytes(b) | Throughput::BytesDecimal(b) => {
                    (*b as f64 / f64::from(1u32 << 30), "GiB/s (cpu)")
                }
                Throughput::Elements(e) => (*e as f64, "elem/s (cpu)"),
                _ => (1.0, "ops/s (cpu)"),
            };
            for v in values {
                *v = amount * 1e9 / *v;
            }
            unit
        }

        fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
            "ns"
        }
    }
}
