//! Signature checks on the way in: device certificates and prekeys (ECDSA P-256 over
//! SHA-256, raw `r ‖ s`, low-S only — docs/PROTOCOL.md §2). This is the only
//! application-level cryptography the relay does; it never sees a private key.

use conclave_wire::container::{DeviceCertificate, prekey_signed_bytes};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};

fn verify(key: &[u8], message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_sec1_bytes(key) else {
        return false;
    };
    let Ok(sig) = Signature::from_slice(signature) else {
        return false;
    };
    // High-S signatures are malleable twins: refused (Conclave signers emit low-S).
    if sig.normalize_s() != sig {
        return false;
    }
    key.verify(message, &sig).is_ok()
}

fn is_point(key: &[u8]) -> bool {
    p256::PublicKey::from_sec1_bytes(key).is_ok() && key.first() == Some(&0x04)
}

/// Checks the certificate's keys are P-256 points and the user key's signature.
pub fn certificate(cert: &DeviceCertificate) -> bool {
    is_point(&cert.user_key)
        && is_point(&cert.app_key)
        && is_point(&cert.device_key)
        && verify(&cert.user_key, &cert.signed_bytes(), &cert.signature)
}

/// Checks a prekey's public key and its signature by the device's app key.
pub fn prekey(
    cert: &DeviceCertificate,
    id: u32,
    public_key: &[u8; 65],
    signature: &[u8; 64],
) -> bool {
    is_point(public_key)
        && verify(
            &cert.app_key,
            &prekey_signed_bytes(&cert.device_id, id, public_key),
            signature,
        )
}
