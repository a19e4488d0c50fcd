//! Interoperability with the browser implementation (`web/src/crypto`), both ways:
//!
//! 1. `web/test/vectors/rust-made.json` holds artefacts made here: an identity with its
//!    private scalars, certificate, prekeys and bundle; deterministic HPKE seals; containers
//!    sealed to that identity; meeting id, base key and KID derivations; SFrame keys, frames
//!    and codec frames. With `CONCLAVE_WRITE_VECTORS=1` the file is regenerated; every run
//!    checks that the committed file verifies, opens and re-derives here.
//! 2. `web/test/vectors/js-made.json` (written by `web/test/make-js-artefacts.mjs`) holds
//!    artefacts made by the JavaScript implementation; each must verify or open here and
//!    give the expected values.

use std::path::PathBuf;
use std::sync::Arc;

use conclave_client::container::{
    self, CallType, MeetingKeysJson, OpenOptions, Payload, Recipient, SealOptions,
};
use conclave_client::hpke::{self, SenderContext, Suite};
use conclave_client::identity::{
    Identity, IdentityStore, fingerprint, verify_bundle, verify_certificate,
};
use conclave_client::meeting::{EpochKeys, MeetingId, Roster, RosterEntry};
use conclave_client::sframe::codec::{clear_len, open_codec_frame, seal_codec_frame};
use conclave_client::sframe::{CipherSuite, SframeKey, SframeReceiver, SframeSender, derive_key};
use conclave_crypto::{CryptoProvider, KeyUsage, P256PublicKey, PersistedKey, Secret};
use conclave_crypto_software::SoftwareProvider;
use conclave_wire::b64;
use conclave_wire::bundle::DeviceBundle;
use conclave_wire::container::DeviceCertificate;
use conclave_wire::sframe::MediaKid;
use serde_json::{Value, json};

/// The time every container is sealed at; readers open them at `OPEN_MS`.
const SEAL_MS: u64 = 1_800_000_000_000;
const OPEN_MS: u64 = SEAL_MS + 60_000;
const TTL: u32 = 2_592_000;
/// Prekeys of the recipient: 1–5 are used by the containers made here, 6–8 are left for
/// the JavaScript side.
const PREKEYS: usize = 8;
const MEETING_EPOCH: u64 = 3;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/test/vectors")
}

fn provider() -> Arc<dyn CryptoProvider> {
    Arc::new(SoftwareProvider::new())
}

fn writing() -> bool {
    std::env::var("CONCLAVE_WRITE_VECTORS").is_ok_and(|v| v == "1")
}

// ---- JSON access ----

fn get<'a>(v: &'a Value, k: &str) -> &'a Value {
    v.get(k).unwrap_or_else(|| panic!("member {k:?} missing"))
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    get(v, k)
        .as_str()
        .unwrap_or_else(|| panic!("{k:?} is not a string"))
}

fn n(v: &Value, k: &str) -> u64 {
    get(v, k)
        .as_u64()
        .unwrap_or_else(|| panic!("{k:?} is not a u64"))
}

/// A u64 written as a decimal string (JSON numbers lose precision above 2^53 in JS).
fn big(v: &Value, k: &str) -> u64 {
    s(v, k)
        .parse()
        .unwrap_or_else(|_| panic!("{k:?} is not a decimal u64"))
}

fn hx(v: &Value, k: &str) -> Vec<u8> {
    hex::decode(s(v, k)).unwrap_or_else(|_| panic!("{k:?} is not hex"))
}

fn bx(v: &Value, k: &str) -> Vec<u8> {
    b64::decode(s(v, k)).unwrap_or_else(|_| panic!("{k:?} is not base64"))
}

fn arr<'a>(v: &'a Value, k: &str) -> &'a Vec<Value> {
    get(v, k)
        .as_array()
        .unwrap_or_else(|| panic!("{k:?} is not an array"))
}

fn public(bytes: &[u8]) -> P256PublicKey {
    P256PublicKey::from_sec1(bytes).expect("SEC1 public key")
}

fn scalar_of(key: &dyn conclave_crypto::P256PrivateKey) -> Vec<u8> {
    match key.persist().expect("persist") {
        PersistedKey::Raw { scalar, .. } => scalar.expose().to_vec(),
        PersistedKey::Reference { .. } => panic!("the software provider exports scalars"),
    }
}

// ---- identities ----

/// An identity with its scalars, read back from the identity directory it was saved to.
fn identity_json(id: &Identity) -> Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = IdentityStore::new(dir.path().join("id"));
    store.create(id).expect("save identity");
    let read = |name: &str| -> Value {
        let text = std::fs::read_to_string(dir.path().join("id").join(name)).expect("read");
        serde_json::from_str(&text).expect("identity JSON")
    };
    let ident = read("identity.json");
    let pre = read("prekeys.json");
    let cert = id.certificate();
    let key = |name: &str, public: &[u8]| json!({ "scalar": s(get(&ident, name), "scalar"), "public": b64::encode(public) });
    let prekeys: Vec<Value> = arr(&pre, "prekeys")
        .iter()
        .map(|p| {
            json!({
                "id": n(p, "id"),
                "public_key": s(p, "public_key"),
                "signature": s(p, "signature"),
                "scalar": s(get(p, "key"), "scalar"),
            })
        })
        .collect();
    let bundle = id.bundle(id.prekeys().public().cloned().collect());
    json!({
        "device_id": hex::encode(cert.device_id),
        "created_ms": cert.created_ms,
        "user_key": key("user_key", &cert.user_key),
        "app_key": key("app_key", &cert.app_key),
        "device_key": key("device_key", &cert.device_key),
        "certificate": b64::encode(&cert.to_bytes()),
        "fingerprint": fingerprint(id.provider().as_ref(), &public(&cert.user_key)),
        "prekeys": prekeys,
        "bundle": bundle.to_json(),
    })
}

/// Restores an identity of `rust-made.json` through an identity directory (§7), which
/// checks every private half against its public key.
fn load_identity(v: &Value) -> Identity {
    let p = provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("id");
    std::fs::create_dir(&path).expect("mkdir");
    let raw = |usage: &str, scalar: &str| json!({"kind": "raw", "usage": usage, "scalar": scalar});
    let ident = json!({
        "version": 1,
        "provider": p.name(),
        "certificate": s(v, "certificate"),
        "user_key": raw("signing", s(get(v, "user_key"), "scalar")),
        "app_key": raw("signing", s(get(v, "app_key"), "scalar")),
        "device_key": raw("key_agreement", s(get(v, "device_key"), "scalar")),
    });
    let prekeys: Vec<Value> = arr(v, "prekeys")
        .iter()
        .map(|pk| {
            json!({
                "id": n(pk, "id"),
                "public_key": s(pk, "public_key"),
                "signature": s(pk, "signature"),
                "key": raw("key_agreement", s(pk, "scalar")),
            })
        })
        .collect();
    let next_id = arr(v, "prekeys")
        .iter()
        .map(|pk| n(pk, "id"))
        .max()
        .unwrap_or(0)
        + 1;
    let pre = json!({"version": 1, "next_id": next_id, "prekeys": prekeys, "consumed": []});
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    for (name, doc) in [("identity.json", ident), ("prekeys.json", pre)] {
        let file = path.join(name);
        std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    IdentityStore::new(&path).load(p).expect("identity loads")
}

/// Checks an identity's certificate, fingerprint, prekeys and bundle (no private keys).
fn check_public_identity(v: &Value) -> conclave_client::identity::VerifiedDevice {
    let p = provider();
    let cert = DeviceCertificate::parse(&bx(v, "certificate")).expect("certificate parses");
    let device = verify_certificate(p.as_ref(), &cert).expect("certificate verifies");
    assert_eq!(hex::encode(device.device_id), s(v, "device_id"));
    assert_eq!(device.created_ms, n(v, "created_ms"));
    assert_eq!(
        fingerprint(p.as_ref(), &device.user_key),
        s(v, "fingerprint")
    );
    let bundle = DeviceBundle::from_json(s(v, "bundle")).expect("bundle parses");
    assert_eq!(bundle.certificate, cert);
    let verified = verify_bundle(p.as_ref(), &bundle).expect("bundle verifies");
    let listed = arr(v, "prekeys");
    assert_eq!(verified.prekeys.len(), listed.len());
    for (pk, (id, key)) in listed.iter().zip(&verified.prekeys) {
        assert_eq!(n(pk, "id"), u64::from(*id));
        assert_eq!(bx(pk, "public_key"), key.as_bytes());
    }
    // A flipped bit in any prekey signature is refused.
    let mut bad = bundle.clone();
    if let Some(first) = bad.prekeys.first_mut() {
        first.signature[10] ^= 1;
        assert!(verify_bundle(p.as_ref(), &bad).is_err());
    }
    device
}

fn check_private_identity(v: &Value) -> Identity {
    check_public_identity(v);
    let id = load_identity(v);
    assert_eq!(
        b64::encode(&id.certificate().to_bytes()),
        s(v, "certificate")
    );
    for k in ["user_key", "app_key", "device_key"] {
        let pair = get(v, k);
        let usage = if k == "device_key" {
            KeyUsage::KeyAgreement
        } else {
            KeyUsage::Signing
        };
        let key = provider()
            .import_p256(&bx(pair, "scalar"), usage)
            .expect("scalar imports");
        assert_eq!(key.public_key().as_bytes().to_vec(), bx(pair, "public"));
    }
    id
}

// ---- meeting ----

fn meeting_keys(meeting: &Value) -> EpochKeys {
    let roster = arr(meeting, "roster")
        .iter()
        .map(|e| RosterEntry {
            index: u16::try_from(n(e, "index")).expect("u16 index"),
            device_id: hx(e, "device_id").try_into().expect("16-byte device id"),
            user_key: public(&bx(e, "user_key")),
        })
        .collect();
    let id = MeetingId(hx(meeting, "meeting_id").try_into().expect("32 bytes"));
    EpochKeys::from_parts(
        id,
        n(meeting, "epoch"),
        Secret::new(bx(meeting, "meeting_key")),
        Roster::new(roster).expect("roster"),
    )
    .expect("epoch keys")
}

fn suite_of(v: &Value) -> CipherSuite {
    CipherSuite::from_id(u16::try_from(n(v, "suite")).expect("u16")).expect("suite")
}

/// Opens `frame` with a fresh receiver holding `kid`'s key.
fn open_frame(suite: CipherSuite, kid: u64, base: &[u8], metadata: &[u8], frame: &[u8]) -> Vec<u8> {
    let mut rx = SframeReceiver::new(provider(), suite);
    rx.add_key(kid, base).expect("add key");
    let (header, pt) = rx.open(metadata, frame).expect("frame opens");
    assert_eq!(header.kid, kid);
    assert!(rx.open(metadata, frame).is_err(), "a replay is refused");
    pt
}

// ---- writing rust-made.json ----

fn write_rust_made() -> Value {
    let p = provider();
    let pr = p.as_ref();
    let mut sender = Identity::create(p.clone(), SEAL_MS - 5_000).expect("identity");
    sender.generate_prekeys(2).expect("prekeys");
    let mut recipient = Identity::create(p.clone(), SEAL_MS - 4_000).expect("identity");
    recipient.generate_prekeys(PREKEYS).expect("prekeys");
    let rcert = recipient.certificate().clone();
    let rdevice = verify_certificate(pr, &rcert).expect("verify");
    let rprekeys: Vec<_> = recipient.prekeys().public().cloned().collect();

    // HPKE with an explicit ephemeral key, to the recipient's device key.
    let mut hpke_cases = Vec::new();
    for (info, aad, pt) in [
        (
            &b"conclave interop info"[..],
            &b"aad"[..],
            &b"a 32-byte first key, for example"[..],
        ),
        (b"", b"", b""),
    ] {
        let sk_e = pr.generate_p256(KeyUsage::KeyAgreement).expect("key");
        let (shared, enc) =
            hpke::encap_with(pr, &rdevice.device_key, sk_e.as_ref()).expect("encap");
        let ks = hpke::key_schedule(pr, Suite::CONCLAVE, shared.expose(), info).expect("ks");
        let key = hex::encode(ks.key.expose());
        let base_nonce = hex::encode(ks.base_nonce);
        let mut ctx = SenderContext::new(pr, Suite::CONCLAVE, ks).expect("ctx");
        let ct = ctx.seal(aad, pt).expect("seal");
        hpke_cases.push(json!({
            "sk_e": b64::encode(&scalar_of(sk_e.as_ref())),
            "pk_e": b64::encode(enc.as_bytes()),
            "pk_r": b64::encode(rdevice.device_key.as_bytes()),
            "info": hex::encode(info),
            "aad": hex::encode(aad),
            "pt": hex::encode(pt),
            "shared_secret": hex::encode(shared.expose()),
            "key": key,
            "base_nonce": base_nonce,
            "ct": hex::encode(ct),
        }));
    }

    // The meeting: the sender is index 0, the recipient index 1.
    let properties = br#"{"title":"interop"}"#;
    let nonce = [0x5au8; 16];
    let meeting_id = MeetingId::from_parts(pr, properties, &nonce);
    let mut meeting_key = Secret::zeroed(32);
    pr.fill_random(meeting_key.expose_mut()).expect("random");
    let roster = Roster::new(vec![
        RosterEntry {
            index: 0,
            device_id: *sender.device_id(),
            user_key: sender.user_public_key(),
        },
        RosterEntry {
            index: 1,
            device_id: rcert.device_id,
            user_key: public(&rcert.user_key),
        },
    ])
    .expect("roster");
    let keys = EpochKeys::from_parts(meeting_id, MEETING_EPOCH, meeting_key, roster.clone())
        .expect("keys");
    let mut base_keys = Vec::new();
    for index in [0u16, 1] {
        base_keys.push(json!({
            "index": index,
            "kid": keys.kid(index).to_string(),
            "base_key": hex::encode(keys.sender_base_key(pr, index).expect("base").expose()),
        }));
    }
    // The largest epoch and index, whose KID needs all 64 bits.
    let far = EpochKeys::from_parts(
        meeting_id,
        MediaKid::MAX_EPOCH,
        Secret::new(keys.meeting_key().expose().to_vec()),
        roster.clone(),
    )
    .expect("keys");
    let far_base = json!({
        "epoch": MediaKid::MAX_EPOCH.to_string(),
        "index": 0xffff,
        "kid": far.kid(0xffff).to_string(),
        "base_key": hex::encode(far.sender_base_key(pr, 0xffff).expect("base").expose()),
    });
    let meeting = json!({
        "properties": hex::encode(properties),
        "nonce": hex::encode(nonce),
        "meeting_id": meeting_id.to_hex(),
        "epoch": MEETING_EPOCH,
        "meeting_key": b64::encode(keys.meeting_key().expose()),
        "roster": roster.entries().iter().map(|e| json!({
            "index": e.index,
            "device_id": hex::encode(e.device_id),
            "user_key": b64::encode(e.user_key.as_bytes()),
        })).collect::<Vec<_>>(),
        "base_keys": base_keys,
        "far_base_key": far_base,
    });

    // Containers from the sender to the recipient, one prekey each (ids 1..=5).
    let keys_json = MeetingKeysJson::from_keys(&keys, CallType::Video);
    let payloads = [
        ("invite", Payload::Invite(keys_json.clone())),
        (
            "rekey",
            Payload::Rekey(keys_json.clone().with_switch_at(SEAL_MS + 1_744)),
        ),
        (
            "leave",
            Payload::Leave {
                meeting_id: meeting_id.to_hex(),
                epoch: MEETING_EPOCH,
            },
        ),
        (
            "reject",
            Payload::Reject {
                meeting_id: meeting_id.to_hex(),
            },
        ),
        (
            "text",
            Payload::Text {
                text: "Grüße aus Rust \u{1f980} \"quoted\"\n".into(),
            },
        ),
    ];
    let mut containers = Vec::new();
    for (i, (kind, payload)) in payloads.into_iter().enumerate() {
        let prekey = &rprekeys[i];
        let r = Recipient {
            device: rdevice.clone(),
            prekey_id: prekey.id,
            prekey: public(&prekey.public_key),
        };
        let bytes = container::seal(
            &sender,
            &payload,
            &[r],
            SealOptions {
                now_ms: SEAL_MS,
                ttl_seconds: TTL,
            },
        )
        .expect("seal");
        containers.push(json!({
            "kind": kind,
            "prekey_id": prekey.id,
            "now_ms": OPEN_MS,
            "bytes": b64::encode(&bytes),
            "payload": String::from_utf8(payload.to_bytes().expect("payload")).expect("utf-8"),
        }));
    }

    // SFrame keys and frames.
    let kid0 = keys.kid(0);
    let base0 = keys.sender_base_key(pr, 0).expect("base");
    let far_kid = far.kid(0xffff);
    let far_key = far.sender_base_key(pr, 0xffff).expect("base");
    let mut sframe_keys = Vec::new();
    for suite in [CipherSuite::Aes128GcmSha256, CipherSuite::Aes256GcmSha512] {
        for (kid, base) in [(kid0, &base0), (far_kid, &far_key)] {
            let d = derive_key(pr, suite, kid, base.expose()).expect("derive");
            sframe_keys.push(json!({
                "suite": suite.id(),
                "kid": kid.to_string(),
                "base_key": hex::encode(base.expose()),
                "secret": hex::encode(d.secret.expose()),
                "key": hex::encode(d.key.expose()),
                "salt": hex::encode(d.salt),
            }));
        }
    }
    let mut frames = Vec::new();
    let cases: [FrameCase<'_>; 6] = [
        (
            CipherSuite::DEFAULT,
            kid0,
            &base0,
            0,
            b"",
            b"hello, browser",
        ),
        (
            CipherSuite::DEFAULT,
            kid0,
            &base0,
            7,
            b"metadata",
            b"frame seven",
        ),
        (CipherSuite::DEFAULT, kid0, &base0, 8, b"", b""),
        (
            CipherSuite::Aes128GcmSha256,
            kid0,
            &base0,
            300,
            b"m",
            b"suite four",
        ),
        (
            CipherSuite::DEFAULT,
            far_kid,
            &far_key,
            u64::MAX,
            b"",
            b"the last counter",
        ),
        (
            CipherSuite::DEFAULT,
            far_kid,
            &far_key,
            1 << 56,
            b"\x00\x01",
            b"x",
        ),
    ];
    for (suite, kid, base, ctr, metadata, pt) in cases {
        let key = SframeKey::new(pr, suite, kid, base.expose()).expect("key");
        let mut out = Vec::new();
        key.seal(ctr, metadata, pt, &mut out).expect("seal");
        frames.push(json!({
            "suite": suite.id(),
            "kid": kid.to_string(),
            "ctr": ctr.to_string(),
            "base_key": hex::encode(base.expose()),
            "metadata": hex::encode(metadata),
            "plaintext": hex::encode(pt),
            "frame": hex::encode(&out),
        }));
    }

    // Codec frames of sender 0, counters 0, 1, 2 of one sender.
    let mut tx = SframeSender::new(
        SframeKey::new(pr, CipherSuite::DEFAULT, kid0, base0.expose()).expect("key"),
    );
    let mut codec = Vec::new();
    for (i, (kind, data)) in codec_inputs().into_iter().enumerate() {
        let mut out = Vec::new();
        seal_codec_frame(&mut tx, kind == "audio", &data, &mut out).expect("seal");
        codec.push(json!({
            "kind": kind,
            "suite": CipherSuite::DEFAULT.id(),
            "kid": kid0.to_string(),
            "ctr": i.to_string(),
            "clear_len": clear_len(kind == "audio", data[0]),
            "data": hex::encode(&data),
            "frame": hex::encode(&out),
        }));
    }

    let doc = json!({
        "description": "Artefacts made by the Rust reference implementation for the browser implementation; regenerate with CONCLAVE_WRITE_VECTORS=1 cargo test -p conclave-client --test web_interop (then regenerate js-made.json).",
        "seal_ms": SEAL_MS,
        "open_ms": OPEN_MS,
        "sender": identity_json(&sender),
        "recipient": identity_json(&recipient),
        "hpke": hpke_cases,
        "containers": containers,
        "meeting": meeting,
        "sframe_keys": sframe_keys,
        "sframe_frames": frames,
        "codec_frames": codec,
    });
    let text = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    std::fs::create_dir_all(vectors_dir()).expect("mkdir");
    std::fs::write(vectors_dir().join("rust-made.json"), text).expect("write rust-made.json");
    doc
}

/// (suite, KID, base key, CTR, metadata, plaintext) of an SFrame vector.
type FrameCase<'a> = (CipherSuite, u64, &'a Secret, u64, &'a [u8], &'a [u8]);

/// A VP8 key frame (tag with bit 0 clear, start code, 320×240), a VP8 inter frame, an Opus
/// frame: what a browser's encoders produce, shortened.
fn codec_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut key = vec![0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00];
    key.extend((0u8..=99).map(|i| i.wrapping_mul(37)));
    let mut inter = vec![0x31, 0x01, 0x00];
    inter.extend((0u8..40).map(|i| i ^ 0x5a));
    let opus = vec![0x78, 0x0b, 0xe4, 0xc1, 0x36, 0xec, 0xc5, 0x80];
    vec![("video", key), ("video", inter), ("audio", opus)]
}

/// Opens the container of vector `c` as `me`, pinned to `sender`, and checks its type and
/// payload against the vector.
fn open_vector(me: &mut Identity, c: &Value, sender: &P256PublicKey) -> container::OpenedContainer {
    let opened = container::open(
        me,
        &bx(c, "bytes"),
        OpenOptions {
            now_ms: n(c, "now_ms"),
            expected_sender: Some(sender),
        },
    )
    .unwrap_or_else(|e| panic!("{} container opens: {e}", s(c, "kind")));
    assert_eq!(opened.message_type.as_str(), s(c, "kind"));
    let expected = Payload::from_bytes(s(c, "payload").as_bytes()).expect("payload");
    assert_eq!(opened.payload, expected);
    opened
}

fn read_json(name: &str) -> Option<Value> {
    let text = std::fs::read_to_string(vectors_dir().join(name)).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}")))
}

// ---- checking rust-made.json ----

#[test]
fn rust_made_vectors_are_consistent() {
    let doc = if writing() {
        write_rust_made()
    } else {
        read_json("rust-made.json")
            .expect("web/test/vectors/rust-made.json missing: run with CONCLAVE_WRITE_VECTORS=1")
    };
    let p = provider();
    let pr = p.as_ref();
    check_private_identity(get(&doc, "sender"));
    let recipient_json = get(&doc, "recipient");
    let recipient = check_private_identity(recipient_json);

    // HPKE: the same ephemeral key gives the same bytes; the recipient opens.
    for c in arr(&doc, "hpke") {
        let sk_e = pr
            .import_p256(&bx(c, "sk_e"), KeyUsage::KeyAgreement)
            .expect("sk_e");
        assert_eq!(sk_e.public_key().as_bytes().to_vec(), bx(c, "pk_e"));
        let pk_r = public(&bx(c, "pk_r"));
        let (shared, enc) = hpke::encap_with(pr, &pk_r, sk_e.as_ref()).expect("encap");
        assert_eq!(hex::encode(shared.expose()), s(c, "shared_secret"));
        let ks =
            hpke::key_schedule(pr, Suite::CONCLAVE, shared.expose(), &hx(c, "info")).expect("ks");
        assert_eq!(hex::encode(ks.key.expose()), s(c, "key"));
        assert_eq!(hex::encode(ks.base_nonce), s(c, "base_nonce"));
        let ct = SenderContext::new(pr, Suite::CONCLAVE, ks)
            .expect("ctx")
            .seal(&hx(c, "aad"), &hx(c, "pt"))
            .expect("seal");
        assert_eq!(hex::encode(&ct), s(c, "ct"));
        let sk_r = pr
            .import_p256(
                &bx(get(recipient_json, "device_key"), "scalar"),
                KeyUsage::KeyAgreement,
            )
            .expect("sk_r");
        let pt = hpke::open(
            pr,
            Suite::CONCLAVE,
            &enc,
            sk_r.as_ref(),
            &hx(c, "info"),
            &hx(c, "aad"),
            &ct,
        )
        .expect("open");
        assert_eq!(pt.expose().to_vec(), hx(c, "pt"));
    }
    drop(recipient);

    // Containers open for the recipient and carry the expected payloads.
    let sender_user = bx(get(get(&doc, "sender"), "user_key"), "public");
    for c in arr(&doc, "containers") {
        let mut me = load_identity(recipient_json);
        let opened = open_vector(&mut me, c, &public(&sender_user));
        assert_eq!(u64::from(opened.prekey_id), n(c, "prekey_id"));
        assert!(me.prekeys().is_consumed(opened.prekey_id));
    }

    // Meeting derivations.
    let meeting = get(&doc, "meeting");
    let nonce: [u8; 16] = hx(meeting, "nonce").try_into().expect("16 bytes");
    let id = MeetingId::from_parts(pr, &hx(meeting, "properties"), &nonce);
    assert_eq!(id.to_hex(), s(meeting, "meeting_id"));
    let keys = meeting_keys(meeting);
    for b in arr(meeting, "base_keys") {
        let index = u16::try_from(n(b, "index")).expect("u16");
        assert_eq!(keys.kid(index), big(b, "kid"));
        assert_eq!(
            hex::encode(keys.sender_base_key(pr, index).expect("base").expose()),
            s(b, "base_key")
        );
    }
    let far = get(meeting, "far_base_key");
    let far_keys = EpochKeys::from_parts(
        id,
        big(far, "epoch"),
        Secret::new(bx(meeting, "meeting_key")),
        keys.roster().clone(),
    )
    .expect("keys");
    assert_eq!(far_keys.kid(0xffff), big(far, "kid"));
    assert_eq!(
        hex::encode(far_keys.sender_base_key(pr, 0xffff).expect("b").expose()),
        s(far, "base_key")
    );

    for k in arr(&doc, "sframe_keys") {
        let d = derive_key(pr, suite_of(k), big(k, "kid"), &hx(k, "base_key")).expect("derive");
        assert_eq!(hex::encode(d.secret.expose()), s(k, "secret"));
        assert_eq!(hex::encode(d.key.expose()), s(k, "key"));
        assert_eq!(hex::encode(d.salt), s(k, "salt"));
    }
    for f in arr(&doc, "sframe_frames") {
        let (suite, kid, ctr) = (suite_of(f), big(f, "kid"), big(f, "ctr"));
        let key = SframeKey::new(pr, suite, kid, &hx(f, "base_key")).expect("key");
        let mut out = Vec::new();
        key.seal(ctr, &hx(f, "metadata"), &hx(f, "plaintext"), &mut out)
            .expect("seal");
        assert_eq!(hex::encode(&out), s(f, "frame"));
        let pt = open_frame(suite, kid, &hx(f, "base_key"), &hx(f, "metadata"), &out);
        assert_eq!(pt, hx(f, "plaintext"));
    }
    let base0 = keys.sender_base_key(pr, 0).expect("base");
    let mut tx = SframeSender::new(
        SframeKey::new(pr, CipherSuite::DEFAULT, keys.kid(0), base0.expose()).expect("key"),
    );
    let mut rx = SframeReceiver::new(p.clone(), CipherSuite::DEFAULT);
    rx.add_key(keys.kid(0), base0.expose()).expect("add");
    for f in arr(&doc, "codec_frames") {
        let audio = s(f, "kind") == "audio";
        let data = hx(f, "data");
        assert_eq!(clear_len(audio, data[0]) as u64, n(f, "clear_len"));
        let mut out = Vec::new();
        seal_codec_frame(&mut tx, audio, &data, &mut out).expect("seal");
        assert_eq!(hex::encode(&out), s(f, "frame"));
        let (header, opened) = open_codec_frame(&mut rx, audio, &out).expect("open");
        assert_eq!(header.ctr, big(f, "ctr"));
        assert_eq!(opened, data);
    }
}

// ---- checking js-made.json ----

#[test]
fn js_made_artefacts_open_in_rust() {
    if writing() {
        eprintln!("rust-made.json is being rewritten: js-made.json is stale until regenerated");
        return;
    }
    let rust = read_json("rust-made.json").expect("rust-made.json");
    let js = read_json("js-made.json")
        .expect("web/test/vectors/js-made.json missing: run node web/test/make-js-artefacts.mjs");
    let p = provider();
    let pr = p.as_ref();
    let recipient_json = get(&rust, "recipient");
    assert_eq!(
        s(&js, "recipient_device_id"),
        s(recipient_json, "device_id"),
        "js-made.json was made for another rust-made.json: regenerate it"
    );

    // The JS identity: certificate, fingerprint, bundle and prekeys verify here.
    let js_identity = get(&js, "identity");
    let device = check_public_identity(js_identity);
    assert_eq!(
        device.user_key.as_bytes().to_vec(),
        bx(js_identity, "user_key")
    );

    // HPKE sealed by JS to the recipient's device key.
    let sk_r = pr
        .import_p256(
            &bx(get(recipient_json, "device_key"), "scalar"),
            KeyUsage::KeyAgreement,
        )
        .expect("sk_r");
    let cases = arr(&js, "hpke");
    assert!(!cases.is_empty());
    for c in cases {
        let enc = public(&bx(c, "enc"));
        let pt = hpke::open(
            pr,
            Suite::CONCLAVE,
            &enc,
            sk_r.as_ref(),
            &hx(c, "info"),
            &hx(c, "aad"),
            &hx(c, "ct"),
        )
        .expect("JS HPKE opens");
        assert_eq!(pt.expose().to_vec(), hx(c, "pt"));
    }

    // Containers sealed by JS to the recipient.
    let containers = arr(&js, "containers");
    assert!(containers.len() >= 2);
    for c in containers {
        let mut me = load_identity(recipient_json);
        let opened = open_vector(&mut me, c, &device.user_key);
        assert_eq!(opened.sender, device);
        // A second open with the now consumed prekey fails.
        assert!(
            container::open(
                &mut me,
                &bx(c, "bytes"),
                OpenOptions {
                    now_ms: n(c, "now_ms"),
                    expected_sender: None
                }
            )
            .is_err()
        );
    }

    // Meeting ids derived by JS.
    for m in arr(&js, "meeting_ids") {
        let nonce: [u8; 16] = hx(m, "nonce").try_into().expect("16 bytes");
        let id = MeetingId::from_parts(pr, &hx(m, "properties"), &nonce);
        assert_eq!(id.to_hex(), s(m, "meeting_id"));
    }

    // SFrame frames sealed by JS with keys derived from the Rust meeting's key.
    let keys = meeting_keys(get(&rust, "meeting"));
    for b in arr(&js, "base_keys") {
        let index = u16::try_from(n(b, "index")).expect("u16");
        assert_eq!(keys.kid(index), big(b, "kid"));
        assert_eq!(
            hex::encode(keys.sender_base_key(pr, index).expect("base").expose()),
            s(b, "base_key")
        );
    }
    let frames = arr(&js, "sframe_frames");
    assert!(!frames.is_empty());
    for f in frames {
        let (suite, kid, ctr) = (suite_of(f), big(f, "kid"), big(f, "ctr"));
        let base = hx(f, "base_key");
        let key = SframeKey::new(pr, suite, kid, &base).expect("key");
        let mut out = Vec::new();
        key.seal(ctr, &hx(f, "metadata"), &hx(f, "plaintext"), &mut out)
            .expect("seal");
        assert_eq!(hex::encode(&out), s(f, "frame"), "same frame as Rust's");
        let pt = open_frame(suite, kid, &base, &hx(f, "metadata"), &hx(f, "frame"));
        assert_eq!(pt, hx(f, "plaintext"));
    }
    let codec = arr(&js, "codec_frames");
    assert!(codec.len() >= 3);
    let mut rx = SframeReceiver::new(p.clone(), CipherSuite::DEFAULT);
    for f in codec {
        let kid = big(f, "kid");
        let index = MediaKid::from_kid(kid).sender_index;
        assert_eq!(MediaKid::from_kid(kid).epoch, keys.epoch());
        if !rx.has_key(kid) {
            rx.add_key(kid, keys.sender_base_key(pr, index).expect("b").expose())
                .expect("add");
        }
        let audio = s(f, "kind") == "audio";
        let (header, data) =
            open_codec_frame(&mut rx, audio, &hx(f, "frame")).expect("JS codec frame opens");
        assert_eq!(header.ctr, big(f, "ctr"));
        assert_eq!(data, hx(f, "data"));
        let n_clear = clear_len(audio, data[0]);
        assert_eq!(hx(f, "frame")[..n_clear], data[..n_clear]);
    }
}
