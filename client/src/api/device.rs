//! More than one device per user: a new device identity certified by an existing user key.

use conclave_crypto::KeyUsage;
use conclave_wire::container::{DEVICE_ID_LEN, DeviceCertificate};

use crate::Result;
use crate::identity::{Identity, PrekeyPool, signing};

/// A new device of the same user as `user`: the same user key (restored from its
/// persisted form, so an HSM-held key stays in the token), fresh app and device keys and
/// device id, and a certificate signed by the user key. The relay accepts it as a further
/// device of the user (every device of a user must carry the same user key).
pub fn new_device_of(user: &Identity, now_ms: u64) -> Result<Identity> {
    let provider = user.provider.clone();
    let user_key = provider.restore_p256(&user.user_key.persist()?)?;
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use conclave_crypto_software::SoftwareProvider;

    use super::*;
    use crate::identity::verify_certificate;

    #[test]
    fn same_user_key_new_device() {
        let p = Arc::new(SoftwareProvider::new());
        let first = Identity::create(p.clone(), 1).unwrap();
        let second = new_device_of(&first, 2).unwrap();
        let v = verify_certificate(p.as_ref(), second.certificate()).unwrap();
        assert_eq!(v.user_key, first.user_public_key());
        assert_ne!(second.device_id(), first.device_id());
        assert_ne!(second.certificate().app_key, first.certificate().app_key);
    }
}
