//! The accel provider beyond the conformance suite: its start-up report, the AF_ALG probe and
//! fallback, the self-test, and interoperability with the software provider.

use std::fmt;

use conclave_crypto::{
    AeadAlg, AeadKey, CryptoError, CryptoProvider, HashAlg, KeyUsage, NONCE_LEN, TAG_LEN,
};
use conclave_crypto_accel::{
    AccelConfig, AccelError, AccelProvider, AeadBackend, AfAlgMode, AfAlgStatus, CpuFeatures,
    ProbeStep, af_alg, known_answer_tests,
};
use conclave_crypto_software::SoftwareProvider;

fn accel() -> AccelProvider {
    AccelProvider::new().expect("the accel provider starts")
}

#[test]
fn info_reports_cpu_features_and_self_test() {
    let p = accel();
    let info = p.info();
    assert_eq!(info.cpu, CpuFeatures::detect());
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(info.cpu.aes, std::is_x86_feature_detected!("aes"));
        assert_eq!(info.cpu.vaes, std::is_x86_feature_detected!("vaes"));
        assert_eq!(info.cpu.sha, std::is_x86_feature_detected!("sha"));
    }
    assert_eq!(info.self_tests_passed, 6);
    let text = info.to_string();
    eprintln!("{text}");
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.starts_with("AES-GCM: "), "{text}");
    assert!(text.contains("\nCPU: "), "{text}");
    assert!(text.contains("\nAF_ALG: "), "{text}");
    assert!(
        text.ends_with("self-test: 6 known-answer tests passed"),
        "{text}"
    );

    let caps = p.capabilities();
    assert!(caps.batched_aead, "AWS-LC keys batch natively");
    assert_eq!(caps.accelerated_aead, info.aead_accelerated());
    assert!(caps.extractable_private_keys && !caps.hardware_backed);
    assert_eq!(p.name(), "accel");
}

/// On this project's kernel the probe fails with EAFNOSUPPORT; the provider falls back to
/// AWS-LC, says why, and works. On a kernel with AF_ALG the probe succeeds and the report says
/// what was chosen instead.
#[test]
fn af_alg_probe_and_fallback() {
    let probe = af_alg::probe();
    let p = accel();
    let info = p.info();
    match &probe {
        Err(failure) => {
            assert_eq!(info.af_alg, AfAlgStatus::Unavailable(failure.clone()));
            assert_eq!(info.aead_backend, AeadBackend::AwsLc);
            let text = info.to_string();
            assert!(
                text.contains("AF_ALG: unavailable, fell back to AWS-LC: "),
                "{text}"
            );
            if failure.errno == Some(libc::EAFNOSUPPORT) {
                assert_eq!(failure.step, ProbeStep::Socket);
                assert!(text.contains("[EAFNOSUPPORT]"), "{text}");
                assert!(text.contains("CONFIG_CRYPTO_USER_API_AEAD"), "{text}");
            }
        }
        Ok(()) => assert!(matches!(
            info.af_alg,
            AfAlgStatus::NotCompiled | AfAlgStatus::NotChosen | AfAlgStatus::InUse
        )),
    }
    // Whatever the probe said, the provider seals and opens.
    let key = p.aead_key(AeadAlg::Aes256Gcm, &[3; 32]).unwrap();
    let mut buf = *b"frame";
    let tag = key
        .seal_in_place(&[1; NONCE_LEN], b"hdr", &mut buf)
        .unwrap();
    key.open_in_place(&[1; NONCE_LEN], b"hdr", &mut buf, &tag)
        .unwrap();
    assert_eq!(&buf, b"frame");
}

#[test]
fn requiring_af_alg_when_unavailable_is_a_clear_error() {
    let result = AccelProvider::with_config(AccelConfig {
        af_alg: AfAlgMode::Required,
    });
    match (af_alg::probe(), result) {
        (Err(failure), Err(AccelError::AfAlgUnavailable(reported))) => {
            assert_eq!(failure, reported);
            let text = AccelError::AfAlgUnavailable(reported).to_string();
            assert!(
                text.starts_with("AF_ALG backend required but unavailable: "),
                "{text}"
            );
            assert!(text.contains("failed: "), "{text}");
        }
        (Ok(()), Err(AccelError::AfAlgNotCompiled)) => {
            if cfg!(feature = "af-alg") {
                panic!("AfAlgNotCompiled in a build with the af-alg feature");
            }
        }
        (Ok(()), Ok(p)) => assert_eq!(p.info().aead_backend, AeadBackend::AfAlg),
        (probe, result) => panic!("probe {probe:?} but construction gave {result:?}"),
    }
}

#[test]
fn disabled_af_alg_is_not_probed() {
    let p = AccelProvider::with_config(AccelConfig {
        af_alg: AfAlgMode::Disabled,
    })
    .unwrap();
    assert_eq!(p.info().af_alg, AfAlgStatus::Disabled);
    assert_eq!(p.info().aead_backend, AeadBackend::AwsLc);
    assert!(
        p.info()
            .to_string()
            .contains("AF_ALG: disabled by configuration")
    );
}

// ---------------------------------------------------------------------------------------------
// The self-test catches wrong answers
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    HashBitFlip,
    SealTagBitFlip,
    OpenAcceptsAnything,
}

/// The software provider with one injected fault.
#[derive(Debug)]
struct Broken(Fault);

struct BrokenKey(Box<dyn AeadKey>, Fault);

impl fmt::Debug for BrokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrokenKey")
    }
}

impl AeadKey for BrokenKey {
    fn algorithm(&self) -> AeadAlg {
        self.0.algorithm()
    }
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let mut tag = self.0.seal_in_place(nonce, aad, buffer)?;
        if self.1 == Fault::SealTagBitFlip {
            tag[5] ^= 4;
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
        let r = self.0.open_in_place(nonce, aad, buffer, tag);
        if self.1 == Fault::OpenAcceptsAnything {
            return Ok(());
        }
        r
    }
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(&self, $($arg: $ty),*) -> $ret { SoftwareProvider::new().$name($($arg),*) })*
    };
}

impl CryptoProvider for Broken {
    delegate! {
        capabilities() -> conclave_crypto::Capabilities;
        fill_random(out: &mut [u8]) -> Result<(), CryptoError>;
        generate_p256(usage: KeyUsage) -> Result<Box<dyn conclave_crypto::P256PrivateKey>, CryptoError>;
        import_p256(scalar: &[u8], usage: KeyUsage) -> Result<Box<dyn conclave_crypto::P256PrivateKey>, CryptoError>;
        restore_p256(persisted: &conclave_crypto::PersistedKey) -> Result<Box<dyn conclave_crypto::P256PrivateKey>, CryptoError>;
        validate_public_key(public: &conclave_crypto::P256PublicKey) -> Result<(), CryptoError>;
        verify_p256(public: &conclave_crypto::P256PublicKey, message: &[u8], signature: &conclave_crypto::Signature) -> Result<(), CryptoError>;
        hkdf_extract(alg: HashAlg, salt: &[u8], ikm: &[u8]) -> Result<conclave_crypto::Secret, CryptoError>;
        hkdf_expand(alg: HashAlg, prk: &[u8], info: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError>;
    }
    fn name(&self) -> &'static str {
        "broken"
    }
    fn hash(&self, alg: HashAlg, parts: &[&[u8]]) -> Vec<u8> {
        let mut h = SoftwareProvider::new().hash(alg, parts);
        if self.0 == Fault::HashBitFlip {
            h[0] ^= 1;
        }
        h
    }
    fn aead_key(&self, alg: AeadAlg, key: &[u8]) -> Result<Box<dyn AeadKey>, CryptoError> {
        Ok(Box::new(BrokenKey(
            SoftwareProvider::new().aead_key(alg, key)?,
            self.0,
        )))
    }
}

#[test]
fn self_test_passes_on_correct_providers() {
    assert_eq!(known_answer_tests(&SoftwareProvider::new()), Ok(6));
    assert_eq!(known_answer_tests(&accel()), Ok(6));
}

#[test]
fn self_test_catches_wrong_answers() {
    for (fault, test, problem) in [
        (Fault::HashBitFlip, "SHA-256", "wrong digest"),
        (
            Fault::SealTagBitFlip,
            "AES-128-GCM",
            "seal gave the wrong tag",
        ),
        (
            Fault::OpenAcceptsAnything,
            "AES-128-GCM",
            "open accepted a forged tag",
        ),
    ] {
        let err = known_answer_tests(&Broken(fault)).unwrap_err();
        assert!(err.test.starts_with(test), "{fault:?}: {err}");
        assert_eq!(err.problem, problem, "{fault:?}");
        let text = AccelError::from(err).to_string();
        assert!(
            text.starts_with("accel provider refused to start: known-answer self-test '"),
            "{text}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Interoperability with the software provider
// ---------------------------------------------------------------------------------------------

#[test]
fn aead_interoperates_with_software() {
    let a = accel();
    let s = SoftwareProvider::new();
    for alg in [AeadAlg::Aes128Gcm, AeadAlg::Aes256Gcm] {
        let raw = vec![0x5c; alg.key_len()];
        let (ka, ks) = (
            a.aead_key(alg, &raw).unwrap(),
            s.aead_key(alg, &raw).unwrap(),
        );
        for len in [0usize, 100, 1200, 5000] {
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let nonce = [9u8; NONCE_LEN];
            let (mut c1, mut c2) = (pt.clone(), pt.clone());
            let t1 = ka.seal_in_place(&nonce, b"aad", &mut c1).unwrap();
            let t2 = ks.seal_in_place(&nonce, b"aad", &mut c2).unwrap();
            assert_eq!((&c1, t1), (&c2, t2), "{alg:?} len {len}");
            ks.open_in_place(&nonce, b"aad", &mut c1, &t1).unwrap();
            ka.open_in_place(&nonce, b"aad", &mut c2, &t2).unwrap();
            assert_eq!((&c1, &c2), (&pt, &pt));
        }
    }
}

#[test]
fn p256_interoperates_with_software() {
    let a = accel();
    let s = SoftwareProvider::new();
    // Signatures both ways.
    let sa = a.generate_p256(KeyUsage::Signing).unwrap();
    let ss = s.generate_p256(KeyUsage::Signing).unwrap();
    s.verify_p256(&sa.public_key(), b"m", &sa.sign(b"m").unwrap())
        .unwrap();
    a.verify_p256(&ss.public_key(), b"m", &ss.sign(b"m").unwrap())
        .unwrap();
    // ECDH both ways agrees.
    let ea = a.generate_p256(KeyUsage::KeyAgreement).unwrap();
    let es = s.generate_p256(KeyUsage::KeyAgreement).unwrap();
    assert!(ea.ecdh(&es.public_key()).unwrap() == es.ecdh(&ea.public_key()).unwrap());
    // Raw persisted keys move between the two.
    for key in [&sa, &ea] {
        let moved = s.restore_p256(&key.persist().unwrap()).unwrap();
        assert_eq!(moved.public_key(), key.public_key());
        assert_eq!(moved.usage(), key.usage());
    }
    let back = a.restore_p256(&es.persist().unwrap()).unwrap();
    assert_eq!(back.public_key(), es.public_key());
    // HKDF and hashes agree.
    for alg in [HashAlg::Sha256, HashAlg::Sha512] {
        assert_eq!(a.hash(alg, &[b"x", b"y"]), s.hash(alg, &[b"xy"]));
        let (pa, ps) = (
            a.hkdf_extract(alg, b"salt", b"ikm").unwrap(),
            s.hkdf_extract(alg, b"salt", b"ikm").unwrap(),
        );
        assert!(pa == ps);
        let (mut oa, mut os) = (vec![0u8; 1000], vec![0u8; 1000]);
        a.hkdf_expand(alg, pa.expose(), &[b"in", b"fo"], &mut oa)
            .unwrap();
        s.hkdf_expand(alg, ps.expose(), &[b"info"], &mut os)
            .unwrap();
        assert_eq!(oa, os);
    }
    // A PRK longer than a hash block (HMAC hashes such keys first) agrees too.
    let long_prk = vec![0x42u8; 200];
    let (mut oa, mut os) = (vec![0u8; 64], vec![0u8; 64]);
    a.hkdf_expand(HashAlg::Sha256, &long_prk, &[b"i"], &mut oa)
        .unwrap();
    s.hkdf_expand(HashAlg::Sha256, &long_prk, &[b"i"], &mut os)
        .unwrap();
    assert_eq!(oa, os);
}
