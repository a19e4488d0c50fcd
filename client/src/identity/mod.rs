//! Identities: a user signing key, an app (device) signing key and a static device key
//! certified by the user key, and a pool of signed one-time prekeys.

mod keys;
pub mod signing;
mod store;
mod verify;

pub use keys::{Identity, PrekeyPool};
pub use store::IdentityStore;
pub use verify::{VerifiedBundle, VerifiedDevice, fingerprint, verify_bundle, verify_certificate};
