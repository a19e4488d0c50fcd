//! The `CryptoProvider` trait: every cryptographic operation Conclave's protocol code needs,
//! behind one object, so that the protocol never names a concrete library and private keys
//! can live where the provider keeps them (process memory, a PKCS#11 token, ...).
//!
//! The shape follows rustls' `CryptoProvider`: protocol code holds an
//! `Arc<dyn CryptoProvider>`; keys are opaque objects made by the provider
//! ([`P256PrivateKey`], [`AeadKey`]) whose secret halves never have to leave it.
//!
//! With the `conformance` feature, [`conformance`] holds the test suite every provider
//! must pass (round trips, tamper detection, RFC 5869 and Wycheproof vectors).

mod error;
mod keys;
mod provider;
mod secret;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::CryptoError;
pub use keys::{
    AeadBatchItem, AeadKey, KeyUsage, P256PrivateKey, P256PublicKey, PersistedKey, Signature,
};
pub use provider::{AeadAlg, Capabilities, CryptoProvider, HashAlg, NONCE_LEN, TAG_LEN};
pub use secret::{Secret, ct_eq};
