//! P-256 private keys held in the token as sensitive, non-extractable objects.
//!
//! A key is a private-key object and a public-key object in the token sharing a random
//! 16-byte `CKA_ID`, which is what [`P256PrivateKey::persist`] returns.
//! Signing (`CKM_ECDSA` over a SHA-256 computed on the host) and ECDH (`CKM_ECDH1_DERIVE`
//! with `CKD_NULL`) run in the token; the private scalar never leaves it.
//!
//! Lifetime: generated long-term keys ([`conclave_crypto::CryptoProvider::generate_p256`])
//! are token objects from the start. Ephemeral keys (`generate_ephemeral_p256`, HPKE
//! encapsulation keys) and imported keys (HPKE `DeriveKeyPair`, test vectors) are session
//! objects: in the token's memory only, never written to its storage, and far cheaper to make
//! (a SoftHSM token object is a file). [`P256PrivateKey::persist`] turns session objects into
//! token objects (`C_CopyObject`). A key that was neither persisted nor restored has its
//! objects destroyed when the handle is dropped; a persisted or restored key stays in the
//! token until [`P256PrivateKey::destroy`] deletes it (one-time prekeys are destroyed once
//! used).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use conclave_crypto::{
    CryptoError, CryptoProvider, HashAlg, KeyUsage, P256PrivateKey, P256PublicKey, PersistedKey,
    Secret, Signature,
};
use conclave_crypto_software::SoftwareProvider;
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{FieldBytes, SecretKey};
use zeroize::Zeroize;

use crate::error::Op;
use crate::session::{PooledSession, Token};

/// DER encoding of the P-256 curve OID (1.2.840.10045.3.1.7), the value of `CKA_EC_PARAMS`.
pub(crate) const P256_EC_PARAMS: [u8; 10] =
    [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Length of the random `CKA_ID` given to new keys.
pub(crate) const KEY_ID_LEN: usize = 16;

/// The longest `CKA_ID` accepted when restoring (ids made by other tools may be longer).
const MAX_KEY_ID_LEN: usize = 64;

/// The provider name recorded in [`PersistedKey::Reference`].
pub(crate) const PROVIDER_NAME: &str = "pkcs11";

/// What keys need from the provider: the token and the host-side software operations.
#[derive(Debug)]
pub(crate) struct KeyContext {
    pub(crate) token: Token,
    pub(crate) host: SoftwareProvider,
    pub(crate) hash_in_token: bool,
}

/// A P-256 private key in the token.
pub(crate) struct Pkcs11P256Key {
    ctx: Arc<KeyContext>,
    usage: KeyUsage,
    public: P256PublicKey,
    id: Vec<u8>,
    /// The objects; replaced when [`P256PrivateKey::persist`] turns session objects into
    /// token objects.
    objects: Mutex<Objects>,
    /// Persisted or restored: not destroyed on drop.
    keep: AtomicBool,
    destroyed: AtomicBool,
}

fn label_for(usage: KeyUsage) -> Vec<u8> {
    match usage {
        KeyUsage::Signing => b"conclave signing key".to_vec(),
        KeyUsage::KeyAgreement => b"conclave key-agreement key".to_vec(),
    }
}

/// Where a key's objects live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Storage {
    /// Token objects (`CKA_TOKEN = true`): kept across sessions and runs, can be persisted.
    Token,
    /// Session objects (`CKA_TOKEN = false`): in the token's memory only, gone when the
    /// session that made them closes; for ephemeral keys. Never written to token storage,
    /// and much cheaper to make (no object file on SoftHSM).
    Session,
}

/// A key's two objects and where they live.
#[derive(Clone, Copy, Debug)]
struct Objects {
    private: ObjectHandle,
    public: ObjectHandle,
    storage: Storage,
}

/// Attributes shared by the private objects this provider creates.
fn private_template(usage: KeyUsage, id: &[u8], storage: Storage) -> Vec<Attribute> {
    vec![
        Attribute::Token(storage == Storage::Token),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(usage == KeyUsage::Signing),
        Attribute::Derive(usage == KeyUsage::KeyAgreement),
        Attribute::Id(id.to_vec()),
        Attribute::Label(label_for(usage)),
    ]
}

/// Attributes shared by the public objects this provider creates.
fn public_template(usage: KeyUsage, id: &[u8], storage: Storage) -> Vec<Attribute> {
    vec![
        Attribute::Token(storage == Storage::Token),
        Attribute::Private(false),
        Attribute::Verify(usage == KeyUsage::Signing),
        Attribute::Id(id.to_vec()),
        Attribute::Label(label_for(usage)),
    ]
}

/// `CKA_EC_POINT` as a DER OCTET STRING (`04 41 ‖ point`), the form PKCS#11 specifies.
fn ec_point_der(public: &P256PublicKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + P256PublicKey::LEN);
    out.extend_from_slice(&[0x04, P256PublicKey::LEN as u8]);
    out.extend_from_slice(public.as_bytes());
    out
}

/// Parses `CKA_EC_POINT`: a DER OCTET STRING holding the SEC1 point, or (as some tokens
/// return it) the bare point.
pub(crate) fn parse_ec_point(value: &[u8]) -> Result<P256PublicKey, CryptoError> {
    let bad = || CryptoError::Provider("PKCS#11 token returned a malformed CKA_EC_POINT".into());
    let point = match value {
        [0x04, 0x41, rest @ ..] if rest.len() == P256PublicKey::LEN => rest,
        [0x04, 0x81, 0x41, rest @ ..] if rest.len() == P256PublicKey::LEN => rest,
        bare if bare.len() == P256PublicKey::LEN => bare,
        _ => return Err(bad()),
    };
    P256PublicKey::from_sec1(point).map_err(|_| bad())
}

impl Pkcs11P256Key {
    /// Generates a key pair in the token, as token objects or (ephemeral keys) session
    /// objects.
    pub(crate) fn generate(
        ctx: &Arc<KeyContext>,
        usage: KeyUsage,
        storage: Storage,
    ) -> Result<Self, CryptoError> {
        let mut s = ctx.token.session()?;
        let id = new_id(&mut s)?;
        let mut public_attrs = public_template(usage, &id, storage);
        public_attrs.push(Attribute::EcParams(P256_EC_PARAMS.to_vec()));
        let private_attrs = private_template(usage, &id, storage);
        let (public_object, private) = {
            let _objects = (storage == Storage::Token).then(|| ctx.token.object_lock());
            s.run(Op::GenerateKeyPair, |s| {
                s.generate_key_pair(&Mechanism::EccKeyPairGen, &public_attrs, &private_attrs)
            })?
        };
        let public = match read_public(&mut s, public_object) {
            Ok(public) => public,
            Err(e) => {
                let _objects = (storage == Storage::Token).then(|| ctx.token.object_lock());
                let _ = destroy_object(&mut s, private);
                let _ = destroy_object(&mut s, public_object);
                return Err(e);
            }
        };
        Ok(Pkcs11P256Key {
            ctx: ctx.clone(),
            usage,
            public,
            id,
            objects: Mutex::new(Objects {
                private,
                public: public_object,
                storage,
            }),
            keep: AtomicBool::new(false),
            destroyed: AtomicBool::new(false),
        })
    }

    /// Creates session objects from a scalar `d` (1 ≤ d < n) checked on the host first; they
    /// become token objects if the key is persisted.
    pub(crate) fn import(
        ctx: &Arc<KeyContext>,
        scalar: &[u8],
        usage: KeyUsage,
    ) -> Result<Self, CryptoError> {
        let bytes: &FieldBytes = scalar
            .try_into()
            .map_err(|_| CryptoError::InvalidPrivateKey)?;
        let secret = SecretKey::from_bytes(bytes).map_err(|_| CryptoError::InvalidPrivateKey)?;
        let public = P256PublicKey::from_sec1(secret.public_key().to_sec1_point(false).as_bytes())
            .map_err(|_| CryptoError::Provider("internal: public key encoding failed".into()))?;
        drop(secret);

        let storage = Storage::Session;
        let mut s = ctx.token.session()?;
        let id = new_id(&mut s)?;
        let mut private_attrs = private_template(usage, &id, storage);
        private_attrs.extend([
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_EC_PARAMS.to_vec()),
            Attribute::Value(scalar.to_vec()),
        ]);
        let created = s.run(Op::ImportKey, |s| s.create_object(&private_attrs));
        // Wipe the template's copy of the scalar whatever happened.
        for attr in &mut private_attrs {
            if let Attribute::Value(v) = attr {
                v.zeroize();
            }
        }
        let private = created?;
        let mut public_attrs = public_template(usage, &id, storage);
        public_attrs.extend([
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_EC_PARAMS.to_vec()),
            Attribute::EcPoint(ec_point_der(&public)),
        ]);
        let public_object = match s.run(Op::ImportKey, |s| s.create_object(&public_attrs)) {
            Ok(h) => h,
            Err(e) => {
                let _ = destroy_object(&mut s, private);
                return Err(e);
            }
        };
        Ok(Pkcs11P256Key {
            ctx: ctx.clone(),
            usage,
            public,
            id,
            objects: Mutex::new(Objects {
                private,
                public: public_object,
                storage,
            }),
            keep: AtomicBool::new(false),
            destroyed: AtomicBool::new(false),
        })
    }

    /// Finds the key objects named by a [`PersistedKey::Reference`] of this provider.
    pub(crate) fn restore(
        ctx: &Arc<KeyContext>,
        persisted: &PersistedKey,
    ) -> Result<Self, CryptoError> {
        let (usage, id) = match persisted {
            PersistedKey::Reference {
                provider,
                usage,
                reference,
            } if provider == PROVIDER_NAME => (*usage, reference.clone()),
            PersistedKey::Reference { .. } => {
                return Err(CryptoError::BadPersistedKey(
                    "the key reference belongs to another provider",
                ));
            }
            PersistedKey::Raw { .. } => {
                return Err(CryptoError::BadPersistedKey(
                    "the pkcs11 provider keeps keys in the token and does not take raw scalars",
                ));
            }
        };
        if id.is_empty() || id.len() > MAX_KEY_ID_LEN {
            return Err(CryptoError::BadPersistedKey(
                "a pkcs11 key reference is a CKA_ID of 1 to 64 bytes",
            ));
        }
        let mut s = ctx.token.session()?;
        let private = find_one(&mut s, ObjectClass::PRIVATE_KEY, &id)?;
        let public_object = find_one(&mut s, ObjectClass::PUBLIC_KEY, &id)?;
        let attrs = s.run(Op::ReadAttributes, |s| {
            s.get_attributes(
                private,
                &[
                    AttributeType::KeyType,
                    AttributeType::EcParams,
                    AttributeType::Sign,
                    AttributeType::Derive,
                ],
            )
        })?;
        let (mut ec, mut p256, mut sign, mut derive) = (false, false, false, false);
        for attr in attrs {
            match attr {
                Attribute::KeyType(t) => ec = t == KeyType::EC,
                Attribute::EcParams(p) => p256 = p == P256_EC_PARAMS,
                Attribute::Sign(b) => sign = b,
                Attribute::Derive(b) => derive = b,
                _ => {}
            }
        }
        if !ec || !p256 {
            return Err(CryptoError::BadPersistedKey(
                "the referenced token object is not a P-256 key",
            ));
        }
        let usable = match usage {
            KeyUsage::Signing => sign,
            KeyUsage::KeyAgreement => derive,
        };
        if !usable {
            return Err(CryptoError::BadPersistedKey(
                "the referenced token key does not allow the recorded usage",
            ));
        }
        let public = read_public(&mut s, public_object)?;
        Ok(Pkcs11P256Key {
            ctx: ctx.clone(),
            usage,
            public,
            id,
            objects: Mutex::new(Objects {
                private,
                public: public_object,
                storage: Storage::Token,
            }),
            keep: AtomicBool::new(true),
            destroyed: AtomicBool::new(false),
        })
    }

    fn objects(&self) -> Objects {
        *self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The private object, unless the key was destroyed.
    fn private(&self) -> Result<ObjectHandle, CryptoError> {
        self.check_alive()?;
        Ok(self.objects().private)
    }

    /// Turns session objects into token objects (C_CopyObject with `CKA_TOKEN = true`), so
    /// that the key outlives the session and the process.
    fn promote(&self, objects: &mut Objects) -> Result<(), CryptoError> {
        if objects.storage == Storage::Token {
            return Ok(());
        }
        let mut s = self.ctx.token.session()?;
        let _lock = self.ctx.token.object_lock();
        let to_token = [Attribute::Token(true)];
        let copy = |s: &mut PooledSession<'_>, handle| {
            s.run(Op::CopyObject, |s| s.copy_object(handle, &to_token))
        };
        let private = copy(&mut s, objects.private)?;
        let public = match copy(&mut s, objects.public) {
            Ok(h) => h,
            Err(e) => {
                let _ = destroy_object(&mut s, private);
                return Err(e);
            }
        };
        // The session originals are no longer needed.
        let _ = destroy_object(&mut s, objects.private);
        let _ = destroy_object(&mut s, objects.public);
        *objects = Objects {
            private,
            public,
            storage: Storage::Token,
        };
        Ok(())
    }

    fn check_alive(&self) -> Result<(), CryptoError> {
        if self.destroyed.load(Ordering::Acquire) {
            return Err(CryptoError::Provider(
                "the PKCS#11 key was destroyed and can no longer be used".into(),
            ));
        }
        Ok(())
    }

    /// Destroys both objects; an object already gone counts as destroyed.
    fn destroy_objects(&self) -> Result<(), CryptoError> {
        let objects = self.objects();
        let mut s = self.ctx.token.session()?;
        let _lock = (objects.storage == Storage::Token).then(|| self.ctx.token.object_lock());
        destroy_object(&mut s, objects.private)?;
        destroy_object(&mut s, objects.public)
    }
}

/// Destroys `handle`; an object that is already gone counts as destroyed.
fn destroy_object(s: &mut PooledSession<'_>, handle: ObjectHandle) -> Result<(), CryptoError> {
    s.run(Op::DestroyObject, |s| match s.destroy_object(handle) {
        Err(Error::Pkcs11(RvError::ObjectHandleInvalid, _)) => Ok(()),
        other => other,
    })
}

fn new_id(s: &mut PooledSession<'_>) -> Result<Vec<u8>, CryptoError> {
    let mut id = vec![0u8; KEY_ID_LEN];
    s.run(Op::Random, |s| s.generate_random_slice(&mut id))?;
    Ok(id)
}

fn find_one(
    s: &mut PooledSession<'_>,
    class: ObjectClass,
    id: &[u8],
) -> Result<ObjectHandle, CryptoError> {
    let found = s.run(Op::FindKey, |s| {
        s.find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
    })?;
    if found.is_empty()
        && let Some(gone) = s.check_present(Op::FindKey)
    {
        return Err(gone);
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] if class == ObjectClass::PRIVATE_KEY => Err(CryptoError::BadPersistedKey(
            "no private key with this id in the token (deleted, or another token?)",
        )),
        [] => Err(CryptoError::BadPersistedKey(
            "no public key with this id in the token",
        )),
        _ => Err(CryptoError::BadPersistedKey(
            "several token objects share this key id",
        )),
    }
}

fn read_public(
    s: &mut PooledSession<'_>,
    public_object: ObjectHandle,
) -> Result<P256PublicKey, CryptoError> {
    let attrs = s.run(Op::ReadAttributes, |s| {
        s.get_attributes(public_object, &[AttributeType::EcPoint])
    })?;
    attrs
        .into_iter()
        .find_map(|a| match a {
            Attribute::EcPoint(p) => Some(parse_ec_point(&p)),
            _ => None,
        })
        .unwrap_or_else(|| {
            Err(CryptoError::Provider(
                "PKCS#11 token returned no CKA_EC_POINT".into(),
            ))
        })
}

impl fmt::Debug for Pkcs11P256Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11P256Key")
            .field("usage", &self.usage)
            .field("public", &self.public)
            .field("token", &self.ctx.token.label())
            .finish_non_exhaustive()
    }
}

impl P256PrivateKey for Pkcs11P256Key {
    fn usage(&self) -> KeyUsage {
        self.usage
    }

    fn public_key(&self) -> P256PublicKey {
        self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        if self.usage != KeyUsage::Signing {
            return Err(CryptoError::WrongKeyUsage {
                actual: self.usage,
                needed: KeyUsage::Signing,
            });
        }
        let private = self.private()?;
        let mut s = self.ctx.token.session()?;
        let raw = if self.ctx.hash_in_token {
            s.run(Op::Sign, |s| {
                s.sign(&Mechanism::EcdsaSha256, private, message)
            })?
        } else {
            let digest = self.ctx.host.hash(HashAlg::Sha256, &[message]);
            s.run(Op::Sign, |s| s.sign(&Mechanism::Ecdsa, private, &digest))?
        };
        Signature::from_slice(&raw).map_err(|_| {
            CryptoError::Provider(format!(
                "PKCS#11 token returned a {}-byte ECDSA signature, expected 64",
                raw.len()
            ))
        })
    }

    fn ecdh(&self, peer: &P256PublicKey) -> Result<Secret, CryptoError> {
        if self.usage != KeyUsage::KeyAgreement {
            return Err(CryptoError::WrongKeyUsage {
                actual: self.usage,
                needed: KeyUsage::KeyAgreement,
            });
        }
        // Invalid points are refused on the host, the same way as by the software provider,
        // before the token sees them.
        self.ctx.host.validate_public_key(peer)?;
        let private = self.private()?;
        let mut s = self.ctx.token.session()?;
        let params = Ecdh1DeriveParams::new(EcKdf::null(), peer.as_bytes());
        // The x-coordinate lands in a session object that may be read: there is no HKDF
        // mechanism in the token, so the host needs it (see `capabilities()`).
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::ValueLen(32.into()),
            Attribute::Token(false),
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
        ];
        let derived = s.run(Op::Derive, |s| {
            s.derive_key(&Mechanism::Ecdh1Derive(params), private, &template)
        })?;
        let value = s.run(Op::ReadAttributes, |s| {
            s.get_attributes(derived, &[AttributeType::Value])
        });
        // The session object is destroyed whatever happened; its value only lives in `Secret`.
        let destroyed = destroy_object(&mut s, derived);
        let mut secret = None;
        for attr in value? {
            if let Attribute::Value(v) = attr {
                secret = Some(Secret::new(v));
            }
        }
        destroyed?;
        let secret = secret.ok_or_else(|| {
            CryptoError::Provider("PKCS#11 token returned no value for the ECDH secret".into())
        })?;
        if secret.len() != 32 {
            return Err(CryptoError::Provider(format!(
                "PKCS#11 token returned a {}-byte ECDH secret, expected 32",
                secret.len()
            )));
        }
        Ok(secret)
    }

    fn persist(&self) -> Result<PersistedKey, CryptoError> {
        self.check_alive()?;
        {
            let mut objects = self.objects.lock().unwrap_or_else(|p| p.into_inner());
            self.promote(&mut objects)?;
        }
        self.keep.store(true, Ordering::Release);
        Ok(PersistedKey::Reference {
            provider: PROVIDER_NAME.to_string(),
            usage: self.usage,
            reference: self.id.clone(),
        })
    }

    fn destroy(&self) -> Result<(), CryptoError> {
        if self.destroyed.load(Ordering::Acquire) {
            return Ok(());
        }
        self.destroy_objects()?;
        self.destroyed.store(true, Ordering::Release);
        Ok(())
    }
}

impl Drop for Pkcs11P256Key {
    fn drop(&mut self) {
        if !self.keep.load(Ordering::Acquire) && !self.destroyed.load(Ordering::Acquire) {
            // Best effort: an ephemeral key left behind is garbage, not a leak of a secret
            // (it is non-extractable), and a token that is gone cannot be cleaned.
            let _ = self.destroy_objects();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point() -> Vec<u8> {
        let mut p = vec![0x04];
        p.extend((1..=64).map(|i| i as u8));
        p
    }

    #[test]
    fn ec_point_forms() {
        let bare = point();
        let public = P256PublicKey::from_sec1(&bare).expect("point");
        let der = ec_point_der(&public);
        assert_eq!(&der[..2], &[0x04, 0x41]);
        assert_eq!(parse_ec_point(&der).expect("DER"), public);
        let mut long_form = vec![0x04, 0x81, 0x41];
        long_form.extend_from_slice(&bare);
        assert_eq!(parse_ec_point(&long_form).expect("long form"), public);
        assert_eq!(parse_ec_point(&bare).expect("bare"), public);
        for bad in [&der[..66], &[0x04, 0x40][..], &[][..], &bare[1..]] {
            assert!(parse_ec_point(bad).is_err());
        }
        let mut compressed = der.clone();
        compressed[2] = 0x02;
        assert!(parse_ec_point(&compressed).is_err());
    }
}
