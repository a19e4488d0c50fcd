//! Checks that the conformance suite fails on deliberately broken providers: a suite that
//! passes anything is worthless.

use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use conclave_crypto::conformance::{self, Report};
use conclave_crypto::{
    AeadAlg, AeadBatchItem, AeadKey, Capabilities, CryptoError, CryptoProvider, HashAlg, KeyUsage,
    NONCE_LEN, P256PrivateKey, P256PublicKey, PersistedKey, Secret, Signature, TAG_LEN,
};
use conclave_crypto_software::SoftwareProvider;

/// One injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Nothing,
    OpenIgnoresTag,
    SealFlipsCiphertext,
    OpenWrongErrorKind,
    VerifyAlwaysOk,
    VerifyIgnoresLastMessageByte,
    ValidateAlwaysOk,
    ImportPadsShortScalars,
    EmptySaltNotZeros,
    ExpandNoLimit,
    HashOnlyFirstPart,
    ConstantRandom,
    EcdhWrongSecret,
    AeadKeyTruncates,
    NoUsageCheck,
    DebugLeaksScalar,
    PersistForgetsUsage,
    BatchSealSkipsLastItem,
    BatchOpenAcceptsAll,
}

#[derive(Debug)]
struct Broken {
    inner: SoftwareProvider,
    fault: Fault,
}

struct BrokenKey {
    inner: Box<dyn P256PrivateKey>,
    scalar: Option<Vec<u8>>,
    fault: Fault,
}

impl fmt::Debug for BrokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.scalar, self.fault) {
            (Some(s), Fault::DebugLeaksScalar) => write!(f, "BrokenKey({s:?})"),
            _ => write!(f, "BrokenKey({:?})", self.inner),
        }
    }
}

impl P256PrivateKey for BrokenKey {
    fn usage(&self) -> KeyUsage {
        self.inner.usage()
    }
    fn public_key(&self) -> P256PublicKey {
        self.inner.public_key()
    }
    fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError> {
        if self.fault == Fault::NoUsageCheck && self.usage() == KeyUsage::KeyAgreement {
            return Ok(Signature([1; 64]));
        }
        self.inner.sign(message)
    }
    fn ecdh(&self, peer: &P256PublicKey) -> Result<Secret, CryptoError> {
        let mut s = self.inner.ecdh(peer)?;
        if self.fault == Fault::EcdhWrongSecret {
            s.expose_mut()[31] ^= 1;
        }
        Ok(s)
    }
    fn persist(&self) -> Result<PersistedKey, CryptoError> {
        let p = self.inner.persist()?;
        match (p, self.fault) {
            (PersistedKey::Raw { scalar, .. }, Fault::PersistForgetsUsage) => {
                Ok(PersistedKey::Raw {
                    usage: KeyUsage::Signing,
                    scalar,
                })
            }
            (p, _) => Ok(p),
        }
    }
}

#[derive(Debug)]
struct BrokenAead {
    inner: Box<dyn AeadKey>,
    fault: Fault,
}

impl AeadKey for BrokenAead {
    fn algorithm(&self) -> AeadAlg {
        self.inner.algorithm()
    }
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self.inner.seal_in_place(nonce, aad, buffer)?;
        if self.fault == Fault::SealFlipsCiphertext && buffer.len() > 3 {
            buffer[3] ^= 0x10;
        }
        Ok(tag)
    }
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        let r = self.inner.open_in_place(nonce, aad, buffer, tag);
        match (self.fault, r) {
            (Fault::OpenIgnoresTag, Err(_)) => Ok(()),
            (Fault::OpenWrongErrorKind, Err(_)) => Err(CryptoError::BadSignature),
            (_, r) => r,
        }
    }
    fn seal_batch(&self, items: &mut [AeadBatchItem<'_>]) -> Result<(), CryptoError> {
        let n = items.len();
        let items = match self.fault {
            Fault::BatchSealSkipsLastItem if n > 1 => &mut items[..n - 1],
            _ => items,
        };
        for item in items.iter_mut() {
            item.move_input_into_buffer()?;
            item.tag = self.seal_in_place(&item.nonce, item.aad, item.buffer)?;
        }
        Ok(())
    }
    fn open_batch(&self, items: &mut [AeadBatchItem<'_>]) -> Vec<Result<(), CryptoError>> {
        items
            .iter_mut()
            .map(|item| {
                let r = item.move_input_into_buffer().and_then(|()| {
                    self.open_in_place(&item.nonce, item.aad, item.buffer, &item.tag)
                });
                if self.fault == Fault::BatchOpenAcceptsAll {
                    Ok(())
                } else {
                    r
                }
            })
            .collect()
    }
}

impl Broken {
    fn wrap(&self, key: Box<dyn P256PrivateKey>, scalar: Option<&[u8]>) -> Box<dyn P256PrivateKey> {
        Box::new(BrokenKey {
            inner: key,
            scalar: scalar.map(<[u8]>::to_vec),
            fault: self.fault,
        })
    }
}

impl CryptoProvider for Broken {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn fill_random(&self, out: &mut [u8]) -> Result<(), CryptoError> {
        if self.fault == Fault::ConstantRandom {
            out.fill(0x42);
            return Ok(());
        }
        self.inner.fill_random(out)
    }
    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
        if self.fault == Fault::HashOnlyFirstPart && parts.len() > 1 {
            return self.inner.hash(alg, &parts[..1]);
        }
        self.inner.hash(alg, parts)
    }
    fn generate_p256(&self, usage: KeyUsage) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(self.wrap(self.inner.generate_p256(usage)?, None))
    }
    fn import_p256(
        &self,
        scalar: &[u8],
        usage: KeyUsage,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        if self.fault == Fault::ImportPadsShortScalars && scalar.len() < 32 && !scalar.is_empty() {
            let mut padded = vec![0u8; 32 - scalar.len()];
            padded.extend_from_slice(scalar);
            return Ok(self.wrap(self.inner.import_p256(&padded, usage)?, Some(scalar)));
        }
        Ok(self.wrap(self.inner.import_p256(scalar, usage)?, Some(scalar)))
    }
    fn restore_p256(
        &self,
        persisted: &PersistedKey,
    ) -> Result<Box<dyn P256PrivateKey>, CryptoError> {
        Ok(self.wrap(self.inner.restore_p256(persisted)?, None))
    }
    fn validate_public_key(&self, public: &P256PublicKey) -> Result<(), CryptoError> {
        if self.fault == Fault::ValidateAlwaysOk {
            return Ok(());
        }
        self.inner.validate_public_key(public)
    }
    fn verify_p256(
        &self,
        public: &P256PublicKey,
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), CryptoError> {
        match self.fault {
            Fault::VerifyAlwaysOk => Ok(()),
            Fault::VerifyIgnoresLastMessageByte if !message.is_empty() => {
                let trimmed = &message[..message.len() - 1];
                let mut fixed = trimmed.to_vec();
                fixed.push(message[message.len() - 1] & 0x7f);
                self.inner.verify_p256(public, &fixed, signature)
            }
            _ => self.inner.verify_p256(public, message, signature),
        }
    }
    fn hkdf_extract(&self, alg: HashAlg, salt: &[u8], ikm: &[u8]) -> Result<Secret, CryptoError> {
        if self.fault == Fault::EmptySaltNotZeros && salt.is_empty() {
            return self.inner.hkdf_extract(alg, &[1], ikm);
        }
        self.inner.hkdf_extract(alg, salt, ikm)
    }
    fn hkdf_expand(
        &self,
        alg: HashAlg,
        prk: &[u8],
        info: &[&[u8]],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let max = 255 * alg.output_len();
        if self.fault == Fault::ExpandNoLimit && out.len() > max {
            return self.inner.hkdf_expand(alg, prk, info, &mut out[..max]);
        }
        self.inner.hkdf_expand(alg, prk, info, out)
    }
    fn aead_key(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        let key = if self.fault == Fault::AeadKeyTruncates && key.len() > alg.key_len() {
            &key[..alg.key_len()]
        } else {
            key
        };
        Ok(Box::new(BrokenAead {
            inner: self.inner.aead_key(alg, key)?,
            fault: self.fault,
        }))
    }
}

type Area = fn(&dyn CryptoProvider) -> Report;

thread_local! {
    /// Set while this thread runs an area that is expected to panic.
    static EXPECTING_PANIC: Cell<bool> = const { Cell::new(false) };
}

/// Silences the panic messages of expected failures (and only those).
fn quiet_expected_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.with(Cell::get) {
                default(info);
            }
        }));
    });
}

fn assert_caught(fault: Fault, areas: &[(&str, Area)]) {
    quiet_expected_panics();
    let provider = Broken {
        inner: SoftwareProvider::new(),
        fault,
    };
    for (name, area) in areas {
        EXPECTING_PANIC.with(|e| e.set(true));
        let outcome = catch_unwind(AssertUnwindSafe(|| area(&provider)));
        EXPECTING_PANIC.with(|e| e.set(false));
        assert!(
            outcome.is_err(),
            "conformance::{name} did not catch {fault:?}"
        );
    }
}

/// The wrapper itself is conformant when it injects nothing (this also runs `run_all`).
#[test]
fn the_wrapper_without_faults_passes_run_all() {
    let provider = Broken {
        inner: SoftwareProvider::new(),
        fault: Fault::Nothing,
    };
    let reports = conformance::run_all(&provider);
    assert_eq!(reports.len(), 21);
}

#[test]
fn the_suite_catches_injected_faults() {
    use conformance as c;
    let cases: Vec<(Fault, Vec<(&str, Area)>)> = vec![
        (
            Fault::OpenIgnoresTag,
            vec![
                ("aead_roundtrip", c::aead_roundtrip),
                ("wycheproof_aes_gcm", c::wycheproof_aes_gcm),
            ],
        ),
        (
            Fault::SealFlipsCiphertext,
            vec![
                ("aead_roundtrip", c::aead_roundtrip),
                ("wycheproof_aes_gcm", c::wycheproof_aes_gcm),
            ],
        ),
        (
            Fault::OpenWrongErrorKind,
            vec![
                ("aead_roundtrip", c::aead_roundtrip),
                ("wycheproof_aes_gcm", c::wycheproof_aes_gcm),
            ],
        ),
        (
            Fault::VerifyAlwaysOk,
            vec![
                ("ecdsa_roundtrip", c::ecdsa_roundtrip),
                (
                    "wycheproof_ecdsa_secp256r1_sha256",
                    c::wycheproof_ecdsa_secp256r1_sha256,
                ),
                ("p256_invalid_public_keys", c::p256_invalid_public_keys),
            ],
        ),
        (
            Fault::VerifyIgnoresLastMessageByte,
            vec![("ecdsa_roundtrip", c::ecdsa_roundtrip)],
        ),
        (
            Fault::ValidateAlwaysOk,
            vec![
                ("p256_invalid_public_keys", c::p256_invalid_public_keys),
                ("wycheproof_ecdh_secp256r1", c::wycheproof_ecdh_secp256r1),
            ],
        ),
        (
            Fault::ImportPadsShortScalars,
            vec![("p256_invalid_private_keys", c::p256_invalid_private_keys)],
        ),
        (
            Fault::EmptySaltNotZeros,
            vec![
                ("rfc5869_hkdf_sha256", c::rfc5869_hkdf_sha256),
                ("hkdf_properties", c::hkdf_properties),
                ("wycheproof_hkdf_sha256", c::wycheproof_hkdf_sha256),
                ("wycheproof_hkdf_sha512", c::wycheproof_hkdf_sha512),
            ],
        ),
        (
            Fault::ExpandNoLimit,
            vec![
                ("hkdf_properties", c::hkdf_properties),
                ("wycheproof_hkdf_sha256", c::wycheproof_hkdf_sha256),
                ("wycheproof_hkdf_sha512", c::wycheproof_hkdf_sha512),
            ],
        ),
        (
            Fault::HashOnlyFirstPart,
            vec![("hash_fips180", c::hash_fips180)],
        ),
        (Fault::ConstantRandom, vec![("random", c::random)]),
        (
            Fault::EcdhWrongSecret,
            vec![
                ("ecdh_roundtrip", c::ecdh_roundtrip),
                ("wycheproof_ecdh_secp256r1", c::wycheproof_ecdh_secp256r1),
            ],
        ),
        (
            Fault::AeadKeyTruncates,
            vec![("aead_key_lengths", c::aead_key_lengths)],
        ),
        (Fault::NoUsageCheck, vec![("key_usage", c::key_usage)]),
        (
            Fault::DebugLeaksScalar,
            vec![("debug_redaction", c::debug_redaction)],
        ),
        (
            Fault::PersistForgetsUsage,
            vec![("persist_restore", c::persist_restore)],
        ),
        (
            Fault::BatchSealSkipsLastItem,
            vec![("aead_batch", c::aead_batch)],
        ),
        (
            Fault::BatchOpenAcceptsAll,
            vec![("aead_batch", c::aead_batch)],
        ),
    ];
    for (fault, areas) in &cases {
        assert_caught(*fault, areas);
    }
}
