use conclave_crypto::{NONCE_LEN, P256PublicKey, Signature, TAG_LEN};
use conclave_wire::container::{Container, MessageType};

use super::{
    FIRST_KEY_LEN, MAX_CLOCK_SKEW_MS, Payload, WRAP_DEVICE_LABEL, WRAP_PREKEY_LABEL, payload_keys,
    wrap_info,
};
use crate::hpke::{self, Suite};
use crate::identity::{Identity, VerifiedDevice, signing, verify_certificate};
use crate::{ClientError, Result};

/// Parameters of [`open`].
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions<'a> {
    /// Master-clock time, milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// Accept only containers whose sender certificate chains to this user key.
    pub expected_sender: Option<&'a P256PublicKey>,
}

/// A container that verified and decrypted.
#[derive(Debug, Clone)]
pub struct OpenedContainer {
    pub container_id: [u8; 16],
    pub message_type: MessageType,
    pub created_ms: u64,
    pub ttl_seconds: u32,
    pub sender: VerifiedDevice,
    pub prekey_id: u32,
    pub payload: Payload,
}

impl OpenedContainer {
    pub fn expires_ms(&self) -> u64 {
        self.created_ms
            .saturating_add(u64::from(self.ttl_seconds) * 1000)
    }
}

/// Opens a container addressed to `me`, in this order: parse; verify the sender's
/// certificate (user key → app key) and, if asked, the sender's user key; verify the
/// container signature; check the time window; find this device's entry; unwrap with the
/// device key, then with the prekey; check the key commitment; decrypt and parse the
/// payload. On success the prekey's private half is deleted from `me` (persist it).
pub fn open(me: &mut Identity, bytes: &[u8], options: OpenOptions<'_>) -> Result<OpenedContainer> {
    let p = me.provider().clone();
    let p = p.as_ref();
    let c = Container::parse(bytes)?;
    let sender = verify_certificate(p, &c.sender)?;
    if options
        .expected_sender
        .is_some_and(|expected| expected != &sender.user_key)
    {
        return Err(ClientError::UntrustedSender);
    }
    signing::verify(
        p,
        &sender.app_key,
        &c.signed_bytes(),
        &Signature(c.signature),
    )
    .map_err(|_| ClientError::BadContainerSignature)?;
    if c.created_ms > options.now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(ClientError::FromTheFuture {
            created_ms: c.created_ms,
            now_ms: options.now_ms,
        });
    }
    let expires_ms = c.created_ms.saturating_add(u64::from(c.ttl_seconds) * 1000);
    if options.now_ms > expires_ms {
        return Err(ClientError::Expired {
            expired_ms: expires_ms,
            now_ms: options.now_ms,
        });
    }
    let entry = c
        .recipient(me.device_id())
        .ok_or(ClientError::NotARecipient)?;
    let prekey = me.prekeys().get(entry.prekey_id)?;

    let header = c.header_bytes();
    let did = me.device_id();
    let unwrap = || -> Result<conclave_crypto::Secret> {
        let info = wrap_info(
            WRAP_DEVICE_LABEL,
            &c.container_id,
            &sender.device_id,
            did,
            entry.prekey_id,
        );
        let enc = P256PublicKey::from_sec1(&entry.device_enc)?;
        let inner = hpke::open(
            p,
            Suite::CONCLAVE,
            &enc,
            me.device_key(),
            &info,
            &header,
            &entry.wrapped_key,
        )?;
        let info = wrap_info(
            WRAP_PREKEY_LABEL,
            &c.container_id,
            &sender.device_id,
            did,
            entry.prekey_id,
        );
        let enc = P256PublicKey::from_sec1(&entry.prekey_enc)?;
        hpke::open(
            p,
            Suite::CONCLAVE,
            &enc,
            prekey,
            &info,
            &header,
            inner.expose(),
        )
    };
    let first_key = unwrap().map_err(|_| ClientError::DecryptFailed)?;
    if first_key.len() != FIRST_KEY_LEN {
        return Err(ClientError::DecryptFailed);
    }
    let keys = payload_keys(p, &c.container_id, first_key.expose())?;
    if !conclave_crypto::ct_eq(&keys.commitment, &c.commitment) {
        return Err(ClientError::CommitmentMismatch);
    }
    let split = c
        .payload
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(ClientError::DecryptFailed)?;
    let mut body = zeroize::Zeroizing::new(c.payload[..split].to_vec());
    let tag: [u8; TAG_LEN] = c.payload[split..]
        .try_into()
        .map_err(|_| ClientError::DecryptFailed)?;
    let nonce: [u8; NONCE_LEN] = keys.nonce;
    p.aead_key(conclave_crypto::AeadAlg::Aes256Gcm, keys.key.expose())?
        .open_in_place(&nonce, &c.payload_aad(), &mut body, &tag)
        .map_err(|_| ClientError::DecryptFailed)?;
    let payload = Payload::from_bytes(&body)?;
    if payload.message_type() != c.message_type {
        return Err(ClientError::TypeMismatch {
            header: c.message_type.as_str(),
            payload: payload.message_type().as_str(),
        });
    }
    me.prekeys_mut().consume(entry.prekey_id)?;
    Ok(OpenedContainer {
        container_id: c.container_id,
        message_type: c.message_type,
        created_ms: c.created_ms,
        ttl_seconds: c.ttl_seconds,
        sender,
        prekey_id: entry.prekey_id,
        payload,
    })
}
