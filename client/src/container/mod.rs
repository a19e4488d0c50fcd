//! Secure communication containers: a payload encrypted under a fresh first key, that key
//! wrapped for each recipient device (HPKE to its one-time prekey, then HPKE to its device
//! key), a key commitment, and the sender's app-key signature over everything.

mod guard;
mod open;
mod payload;
mod seal;

pub use guard::{EpochGuard, SeenContainers};
pub use open::{OpenOptions, OpenedContainer, open};
pub use payload::{CallType, MAX_PAYLOAD_PLAINTEXT, MeetingKeysJson, Payload, RosterEntryJson};
pub use seal::{Recipient, SealOptions, seal};

use conclave_crypto::{CryptoProvider, HashAlg, NONCE_LEN, Secret};
use conclave_wire::container::{COMMITMENT_LEN, CONTAINER_ID_LEN, DEVICE_ID_LEN};

use crate::Result;

/// First encryption key length.
pub const FIRST_KEY_LEN: usize = 32;
/// Default time to live of a container: 7 days.
pub const DEFAULT_TTL_SECONDS: u32 = 7 * 24 * 3600;
/// How far a container's creation time may lie ahead of the receiver's clock.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;

const PAYLOAD_KEY_LABEL: &[u8] = b"conclave-v1 container payload-key";
const PAYLOAD_NONCE_LABEL: &[u8] = b"conclave-v1 container payload-nonce";
const COMMITMENT_LABEL: &[u8] = b"conclave-v1 container commitment";
const WRAP_PREKEY_LABEL: &[u8] = b"conclave-v1 wrap-prekey";
const WRAP_DEVICE_LABEL: &[u8] = b"conclave-v1 wrap-device";

/// What the first key yields: the payload key and nonce, and the commitment.
struct PayloadKeys {
    key: Secret,
    nonce: [u8; NONCE_LEN],
    commitment: [u8; COMMITMENT_LEN],
}

fn payload_keys(
    p: &dyn CryptoProvider,
    container_id: &[u8; CONTAINER_ID_LEN],
    first_key: &[u8],
) -> Result<PayloadKeys> {
    let prk = p.hkdf_extract(HashAlg::Sha256, container_id, first_key)?;
    let mut key = Secret::zeroed(32);
    p.hkdf_expand(
        HashAlg::Sha256,
        prk.expose(),
        &[PAYLOAD_KEY_LABEL],
        key.expose_mut(),
    )?;
    let mut nonce = [0u8; NONCE_LEN];
    p.hkdf_expand(
        HashAlg::Sha256,
        prk.expose(),
        &[PAYLOAD_NONCE_LABEL],
        &mut nonce,
    )?;
    let mut commitment = [0u8; COMMITMENT_LEN];
    p.hkdf_expand(
        HashAlg::Sha256,
        prk.expose(),
        &[COMMITMENT_LABEL],
        &mut commitment,
    )?;
    Ok(PayloadKeys {
        key,
        nonce,
        commitment,
    })
}

/// HPKE `info` of a wrapping layer: label ‖ container id ‖ sender device ‖ recipient
/// device ‖ prekey id.
fn wrap_info(
    label: &[u8],
    container_id: &[u8; CONTAINER_ID_LEN],
    sender: &[u8; DEVICE_ID_LEN],
    recipient: &[u8; DEVICE_ID_LEN],
    prekey_id: u32,
) -> Vec<u8> {
    let mut info = Vec::with_capacity(label.len() + CONTAINER_ID_LEN + 2 * DEVICE_ID_LEN + 4);
    info.extend_from_slice(label);
    info.extend_from_slice(container_id);
    info.extend_from_slice(sender);
    info.extend_from_slice(recipient);
    info.extend_from_slice(&prekey_id.to_be_bytes());
    info
}
