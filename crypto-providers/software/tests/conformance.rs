//! The provider conformance suite of `conclave-crypto`, one test per area.

use conclave_crypto_software::SoftwareProvider;

conclave_crypto::conformance_tests!(&SoftwareProvider::new());
