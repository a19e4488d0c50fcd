//! Identities on disk: round trip, prekey consumption persisted, permissions and corrupt
//! files give one-line errors naming the file.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{NOW, identity, opts, provider, recipient};
use conclave_client::ClientError;
use conclave_client::container::{OpenOptions, Payload, open, seal};
use conclave_client::identity::IdentityStore;

#[test]
fn identity_round_trips_through_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = IdentityStore::new(dir.path().join("bob"));
    let bob = identity(3);
    store.create(&bob).unwrap();
    assert!(store.create(&bob).is_err(), "never overwrites an identity");
    for f in ["identity.json", "prekeys.json"] {
        let mode = fs::metadata(store.dir().join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let dmode = fs::metadata(store.dir()).unwrap().permissions().mode() & 0o777;
    assert_eq!(dmode, 0o700);

    let alice = identity(0);
    let c = seal(
        &alice,
        &Payload::Text { text: "hi".into() },
        &[recipient(&bob)],
        opts(),
    )
    .unwrap();
    let mut loaded = store.load(provider()).unwrap();
    assert_eq!(loaded.certificate(), bob.certificate());
    assert_eq!(loaded.prekeys().len(), 3);
    let opened = open(
        &mut loaded,
        &c,
        OpenOptions {
            now_ms: NOW,
            expected_sender: None,
        },
    )
    .unwrap();
    store.save_prekeys(&loaded).unwrap();

    // After a reload the consumed prekey stays consumed.
    let mut again = store.load(provider()).unwrap();
    assert_eq!(again.prekeys().len(), 2);
    assert!(matches!(
        open(&mut again, &c, OpenOptions { now_ms: NOW, expected_sender: None }),
        Err(ClientError::PrekeyConsumed(id)) if id == opened.prekey_id
    ));
    // New prekeys never reuse an id.
    let fresh = again.generate_prekeys(1).unwrap();
    assert_eq!(fresh[0].id, 4);
}

fn load_err(store: &IdentityStore) -> String {
    store.load(provider()).unwrap_err().to_string()
}

#[test]
fn bad_files_give_one_line_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = IdentityStore::new(dir.path().join("id"));
    store.create(&identity(1)).unwrap();
    let ident = store.dir().join("identity.json");
    let prekeys = store.dir().join("prekeys.json");

    fs::set_permissions(&ident, fs::Permissions::from_mode(0o644)).unwrap();
    let e = load_err(&store);
    assert!(
        e.contains("identity.json") && e.contains("0644") && e.contains("too open"),
        "{e}"
    );
    fs::set_permissions(&ident, fs::Permissions::from_mode(0o600)).unwrap();

    let good = fs::read(&ident).unwrap();
    fs::write(&ident, &good[..good.len() / 2]).unwrap();
    let e = load_err(&store);
    assert!(e.contains("identity.json") && e.contains("corrupt"), "{e}");
    assert!(!e.contains('\n'));

    // A certificate that does not match the keys.
    let mut doc: serde_json::Value = serde_json::from_slice(&good).unwrap();
    let other = identity(0);
    doc["certificate"] = conclave_wire::b64::encode(&other.certificate().to_bytes()).into();
    fs::write(&ident, serde_json::to_vec(&doc).unwrap()).unwrap();
    let e = load_err(&store);
    assert!(e.contains("do not match"), "{e}");
    fs::write(&ident, &good).unwrap();

    fs::write(&prekeys, b"{\"version\":1}").unwrap();
    let e = load_err(&store);
    assert!(e.contains("prekeys.json"), "{e}");

    fs::remove_file(&prekeys).unwrap();
    let e = load_err(&store);
    assert!(e.contains("prekeys.json"), "{e}");

    let missing = IdentityStore::new(dir.path().join("nobody"));
    assert!(load_err(&missing).contains("nobody"));
}

#[test]
fn every_signature_an_identity_makes_is_low_s() {
    use conclave_client::identity::signing::is_low_s;
    use conclave_crypto::Signature;
    // Each signature is high-S with probability 1/2 before normalisation: 33 of them all
    // being low by chance would be a 1-in-8-billion event.
    let mut id = identity(0);
    assert!(is_low_s(&Signature(id.certificate().signature)));
    for k in id.generate_prekeys(32).unwrap() {
        assert!(is_low_s(&Signature(k.signature)), "prekey {}", k.id);
    }
}
