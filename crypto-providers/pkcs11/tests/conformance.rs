//! The provider conformance suite of `conclave-crypto` against SoftHSM2, one test per area,
//! with AEAD in software (the default) and, for the AEAD areas, in the token
//! (`in_token_frames`).
//!
//! The token lives in a temporary directory made by
//! `conclave_crypto_pkcs11::softhsm::process_token` (run `scripts/test` to install SoftHSM2).

use std::sync::OnceLock;

use conclave_crypto::conformance;
use conclave_crypto_pkcs11::Pkcs11Provider;
use conclave_crypto_pkcs11::softhsm::process_token;

/// One provider for the whole process (AEAD in software).
fn provider() -> &'static Pkcs11Provider {
    static P: OnceLock<Pkcs11Provider> = OnceLock::new();
    P.get_or_init(|| {
        Pkcs11Provider::open(&process_token().config())
            .unwrap_or_else(|e| panic!("opening the SoftHSM2 token failed: {e}"))
    })
}

/// The same token with AES-GCM keys as token objects.
fn in_token() -> &'static Pkcs11Provider {
    static P: OnceLock<Pkcs11Provider> = OnceLock::new();
    P.get_or_init(|| {
        Pkcs11Provider::open(&process_token().config().with_in_token_frames(true))
            .unwrap_or_else(|e| panic!("opening the SoftHSM2 token failed: {e}"))
    })
}

conclave_crypto::conformance_tests!(provider());

#[test]
fn in_token_frames_capabilities() {
    conformance::capabilities(in_token());
}

#[test]
fn in_token_frames_aead_roundtrip() {
    conformance::aead_roundtrip(in_token());
}

#[test]
fn in_token_frames_aead_key_lengths() {
    conformance::aead_key_lengths(in_token());
}

#[test]
fn in_token_frames_debug_redaction() {
    conformance::debug_redaction(in_token());
}

#[test]
fn in_token_frames_wycheproof_aes_gcm() {
    conformance::wycheproof_aes_gcm(in_token());
}
