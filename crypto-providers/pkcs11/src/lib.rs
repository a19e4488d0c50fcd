//! Conclave's PKCS#11 crypto provider: P-256 private keys are generated (or imported) in a
//! hardware security module as sensitive, non-extractable token objects, and signing and
//! ECDH run in the token. Built on `cryptoki`; tested against SoftHSM2.
//!
//! ```no_run
//! use conclave_crypto_pkcs11::{Pkcs11Config, Pkcs11Provider, PinSource};
//!
//! let config = Pkcs11Config::new(
//!     "/usr/lib/softhsm/libsofthsm2.so",
//!     "conclave",
//!     PinSource::Env("CONCLAVE_PKCS11_PIN".into()),
//! );
//! let provider = Pkcs11Provider::open(&config)?;
//! # Ok::<(), conclave_crypto::CryptoError>(())
//! ```
//!
//! What leaves the token: the ECDH shared secret (HKDF runs on the host because tokens such
//! as SoftHSM have no HKDF mechanism), and nothing else; AEAD keys derived on the host stay
//! on the host unless [`Pkcs11Config::in_token_frames`] is on. See `docs/PROVIDERS.md`.
//!
//! Modules: [`config`] (module, token label, PIN source), `session` (module loading, token
//! lookup, session pool), `keys` (P-256 token keys), `aead` (in-token AES-GCM), `provider`,
//! `error` (PKCS#11 return values to [`conclave_crypto::CryptoError`]).

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod aead;
pub mod config;
mod error;
mod keys;
mod provider;
mod session;

#[cfg(feature = "softhsm-testing")]
pub mod softhsm;

pub use config::{DEFAULT_MAX_SESSIONS, PinSource, Pkcs11Config};
pub use provider::Pkcs11Provider;
