//! Configuration errors and token refusals: clear, typed errors that never contain the PIN.
//!
//! Login state is per process and token in PKCS#11, so no test in this binary may log in
//! successfully before the wrong-PIN test does: a wrong PIN would then not be checked.
//! Only `wrong_pin_then_right_pin` logs in, after its wrong attempt.

use conclave_crypto::CryptoError;
use conclave_crypto_pkcs11::softhsm::process_token;
use conclave_crypto_pkcs11::{PinSource, Pkcs11Config, Pkcs11Provider};

fn open_err(config: &Pkcs11Config) -> CryptoError {
    match Pkcs11Provider::open(config) {
        Ok(_) => panic!("opening {config:?} succeeded"),
        Err(e) => {
            let text = format!("{e} {e:?}");
            assert!(
                !text.contains(&process_token().pin),
                "the error contains the PIN: {text}"
            );
            e
        }
    }
}

fn provider_message(e: CryptoError) -> String {
    match e {
        CryptoError::Provider(msg) => msg,
        other => panic!("expected CryptoError::Provider, got {other:?}"),
    }
}

#[test]
fn wrong_pin_then_right_pin() {
    let hsm = process_token();
    let wrong = hsm
        .write_file("wrong.pin", "000000\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut config = hsm.config();
    config.pin = PinSource::File(wrong);
    let msg = provider_message(open_err(&config));
    assert!(msg.contains("PIN is incorrect"), "{msg}");
    assert!(msg.contains("'conclave-test'"), "{msg}");
    assert!(
        !msg.contains("000000"),
        "the error echoes the wrong PIN: {msg}"
    );
    // The token is not locked and the right PIN works.
    Pkcs11Provider::open(&hsm.config()).unwrap_or_else(|e| panic!("right PIN: {e}"));
}

#[test]
fn missing_module() {
    let hsm = process_token();
    let mut config = hsm.config();
    config.module = "/nonexistent/conclave/libpkcs11-missing.so".into();
    let msg = provider_message(open_err(&config));
    assert!(
        msg.contains("PKCS#11 module /nonexistent/conclave/libpkcs11-missing.so not found"),
        "{msg}"
    );
}

#[test]
fn module_that_is_not_a_library() {
    let hsm = process_token();
    let mut config = hsm.config();
    config.module = hsm
        .write_file("not-a-module.so", "this is not a shared library\n")
        .unwrap_or_else(|e| panic!("{e}"));
    let msg = provider_message(open_err(&config));
    assert!(msg.contains("cannot load PKCS#11 module"), "{msg}");
}

#[test]
fn missing_token_label() {
    let hsm = process_token();
    let mut config = hsm.config();
    config.token_label = "no-such-token".into();
    let msg = provider_message(open_err(&config));
    assert!(
        msg.contains("no PKCS#11 token labelled 'no-such-token'")
            && msg.contains("tokens present: 'conclave-test'"),
        "{msg}"
    );
}

#[test]
fn unsupported_mechanism() {
    // SoftHSM 2.6 has CKM_ECDSA but not CKM_ECDSA_SHA256 (hashing in the token).
    let hsm = process_token();
    let config = hsm.config().with_hash_in_token(true);
    match open_err(&config) {
        CryptoError::Unsupported(what) => assert!(what.contains("CKM_ECDSA_SHA256"), "{what}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn missing_pin_sources() {
    let hsm = process_token();
    let mut config = hsm.config();
    config.pin = PinSource::Env("CONCLAVE_TEST_PIN_VARIABLE_THAT_IS_NOT_SET".into());
    let msg = provider_message(open_err(&config));
    assert!(
        msg.contains("environment variable CONCLAVE_TEST_PIN_VARIABLE_THAT_IS_NOT_SET is not set"),
        "{msg}"
    );
    config.pin = PinSource::File(hsm.dir().join("no-such-pin-file"));
    let msg = provider_message(open_err(&config));
    assert!(
        msg.contains("cannot read") && msg.contains("no-such-pin-file"),
        "{msg}"
    );
    config.pin = PinSource::File(
        hsm.write_file("empty.pin", "\n")
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let msg = provider_message(open_err(&config));
    assert!(msg.contains("is empty"), "{msg}");
}
