//! Shared helpers for the client's integration tests.
#![allow(dead_code)]

use std::sync::Arc;

use conclave_client::container::{Recipient, SealOptions};
use conclave_client::identity::{Identity, verify_bundle};
use conclave_crypto::CryptoProvider;
use conclave_crypto_software::SoftwareProvider;

pub const NOW: u64 = 1_800_000_000_000;

pub fn provider() -> Arc<dyn CryptoProvider> {
    Arc::new(SoftwareProvider::new())
}

/// A fresh identity with `prekeys` one-time prekeys.
pub fn identity(prekeys: usize) -> Identity {
    let mut id = Identity::create(provider(), NOW - 1000).unwrap();
    id.generate_prekeys(prekeys).unwrap();
    id
}

/// The verified bundle of `id` turned into a recipient (one prekey chosen at random).
pub fn recipient(id: &Identity) -> Recipient {
    let bundle = id.bundle(id.prekeys().public().cloned().collect());
    let p = id.provider().as_ref();
    let mut verified = verify_bundle(p, &bundle).unwrap();
    Recipient::take_from_bundle(p, &mut verified).unwrap()
}

pub fn opts() -> SealOptions {
    SealOptions {
        now_ms: NOW,
        ttl_seconds: 3600,
    }
}
