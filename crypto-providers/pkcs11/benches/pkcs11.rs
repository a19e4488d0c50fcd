//! Per-operation cost of the PKCS#11 provider on SoftHSM2 (a token in a temporary directory),
//! next to the software provider:
//!
//! - `ecdh/*`: one ECDH (in the token: `CKM_ECDH1_DERIVE` into a session object, read out,
//!   destroyed);
//! - `sign/*`: one ECDSA P-256 signature (in the token: SHA-256 on the host, `CKM_ECDSA`);
//! - `keygen/*`: generating a long-term P-256 key and dropping it (token objects created and
//!   destroyed); `keygen-ephemeral/*`: the same for an ephemeral key (session objects, as for
//!   an HPKE encapsulation key);
//! - `frame/{seal,open}/{100,1200}`: AES-256-GCM of one media frame with a key from
//!   `aead_key`: `software-default` (the provider's default: frames sealed in software) and
//!   `in-token` (`in_token_frames`: `CKM_AES_GCM` in the token). `open` includes copying the
//!   ciphertext back into the buffer (tens of nanoseconds at these sizes).
//!
//! `cargo bench -p conclave-crypto-pkcs11 --bench pkcs11`

use std::hint::black_box;
use std::time::Duration;

use conclave_crypto::{AeadAlg, AeadKey, CryptoProvider, KeyUsage, NONCE_LEN};
use conclave_crypto_pkcs11::Pkcs11Provider;
use conclave_crypto_pkcs11::softhsm::process_token;
use conclave_crypto_software::SoftwareProvider;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn providers() -> (Pkcs11Provider, Pkcs11Provider) {
    let hsm = process_token();
    let open = |in_token: bool| {
        Pkcs11Provider::open(&hsm.config().with_in_token_frames(in_token))
            .unwrap_or_else(|e| panic!("open SoftHSM2 token: {e}"))
    };
    (open(false), open(true))
}

fn keys_and_signatures(c: &mut Criterion, token: &Pkcs11Provider) {
    let software = SoftwareProvider::new();
    let cases: [(&str, &dyn CryptoProvider); 2] = [("pkcs11", token), ("software", &software)];
    for (name, p) in cases {
        let peer = p
            .generate_p256(KeyUsage::KeyAgreement)
            .unwrap_or_else(|e| panic!("{e}"))
            .public_key();
        let agreer = p
            .generate_p256(KeyUsage::KeyAgreement)
            .unwrap_or_else(|e| panic!("{e}"));
        let signer = p
            .generate_p256(KeyUsage::Signing)
            .unwrap_or_else(|e| panic!("{e}"));
        let message = [0x5au8; 200];
        c.bench_function(&format!("ecdh/{name}"), |b| {
            b.iter(|| {
                black_box(
                    agreer
                        .ecdh(black_box(&peer))
                        .unwrap_or_else(|e| panic!("{e}")),
                )
            })
        });
        c.bench_function(&format!("sign/{name}"), |b| {
            b.iter(|| {
                black_box(
                    signer
                        .sign(black_box(&message))
                        .unwrap_or_else(|e| panic!("{e}")),
                )
            })
        });
        c.bench_function(&format!("keygen-ephemeral/{name}"), |b| {
            b.iter(|| {
                black_box(
                    p.generate_ephemeral_p256(KeyUsage::KeyAgreement)
                        .unwrap_or_else(|e| panic!("{e}")),
                )
            })
        });
        c.bench_function(&format!("keygen/{name}"), |b| {
            b.iter(|| {
                black_box(
                    p.generate_p256(KeyUsage::KeyAgreement)
                        .unwrap_or_else(|e| panic!("{e}")),
                )
            })
        });
    }
}

fn frames(c: &mut Criterion, default: &Pkcs11Provider, in_token: &Pkcs11Provider) {
    let key_bytes = [0x42u8; 32];
    let nonce = [7u8; NONCE_LEN];
    let aad = [0x90u8, 0x12, 0x34];
    let keys: [(&str, Box<dyn AeadKey>); 2] = [
        (
            "software-default",
            default
                .aead_key(AeadAlg::Aes256Gcm, &key_bytes)
                .unwrap_or_else(|e| panic!("{e}")),
        ),
        (
            "in-token",
            in_token
                .aead_key(AeadAlg::Aes256Gcm, &key_bytes)
                .unwrap_or_else(|e| panic!("{e}")),
        ),
    ];
    for size in [100usize, 1200] {
        let mut g = c.benchmark_group(format!("frame/{size}"));
        g.throughput(Throughput::Bytes(size as u64));
        for (mode, key) in &keys {
            let mut buf = vec![0x33u8; size];
            g.bench_function(format!("seal/{mode}"), |b| {
                b.iter(|| {
                    black_box(
                        key.seal_in_place(&nonce, &aad, black_box(&mut buf))
                            .unwrap_or_else(|e| panic!("{e}")),
                    )
                })
            });
            let mut ct = vec![0x33u8; size];
            let tag = key
                .seal_in_place(&nonce, &aad, &mut ct)
                .unwrap_or_else(|e| panic!("{e}"));
            g.bench_function(format!("open/{mode}"), |b| {
                b.iter(|| {
                    buf.copy_from_slice(&ct);
                    key.open_in_place(&nonce, &aad, black_box(&mut buf), &tag)
                        .unwrap_or_else(|e| panic!("{e}"));
                    black_box(buf[0])
                })
            });
        }
        g.finish();
    }
}

fn bench(c: &mut Criterion) {
    let (default, in_token) = providers();
    keys_and_signatures(c, &default);
    frames(c, &default, &in_token);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
