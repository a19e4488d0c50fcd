//! SFrame against the RFC 9605 Appendix C encryption vectors (the `sframe` section of the file the RFC
//! points to, sframe-wg/sframe commit 025d568), transcribed below. Conclave implements the
//! AES-GCM suites 0x0004 and 0x0005; the AES-CTR-HMAC suites 0x0001–0x0003 must be refused.

use std::sync::Arc;

use conclave_client::ClientError;
use conclave_client::sframe::{CipherSuite, SframeKey, SframeReceiver, derive_key};
use conclave_crypto_software::SoftwareProvider;
use conclave_wire::sframe::SframeHeader;

struct SframeVector {
    cipher_suite: u16,
    kid: u64,
    ctr: u64,
    base_key: &'static str,
    sframe_key_label: &'static str,
    sframe_salt_label: &'static str,
    sframe_secret: &'static str,
    sframe_key: &'static str,
    sframe_salt: &'static str,
    metadata: &'static str,
    nonce: &'static str,
    aad: &'static str,
    pt: &'static str,
    ct: &'static str,
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex in test vector")
}

const VECTORS: &[SframeVector] = &[
    SframeVector {
        cipher_suite: 0x1,
        kid: 0x123,
        ctr: 0x4567,
        base_key: "000102030405060708090a0b0c0d0e0f",
        sframe_key_label: "534672616d6520312e3020536563726574206b65792000000000000001230001",
        sframe_salt_label: "534672616d6520312e30205365637265742073616c742000000000000001230001",
        sframe_secret: "d926952ca8b7ec4a95941d1ada3a5203ceff8cceee34f574d23909eb314c40c0",
        sframe_key: "3f7d9a7c83ae8e1c8a11ae695ab59314b367e359fadac7b9c46b2bc6f81f46e16b96f0811868d59402b7e870102720b3",
        sframe_salt: "50b29329a04dc0f184ac3168",
        metadata: "4945544620534672616d65205747",
        nonce: "50b29329a04dc0f184ac740f",
        aad: "99012345674945544620534672616d65205747",
        pt: "64726166742d696574662d736672616d652d656e63",
        ct: "9901234567449408b6f490086165b9d6f62b24ae1a59a56486b4ae8ed036b88912e24f11",
    },
    SframeVector {
        cipher_suite: 0x2,
        kid: 0x123,
        ctr: 0x4567,
        base_key: "000102030405060708090a0b0c0d0e0f",
        sframe_key_label: "534672616d6520312e3020536563726574206b65792000000000000001230002",
        sframe_salt_label: "534672616d6520312e30205365637265742073616c742000000000000001230002",
        sframe_secret: "d926952ca8b7ec4a95941d1ada3a5203ceff8cceee34f574d23909eb314c40c0",
        sframe_key: "e2ec5c797540310483b16bf6e7a570d2a27d192fe869c7ccd8584a8d9dab91549fbe553f5113461ec6aa83bf3865553e",
        sframe_salt: "e68ac8dd3d02fbcd368c5577",
        metadata: "4945544620534672616d65205747",
        nonce: "e68ac8dd3d02fbcd368c1010",
        aad: "99012345674945544620534672616d65205747",
        pt: "64726166742d696574662d736672616d652d656e63",
        ct: "99012345673f31438db4d09434e43afa0f8a2f00867a2be085046a9f5cb4f101d607",
    },
    SframeVector {
        cipher_suite: 0x3,
        kid: 0x123,
        ctr: 0x4567,
        base_key: "000102030405060708090a0b0c0d0e0f",
        sframe_key_label: "534672616d6520312e3020536563726574206b65792000000000000001230003",
        sframe_salt_label: "534672616d6520312e30205365637265742073616c742000000000000001230003",
        sframe_secret: "d926952ca8b7ec4a95941d1ada3a5203ceff8cceee34f574d23909eb314c40c0",
        sframe_key: "2c5703089cbb8c583475e4fc461d97d18809df79b6d550f78eb6d50ffa80d89211d57909934f46f5405e38cd583c69fe",
        sframe_salt: "38c16e4f5159700c00c7f350",
        metadata: "4945544620534672616d65205747",
        nonce: "38c16e4f5159700c00c7b637",
        aad: "99012345674945544620534672616d65205747",
        pt: "64726166742d696574662d736672616d652d656e63",
        ct: "990123456717fc8af28a5a695afcfc6c8df6358a17e26b2fcb3bae32e443",
    },
    SframeVector {
        cipher_suite: 0x4,
        kid: 0x123,
        ctr: 0x4567,
        base_key: "000102030405060708090a0b0c0d0e0f",
        sframe_key_label: "534672616d6520312e3020536563726574206b65792000000000000001230004",
        sframe_salt_label: "534672616d6520312e30205365637265742073616c742000000000000001230004",
        sframe_secret: "d926952ca8b7ec4a95941d1ada3a5203ceff8cceee34f574d23909eb314c40c0",
        sframe_key: "d34f547f4ca4f9a7447006fe7fcbf768",
        sframe_salt: "75234edefe07819026751816",
        metadata: "4945544620534672616d65205747",
        nonce: "75234edefe07819026755d71",
        aad: "99012345674945544620534672616d65205747",
        pt: "64726166742d696574662d736672616d652d656e63",
        ct: "9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0b091c07018ce4adb34eb",
    },
    SframeVector {
        cipher_suite: 0x5,
        kid: 0x123,
        ctr: 0x4567,
        base_key: "000102030405060708090a0b0c0d0e0f",
        sframe_key_label: "534672616d6520312e3020536563726574206b65792000000000000001230005",
        sframe_salt_label: "534672616d6520312e30205365637265742073616c742000000000000001230005",
        sframe_secret: "0fc3ea6de6aac97a35f194cf9bed94d4b5230f1cb45a785c9fe5dce9c188938ab6ba005bc4c0a19181599e9d1bcf7b74aca48b60bf5e254e546d809313e083a3",
        sframe_key: "d3e27b0d4a5ae9e55df01a70e6d4d28d969b246e2936f4b7a5d9b494da6b9633",
        sframe_salt: "84991c167b8cd23c93708ec7",
        metadata: "4945544620534672616d65205747",
        nonce: "84991c167b8cd23c9370cba0",
        aad: "99012345674945544620534672616d65205747",
        pt: "64726166742d696574662d736672616d652d656e63",
        ct: "990123456794f509d36e9beacb0e261d99c7d1e972f1fed787d4049f17ca21353c1cc24d56ceabced279",
    },
];

#[test]
fn rfc9605_sframe_vectors_gcm_suites() {
    let p = SoftwareProvider::new();
    let mut checked = 0;
    for v in VECTORS {
        let Ok(suite) = CipherSuite::from_id(v.cipher_suite) else {
            continue;
        };
        let what = format!("suite {:#06x}", v.cipher_suite);
        // Labels: "SFrame 1.0 Secret key " / "... salt " ‖ KID (8 bytes) ‖ suite (2 bytes).
        let mut key_label = b"SFrame 1.0 Secret key ".to_vec();
        key_label.extend_from_slice(&v.kid.to_be_bytes());
        key_label.extend_from_slice(&v.cipher_suite.to_be_bytes());
        assert_eq!(key_label, unhex(v.sframe_key_label), "{what} key label");
        let mut salt_label = b"SFrame 1.0 Secret salt ".to_vec();
        salt_label.extend_from_slice(&v.kid.to_be_bytes());
        salt_label.extend_from_slice(&v.cipher_suite.to_be_bytes());
        assert_eq!(salt_label, unhex(v.sframe_salt_label), "{what} salt label");

        let d = derive_key(&p, suite, v.kid, &unhex(v.base_key)).unwrap();
        assert_eq!(
            d.secret.expose(),
            &unhex(v.sframe_secret)[..],
            "{what} secret"
        );
        assert_eq!(d.key.expose(), &unhex(v.sframe_key)[..], "{what} key");
        assert_eq!(d.salt.to_vec(), unhex(v.sframe_salt), "{what} salt");

        // nonce = salt XOR CTR (big-endian, right-aligned); AAD = header ‖ metadata.
        let mut nonce = d.salt;
        for (n, c) in nonce[4..].iter_mut().zip(v.ctr.to_be_bytes()) {
            *n ^= c;
        }
        assert_eq!(nonce.to_vec(), unhex(v.nonce), "{what} nonce");
        let header = SframeHeader::new(v.kid, v.ctr).to_bytes();
        assert_eq!(
            [header.clone(), unhex(v.metadata)].concat(),
            unhex(v.aad),
            "{what} aad"
        );

        let key = SframeKey::new(&p, suite, v.kid, &unhex(v.base_key)).unwrap();
        let mut out = Vec::new();
        key.seal(v.ctr, &unhex(v.metadata), &unhex(v.pt), &mut out)
            .unwrap();
        assert_eq!(out, unhex(v.ct), "{what} ciphertext");

        let mut rx = SframeReceiver::new(Arc::new(SoftwareProvider::new()), suite);
        rx.add_key(v.kid, &unhex(v.base_key)).unwrap();
        let (h, pt) = rx.open(&unhex(v.metadata), &unhex(v.ct)).unwrap();
        assert_eq!((h.kid, h.ctr), (v.kid, v.ctr));
        assert_eq!(pt, unhex(v.pt), "{what} decrypt");
        // The same frame again is a replay; other metadata fails authentication.
        assert!(matches!(
            rx.open(&unhex(v.metadata), &unhex(v.ct)),
            Err(ClientError::FrameReplay { .. })
        ));
        let mut rx2 = SframeReceiver::new(Arc::new(SoftwareProvider::new()), suite);
        rx2.add_key(v.kid, &unhex(v.base_key)).unwrap();
        assert!(matches!(
            rx2.open(b"other metadata", &unhex(v.ct)),
            Err(ClientError::FrameAuthFailed)
        ));
        checked += 1;
    }
    assert_eq!(checked, 2, "both GCM suites were checked");
}

#[test]
fn rfc9605_ctr_hmac_suites_are_refused() {
    for v in VECTORS.iter().filter(|v| v.cipher_suite <= 3) {
        assert!(matches!(
            CipherSuite::from_id(v.cipher_suite),
            Err(ClientError::UnsupportedSuite(_))
        ));
    }
}
