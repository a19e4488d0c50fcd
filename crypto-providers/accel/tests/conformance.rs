//! The provider conformance suite of `conclave-crypto` against the accel provider, one test
//! per area.

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

conclave_crypto::conformance_tests!(&provider());
