//! What the provider leaves in the token: private keys are sensitive, non-extractable token
//! objects; ephemeral keys disappear when dropped; persisted keys stay until destroyed.
//! Checked from outside the provider with a `cryptoki` session of its own.

use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use conclave_crypto::{CryptoError, CryptoProvider, KeyUsage, P256PrivateKey, PersistedKey};
use conclave_crypto_pkcs11::softhsm::{PIN_ENV, process_token};
use conclave_crypto_pkcs11::{PinSource, Pkcs11Provider};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::object::{Attribute, AttributeType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

/// The tests of this file take turns. Each opens a provider of its own (its own session
/// pool) on the one process-wide token, and SoftHSM 2.6 sporadically fails
/// `C_GenerateKeyPair` of token objects with `CKR_GENERAL_ERROR` while another session of
/// the process is writing token objects at the same time (seen about once in a few dozen
/// runs). Within one provider, concurrent generation is fine (see
/// `many_threads_share_a_small_session_pool`).
fn serial() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn provider() -> Pkcs11Provider {
    Pkcs11Provider::open(&process_token().config()).unwrap_or_else(|e| panic!("open: {e}"))
}

/// A session of the test's own on the same token (the module is already initialised by the
/// provider; PKCS#11 login state is shared within the process).
fn inspector() -> Session {
    let hsm = process_token();
    let pkcs11 = Pkcs11::new(&hsm.module).unwrap_or_else(|e| panic!("load: {e}"));
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => panic!("initialize: {e}"),
    }
    let slot = pkcs11
        .get_slots_with_token()
        .unwrap_or_else(|e| panic!("slots: {e}"))
        .into_iter()
        .find(|s| {
            pkcs11
                .get_token_info(*s)
                .is_ok_and(|i| i.label().trim_end() == hsm.label)
        })
        .unwrap_or_else(|| panic!("token not found"));
    let session = pkcs11
        .open_ro_session(slot)
        .unwrap_or_else(|e| panic!("session: {e}"));
    match session.login(UserType::User, Some(&AuthPin::from(hsm.pin.clone()))) {
        Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => panic!("login: {e}"),
    }
    session
}

fn reference(key: &dyn P256PrivateKey) -> Vec<u8> {
    match key.persist() {
        Ok(PersistedKey::Reference {
            provider,
            reference,
            ..
        }) => {
            assert_eq!(provider, "pkcs11");
            reference
        }
        other => panic!("persist: expected a Reference, got {other:?}"),
    }
}

fn objects(session: &Session, class: ObjectClass, id: &[u8]) -> Vec<ObjectHandle> {
    session
        .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
        .unwrap_or_else(|e| panic!("find: {e}"))
}

#[test]
fn private_keys_are_sensitive_non_extractable_token_objects() {
    let _turn = serial();
    let p = provider();
    let s = inspector();
    for (origin, key) in [
        ("generated", p.generate_p256(KeyUsage::Signing)),
        ("generated", p.generate_p256(KeyUsage::KeyAgreement)),
        (
            "imported",
            p.import_p256(&[0x42; 32], KeyUsage::KeyAgreement),
        ),
    ] {
        let key = key.unwrap_or_else(|e| panic!("{origin}: {e}"));
        let id = reference(key.as_ref());
        assert_eq!(id.len(), 16, "random 16-byte CKA_ID");
        let [private] = objects(&s, ObjectClass::PRIVATE_KEY, &id)[..] else {
            panic!("{origin}: expected one private key object")
        };
        let attrs = s
            .get_attributes(
                private,
                &[
                    AttributeType::Token,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Private,
                    AttributeType::Sign,
                    AttributeType::Derive,
                ],
            )
            .unwrap_or_else(|e| panic!("attributes: {e}"));
        let usage = key.usage();
        for attr in attrs {
            match attr {
                Attribute::Token(b) => assert!(b, "{origin}: CKA_TOKEN"),
                Attribute::Sensitive(b) => assert!(b, "{origin}: CKA_SENSITIVE"),
                Attribute::Extractable(b) => assert!(!b, "{origin}: CKA_EXTRACTABLE"),
                Attribute::Private(b) => assert!(b, "{origin}: CKA_PRIVATE"),
                Attribute::Sign(b) => {
                    assert_eq!(b, usage == KeyUsage::Signing, "{origin}: CKA_SIGN")
                }
                Attribute::Derive(b) => {
                    assert_eq!(b, usage == KeyUsage::KeyAgreement, "{origin}: CKA_DERIVE")
                }
                other => panic!("unexpected attribute {other:?}"),
            }
        }
        // The scalar cannot be read.
        match s.get_attributes(private, &[AttributeType::Value]) {
            Ok(attrs) => assert!(
                !attrs.iter().any(|a| matches!(a, Attribute::Value(_))),
                "{origin}: CKA_VALUE of a private key was readable"
            ),
            Err(Error::Pkcs11(RvError::AttributeSensitive, _)) => {}
            Err(e) => panic!("{origin}: reading CKA_VALUE failed with {e}"),
        }
        key.destroy().unwrap_or_else(|e| panic!("destroy: {e}"));
    }
}

#[test]
fn ephemeral_keys_vanish_persisted_keys_stay_until_destroyed() {
    let _turn = serial();
    let p = provider();
    let s = inspector();

    // Never persisted: destroyed on drop (an HPKE ephemeral key, for instance). Found by its
    // public point, since asking for its id would persist it.
    let dropped = p
        .generate_p256(KeyUsage::Signing)
        .unwrap_or_else(|e| panic!("{e}"));
    dropped.sign(b"x").unwrap_or_else(|e| panic!("{e}"));
    let mut point = vec![0x04, 0x41];
    point.extend_from_slice(dropped.public_key().as_bytes());
    let by_point = [
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::EcPoint(point),
    ];
    let found = |s: &Session| {
        s.find_objects(&by_point)
            .unwrap_or_else(|e| panic!("{e}"))
            .len()
    };
    assert_eq!(found(&s), 1, "the new key's public object is in the token");
    drop(dropped);
    assert_eq!(
        found(&s),
        0,
        "an ephemeral key stayed in the token after drop"
    );

    // Persisted: survives its handle, restores, and is gone for good once destroyed.
    let key = p
        .generate_p256(KeyUsage::Signing)
        .unwrap_or_else(|e| panic!("{e}"));
    let persisted = key.persist().unwrap_or_else(|e| panic!("{e}"));
    let PersistedKey::Reference { reference: id, .. } = &persisted else {
        panic!("not a reference")
    };
    drop(key);
    assert_eq!(objects(&s, ObjectClass::PRIVATE_KEY, id).len(), 1);
    assert_eq!(objects(&s, ObjectClass::PUBLIC_KEY, id).len(), 1);
    let restored = p.restore_p256(&persisted).unwrap_or_else(|e| panic!("{e}"));
    restored
        .sign(b"still here")
        .unwrap_or_else(|e| panic!("{e}"));
    restored.destroy().unwrap_or_else(|e| panic!("{e}"));
    restored
        .destroy()
        .unwrap_or_else(|e| panic!("second destroy: {e}"));
    assert!(objects(&s, ObjectClass::PRIVATE_KEY, id).is_empty());
    assert!(objects(&s, ObjectClass::PUBLIC_KEY, id).is_empty());
    assert!(matches!(
        restored.sign(b"gone"),
        Err(CryptoError::Provider(_))
    ));
    assert!(matches!(
        p.restore_p256(&persisted),
        Err(CryptoError::BadPersistedKey(_))
    ));
}

/// The `CKA_TOKEN` of the public object holding `key`'s point, if there is one.
fn public_object_on_token(s: &Session, key: &dyn P256PrivateKey) -> Option<bool> {
    let mut point = vec![0x04, 0x41];
    point.extend_from_slice(key.public_key().as_bytes());
    let found = s
        .find_objects(&[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::EcPoint(point),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
    let [public] = found[..] else {
        assert!(found.is_empty(), "several objects for one key");
        return None;
    };
    let attrs = s
        .get_attributes(public, &[AttributeType::Token])
        .unwrap_or_else(|e| panic!("{e}"));
    match attrs[..] {
        [Attribute::Token(on_token)] => Some(on_token),
        _ => panic!("no CKA_TOKEN: {attrs:?}"),
    }
}

#[test]
fn ephemeral_and_imported_keys_are_session_objects_until_persisted() {
    let _turn = serial();
    let p = provider();
    let s = inspector();
    let long_term = p
        .generate_p256(KeyUsage::KeyAgreement)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(public_object_on_token(&s, long_term.as_ref()), Some(true));
    for (origin, key) in [
        (
            "ephemeral",
            p.generate_ephemeral_p256(KeyUsage::KeyAgreement),
        ),
        (
            "imported",
            p.import_p256(&[0x24; 32], KeyUsage::KeyAgreement),
        ),
    ] {
        let key = key.unwrap_or_else(|e| panic!("{origin}: {e}"));
        assert_eq!(
            public_object_on_token(&s, key.as_ref()),
            Some(false),
            "{origin}"
        );
        // It agrees with a long-term key like any other.
        let a = key
            .ecdh(&long_term.public_key())
            .unwrap_or_else(|e| panic!("{e}"));
        let b = long_term
            .ecdh(&key.public_key())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(a == b, "{origin}");
        // Persisting copies it to token objects, which then outlive the handle.
        let persisted = key.persist().unwrap_or_else(|e| panic!("{origin}: {e}"));
        assert_eq!(
            public_object_on_token(&s, key.as_ref()),
            Some(true),
            "{origin}"
        );
        let after = key
            .ecdh(&long_term.public_key())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(a == after, "{origin}: the token copy is another key");
        drop(key);
        let restored = p
            .restore_p256(&persisted)
            .unwrap_or_else(|e| panic!("{origin}: {e}"));
        restored.destroy().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            public_object_on_token(&s, restored.as_ref()),
            None,
            "{origin}"
        );
    }
    // Never persisted: gone when dropped.
    let ephemeral = p
        .generate_ephemeral_p256(KeyUsage::Signing)
        .unwrap_or_else(|e| panic!("{e}"));
    let public = ephemeral.public_key();
    drop(ephemeral);
    let mut point = vec![0x04, 0x41];
    point.extend_from_slice(public.as_bytes());
    assert!(
        s.find_objects(&[Attribute::EcPoint(point)])
            .unwrap_or_else(|e| panic!("{e}"))
            .is_empty()
    );
}

#[test]
fn restore_refuses_foreign_and_mismatched_references() {
    let _turn = serial();
    let p = provider();
    let key = p
        .generate_p256(KeyUsage::KeyAgreement)
        .unwrap_or_else(|e| panic!("{e}"));
    let PersistedKey::Reference { reference, .. } = key.persist().unwrap_or_else(|e| panic!("{e}"))
    else {
        panic!("not a reference")
    };
    // The right id with the wrong usage: the token object has CKA_DERIVE, not CKA_SIGN.
    let wrong_usage = PersistedKey::Reference {
        provider: "pkcs11".into(),
        usage: KeyUsage::Signing,
        reference: reference.clone(),
    };
    assert!(matches!(
        p.restore_p256(&wrong_usage),
        Err(CryptoError::BadPersistedKey(_))
    ));
    for bad in [Vec::new(), vec![0u8; 65], vec![0xee; 16]] {
        let r = PersistedKey::Reference {
            provider: "pkcs11".into(),
            usage: KeyUsage::KeyAgreement,
            reference: bad,
        };
        assert!(matches!(
            p.restore_p256(&r),
            Err(CryptoError::BadPersistedKey(_))
        ));
    }
    key.destroy().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn many_threads_share_a_small_session_pool() {
    let _turn = serial();
    let p = Arc::new(
        Pkcs11Provider::open(&process_token().config().with_max_sessions(2))
            .unwrap_or_else(|e| panic!("open: {e}")),
    );
    let signer: Arc<dyn P256PrivateKey> = Arc::from(
        p.generate_p256(KeyUsage::Signing)
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (p, signer) = (p.clone(), signer.clone());
            thread::spawn(move || {
                let ka = p
                    .generate_p256(KeyUsage::KeyAgreement)
                    .unwrap_or_else(|e| panic!("{e}"));
                for i in 0..20u32 {
                    let msg = [t, i].map(|v| v as u8);
                    let sig = signer.sign(&msg).unwrap_or_else(|e| panic!("sign: {e}"));
                    p.verify_p256(&signer.public_key(), &msg, &sig)
                        .unwrap_or_else(|e| panic!("verify: {e}"));
                    let shared = ka
                        .ecdh(&signer.public_key())
                        .unwrap_or_else(|e| panic!("ecdh: {e}"));
                    assert_eq!(shared.len(), 32);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap_or_else(|_| panic!("a thread panicked"));
    }
}

#[test]
fn pin_from_environment_variable() {
    let _turn = serial();
    let hsm = process_token();
    let mut config = hsm.config();
    config.pin = PinSource::Env(PIN_ENV.into());
    let p = Pkcs11Provider::open(&config).unwrap_or_else(|e| panic!("open: {e}"));
    assert_eq!(p.token_label(), "conclave-test");
    let caps = p.capabilities();
    assert!(
        caps.hardware_backed && !caps.extractable_private_keys && caps.ecdh_secret_leaves_provider
    );
}
