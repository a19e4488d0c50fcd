use conclave_crypto::{CryptoProvider, P256PublicKey, Secret, Signature};
use conclave_wire::container::{
    Container, MAX_RECIPIENTS, MAX_TTL_SECONDS, RecipientEntry, WRAPPED_KEY_LEN,
};

use super::{
    FIRST_KEY_LEN, Payload, WRAP_DEVICE_LABEL, WRAP_PREKEY_LABEL, payload_keys, wrap_info,
};
use crate::hpke::{self, Suite};
use crate::identity::{Identity, VerifiedBundle, VerifiedDevice, signing};
use crate::{ClientError, Result};

/// A recipient device with the one-time prekey chosen for it.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub device: VerifiedDevice,
    pub prekey_id: u32,
    pub prekey: P256PublicKey,
}

impl Recipient {
    /// Takes one of a verified bundle's prekeys, chosen at random, out of the bundle, so
    /// that it cannot be used for a second container.
    pub fn take_from_bundle(p: &dyn CryptoProvider, bundle: &mut VerifiedBundle) -> Result<Self> {
        if bundle.prekeys.is_empty() {
            return Err(ClientError::NoPrekeys);
        }
        let mut r = [0u8; 8];
        p.fill_random(&mut r)?;
        let i = (u64::from_be_bytes(r) % bundle.prekeys.len() as u64) as usize;
        let (prekey_id, prekey) = bundle.prekeys.swap_remove(i);
        Ok(Recipient {
            device: bundle.device.clone(),
            prekey_id,
            prekey,
        })
    }
}

/// Parameters of [`seal`].
#[derive(Debug, Clone, Copy)]
pub struct SealOptions {
    /// Master-clock time, milliseconds since the Unix epoch.
    pub now_ms: u64,
    pub ttl_seconds: u32,
}

/// Seals `payload` for `recipients`, signed by `sender`'s app key. Returns the encoded
/// container.
pub fn seal(
    sender: &Identity,
    payload: &Payload,
    recipients: &[Recipient],
    options: SealOptions,
) -> Result<Vec<u8>> {
    let p = sender.provider().as_ref();
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(ClientError::TooManyRecipients(recipients.len()));
    }
    if options.ttl_seconds == 0 || options.ttl_seconds > MAX_TTL_SECONDS {
        return Err(ClientError::BadTtl {
            got: options.ttl_seconds,
            max: MAX_TTL_SECONDS,
        });
    }
    let plaintext = payload.to_bytes()?;
    let mut container_id = [0u8; 16];
    p.fill_random(&mut container_id)?;
    let mut first_key = Secret::zeroed(FIRST_KEY_LEN);
    p.fill_random(first_key.expose_mut())?;
    let keys = payload_keys(p, &container_id, first_key.expose())?;

    let mut container = Container {
        message_type: payload.message_type(),
        container_id,
        created_ms: options.now_ms,
        ttl_seconds: options.ttl_seconds,
        sender: sender.certificate().clone(),
        commitment: keys.commitment,
        recipients: Vec::with_capacity(recipients.len()),
        payload: Vec::new(),
        signature: [0; 64],
    };
    let header = container.header_bytes();
    let sender_device = sender.device_id();
    for r in recipients {
        let did = &r.device.device_id;
        let info = wrap_info(
            WRAP_PREKEY_LABEL,
            &container_id,
            sender_device,
            did,
            r.prekey_id,
        );
        let (prekey_enc, inner) = hpke::seal(
            p,
            Suite::CONCLAVE,
            &r.prekey,
            &info,
            &header,
            first_key.expose(),
        )?;
        let info = wrap_info(
            WRAP_DEVICE_LABEL,
            &container_id,
            sender_device,
            did,
            r.prekey_id,
        );
        let (device_enc, outer) = hpke::seal(
            p,
            Suite::CONCLAVE,
            &r.device.device_key,
            &info,
            &header,
            &inner,
        )?;
        let wrapped_key: [u8; WRAPPED_KEY_LEN] = outer
            .as_slice()
            .try_into()
            .map_err(|_| ClientError::BadPayload("wrapped key has an unexpected length".into()))?;
        container.recipients.push(RecipientEntry {
            device_id: *did,
            prekey_id: r.prekey_id,
            prekey_enc: *prekey_enc.as_bytes(),
            device_enc: *device_enc.as_bytes(),
            wrapped_key,
        });
    }

    let aead = p.aead_key(conclave_crypto::AeadAlg::Aes256Gcm, keys.key.expose())?;
    let mut body = plaintext;
    let tag = aead.seal_in_place(&keys.nonce, &container.payload_aad(), &mut body)?;
    body.extend_from_slice(&tag);
    container.payload = body;
    let Signature(sig) = signing::sign(sender.app_key(), &container.signed_bytes())?;
    container.signature = sig;
    Ok(container.to_bytes()?)
}
