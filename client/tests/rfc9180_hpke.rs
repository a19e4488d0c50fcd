//! HPKE base mode against RFC 9180 Appendix A.3 (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
//! AES-128-GCM), transcribed below: DeriveKeyPair, Encap/Decap, the key schedule, the
//! encryptions and the exports. RFC 9180 has no vector for P-256 with AES-256-GCM (the
//! suite Conclave uses); that combination is cross-checked against an independent
//! implementation (the `hpke` crate) in both directions.

use conclave_client::hpke::{self, Suite};
use conclave_crypto::{AeadAlg, CryptoProvider, P256PublicKey};
use conclave_crypto_software::SoftwareProvider;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex in test vector")
}

// RFC 9180 Appendix A.3.1: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.
const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
const IKME: &str = "4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e";
const PKEM: &str = "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4";
const SKEM: &str = "4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb";
const IKMR: &str = "668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550";
const PKRM: &str = "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0";
const SKRM: &str = "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2";
const ENC: &str = "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4";
const SHARED_SECRET: &str = "c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8";
const KEY_SCHEDULE_CONTEXT: &str = "00b88d4e6d91759e65e87c470e8b9141113e9ad5f0c8ceefc1e088c82e6980500798e486f9c9c09c9b5c753ac72d6005de254c607d1b534ed11d493ae1c1d9ac85";
const SECRET: &str = "2eb7b6bf138f6b5aff857414a058a3f1750054a9ba1f72c2cf0684a6f20b10e1";
const KEY: &str = "868c066ef58aae6dc589b6cfdd18f97e";
const BASE_NONCE: &str = "4e0bc5018beba4bf004cca59";
const EXPORTER_SECRET: &str = "14ad94af484a7ad3ef40e9f3be99ecc6fa9036df9d4920548424df127ee0d99f";
/// (sequence number, pt, aad, nonce, ct)
const ENCRYPTIONS: &[(u64, &str, &str, &str, &str)] = &[
    (
        0,
        "4265617574792069732074727574682c20747275746820626561757479",
        "436f756e742d30",
        "4e0bc5018beba4bf004cca59",
        "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434",
    ),
    (
        1,
        "4265617574792069732074727574682c20747275746820626561757479",
        "436f756e742d31",
        "4e0bc5018beba4bf004cca58",
        "fa6f037b47fc21826b610172ca9637e82d6e5801eb31cbd3748271affd4ecb06646e0329cbdf3c3cd655b28e82",
    ),
    (
        2,
        "4265617574792069732074727574682c20747275746820626561757479",
        "436f756e742d32",
        "4e0bc5018beba4bf004cca5b",
        "895cabfac50ce6c6eb02ffe6c048bf53b7f7be9a91fc559402cbc5b8dcaeb52b2ccc93e466c28fb55fed7a7fec",
    ),
    (
        4,
        "4265617574792069732074727574682c20747275746820626561757479",
        "436f756e742d34",
        "4e0bc5018beba4bf004cca5d",
        "8787491ee8df99bc99a246c4b3216d3d57ab5076e18fa27133f520703bc70ec999dd36ce042e44f0c3169a6a8f",
    ),
    (
        255,
        "4265617574792069732074727574682c20747275746820626561757479",
        "436f756e742d323535",
        "4e0bc5018beba4bf004ccaa6",
        "2ad71c85bf3f45c6eca301426289854b31448bcf8a8ccb1deef3ebd87f60848aa53c538c30a4dac71d619ee2cd",
    ),
    (
        256,
        "4265617574792069732074727574682c20747275746820626561757479",
        "436f756e742d323536",
        "4e0bc5018beba4bf004ccb59",
        "10f179686aa2caec1758c8e554513f16472bd0a11e2a907dde0b212cbe87d74f367f8ffe5e41cd3e9962a6afb2",
    ),
];
/// (exporter_context, L, exported_value)
const EXPORTS: &[(&str, usize, &str)] = &[
    (
        "",
        32,
        "5e9bc3d236e1911d95e65b576a8a86d478fb827e8bdfe77b741b289890490d4d",
    ),
    (
        "00",
        32,
        "6cff87658931bda83dc857e6353efe4987a201b849658d9b047aab4cf216e796",
    ),
    (
        "54657374436f6e74657874",
        32,
        "d8f1ea7942adbba7412c6d431c62d01371ea476b823eb697e1f6e6cae1dab85a",
    ),
];
const A3: Suite = Suite {
    aead: AeadAlg::Aes128Gcm,
};

#[test]
fn rfc9180_a3_derive_key_pair_and_kem() {
    let p = SoftwareProvider::new();
    let sk_e = hpke::derive_key_pair(&p, &unhex(IKME)).unwrap();
    let sk_r = hpke::derive_key_pair(&p, &unhex(IKMR)).unwrap();
    assert_eq!(sk_e.public_key().as_bytes().to_vec(), unhex(PKEM));
    assert_eq!(sk_r.public_key().as_bytes().to_vec(), unhex(PKRM));
    // The derived private scalars are the vector's skEm/skRm: importing them gives the same keys.
    let imported = p
        .import_p256(&unhex(SKRM), conclave_crypto::KeyUsage::KeyAgreement)
        .unwrap();
    assert_eq!(imported.public_key(), sk_r.public_key());
    let imported = p
        .import_p256(&unhex(SKEM), conclave_crypto::KeyUsage::KeyAgreement)
        .unwrap();
    assert_eq!(imported.public_key(), sk_e.public_key());

    let pk_r = P256PublicKey::from_sec1(&unhex(PKRM)).unwrap();
    let (shared, enc) = hpke::encap_with(&p, &pk_r, sk_e.as_ref()).unwrap();
    assert_eq!(enc.as_bytes().to_vec(), unhex(ENC));
    assert_eq!(shared.expose().to_vec(), unhex(SHARED_SECRET));
    let decapped = hpke::decap(&p, &enc, sk_r.as_ref()).unwrap();
    assert_eq!(decapped.expose().to_vec(), unhex(SHARED_SECRET));
}

#[test]
fn rfc9180_a3_key_schedule() {
    let p = SoftwareProvider::new();
    let ks = hpke::key_schedule(&p, A3, &unhex(SHARED_SECRET), &unhex(INFO)).unwrap();
    assert_eq!(ks.context.to_vec(), unhex(KEY_SCHEDULE_CONTEXT));
    assert_eq!(ks.secret.expose().to_vec(), unhex(SECRET));
    assert_eq!(ks.key.expose().to_vec(), unhex(KEY));
    assert_eq!(ks.base_nonce.to_vec(), unhex(BASE_NONCE));
    assert_eq!(ks.exporter_secret.expose().to_vec(), unhex(EXPORTER_SECRET));
}

#[test]
fn rfc9180_a3_encryptions_and_exports() {
    let p = SoftwareProvider::new();
    let schedule = || hpke::key_schedule(&p, A3, &unhex(SHARED_SECRET), &unhex(INFO)).unwrap();
    let mut sender = hpke::SenderContext::new(&p, A3, schedule()).unwrap();
    let mut receiver = hpke::ReceiverContext::new(&p, A3, schedule()).unwrap();
    let mut checked = 0;
    for seq in 0..=256u64 {
        let vector = ENCRYPTIONS.iter().find(|v| v.0 == seq);
        let (pt, aad) = match vector {
            Some(v) => (unhex(v.1), unhex(v.2)),
            None => (b"filler".to_vec(), Vec::new()),
        };
        assert_eq!(sender.sequence(), seq);
        let ct = sender.seal(&aad, &pt).unwrap();
        let opened = receiver.open(&aad, &ct).unwrap();
        assert_eq!(opened.expose(), &pt[..]);
        if let Some(v) = vector {
            assert_eq!(ct, unhex(v.4), "ciphertext of sequence number {seq}");
            checked += 1;
        }
    }
    assert_eq!(checked, ENCRYPTIONS.len());
    for &(ctx, len, value) in EXPORTS {
        let mut out = vec![0u8; len];
        sender.export(&unhex(ctx), &mut out).unwrap();
        assert_eq!(out, unhex(value), "export with context {ctx:?}");
    }
}

#[test]
fn rfc9180_a3_single_shot_open_of_vector_ciphertext() {
    let p = SoftwareProvider::new();
    let sk_r = hpke::derive_key_pair(&p, &unhex(IKMR)).unwrap();
    let enc = P256PublicKey::from_sec1(&unhex(ENC)).unwrap();
    let (_, pt, aad, _, ct) = ENCRYPTIONS[0];
    let opened = hpke::open(
        &p,
        A3,
        &enc,
        sk_r.as_ref(),
        &unhex(INFO),
        &unhex(aad),
        &unhex(ct),
    )
    .unwrap();
    assert_eq!(opened.expose(), &unhex(pt)[..]);
    // Any change to the ciphertext, the AAD or the info fails.
    let mut bad = unhex(ct);
    bad[3] ^= 1;
    assert!(hpke::open(&p, A3, &enc, sk_r.as_ref(), &unhex(INFO), &unhex(aad), &bad).is_err());
    assert!(
        hpke::open(
            &p,
            A3,
            &enc,
            sk_r.as_ref(),
            &unhex(INFO),
            b"other",
            &unhex(ct)
        )
        .is_err()
    );
    assert!(
        hpke::open(
            &p,
            A3,
            &enc,
            sk_r.as_ref(),
            b"other",
            &unhex(aad),
            &unhex(ct)
        )
        .is_err()
    );
}

mod cross_check {
    use super::*;
    use ::hpke::aead::AesGcm256;
    use ::hpke::kdf::HkdfSha256;
    use ::hpke::kem::DhP256HkdfSha256;
    use ::hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};

    #[test]
    fn rfc9180_p256_aes256gcm_ours_to_theirs() {
        let p = SoftwareProvider::new();
        let (sk, pk) = DhP256HkdfSha256::derive_keypair(b"conclave cross-check recipient ikm");
        let pk_r = P256PublicKey::from_sec1(&pk.to_bytes()).unwrap();
        for len in [0usize, 1, 32, 1000] {
            let msg = vec![0x5a; len];
            let (enc, ct) = hpke::seal(&p, Suite::CONCLAVE, &pk_r, b"info", b"aad", &msg).unwrap();
            let enc = <DhP256HkdfSha256 as Kem>::EncappedKey::from_bytes(enc.as_bytes()).unwrap();
            let pt = ::hpke::single_shot_open::<AesGcm256, HkdfSha256, DhP256HkdfSha256>(
                &OpModeR::Base,
                &sk,
                &enc,
                b"info",
                &ct,
                b"aad",
            )
            .unwrap();
            assert_eq!(pt, msg);
        }
    }

    #[test]
    fn rfc9180_p256_aes256gcm_theirs_to_ours() {
        let p = SoftwareProvider::new();
        let ikm = b"conclave cross-check recipient ikm, second";
        let (_, pk) = DhP256HkdfSha256::derive_keypair(ikm);
        // Both implementations derive the same key pair from the same IKM.
        let sk_r = hpke::derive_key_pair(&p, ikm).unwrap();
        assert_eq!(
            sk_r.public_key().as_bytes().to_vec(),
            pk.to_bytes().to_vec()
        );
        let msg = b"a first encryption key, 32 bytes".to_vec();
        let (enc, ct) = ::hpke::single_shot_seal::<AesGcm256, HkdfSha256, DhP256HkdfSha256>(
            &OpModeS::Base,
            &pk,
            b"info",
            &msg,
            b"aad",
        )
        .unwrap();
        let enc = P256PublicKey::from_sec1(&enc.to_bytes()).unwrap();
        let pt = hpke::open(
            &p,
            Suite::CONCLAVE,
            &enc,
            sk_r.as_ref(),
            b"info",
            b"aad",
            &ct,
        )
        .unwrap();
        assert_eq!(pt.expose(), &msg[..]);
    }
}
