use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use conclave_crypto::{CryptoProvider, KeyUsage, P256PrivateKey, P256PublicKey};
use conclave_wire::bundle::{DeviceBundle, SignedPrekey};
use conclave_wire::container::{DEVICE_ID_LEN, DeviceCertificate, prekey_signed_bytes};

use super::signing;
use crate::{ClientError, Result};

/// One-time prekeys of a device: the private halves not yet used, and the ids consumed.
#[derive(Debug, Default)]
pub struct PrekeyPool {
    pub(crate) next_id: u32,
    pub(crate) keys: BTreeMap<u32, (SignedPrekey, Box<dyn P256PrivateKey>)>,
    pub(crate) consumed: BTreeSet<u32>,
}

impl PrekeyPool {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The private half of an unused prekey.
    pub fn get(&self, id: u32) -> Result<&dyn P256PrivateKey> {
        match self.keys.get(&id) {
            Some((_, key)) => Ok(key.as_ref()),
            None if self.consumed.contains(&id) => Err(ClientError::PrekeyConsumed(id)),
            None => Err(ClientError::UnknownPrekey(id)),
        }
    }

    /// Deletes a prekey's private half and remembers its id as consumed. A key kept outside
    /// process memory (a token object) is destroyed there first; if that fails, the prekey
    /// stays unconsumed and the error is returned.
    pub fn consume(&mut self, id: u32) -> Result<()> {
        self.get(id)?.destroy()?;
        self.keys.remove(&id);
        self.consumed.insert(id);
        Ok(())
    }

    pub fn is_consumed(&self, id: u32) -> bool {
        self.consumed.contains(&id)
    }

    /// The public, signed halves of the unused prekeys.
    pub fn public(&self) -> impl Iterator<Item = &SignedPrekey> {
        self.keys.values().map(|(s, _)| s)
    }
}

/// A user with one device: user signing key, app signing key, static device key, the
/// certificate binding them, and the device's prekey pool.
#[derive(Debug)]
pub struct Identity {
    pub(crate) provider: Arc<dyn CryptoProvider>,
    pub(crate) user_key: Box<dyn P256PrivateKey>,
    pub(crate) app_key: Box<dyn P256PrivateKey>,
    pub(crate) device_key: Box<dyn P256PrivateKey>,
    pub(crate) certificate: DeviceCertificate,
    pub(crate) prekeys: PrekeyPool,
}

impl Identity {
    /// Generates a new user and device in `provider`; `now_ms` is the master-clock time.
    pub fn create(provider: Arc<dyn CryptoProvider>, now_ms: u64) -> Result<Self> {
        let user_key = provider.generate_p256(KeyUsage::Signing)?;
        Self::with_user_key(provider, user_key, now_ms)
    }

    /// A further device of this identity's user: the same user key (restored from its
    /// persisted form, so an HSM-held key stays in the token), fresh app and device keys,
    /// a fresh device id, and a certificate signed by the user key.
    pub fn new_device(&self, now_ms: u64) -> Result<Self> {
        let user_key = self.provider.restore_p256(&self.user_key.persist()?)?;
        Self::with_user_key(self.provider.clone(), user_key, now_ms)
    }

    /// A new device certified by `user_key`, with an empty prekey pool.
    fn with_user_key(
        provider: Arc<dyn CryptoProvider>,
        user_key: Box<dyn P256PrivateKey>,
        now_ms: u64,
    ) -> Result<Self> {
        let app_key = provider.generate_p256(KeyUsage::Signing)?;
        let device_key = provider.generate_p256(KeyUsage::KeyAgreement)?;
        let mut device_id = [0u8; DEVICE_ID_LEN];
        provider.fill_random(&mut device_id)?;
        let mut certificate = DeviceCertificate {
            user_key: *user_key.public_key().as_bytes(),
            device_id,
            app_key: *app_key.public_key().as_bytes(),
            device_key: *device_key.public_key().as_bytes(),
            created_ms: now_ms,
            signature: [0; 64],
        };
        certificate.signature = signing::sign(user_key.as_ref(), &certificate.signed_bytes())?.0;
        Ok(Identity {
            provider,
            user_key,
            app_key,
            device_key,
            certificate,
            prekeys: PrekeyPool {
                next_id: 1,
                ..PrekeyPool::default()
            },
        })
    }

    pub fn provider(&self) -> &Arc<dyn CryptoProvider> {
        &self.provider
    }

    pub fn certificate(&self) -> &DeviceCertificate {
        &self.certificate
    }

    pub fn device_id(&self) -> &[u8; DEVICE_ID_LEN] {
        &self.certificate.device_id
    }

    pub fn user_public_key(&self) -> P256PublicKey {
        self.user_key.public_key()
    }

    pub(crate) fn app_key(&self) -> &dyn P256PrivateKey {
        self.app_key.as_ref()
    }

    pub(crate) fn device_key(&self) -> &dyn P256PrivateKey {
        self.device_key.as_ref()
    }

    pub fn prekeys(&self) -> &PrekeyPool {
        &self.prekeys
    }

    pub fn prekeys_mut(&mut self) -> &mut PrekeyPool {
        &mut self.prekeys
    }

    /// Generates `n` new one-time prekeys, signed by the app key, and adds them to the pool.
    pub fn generate_prekeys(&mut self, n: usize) -> Result<Vec<SignedPrekey>> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let id = self.prekeys.next_id;
            let next = id
                .checked_add(1)
                .ok_or(ClientError::BadPayload("prekey id space exhausted".into()))?;
            let key = self.provider.generate_p256(KeyUsage::KeyAgreement)?;
            let public = *key.public_key().as_bytes();
            let signed_bytes = prekey_signed_bytes(&self.certificate.device_id, id, &public);
            let signature = signing::sign(self.app_key.as_ref(), &signed_bytes)?.0;
            let signed = SignedPrekey {
                id,
                public_key: public,
                signature,
            };
            self.prekeys.keys.insert(id, (signed.clone(), key));
            self.prekeys.next_id = next;
            out.push(signed);
        }
        Ok(out)
    }

    /// The public bundle with the given prekeys.
    pub fn bundle(&self, prekeys: Vec<SignedPrekey>) -> DeviceBundle {
        DeviceBundle {
            certificate: self.certificate.clone(),
            prekeys,
        }
    }
}
