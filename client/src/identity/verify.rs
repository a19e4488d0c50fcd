use conclave_crypto::{CryptoProvider, HashAlg, P256PublicKey, Signature};
use conclave_wire::bundle::DeviceBundle;
use conclave_wire::container::{DEVICE_ID_LEN, DeviceCertificate, prekey_signed_bytes};

use super::signing;
use crate::{ClientError, Result};

/// A device certificate whose user-key signature has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDevice {
    pub user_key: P256PublicKey,
    pub device_id: [u8; DEVICE_ID_LEN],
    pub app_key: P256PublicKey,
    pub device_key: P256PublicKey,
    pub created_ms: u64,
}

/// A bundle whose certificate and every prekey signature have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    pub device: VerifiedDevice,
    pub prekeys: Vec<(u32, P256PublicKey)>,
}

/// Checks the three keys are points on P-256 and the user key's signature over the
/// certificate.
pub fn verify_certificate(
    p: &dyn CryptoProvider,
    cert: &DeviceCertificate,
) -> Result<VerifiedDevice> {
    let user_key = P256PublicKey::from_sec1(&cert.user_key)?;
    let app_key = P256PublicKey::from_sec1(&cert.app_key)?;
    let device_key = P256PublicKey::from_sec1(&cert.device_key)?;
    for k in [&user_key, &app_key, &device_key] {
        p.validate_public_key(k)?;
    }
    signing::verify(
        p,
        &user_key,
        &cert.signed_bytes(),
        &Signature(cert.signature),
    )
    .map_err(|_| ClientError::BadCertificate)?;
    Ok(VerifiedDevice {
        user_key,
        device_id: cert.device_id,
        app_key,
        device_key,
        created_ms: cert.created_ms,
    })
}

/// Verifies user key → app key → every prekey signature, before anything is used.
pub fn verify_bundle(p: &dyn CryptoProvider, bundle: &DeviceBundle) -> Result<VerifiedBundle> {
    let device = verify_certificate(p, &bundle.certificate)?;
    let mut prekeys = Vec::with_capacity(bundle.prekeys.len());
    for pk in &bundle.prekeys {
        let public = P256PublicKey::from_sec1(&pk.public_key)?;
        p.validate_public_key(&public)?;
        let signed = prekey_signed_bytes(&device.device_id, pk.id, &pk.public_key);
        signing::verify(p, &device.app_key, &signed, &Signature(pk.signature))
            .map_err(|_| ClientError::BadPrekeySignature(pk.id))?;
        prekeys.push((pk.id, public));
    }
    Ok(VerifiedBundle { device, prekeys })
}

/// A user key's fingerprint: SHA-256 of its SEC1 encoding, as 64 hex digits.
pub fn fingerprint(p: &dyn CryptoProvider, key: &P256PublicKey) -> String {
    hex::encode(p.hash(HashAlg::Sha256, &[key.as_bytes()]))
}
