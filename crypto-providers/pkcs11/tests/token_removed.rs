//! The token disappears while the provider is open (SoftHSM's token directory is deleted,
//! as when an HSM is unplugged): calls in flight and after fail with a typed
//! `CryptoError::Provider` saying the token is gone; nothing panics or hangs.
//!
//! This test deletes the process's token, so it has a test binary of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use conclave_crypto::{CryptoError, CryptoProvider, KeyUsage};
use conclave_crypto_pkcs11::Pkcs11Provider;
use conclave_crypto_pkcs11::softhsm::process_token;

fn assert_gone(what: &str, result: Result<(), CryptoError>) {
    match result {
        Err(CryptoError::Provider(msg)) => {
            assert!(
                msg.contains("is no longer present") && msg.contains("'conclave-test'"),
                "{what}: unexpected message {msg:?}"
            );
            assert!(
                !msg.contains(&process_token().pin),
                "{what}: message has the PIN"
            );
        }
        other => panic!("{what}: expected Provider(token gone), got {other:?}"),
    }
}

#[test]
fn token_removed_during_calls() {
    let hsm = process_token();
    let provider = Arc::new(
        Pkcs11Provider::open(&hsm.config().with_max_sessions(3))
            .unwrap_or_else(|e| panic!("open: {e}")),
    );
    let signer = provider
        .generate_p256(KeyUsage::Signing)
        .unwrap_or_else(|e| panic!("generate: {e}"));
    let agreer = provider
        .generate_p256(KeyUsage::KeyAgreement)
        .unwrap_or_else(|e| panic!("generate: {e}"));
    let persisted = signer.persist().unwrap_or_else(|e| panic!("persist: {e}"));
    signer
        .sign(b"before")
        .unwrap_or_else(|e| panic!("sign: {e}"));
    let signer: Arc<dyn conclave_crypto::P256PrivateKey> = Arc::from(signer);
    let agreer: Arc<dyn conclave_crypto::P256PrivateKey> = Arc::from(agreer);

    // Two threads sign and agree in a loop while the token's storage is deleted.
    let removed = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let (signer, agreer, removed) = (signer.clone(), agreer.clone(), removed.clone());
            thread::spawn(move || {
                let mut errors = Vec::new();
                for n in 0..20_000 {
                    let result = if (n + i) % 2 == 0 {
                        signer.sign(b"during").map(|_| ())
                    } else {
                        agreer.ecdh(&signer.public_key()).map(|_| ())
                    };
                    match result {
                        Ok(()) => {}
                        Err(e) => errors.push(e),
                    }
                    let settled = matches!(errors.last(),
                        Some(CryptoError::Provider(m)) if m.contains("is no longer present"));
                    if removed.load(Ordering::Acquire) && settled {
                        break;
                    }
                }
                errors
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(50));
    std::fs::remove_dir_all(&hsm.token_dir).unwrap_or_else(|e| panic!("rm token dir: {e}"));
    removed.store(true, Ordering::Release);

    for worker in workers {
        let errors = worker
            .join()
            .unwrap_or_else(|_| panic!("a worker panicked"));
        assert!(
            !errors.is_empty(),
            "no call failed after the token was removed"
        );
        for e in &errors {
            assert!(
                matches!(e, CryptoError::Provider(_)),
                "a call failed with {e:?}, expected CryptoError::Provider"
            );
        }
        // Calls racing the deletion may see a half-deleted token; the last ones see it gone.
        let last = errors.last().cloned().map_or(Ok(()), Err);
        assert_gone("call during removal", last);
    }

    // Every kind of call after the removal.
    assert_gone("sign", signer.sign(b"after").map(|_| ()));
    assert_gone("ecdh", agreer.ecdh(&signer.public_key()).map(|_| ()));
    assert_gone(
        "generate",
        provider.generate_p256(KeyUsage::Signing).map(|_| ()),
    );
    assert_gone("restore", provider.restore_p256(&persisted).map(|_| ()));
    assert_gone("fill_random", provider.fill_random(&mut [0u8; 16]));
    assert_gone("destroy", signer.destroy());
    // A new provider cannot find the token any more.
    match Pkcs11Provider::open(&hsm.config()) {
        Err(CryptoError::Provider(msg)) => {
            assert!(
                msg.contains("no PKCS#11 token labelled 'conclave-test'"),
                "{msg}"
            )
        }
        other => panic!("open after removal: {other:?}"),
    }
}
