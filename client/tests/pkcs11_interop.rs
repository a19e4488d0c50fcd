//! The protocol with keys in a PKCS#11 token (SoftHSM2 in a temporary directory) next to the
//! software provider: containers both ways, an identity stored as token references and loaded
//! again, prekeys destroyed in the token when consumed, and a meeting whose participants each
//! use a different provider (accel, software, token with AEAD in software, token with AEAD in
//! the token).

mod common;

use std::sync::{Arc, OnceLock};

use common::{NOW, opts, recipient};
use conclave_client::ClientError;
use conclave_client::container::{CallType, MeetingKeysJson, OpenOptions, Payload, open, seal};
use conclave_client::identity::{Identity, IdentityStore};
use conclave_client::meeting::{EpochKeys, MeetingCrypto, MeetingId, Roster, RosterEntry};
use conclave_client::sframe::CipherSuite;
use conclave_crypto::{CryptoProvider, KeyUsage, PersistedKey};
use conclave_crypto_pkcs11::Pkcs11Provider;
use conclave_crypto_pkcs11::softhsm::process_token;
use conclave_crypto_software::SoftwareProvider;

fn hsm() -> Arc<dyn CryptoProvider> {
    static P: OnceLock<Arc<Pkcs11Provider>> = OnceLock::new();
    P.get_or_init(|| {
        Arc::new(
            Pkcs11Provider::open(&process_token().config())
                .unwrap_or_else(|e| panic!("open SoftHSM2 token: {e}")),
        )
    })
    .clone()
}

fn hsm_in_token_frames() -> Arc<dyn CryptoProvider> {
    static P: OnceLock<Arc<Pkcs11Provider>> = OnceLock::new();
    P.get_or_init(|| {
        Arc::new(
            Pkcs11Provider::open(&process_token().config().with_in_token_frames(true))
                .unwrap_or_else(|e| panic!("open SoftHSM2 token: {e}")),
        )
    })
    .clone()
}

fn software() -> Arc<dyn CryptoProvider> {
    Arc::new(SoftwareProvider::new())
}

fn identity(p: Arc<dyn CryptoProvider>, prekeys: usize) -> Identity {
    let mut id = Identity::create(p, NOW - 1000).unwrap_or_else(|e| panic!("create: {e}"));
    id.generate_prekeys(prekeys)
        .unwrap_or_else(|e| panic!("prekeys: {e}"));
    id
}

fn at_now() -> OpenOptions<'static> {
    OpenOptions {
        now_ms: NOW,
        expected_sender: None,
    }
}

fn text(s: &str) -> Payload {
    Payload::Text { text: s.into() }
}

#[test]
fn containers_between_token_and_software_identities_both_ways() {
    for (name, token) in [
        ("frames in software", hsm()),
        ("frames in token", hsm_in_token_frames()),
    ] {
        let mut h = identity(token, 2);
        let mut s = identity(software(), 2);

        let c = seal(&h, &text("from the token"), &[recipient(&s)], opts())
            .unwrap_or_else(|e| panic!("{name}: seal by token identity: {e}"));
        let opened = open(&mut s, &c, at_now()).unwrap_or_else(|e| panic!("{name}: open: {e}"));
        assert_eq!(opened.payload, text("from the token"));
        assert_eq!(opened.sender.user_key, h.user_public_key());

        let c = seal(&s, &text("to the token"), &[recipient(&h)], opts())
            .unwrap_or_else(|e| panic!("{name}: seal by software identity: {e}"));
        let opened = open(&mut h, &c, at_now()).unwrap_or_else(|e| panic!("{name}: open: {e}"));
        assert_eq!(opened.payload, text("to the token"));
        assert!(h.prekeys().is_consumed(opened.prekey_id));
        assert!(matches!(
            open(&mut h, &c, at_now()),
            Err(ClientError::PrekeyConsumed(_))
        ));
    }
}

#[test]
fn token_identity_is_stored_as_references_and_loads_again() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = IdentityStore::new(dir.path().join("hsm-user"));
    let me = identity(hsm(), 3);
    store.create(&me).unwrap_or_else(|e| panic!("save: {e}"));
    for file in ["identity.json", "prekeys.json"] {
        let text =
            std::fs::read_to_string(store.dir().join(file)).unwrap_or_else(|e| panic!("{e}"));
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        let mut kinds = Vec::new();
        collect_kinds(&doc, &mut kinds);
        assert!(!kinds.is_empty(), "{file}: no keys found");
        assert!(kinds.iter().all(|k| k == "reference"), "{file}: {kinds:?}");
        assert!(!text.contains("scalar"), "{file} holds a private scalar");
    }
    drop(me);

    // A new provider instance (another run) finds the keys again by reference.
    let mut loaded = store.load(hsm()).unwrap_or_else(|e| panic!("load: {e}"));
    assert_eq!(loaded.prekeys().len(), 3);
    let sender = identity(software(), 0);
    let c = seal(&sender, &text("hello"), &[recipient(&loaded)], opts())
        .unwrap_or_else(|e| panic!("seal: {e}"));
    let opened = open(&mut loaded, &c, at_now()).unwrap_or_else(|e| panic!("open: {e}"));
    store
        .save_prekeys(&loaded)
        .unwrap_or_else(|e| panic!("save prekeys: {e}"));

    // The consumed prekey is gone from the token, not just from the file.
    let again = store.load(hsm()).unwrap_or_else(|e| panic!("reload: {e}"));
    assert_eq!(again.prekeys().len(), 2);
    assert!(again.prekeys().is_consumed(opened.prekey_id));
    // And the token identity signs what the software side verifies.
    let reply = seal(
        &again,
        &text("reply"),
        &[recipient(&identity(software(), 1))],
        opts(),
    );
    assert!(reply.is_ok());
}

#[test]
fn consumed_prekey_cannot_be_restored_from_its_reference() {
    let p = hsm();
    let mut me = identity(p.clone(), 1);
    let id = me
        .prekeys()
        .public()
        .next()
        .map(|s| s.id)
        .unwrap_or_else(|| panic!("no prekey"));
    let persisted = me
        .prekeys()
        .get(id)
        .and_then(|k| Ok(k.persist()?))
        .unwrap_or_else(|e| panic!("persist: {e}"));
    assert!(matches!(
        persisted,
        PersistedKey::Reference {
            usage: KeyUsage::KeyAgreement,
            ..
        }
    ));
    p.restore_p256(&persisted)
        .unwrap_or_else(|e| panic!("restore before: {e}"));
    me.prekeys_mut()
        .consume(id)
        .unwrap_or_else(|e| panic!("consume: {e}"));
    assert!(
        p.restore_p256(&persisted).is_err(),
        "the prekey is still in the token"
    );
}

fn collect_kinds(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(map) => {
            if let Some(serde_json::Value::String(kind)) = map.get("kind") {
                out.push(kind.clone());
            }
            map.values().for_each(|v| collect_kinds(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_kinds(v, out)),
        _ => {}
    }
}

fn entry(index: u16, id: &Identity) -> RosterEntry {
    RosterEntry {
        index,
        device_id: *id.device_id(),
        user_key: id.user_public_key(),
    }
}

#[test]
fn meeting_with_participants_on_different_providers() {
    // Alice: accel (aws-lc-rs), the initiator. Bob: software. Carol: token, frames sealed in
    // software. Dave: token, frames sealed in the token.
    let alice = identity(
        Arc::new(conclave_crypto_accel::AccelProvider::new().unwrap_or_else(|e| panic!("{e}"))),
        0,
    );
    let mut others = [
        identity(software(), 1),
        identity(hsm(), 1),
        identity(hsm_in_token_frames(), 1),
    ];
    let p = alice.provider().clone();
    let mut entries = vec![entry(0, &alice)];
    for (i, id) in others.iter().enumerate() {
        entries.push(entry(i as u16 + 1, id));
    }
    let roster = Roster::new(entries).unwrap_or_else(|e| panic!("{e}"));
    let meeting = MeetingId::generate(p.as_ref(), b"mixed").unwrap_or_else(|e| panic!("{e}"));
    let e0 = EpochKeys::start(p.as_ref(), meeting, roster).unwrap_or_else(|e| panic!("{e}"));
    let suite = CipherSuite::DEFAULT;
    let alice_keys =
        EpochKeys::from_parts(meeting, 0, e0.meeting_key().clone(), e0.roster().clone())
            .unwrap_or_else(|e| panic!("{e}"));
    let mut parties = vec![
        MeetingCrypto::new(p.clone(), suite, alice_keys, alice.device_id())
            .unwrap_or_else(|e| panic!("{e}")),
    ];
    for to in others.iter_mut() {
        // The invite is sealed by the accel identity and opened in each other provider.
        let invite = Payload::Invite(MeetingKeysJson::from_keys(&e0, CallType::Audio));
        let c = seal(&alice, &invite, &[recipient(to)], opts()).unwrap_or_else(|e| panic!("{e}"));
        let keys = match open(to, &c, at_now())
            .unwrap_or_else(|e| panic!("{e}"))
            .payload
        {
            Payload::Invite(k) => k.to_keys().unwrap_or_else(|e| panic!("{e}")),
            other => panic!("unexpected payload {other:?}"),
        };
        parties.push(
            MeetingCrypto::new(to.provider().clone(), suite, keys, to.device_id())
                .unwrap_or_else(|e| panic!("{e}")),
        );
    }

    for len in [100usize, 1200] {
        let body = vec![0x5a; len];
        let frames: Vec<Vec<u8>> = parties
            .iter_mut()
            .map(|m| m.seal(b"", &body).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        for (i, rx) in parties.iter_mut().enumerate() {
            for (j, f) in frames.iter().enumerate() {
                if i != j {
                    let opened = rx
                        .open(b"", f)
                        .unwrap_or_else(|e| panic!("party {i} opening {j}: {e}"));
                    assert_eq!(opened.payload, body);
                    assert_eq!(opened.sender_index as usize, j);
                }
            }
        }
    }
}
