//! The provider conformance suite of `conclave-crypto` against the accel provider, one test
//! per area.

use conclave_crypto::conformance;
use conclave_crypto_accel::{AccelConfig, AccelProvider, AfAlgMode};

/// The provider under test. `CONCLAVE_ACCEL_AF_ALG=required` (with the `af-alg` feature, on a
/// kernel with AF_ALG) runs the whole suite through the AF_ALG AES-GCM backend instead.
fn provider() -> AccelProvider {
    let af_alg = match std::env::var("CONCLAVE_ACCEL_AF_ALG").as_deref() {
        Ok("required") => AfAlgMode::Required,
        Ok("preferred") => AfAlgMode::Preferred,
        Ok("disabled") => AfAlgMode::Disabled,
        _ => AfAlgMode::Auto,
    };
    AccelProvider::with_config(AccelConfig { af_alg })
        .unwrap_or_else(|e| panic!("the accel provider does not start: {e}"))
}

#[test]
fn capabilities() {
    conformance::capabilities(&provider());
}

#[test]
fn random() {
    conformance::random(&provider());
}

#[test]
fn hash_fips180() {
    conformance::hash_fips180(&provider());
}

#[test]
fn p256_known_keys() {
    conformance::p256_known_keys(&provider());
}

#[test]
fn p256_invalid_private_keys() {
    conformance::p256_invalid_private_keys(&provider());
}

#[test]
fn p256_invalid_public_keys() {
    conformance::p256_invalid_public_keys(&provider());
}

#[test]
fn ecdsa_roundtrip() {
    conformance::ecdsa_roundtrip(&provider());
}

#[test]
fn ecdh_roundtrip() {
    conformance::ecdh_roundtrip(&provider());
}

#[test]
fn key_usage() {
    conformance::key_usage(&provider());
}

#[test]
fn persist_restore() {
    conformance::persist_restore(&provider());
}

#[test]
fn aead_roundtrip() {
    conformance::aead_roundtrip(&provider());
}

#[test]
fn aead_key_lengths() {
    conformance::aead_key_lengths(&provider());
}

#[test]
fn aead_batch() {
    conformance::aead_batch(&provider());
}

#[test]
fn hkdf_properties() {
    conformance::hkdf_properties(&provider());
}

#[test]
fn debug_redaction() {
    conformance::debug_redaction(&provider());
}

#[test]
fn rfc5869_hkdf_sha256() {
    conformance::rfc5869_hkdf_sha256(&provider());
}

#[test]
fn wycheproof_hkdf_sha256() {
    conformance::wycheproof_hkdf_sha256(&provider());
}

#[test]
fn wycheproof_hkdf_sha512() {
    conformance::wycheproof_hkdf_sha512(&provider());
}

#[test]
fn wycheproof_aes_gcm() {
    conformance::wycheproof_aes_gcm(&provider());
}

#[test]
fn wycheproof_ecdh_secp256r1() {
    conformance::wycheproof_ecdh_secp256r1(&provider());
}

#[test]
fn wycheproof_ecdsa_secp256r1_sha256() {
    conformance::wycheproof_ecdsa_secp256r1_sha256(&provider());
}
