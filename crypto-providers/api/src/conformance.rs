//! The provider conformance suite: every [`CryptoProvider`] must pass it.
//!
//! A provider crate calls it from its tests, one `#[test]` per area:
//!
//! ```ignore
//! use conclave_crypto::conformance;
//!
//! #[test]
//! fn wycheproof_aes_gcm() {
//!     conformance::wycheproof_aes_gcm(&MyProvider::new());
//! }
//! ```
//!
//! or everything at once with [`run_all`]. Every area function panics on the first failure with
//! a message naming the case (`[area/case]` or `[wycheproof set tcId N]`) and what went wrong,
//! and returns a [`Report`] of what it ran. Every area asserts that it ran a minimum number of
//! cases, so a suite that silently runs nothing fails.
//!
//! # Areas
//!
//! * Properties and round trips: [`capabilities`], [`random`], [`hash_fips180`],
//!   [`p256_known_keys`], [`p256_invalid_private_keys`], [`p256_invalid_public_keys`],
//!   [`ecdsa_roundtrip`], [`ecdh_roundtrip`], [`key_usage`], [`persist_restore`],
//!   [`aead_roundtrip`], [`aead_key_lengths`], [`aead_batch`], [`hkdf_properties`],
//!   [`debug_redaction`].
//! * Known-answer vectors: [`rfc5869_hkdf_sha256`] (RFC 5869 Appendix A, test cases 1–3),
//!   [`wycheproof_hkdf_sha256`], [`wycheproof_hkdf_sha512`], [`wycheproof_aes_gcm`],
//!   [`wycheproof_ecdh_secp256r1`], [`wycheproof_ecdsa_secp256r1_sha256`].
//!
//! # Wycheproof results
//!
//! * `valid`: must succeed with exactly the expected output.
//! * `invalid`: must be rejected. For ECDH, rejection at any stage counts: the public key's
//!   encoding ([`P256PublicKey::from_sec1`]), [`CryptoProvider::import_p256`],
//!   [`CryptoProvider::validate_public_key`] or [`ecdh`](crate::P256PrivateKey::ecdh); but
//!   `validate_public_key` and `ecdh` must agree about the public key (both accept it, or both
//!   reject it with [`CryptoError::InvalidPublicKey`]).
//! * `acceptable`: the provider may accept or reject; if it accepts, the output must be the
//!   expected one. Both outcomes are counted in the [`Report`]. (In the sets used here the only
//!   acceptable case is an ECDH peer key in compressed form, which the trait cannot express:
//!   [`P256PublicKey`] is uncompressed only, so it is always rejected at the encoding stage.)
//!
//! Vectors whose parameters the trait cannot express (AES-GCM with IVs other than 96 bits or
//! with 192-bit keys) are skipped and counted as skipped.

use std::collections::HashSet;
use std::fmt;

use wycheproof::TestResult;

use crate::{
    AeadAlg, AeadBatchItem, AeadKey, CryptoError, CryptoProvider, HashAlg, KeyUsage, NONCE_LEN,
    P256PublicKey, PersistedKey, Signature, TAG_LEN,
};

// ---------------------------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------------------------

/// What one conformance area ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// The area's name (its function's name).
    pub area: &'static str,
    /// Checks or vectors that ran and passed (a failure panics instead).
    pub passed: usize,
    /// Wycheproof `valid` vectors among `passed`.
    pub valid: usize,
    /// Wycheproof `invalid` vectors among `passed` (all were rejected).
    pub invalid: usize,
    /// Wycheproof `acceptable` vectors that the provider accepted (with the right output).
    pub acceptable_accepted: usize,
    /// Wycheproof `acceptable` vectors that the provider (or the trait's encoding) rejected.
    pub acceptable_rejected: usize,
    /// Vectors not run because the trait cannot express their parameters.
    pub skipped: usize,
}

impl Report {
    fn new(area: &'static str) -> Self {
        Report {
            area,
            ..Report::default()
        }
    }

    fn pass(&mut self) {
        self.passed += 1;
    }

    /// Asserts that at least `min` cases ran, prints a summary line and returns the report.
    #[track_caller]
    fn finish(self, min: usize) -> Self {
        assert!(
            self.passed >= min,
            "[{}] only {} cases ran, expected at least {min}: the suite is not exercising the provider",
            self.area,
            self.passed
        );
        eprintln!("conformance {self}");
        self
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} passed", self.area, self.passed)?;
        if self.valid + self.invalid + self.acceptable_accepted + self.acceptable_rejected > 0 {
            write!(
                f,
                " (valid {}, invalid {}, acceptable {} accepted / {} rejected)",
                self.valid, self.invalid, self.acceptable_accepted, self.acceptable_rejected
            )?;
        }
        if self.skipped > 0 {
            write!(f, ", {} skipped", self.skipped)?;
        }
        Ok(())
    }
}

/// Generates one `#[test]` per conformance area in a provider crate's tests:
///
/// ```ignore
/// conclave_crypto::conformance_tests!(&MyProvider::new());
/// ```
///
/// The expression is evaluated in each test and must coerce to `&dyn CryptoProvider`. The
/// tests are named after the areas (`wycheproof_aes_gcm`, `rfc5869_hkdf_sha256`, ...).
#[macro_export]
macro_rules! conformance_tests {
    ($provider:expr) => {
        $crate::__conformance_each!($provider;
            capabilities random hash_fips180 p256_known_keys p256_invalid_private_keys
            p256_invalid_public_keys ecdsa_roundtrip ecdh_roundtrip key_usage persist_restore
            aead_roundtrip aead_key_lengths aead_batch hkdf_properties debug_redaction
            rfc5869_hkdf_sha256 wycheproof_hkdf_sha256 wycheproof_hkdf_sha512 wycheproof_aes_gcm
            wycheproof_ecdh_secp256r1 wycheproof_ecdsa_secp256r1_sha256);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_each {
    ($provider:expr; $($area:ident)*) => {
        $(
            #[test]
            fn $area() {
                $crate::conformance::$area($provider);
            }
        )*
    };
}

/// Runs every area against `provider` and returns their reports.
pub fn run_all(provider: &dyn CryptoProvider) -> Vec<Report> {
    vec![
        capabilities(provider),
        random(provider),
        hash_fips180(provider),
        p256_known_keys(provider),
        p256_invalid_private_keys(provider),
        p256_invalid_public_keys(provider),
        ecdsa_roundtrip(provider),
        ecdh_roundtrip(provider),
        key_usage(provider),
        persist_restore(provider),
        aead_roundtrip(provider),
        aead_key_lengths(provider),
        aead_batch(provider),
        hkdf_properties(provider),
        debug_redaction(provider),
        rfc5869_hkdf_sha256(provider),
        wycheproof_hkdf_sha256(provider),
        wycheproof_hkdf_sha512(provider),
        wycheproof_aes_gcm(provider),
        wycheproof_ecdh_secp256r1(provider),
        wycheproof_ecdsa_secp256r1_sha256(provider),
    ]
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Asserts that `$result` is an `Err` matching `$pattern`.
macro_rules! expect_err {
    ($id:expr, $what:expr, $result:expr, $pattern:pat) => {
        expect_err!($id, $what, $result, $pattern if true)
    };
    ($id:expr, $what:expr, $result:expr, $pattern:pat if $guard:expr) => {
        match $result {
            Ok(_) => panic!(
                "[{}] {}: succeeded, expected Err({})",
                $id,
                $what,
                stringify!($pattern)
            ),
            Err(e) => {
                if !matches!(e, $pattern if $guard) {
                    panic!(
                        "[{}] {}: failed with {:?}, expected {}",
                        $id,
                        $what,
                        e,
                        stringify!($pattern)
                    );
                }
            }
        }
    };
}

/// Unwraps `result`, panicking with the case id and what was attempted.
#[track_caller]
fn must<T>(id: &str, what: &str, result: Result<T, CryptoError>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("[{id}] {what}: unexpected error {e:?}"),
    }
}

/// Decodes a hex constant of this module (whitespace allowed). Never used on provider output.
fn hex(s: &str) -> Vec<u8> {
    fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => panic!("bad hex digit {:?} in a conformance constant", c as char),
        }
    }
    let digits: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd-length hex conformance constant"
    );
    digits
        .chunks(2)
        .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `bytes` with bit `bit` (0 = least significant bit of byte 0) flipped.
fn flipped(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

fn array<const N: usize>(id: &str, what: &str, bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap_or_else(|_| {
        panic!(
            "[{id}] {what}: expected {N} bytes, got {} (bad test data)",
            bytes.len()
        )
    })
}

fn public_key(id: &str, bytes: &[u8]) -> P256PublicKey {
    must(
        id,
        "P256PublicKey::from_sec1 of a valid key",
        P256PublicKey::from_sec1(bytes),
    )
}

fn random_bytes(p: &dyn CryptoProvider, id: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    must(id, "fill_random", p.fill_random(&mut out));
    out
}

/// The P-256 group order n.
const P256_N: &str = "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551";
/// The P-256 field prime p.
const P256_P: &str = "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff";
/// The base point G (SEC 2 / FIPS 186-4), uncompressed.
const P256_G: &str = "04
    6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296
    4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
/// -G = (n − 1)·G: same x, y = p − Gy.
const P256_MINUS_G: &str = "04
    6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296
    b01cbd1c01e58065711814b583f061e9d431cca994cea1313449bf97c840ae0a";
/// The private key of RFC 6979 Appendix A.2.5 (ECDSA, 256 bits, prime field).
const RFC6979_D: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
/// Its public key U = d·G.
const RFC6979_U: &str = "04
    60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6
    7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";

fn scalar_one() -> Vec<u8> {
    let mut s = vec![0u8; 32];
    s[31] = 1;
    s
}

/// n − 1 as 32 bytes.
fn scalar_n_minus_1() -> Vec<u8> {
    let mut s = hex(P256_N);
    s[31] -= 1;
    s
}

// ---------------------------------------------------------------------------------------------
// Properties and round trips
// ---------------------------------------------------------------------------------------------

/// The provider names itself and offers every algorithm the protocol needs.
pub fn capabilities(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("capabilities");
    let id = "capabilities";
    assert!(!p.name().is_empty(), "[{id}] name() is empty");
    r.pass();
    let caps = p.capabilities();
    for alg in [AeadAlg::Aes128Gcm, AeadAlg::Aes256Gcm] {
        assert!(
            caps.aead.contains(&alg),
            "[{id}] capabilities().aead lacks {alg:?}"
        );
        r.pass();
    }
    for alg in [HashAlg::Sha256, HashAlg::Sha512] {
        assert!(
            caps.hashes.contains(&alg),
            "[{id}] capabilities().hashes lacks {alg:?}"
        );
        r.pass();
    }
    r.finish(5)
}

/// `fill_random` fills buffers of any length, and two draws differ.
pub fn random(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("random");
    let id = "random";
    must(id, "fill_random of an empty buffer", p.fill_random(&mut []));
    r.pass();

    let a = random_bytes(p, id, 32);
    let b = random_bytes(p, id, 32);
    assert_ne!(a, b, "[{id}] two 32-byte draws are equal");
    assert_ne!(a, [0u8; 32], "[{id}] a 32-byte draw is all zero");
    r.pass();

    let big = random_bytes(p, id, 4096);
    let distinct: HashSet<u8> = big.iter().copied().collect();
    assert!(
        distinct.len() >= 200,
        "[{id}] 4096 random bytes take only {} distinct values",
        distinct.len()
    );
    r.pass();

    for len in [1usize, 7, 33, 1000] {
        let draws: HashSet<Vec<u8>> = (0..4).map(|_| random_bytes(p, id, len)).collect();
        // Four 1-byte draws may collide; longer ones must not.
        if len > 1 {
            assert_eq!(
                draws.len(),
                4,
                "[{id}/len={len}] repeated output in 4 draws"
            );
        }
        r.pass();
    }
    r.finish(7)
}

/// SHA-256 and SHA-512 known answers (FIPS 180-2 Appendices B and C) and multi-part hashing.
pub fn hash_fips180(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("hash_fips180");
    let two_block_256 = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    let two_block_512 = b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno\
ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    let cases: [(&str, HashAlg, &[u8], &str); 6] = [
        (
            "sha256/abc",
            HashAlg::Sha256,
            b"abc",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        (
            "sha256/empty",
            HashAlg::Sha256,
            b"",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        ),
        (
            "sha256/two-block",
            HashAlg::Sha256,
            two_block_256,
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
        (
            "sha512/abc",
            HashAlg::Sha512,
            b"abc",
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
        (
            "sha512/empty",
            HashAlg::Sha512,
            b"",
            "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce\
             47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e",
        ),
        (
            "sha512/two-block",
            HashAlg::Sha512,
            two_block_512,
            "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018\
             501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909",
        ),
    ];
    for (case, alg, message, expected) in cases {
        let id = format!("hash_fips180/{case}");
        let expected = hex(expected);
        let got = p.hash(alg, &[message]);
        assert_eq!(
            to_hex(&got),
            to_hex(&expected),
            "[{id}] one-part hash is wrong"
        );
        r.pass();
        // Every two-way split, with an empty part in front and at the back.
        for split in 0..=message.len() {
            let (a, b) = message.split_at(split);
            let got = p.hash(alg, &[b"", a, b, b""]);
            assert_eq!(
                to_hex(&got),
                to_hex(&expected),
                "[{id}] multi-part hash split at {split} differs from the one-part hash"
            );
        }
        r.pass();
    }
    for alg in [HashAlg::Sha256, HashAlg::Sha512] {
        let id = format!("hash_fips180/{alg:?}/no-parts");
        assert_eq!(
            p.hash(alg, &[]),
            p.hash(alg, &[b""]),
            "[{id}] hash of no parts differs from the hash of the empty string"
        );
        assert_eq!(
            p.hash(alg, &[]).len(),
            alg.output_len(),
            "[{id}] wrong output length"
        );
        r.pass();
        // Parts of 1000 bytes across block boundaries.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let parts: Vec<&[u8]> = data.chunks(37).collect();
        assert_eq!(
            p.hash(alg, &parts),
            p.hash(alg, &[&data]),
            "[hash_fips180/{alg:?}/37-byte-parts] multi-part hash differs"
        );
        r.pass();
    }
    r.finish(16)
}

/// Importing known scalars gives the known public keys (1 → G, n − 1 → −G, RFC 6979 A.2.5).
pub fn p256_known_keys(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("p256_known_keys");
    let cases = [
        ("d=1", scalar_one(), hex(P256_G)),
        ("d=n-1", scalar_n_minus_1(), hex(P256_MINUS_G)),
        ("d=rfc6979-a.2.5", hex(RFC6979_D), hex(RFC6979_U)),
    ];
    for (case, scalar, public) in &cases {
        for usage in [KeyUsage::Signing, KeyUsage::KeyAgreement] {
            let id = format!("p256_known_keys/{case}/{usage:?}");
            let key = must(&id, "import_p256", p.import_p256(scalar, usage));
            assert_eq!(key.usage(), usage, "[{id}] usage() of the imported key");
            assert_eq!(
                to_hex(key.public_key().as_bytes()),
                to_hex(public),
                "[{id}] public key of the imported scalar is wrong"
            );
            must(
                &id,
                "validate_public_key of the known public key",
                p.validate_public_key(&public_key(&id, public)),
            );
            r.pass();
        }
    }
    r.finish(6)
}

/// `import_p256` rejects 0, n, values above n and wrong lengths with `InvalidPrivateKey`.
pub fn p256_invalid_private_keys(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("p256_invalid_private_keys");
    let n = hex(P256_N);
    let mut n_plus_1 = n.clone();
    n_plus_1[31] += 1;
    let mut one_33 = vec![0u8; 33];
    one_33[32] = 1;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("zero", vec![0u8; 32]),
        ("n", n.clone()),
        ("n+1", n_plus_1),
        ("2^256-1", vec![0xff; 32]),
        ("empty", Vec::new()),
        ("31 bytes", vec![0x11; 31]),
        ("1 byte", vec![1]),
        ("33 bytes with a leading zero", one_33),
        ("33 bytes", vec![0x11; 33]),
        ("64 bytes", vec![0x11; 64]),
    ];
    for (case, scalar) in &cases {
        for usage in [KeyUsage::Signing, KeyUsage::KeyAgreement] {
            let id = format!("p256_invalid_private_keys/{case}/{usage:?}");
            expect_err!(
                id,
                "import_p256",
                p.import_p256(scalar, usage),
                CryptoError::InvalidPrivateKey
            );
            r.pass();
        }
    }
    r.finish(20)
}

/// Malformed and off-curve public keys are rejected by the encoding, by
/// `validate_public_key`, by `ecdh` and by `verify_p256`.
pub fn p256_invalid_public_keys(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("p256_invalid_public_keys");
    let g = hex(P256_G);

    // Encodings that are not SEC1 uncompressed: rejected before reaching the provider.
    let mut wrong_form = Vec::new();
    for prefix in [0x00u8, 0x02, 0x03, 0x05, 0x06, 0x07, 0xff] {
        let mut k = g.clone();
        k[0] = prefix;
        wrong_form.push((format!("prefix {prefix:#04x}"), k));
    }
    let mut compressed = vec![0x02u8];
    compressed.extend_from_slice(&g[1..33]);
    wrong_form.push(("compressed G (33 bytes)".into(), compressed));
    wrong_form.push(("raw x||y without prefix (64 bytes)".into(), g[1..].to_vec()));
    wrong_form.push(("empty".into(), Vec::new()));
    wrong_form.push(("identity encoding 0x00".into(), vec![0x00]));
    let mut long = g.clone();
    long.push(0);
    wrong_form.push(("66 bytes".into(), long));
    for (case, bytes) in &wrong_form {
        let id = format!("p256_invalid_public_keys/encoding/{case}");
        expect_err!(
            id,
            "P256PublicKey::from_sec1",
            P256PublicKey::from_sec1(bytes),
            CryptoError::InvalidPublicKey
        );
        r.pass();
    }

    // Well-formed encodings of points that are not on the curve.
    let mut zero = vec![0u8; 65];
    zero[0] = 0x04;
    let mut off_curve = g.clone();
    off_curve[64] ^= 1; // (Gx, Gy ± 1)
    let mut x_is_p = g.clone();
    x_is_p[1..33].copy_from_slice(&hex(P256_P)); // unreduced coordinate
    let mut y_is_p = g.clone();
    y_is_p[33..].copy_from_slice(&hex(P256_P));
    let mut ones = vec![0xffu8; 65];
    ones[0] = 0x04;
    let mut x_zero = g.clone();
    x_zero[1..33].fill(0);
    let not_on_curve = [
        ("all-zero coordinates (identity-like)", zero),
        ("G with y+1", off_curve),
        ("x = p", x_is_p),
        ("y = p", y_is_p),
        ("all-ones coordinates", ones),
        ("x = 0, y = Gy", x_zero),
    ];
    let ka = must(
        "p256_invalid_public_keys",
        "generate_p256(KeyAgreement)",
        p.generate_p256(KeyUsage::KeyAgreement),
    );
    let signer = must(
        "p256_invalid_public_keys",
        "generate_p256(Signing)",
        p.generate_p256(KeyUsage::Signing),
    );
    let message = b"conformance message";
    let signature = must("p256_invalid_public_keys", "sign", signer.sign(message));
    for (case, bytes) in &not_on_curve {
        let id = format!("p256_invalid_public_keys/point/{case}");
        let key = public_key(&id, bytes);
        expect_err!(
            id,
            "validate_public_key",
            p.validate_public_key(&key),
            CryptoError::InvalidPublicKey
        );
        expect_err!(id, "ecdh", ka.ecdh(&key), CryptoError::InvalidPublicKey);
        expect_err!(
            id,
            "verify_p256",
            p.verify_p256(&key, message, &signature),
            CryptoError::InvalidPublicKey | CryptoError::BadSignature
        );
        r.pass();
    }

    // And the valid points are accepted.
    for (case, bytes) in [
        ("G", hex(P256_G)),
        ("-G", hex(P256_MINUS_G)),
        ("U", hex(RFC6979_U)),
    ] {
        let id = format!("p256_invalid_public_keys/valid/{case}");
        must(
            &id,
            "validate_public_key",
            p.validate_public_key(&public_key(&id, &bytes)),
        );
        r.pass();
    }
    r.finish(20)
}

/// Generate, sign, verify; and every tampering is rejected with `BadSignature`.
pub fn ecdsa_roundtrip(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("ecdsa_roundtrip");
    let messages: [&[u8]; 4] = [b"", b"m", b"conclave handshake transcript", &[0xa5; 1000]];
    let mut publics = HashSet::new();
    for k in 0..3 {
        let id = format!("ecdsa_roundtrip/key{k}");
        let key = must(
            &id,
            "generate_p256(Signing)",
            p.generate_p256(KeyUsage::Signing),
        );
        assert_eq!(key.usage(), KeyUsage::Signing, "[{id}] usage()");
        let public = key.public_key();
        must(
            &id,
            "validate_public_key of a generated key",
            p.validate_public_key(&public),
        );
        assert!(
            publics.insert(*public.as_bytes()),
            "[{id}] generate_p256 returned a key pair seen before"
        );
        for (m, message) in messages.iter().enumerate() {
            let id = format!("{id}/msg{m}(len {})", message.len());
            let sig = must(&id, "sign", key.sign(message));
            must(
                &id,
                "verify_p256 of a fresh signature",
                p.verify_p256(&public, message, &sig),
            );
            r.pass();

            if !message.is_empty() {
                for bit in [0, message.len() * 8 - 1] {
                    let tampered = flipped(message, bit);
                    expect_err!(
                        id,
                        format!("verify_p256 with message bit {bit} flipped"),
                        p.verify_p256(&public, &tampered, &sig),
                        CryptoError::BadSignature
                    );
                    r.pass();
                }
            }
            let mut extended = message.to_vec();
            extended.push(0);
            expect_err!(
                id,
                "verify_p256 with a byte appended to the message",
                p.verify_p256(&public, &extended, &sig),
                CryptoError::BadSignature
            );
            for bit in [0, 7, 255, 256, 300, 511] {
                let tampered = Signature(array(&id, "signature", &flipped(sig.as_bytes(), bit)));
                expect_err!(
                    id,
                    format!("verify_p256 with signature bit {bit} flipped"),
                    p.verify_p256(&public, message, &tampered),
                    CryptoError::BadSignature
                );
                r.pass();
            }
            expect_err!(
                id,
                "verify_p256 against another public key",
                p.verify_p256(&public_key(&id, &hex(RFC6979_U)), message, &sig),
                CryptoError::BadSignature
            );
            r.pass();
        }
    }

    // Signatures that are not well-formed r ‖ s pairs.
    let key = must(
        "ecdsa_roundtrip",
        "generate_p256(Signing)",
        p.generate_p256(KeyUsage::Signing),
    );
    let sig = must("ecdsa_roundtrip", "sign", key.sign(b"x"));
    let n = hex(P256_N);
    let (r_good, s_good) = sig.as_bytes().split_at(32);
    let malformed: [(&str, Vec<u8>); 5] = [
        ("r = s = 0", vec![0u8; 64]),
        ("r = 0", [&[0u8; 32][..], s_good].concat()),
        ("s = 0", [r_good, &[0u8; 32][..]].concat()),
        ("r = n", [&n[..], s_good].concat()),
        ("s = n", [r_good, &n[..]].concat()),
    ];
    for (case, bytes) in &malformed {
        let id = format!("ecdsa_roundtrip/malformed/{case}");
        let bad = Signature(array(&id, "signature", bytes));
        expect_err!(
            id,
            "verify_p256",
            p.verify_p256(&key.public_key(), b"x", &bad),
            CryptoError::BadSignature
        );
        r.pass();
    }
    r.finish(100)
}

/// Generated key pairs (long-term and ephemeral) agree both ways; known scalars give the known
/// shared secret.
pub fn ecdh_roundtrip(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("ecdh_roundtrip");
    // Pair 0: two long-term keys; pair 1: ephemeral and long-term; pair 2: two ephemeral keys.
    for k in 0..3 {
        let id = format!("ecdh_roundtrip/pair{k}");
        let generate = |ephemeral: bool| {
            if ephemeral {
                must(
                    &id,
                    "generate_ephemeral_p256(KeyAgreement)",
                    p.generate_ephemeral_p256(KeyUsage::KeyAgreement),
                )
            } else {
                must(
                    &id,
                    "generate_p256(KeyAgreement)",
                    p.generate_p256(KeyUsage::KeyAgreement),
                )
            }
        };
        let a = generate(k >= 1);
        let b = generate(k == 2);
        assert_eq!(b.usage(), KeyUsage::KeyAgreement, "[{id}] usage()");
        assert_eq!(a.usage(), KeyUsage::KeyAgreement, "[{id}] usage()");
        let ab = must(&id, "a.ecdh(B)", a.ecdh(&b.public_key()));
        let ba = must(&id, "b.ecdh(A)", b.ecdh(&a.public_key()));
        assert_eq!(ab.len(), 32, "[{id}] shared secret is not 32 bytes");
        assert!(ab == ba, "[{id}] a.ecdh(B) != b.ecdh(A)");
        assert!(ab.expose() != [0u8; 32], "[{id}] shared secret is all zero");
        r.pass();
    }

    // 1·U = U.x and d·G = U.x for the RFC 6979 key pair (d, U).
    let u = hex(RFC6979_U);
    let expected_x = &u[1..33];
    for (case, scalar, peer) in [
        ("d=1, peer U", scalar_one(), hex(RFC6979_U)),
        ("d=rfc6979, peer G", hex(RFC6979_D), hex(P256_G)),
    ] {
        let id = format!("ecdh_roundtrip/known/{case}");
        let key = must(
            &id,
            "import_p256",
            p.import_p256(&scalar, KeyUsage::KeyAgreement),
        );
        let shared = must(&id, "ecdh", key.ecdh(&public_key(&id, &peer)));
        assert_eq!(
            to_hex(shared.expose()),
            to_hex(expected_x),
            "[{id}] shared secret is wrong"
        );
        r.pass();
    }
    // (n−1)·G = −G has the x-coordinate of G.
    let id = "ecdh_roundtrip/known/d=n-1, peer G";
    let key = must(
        id,
        "import_p256",
        p.import_p256(&scalar_n_minus_1(), KeyUsage::KeyAgreement),
    );
    let shared = must(id, "ecdh", key.ecdh(&public_key(id, &hex(P256_G))));
    assert_eq!(
        to_hex(shared.expose()),
        to_hex(&hex(P256_G)[1..33]),
        "[{id}] shared secret is wrong"
    );
    r.pass();
    r.finish(6)
}

/// A key is used only for its own usage: anything else is `WrongKeyUsage`.
pub fn key_usage(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("key_usage");
    let peer = public_key("key_usage", &hex(P256_G));
    let keys = [
        (
            "generated",
            KeyUsage::Signing,
            p.generate_p256(KeyUsage::Signing),
        ),
        (
            "generated",
            KeyUsage::KeyAgreement,
            p.generate_p256(KeyUsage::KeyAgreement),
        ),
        (
            "ephemeral",
            KeyUsage::Signing,
            p.generate_ephemeral_p256(KeyUsage::Signing),
        ),
        (
            "ephemeral",
            KeyUsage::KeyAgreement,
            p.generate_ephemeral_p256(KeyUsage::KeyAgreement),
        ),
        (
            "imported",
            KeyUsage::Signing,
            p.import_p256(&hex(RFC6979_D), KeyUsage::Signing),
        ),
        (
            "imported",
            KeyUsage::KeyAgreement,
            p.import_p256(&hex(RFC6979_D), KeyUsage::KeyAgreement),
        ),
    ];
    for (origin, usage, key) in keys {
        let id = format!("key_usage/{origin}/{usage:?}");
        let key = must(&id, "create key", key);
        assert_eq!(key.usage(), usage, "[{id}] usage()");
        match usage {
            KeyUsage::Signing => expect_err!(
                id,
                "ecdh with a signing key",
                key.ecdh(&peer),
                CryptoError::WrongKeyUsage {
                    actual: KeyUsage::Signing,
                    needed: KeyUsage::KeyAgreement
                }
            ),
            KeyUsage::KeyAgreement => expect_err!(
                id,
                "sign with a key-agreement key",
                key.sign(b"message"),
                CryptoError::WrongKeyUsage {
                    actual: KeyUsage::KeyAgreement,
                    needed: KeyUsage::Signing
                }
            ),
        }
        r.pass();
    }
    r.finish(6)
}

/// `persist` then `restore_p256` gives the same key with the same usage; foreign and
/// malformed persisted keys are refused.
pub fn persist_restore(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("persist_restore");
    let caps = p.capabilities();
    let peer = must(
        "persist_restore",
        "generate_p256(KeyAgreement)",
        p.generate_p256(KeyUsage::KeyAgreement),
    );
    for usage in [KeyUsage::Signing, KeyUsage::KeyAgreement] {
        for origin in ["generated", "imported"] {
            let id = format!("persist_restore/{origin}/{usage:?}");
            let key = if origin == "generated" {
                must(&id, "generate_p256", p.generate_p256(usage))
            } else {
                must(&id, "import_p256", p.import_p256(&hex(RFC6979_D), usage))
            };
            let persisted = must(&id, "persist", key.persist());
            assert_eq!(persisted.usage(), usage, "[{id}] persisted usage");
            match &persisted {
                PersistedKey::Raw { scalar, .. } => {
                    assert!(
                        caps.extractable_private_keys,
                        "[{id}] persist() returned Raw but capabilities say keys are not extractable"
                    );
                    assert_eq!(scalar.len(), 32, "[{id}] Raw scalar is not 32 bytes");
                    if origin == "imported" {
                        assert!(
                            scalar.expose() == hex(RFC6979_D).as_slice(),
                            "[{id}] Raw scalar differs from the imported scalar"
                        );
                    }
                    let again = must(
                        &id,
                        "import_p256 of the Raw scalar",
                        p.import_p256(scalar.expose(), usage),
                    );
                    assert_eq!(
                        again.public_key(),
                        key.public_key(),
                        "[{id}] importing the Raw scalar gives another public key"
                    );
                }
                PersistedKey::Reference { provider, .. } => {
                    assert_eq!(
                        provider,
                        p.name(),
                        "[{id}] Reference names another provider"
                    );
                }
            }
            let restored = must(&id, "restore_p256", p.restore_p256(&persisted));
            assert_eq!(restored.usage(), usage, "[{id}] restored usage");
            assert_eq!(
                restored.public_key(),
                key.public_key(),
                "[{id}] restored public key differs"
            );
            match usage {
                KeyUsage::Signing => {
                    let sig = must(
                        &id,
                        "sign with the restored key",
                        restored.sign(b"persisted"),
                    );
                    must(
                        &id,
                        "verify_p256 of the restored key's signature",
                        p.verify_p256(&key.public_key(), b"persisted", &sig),
                    );
                }
                KeyUsage::KeyAgreement => {
                    let before = must(
                        &id,
                        "ecdh with the original key",
                        key.ecdh(&peer.public_key()),
                    );
                    let after = must(
                        &id,
                        "ecdh with the restored key",
                        restored.ecdh(&peer.public_key()),
                    );
                    assert!(
                        before == after,
                        "[{id}] restored key agrees on another secret"
                    );
                }
            }
            // A persisted form is stable: persisting the restored key restores the same key.
            let twice = must(
                &id,
                "restore of re-persisted key",
                p.restore_p256(&must(&id, "persist of restored key", restored.persist())),
            );
            assert_eq!(
                twice.public_key(),
                key.public_key(),
                "[{id}] second round trip differs"
            );
            r.pass();
        }
    }
    let foreign = PersistedKey::Reference {
        provider: format!("{}-not-this-provider", p.name()),
        usage: KeyUsage::Signing,
        reference: vec![1, 2, 3, 4],
    };
    expect_err!(
        "persist_restore/foreign-reference",
        "restore_p256 of another provider's Reference",
        p.restore_p256(&foreign),
        _
    );
    r.pass();
    for (case, scalar) in [
        ("zero", vec![0u8; 32]),
        ("n", hex(P256_N)),
        ("31 bytes", vec![0x11; 31]),
        ("empty", Vec::new()),
    ] {
        let malformed = PersistedKey::Raw {
            usage: KeyUsage::KeyAgreement,
            scalar: crate::Secret::new(scalar),
        };
        expect_err!(
            format!("persist_restore/malformed-raw/{case}"),
            "restore_p256 of an invalid Raw scalar",
            p.restore_p256(&malformed),
            _
        );
        r.pass();
    }
    r.finish(9)
}

/// Sizes of AEAD round-trip buffers: empty, tiny, one block, a media packet, > 64 KiB.
const AEAD_LENGTHS: [usize; 5] = [0, 1, 16, 1200, 70000];

/// Seal/open round trips for AES-128-GCM and AES-256-GCM (`seal_to` gives what `seal_in_place`
/// gives), and every tampering (ciphertext, tag, AAD, nonce, key, truncation) fails with
/// `AuthenticationFailed`.
pub fn aead_roundtrip(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("aead_roundtrip");
    for alg in [AeadAlg::Aes128Gcm, AeadAlg::Aes256Gcm] {
        let base = format!("aead_roundtrip/{alg:?}");
        let key_bytes = random_bytes(p, &base, alg.key_len());
        let key = must(&base, "aead_key", p.aead_key(alg, &key_bytes));
        assert_eq!(key.algorithm(), alg, "[{base}] algorithm()");
        let mut other_bytes = key_bytes.clone();
        other_bytes[0] ^= 1;
        let other = must(&base, "aead_key", p.aead_key(alg, &other_bytes));
        let same = must(&base, "aead_key", p.aead_key(alg, &key_bytes));

        for aad in [&b""[..], &b"conclave frame header"[..]] {
            for len in AEAD_LENGTHS {
                let id = format!("{base}/len={len}/aad={}", aad.len());
                let nonce: [u8; NONCE_LEN] = array(&id, "nonce", &random_bytes(p, &id, NONCE_LEN));
                let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();

                let mut ct = plaintext.clone();
                let tag = must(
                    &id,
                    "seal_in_place",
                    key.seal_in_place(&nonce, aad, &mut ct),
                );
                if len >= 16 {
                    assert!(ct != plaintext, "[{id}] ciphertext equals plaintext");
                }
                // Deterministic: same key material, nonce, AAD and plaintext → same output.
                let mut ct2 = plaintext.clone();
                let tag2 = must(
                    &id,
                    "seal_in_place (second key object)",
                    same.seal_in_place(&nonce, aad, &mut ct2),
                );
                assert!(
                    ct == ct2 && tag == tag2,
                    "[{id}] sealing is not deterministic"
                );

                // Out of place: the same ciphertext and tag; the output length must match.
                let mut out = vec![0u8; len];
                let tag3 = must(
                    &id,
                    "seal_to",
                    same.seal_to(&nonce, aad, &plaintext, &mut out),
                );
                assert!(
                    out == ct && tag3 == tag,
                    "[{id}] seal_to differs from seal_in_place"
                );
                let mut wrong = vec![0u8; len + 1];
                expect_err!(
                    id,
                    "seal_to into a longer output",
                    same.seal_to(&nonce, aad, &plaintext, &mut wrong),
                    CryptoError::InvalidLength { .. }
                );

                let mut buf = ct.clone();
                must(
                    &id,
                    "open_in_place of an untampered message",
                    key.open_in_place(&nonce, aad, &mut buf, &tag),
                );
                assert!(
                    buf == plaintext,
                    "[{id}] open_in_place did not restore the plaintext"
                );
                r.pass();

                let open = |nonce: &[u8; NONCE_LEN],
                            aad: &[u8],
                            data: &[u8],
                            tag: &[u8; TAG_LEN],
                            key: &dyn AeadKey| {
                    let mut buf = data.to_vec();
                    key.open_in_place(nonce, aad, &mut buf, tag)
                };
                let mut tampered: Vec<(String, Result<(), CryptoError>)> = Vec::new();
                if len > 0 {
                    for bit in [0, len * 8 - 1] {
                        tampered.push((
                            format!("ciphertext bit {bit} flipped"),
                            open(&nonce, aad, &flipped(&ct, bit), &tag, key.as_ref()),
                        ));
                    }
                    tampered.push((
                        "ciphertext truncated by one byte".into(),
                        open(&nonce, aad, &ct[..len - 1], &tag, key.as_ref()),
                    ));
                }
                let mut extended = ct.clone();
                extended.push(0);
                tampered.push((
                    "ciphertext extended by one byte".into(),
                    open(&nonce, aad, &extended, &tag, key.as_ref()),
                ));
                for bit in [0, 64, 127] {
                    let bad_tag: [u8; TAG_LEN] = array(&id, "tag", &flipped(&tag, bit));
                    tampered.push((
                        format!("tag bit {bit} flipped"),
                        open(&nonce, aad, &ct, &bad_tag, key.as_ref()),
                    ));
                }
                if !aad.is_empty() {
                    for bit in [0, aad.len() * 8 - 1] {
                        tampered.push((
                            format!("AAD bit {bit} flipped"),
                            open(&nonce, &flipped(aad, bit), &ct, &tag, key.as_ref()),
                        ));
                    }
                    tampered.push((
                        "AAD empty instead".into(),
                        open(&nonce, b"", &ct, &tag, key.as_ref()),
                    ));
                }
                let mut longer_aad = aad.to_vec();
                longer_aad.push(0);
                tampered.push((
                    "AAD extended by one byte".into(),
                    open(&nonce, &longer_aad, &ct, &tag, key.as_ref()),
                ));
                for bit in [0, 95] {
                    let bad_nonce: [u8; NONCE_LEN] = array(&id, "nonce", &flipped(&nonce, bit));
                    tampered.push((
                        format!("nonce bit {bit} flipped"),
                        open(&bad_nonce, aad, &ct, &tag, key.as_ref()),
                    ));
                }
                tampered.push((
                    "another key".into(),
                    open(&nonce, aad, &ct, &tag, other.as_ref()),
                ));
                for (what, result) in tampered {
                    expect_err!(
                        id,
                        format!("open_in_place with {what}"),
                        result,
                        CryptoError::AuthenticationFailed
                    );
                    r.pass();
                }
            }
        }
    }
    r.finish(200)
}

/// `aead_key` rejects keys of the wrong length with `InvalidLength`.
pub fn aead_key_lengths(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("aead_key_lengths");
    for (alg, lengths) in [
        (AeadAlg::Aes128Gcm, &[0usize, 1, 15, 17, 24, 32][..]),
        (AeadAlg::Aes256Gcm, &[0usize, 16, 24, 31, 33, 64][..]),
    ] {
        for &len in lengths {
            let id = format!("aead_key_lengths/{alg:?}/len={len}");
            let expected = alg.key_len();
            expect_err!(
                id,
                "aead_key",
                p.aead_key(alg, &vec![0x42; len]),
                CryptoError::InvalidLength { expected: exp, got, .. } if exp == expected && got == len
            );
            r.pass();
        }
    }
    r.finish(12)
}

/// Lengths of the items of the mixed batch: empty, tiny, around one block, media frames, and
/// one larger than 64 KiB.
const BATCH_LENGTHS: [usize; 9] = [0, 1, 15, 16, 17, 100, 1200, 1200, 70000];

/// Plaintexts, nonces and AADs of one batch; nonces are distinct within it.
struct BatchCase {
    plaintexts: Vec<Vec<u8>>,
    nonces: Vec<[u8; NONCE_LEN]>,
    aads: Vec<Vec<u8>>,
}

impl BatchCase {
    fn new(p: &dyn CryptoProvider, id: &str, lengths: &[usize]) -> Self {
        let base: [u8; NONCE_LEN] = array(id, "nonce", &random_bytes(p, id, NONCE_LEN));
        let mut nonces = Vec::with_capacity(lengths.len());
        for i in 0..lengths.len() {
            // base XOR index, like SFrame's salt XOR counter: distinct for distinct indexes.
            let mut nonce = base;
            for (n, c) in nonce[NONCE_LEN - 8..]
                .iter_mut()
                .zip((i as u64).to_be_bytes())
            {
                *n ^= c;
            }
            nonces.push(nonce);
        }
        BatchCase {
            plaintexts: lengths
                .iter()
                .enumerate()
                .map(|(i, &len)| (0..len).map(|j| (i * 131 + j * 7 + 1) as u8).collect())
                .collect(),
            nonces,
            // Every third item without AAD; the others with an item-specific header.
            aads: (0..lengths.len())
                .map(|i| {
                    if i % 3 == 0 {
                        Vec::new()
                    } else {
                        format!("header {i}").into_bytes()
                    }
                })
                .collect(),
        }
    }

    /// What `seal_in_place` gives item by item: (ciphertext, tag) per item.
    fn sealed_one_by_one(&self, id: &str, key: &dyn AeadKey) -> Vec<(Vec<u8>, [u8; TAG_LEN])> {
        self.plaintexts
            .iter()
            .zip(&self.nonces)
            .zip(&self.aads)
            .map(|((pt, nonce), aad)| {
                let mut ct = pt.clone();
                let tag = must(id, "seal_in_place", key.seal_in_place(nonce, aad, &mut ct));
                (ct, tag)
            })
            .collect()
    }
}

/// `seal_batch` output is byte for byte what `seal_in_place` gives item by item (for batches
/// of 0, 1, mixed lengths and 64 media frames; items in place and from a separate input),
/// `open_batch` restores every plaintext, a forged item fails alone with
/// `AuthenticationFailed` while its neighbours open, and mismatched lengths are refused.
pub fn aead_batch(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("aead_batch");
    for alg in [AeadAlg::Aes128Gcm, AeadAlg::Aes256Gcm] {
        let base = format!("aead_batch/{alg:?}");
        let key_bytes = random_bytes(p, &base, alg.key_len());
        let key = must(&base, "aead_key", p.aead_key(alg, &key_bytes));

        must(&base, "seal_batch of no items", key.seal_batch(&mut []));
        assert!(
            key.open_batch(&mut []).is_empty(),
            "[{base}] open_batch of no items returned results"
        );
        r.pass();

        let frames = [1200usize; 64];
        let batches: [(&str, &[usize]); 3] = [
            ("single", &[1200]),
            ("mixed", &BATCH_LENGTHS),
            ("64x1200", &frames),
        ];
        for (name, lengths) in batches {
            let id = format!("{base}/{name}");
            let case = BatchCase::new(p, &id, lengths);
            let expected = case.sealed_one_by_one(&id, key.as_ref());

            // Seal as one batch: identical to one by one. Odd items are sealed from a separate
            // input into a zeroed buffer, even ones in place.
            let mut buffers: Vec<Vec<u8>> = case
                .plaintexts
                .iter()
                .enumerate()
                .map(|(i, pt)| {
                    if i % 2 == 1 {
                        vec![0; pt.len()]
                    } else {
                        pt.clone()
                    }
                })
                .collect();
            let mut items: Vec<AeadBatchItem<'_>> = buffers
                .iter_mut()
                .zip(&case.nonces)
                .zip(&case.aads)
                .zip(&case.plaintexts)
                .enumerate()
                .map(|(i, (((buf, nonce), aad), pt))| {
                    if i % 2 == 1 {
                        AeadBatchItem::to_seal_from(*nonce, aad, pt, buf)
                    } else {
                        AeadBatchItem::to_seal(*nonce, aad, buf)
                    }
                })
                .collect();
            must(&id, "seal_batch", key.seal_batch(&mut items));
            let tags: Vec<[u8; TAG_LEN]> = items.iter().map(|item| item.tag).collect();
            drop(items);
            for (i, ((ct, tag), (exp_ct, exp_tag))) in
                buffers.iter().zip(&tags).zip(&expected).enumerate()
            {
                assert!(
                    ct == exp_ct,
                    "[{id}/item {i}] seal_batch ciphertext differs from seal_in_place"
                );
                assert_eq!(
                    to_hex(tag),
                    to_hex(exp_tag),
                    "[{id}/item {i}] seal_batch tag differs from seal_in_place"
                );
                r.pass();
            }

            // Open as one batch: every plaintext comes back. Even items are opened from a
            // separate input into a zeroed buffer, odd ones in place.
            let mut opened: Vec<Vec<u8>> = buffers
                .iter()
                .enumerate()
                .map(|(i, ct)| {
                    if i % 2 == 0 {
                        vec![0; ct.len()]
                    } else {
                        ct.clone()
                    }
                })
                .collect();
            let mut items: Vec<AeadBatchItem<'_>> = opened
                .iter_mut()
                .zip(&case.nonces)
                .zip(&case.aads)
                .zip(&tags)
                .zip(&buffers)
                .enumerate()
                .map(|(i, ((((buf, nonce), aad), tag), ct))| {
                    if i % 2 == 0 {
                        AeadBatchItem::to_open_from(*nonce, aad, ct, buf, *tag)
                    } else {
                        AeadBatchItem::to_open(*nonce, aad, buf, *tag)
                    }
                })
                .collect();
            let results = key.open_batch(&mut items);
            drop(items);
            assert_eq!(
                results.len(),
                lengths.len(),
                "[{id}] open_batch returned {} results for {} items",
                results.len(),
                lengths.len()
            );
            for (i, (result, (buf, pt))) in results
                .into_iter()
                .zip(opened.iter().zip(&case.plaintexts))
                .enumerate()
            {
                must(&format!("{id}/item {i}"), "open_batch", result);
                assert!(
                    buf == pt,
                    "[{id}/item {i}] open_batch did not restore the plaintext"
                );
            }
            r.pass();

            // Forgeries fail alone: a flipped ciphertext bit, a flipped tag bit, another AAD.
            let n = lengths.len();
            let mut forged: Vec<usize> = Vec::new();
            let mut tampered = buffers.clone();
            let mut tampered_tags = tags.clone();
            let mut tampered_aads = case.aads.clone();
            if let Some(i) = (0..n).find(|&i| !tampered[i].is_empty()) {
                tampered[i][0] ^= 0x01;
                forged.push(i);
            }
            let last = n - 1;
            if !forged.contains(&last) {
                tampered_tags[last][TAG_LEN - 1] ^= 0x80;
                forged.push(last);
            }
            if n > 2 && !forged.contains(&(n / 2)) {
                tampered_aads[n / 2].push(0);
                forged.push(n / 2);
            }
            let mut items: Vec<AeadBatchItem<'_>> = tampered
                .iter_mut()
                .zip(&case.nonces)
                .zip(&tampered_aads)
                .zip(&tampered_tags)
                .map(|(((buf, nonce), aad), tag)| AeadBatchItem::to_open(*nonce, aad, buf, *tag))
                .collect();
            let results = key.open_batch(&mut items);
            drop(items);
            assert_eq!(results.len(), n, "[{id}] open_batch result count");
            for (i, result) in results.into_iter().enumerate() {
                let item_id = format!("{id}/forged/item {i}");
                if forged.contains(&i) {
                    expect_err!(
                        item_id,
                        "open_batch of a forged item",
                        result,
                        CryptoError::AuthenticationFailed
                    );
                } else {
                    must(
                        &item_id,
                        "open_batch of a genuine item next to forgeries",
                        result,
                    );
                    assert!(
                        tampered[i] == case.plaintexts[i],
                        "[{item_id}] a genuine item next to forgeries did not open to its plaintext"
                    );
                }
            }
            r.pass();
        }

        // A separate input whose length differs from its buffer's is refused: the whole batch
        // when sealing, that item alone when opening.
        let id = format!("{base}/length-mismatch");
        let input = vec![1u8; 32];
        let mut short = vec![0u8; 31];
        expect_err!(
            id,
            "seal_batch with an input longer than its buffer",
            key.seal_batch(&mut [AeadBatchItem::to_seal_from(
                [0; NONCE_LEN],
                b"",
                &input,
                &mut short
            )]),
            CryptoError::InvalidLength { .. }
        );
        let mut genuine = vec![7u8; 16];
        let tag = must(
            &id,
            "seal_in_place",
            key.seal_in_place(&[1; NONCE_LEN], b"", &mut genuine),
        );
        let mut good_out = vec![0u8; 16];
        let results = key.open_batch(&mut [
            AeadBatchItem::to_open_from([0; NONCE_LEN], b"", &input, &mut short, [0; TAG_LEN]),
            AeadBatchItem::to_open_from([1; NONCE_LEN], b"", &genuine, &mut good_out, tag),
        ]);
        assert_eq!(results.len(), 2, "[{id}] open_batch result count");
        let mut results = results.into_iter();
        expect_err!(
            id,
            "open_batch item with an input longer than its buffer",
            results.next().unwrap_or(Ok(())),
            CryptoError::InvalidLength { .. }
        );
        must(
            &id,
            "open_batch item next to a length mismatch",
            results.next().unwrap_or(Ok(())),
        );
        assert_eq!(good_out, vec![7u8; 16], "[{id}] wrong plaintext");
        r.pass();
    }
    r.finish(150)
}

/// HKDF properties: output limits, empty salt, multi-part info, prefix consistency.
pub fn hkdf_properties(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("hkdf_properties");
    for alg in [HashAlg::Sha256, HashAlg::Sha512] {
        let id = format!("hkdf_properties/{alg:?}");
        let hash_len = alg.output_len();
        let ikm = b"input keying material";

        let prk = must(&id, "hkdf_extract", p.hkdf_extract(alg, b"salt", ikm));
        assert_eq!(prk.len(), hash_len, "[{id}] PRK is not HashLen bytes");
        r.pass();

        let empty = must(
            &id,
            "hkdf_extract (empty salt)",
            p.hkdf_extract(alg, b"", ikm),
        );
        let zeros = must(
            &id,
            "hkdf_extract (HashLen zero salt)",
            p.hkdf_extract(alg, &vec![0u8; hash_len], ikm),
        );
        assert!(
            empty == zeros,
            "[{id}] empty salt differs from HashLen zero bytes (RFC 5869 §2.2)"
        );
        r.pass();

        let mut max = vec![0u8; 255 * hash_len];
        must(
            &id,
            "hkdf_expand of 255*HashLen bytes",
            p.hkdf_expand(alg, prk.expose(), &[b"info"], &mut max),
        );
        r.pass();
        let mut too_long = vec![0u8; 255 * hash_len + 1];
        expect_err!(
            id,
            "hkdf_expand of 255*HashLen+1 bytes",
            p.hkdf_expand(alg, prk.expose(), &[b"info"], &mut too_long),
            CryptoError::HkdfOutputTooLong(_)
        );
        r.pass();
        let mut way_too_long = vec![0u8; 1 << 16];
        expect_err!(
            id,
            "hkdf_expand of 65536 bytes",
            p.hkdf_expand(alg, prk.expose(), &[b"info"], &mut way_too_long),
            CryptoError::HkdfOutputTooLong(_)
        );
        r.pass();

        let mut short = vec![0u8; 10];
        must(
            &id,
            "hkdf_expand of 10 bytes",
            p.hkdf_expand(alg, prk.expose(), &[b"info"], &mut short),
        );
        assert!(
            short == max[..10],
            "[{id}] a short output is not a prefix of a longer one"
        );
        r.pass();

        let mut one = vec![0u8; 100];
        let mut parts = vec![0u8; 100];
        must(
            &id,
            "hkdf_expand (one info part)",
            p.hkdf_expand(alg, prk.expose(), &[b"conclave key schedule"], &mut one),
        );
        must(
            &id,
            "hkdf_expand (split info)",
            p.hkdf_expand(
                alg,
                prk.expose(),
                &[b"", b"conclave", b" key", b"", b" schedule"],
                &mut parts,
            ),
        );
        assert!(
            one == parts,
            "[{id}] split info differs from the concatenated info"
        );
        r.pass();

        let mut other_info = vec![0u8; 100];
        must(
            &id,
            "hkdf_expand (other info)",
            p.hkdf_expand(
                alg,
                prk.expose(),
                &[b"conclave key schedulf"],
                &mut other_info,
            ),
        );
        assert!(
            one != other_info,
            "[{id}] different info gives the same output"
        );
        r.pass();
    }
    r.finish(16)
}

/// `Debug` output of keys and secrets, and error messages, never contain key material.
pub fn debug_redaction(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("debug_redaction");
    let d = hex(RFC6979_D);
    // The secret as hex, or its first 8 bytes as a decimal or hex list (`Debug` of a slice).
    let forbidden = |bytes: &[u8]| -> Vec<String> {
        let decimal: Vec<String> = bytes[..8].iter().map(u8::to_string).collect();
        let hex_list: Vec<String> = bytes[..8].iter().map(|b| format!("{b:#04x}")).collect();
        vec![
            to_hex(bytes),
            to_hex(bytes).to_uppercase(),
            decimal.join(", "),
            decimal.join(","),
            hex_list.join(", "),
            hex_list.join(","),
        ]
    };
    let check = |id: &str, text: &str, secret: &[u8]| {
        for needle in forbidden(secret) {
            assert!(
                !text.contains(&needle),
                "[{id}] output contains key material: {text}"
            );
        }
    };
    for usage in [KeyUsage::Signing, KeyUsage::KeyAgreement] {
        let id = format!("debug_redaction/p256/{usage:?}");
        let key = must(&id, "import_p256", p.import_p256(&d, usage));
        check(&id, &format!("{key:?}"), &d);
        check(&id, &format!("{key:#?}"), &d);
        let persisted = must(&id, "persist", key.persist());
        check(&id, &format!("{persisted:?}"), &d);
        r.pass();
    }
    let peer = public_key("debug_redaction", &hex(P256_G));
    let key = must(
        "debug_redaction",
        "import_p256",
        p.import_p256(&d, KeyUsage::KeyAgreement),
    );
    let shared = must("debug_redaction", "ecdh", key.ecdh(&peer));
    check(
        "debug_redaction/shared-secret",
        &format!("{shared:?}"),
        shared.expose(),
    );
    r.pass();
    for alg in [AeadAlg::Aes128Gcm, AeadAlg::Aes256Gcm] {
        let id = format!("debug_redaction/aead/{alg:?}");
        let kb: Vec<u8> = (0..alg.key_len() as u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(11))
            .collect();
        let key = must(&id, "aead_key", p.aead_key(alg, &kb));
        check(&id, &format!("{key:?}"), &kb);
        check(&id, &format!("{key:#?}"), &kb);
        r.pass();
    }
    // Errors about a bad scalar or key must not echo it.
    let bad_scalar = vec![0xc9u8; 31];
    if let Err(e) = p.import_p256(&bad_scalar, KeyUsage::Signing) {
        check("debug_redaction/error", &format!("{e} {e:?}"), &bad_scalar);
    }
    let bad_key = vec![0x5au8; 17];
    if let Err(e) = p.aead_key(AeadAlg::Aes128Gcm, &bad_key) {
        check("debug_redaction/error", &format!("{e} {e:?}"), &bad_key);
    }
    r.pass();
    r.finish(6)
}

// ---------------------------------------------------------------------------------------------
// RFC 5869
// ---------------------------------------------------------------------------------------------

/// One HKDF test case of RFC 5869 Appendix A.
struct Rfc5869Case {
    name: &'static str,
    ikm: fn() -> Vec<u8>,
    salt: fn() -> Vec<u8>,
    info: fn() -> Vec<u8>,
    len: usize,
    prk: &'static str,
    okm: &'static str,
}

/// RFC 5869 Appendix A, test cases 1–3 (A.1–A.3): HKDF with SHA-256.
const RFC5869_SHA256: [Rfc5869Case; 3] = [
    // A.1 Test Case 1: basic test case with SHA-256.
    Rfc5869Case {
        name: "A.1 test case 1",
        ikm: || vec![0x0b; 22],
        salt: || (0x00..=0x0c).collect(),
        info: || (0xf0..=0xf9).collect(),
        len: 42,
        prk: "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
        okm: "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
              34007208d5b887185865",
    },
    // A.2 Test Case 2: longer inputs/outputs (IKM 0x00..0x4f, salt 0x60..0xaf, info 0xb0..0xff).
    Rfc5869Case {
        name: "A.2 test case 2",
        ikm: || (0x00..=0x4f).collect(),
        salt: || (0x60..=0xaf).collect(),
        info: || (0xb0..=0xff).collect(),
        len: 82,
        prk: "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
        okm: "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c\
              59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71\
              cc30c58179ec3e87c14c01d5c1f3434f1d87",
    },
    // A.3 Test Case 3: zero-length salt and info.
    Rfc5869Case {
        name: "A.3 test case 3",
        ikm: || vec![0x0b; 22],
        salt: Vec::new,
        info: Vec::new,
        len: 42,
        prk: "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
        okm: "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d\
              9d201395faa4b61a96c8",
    },
];

/// RFC 5869 Appendix A test cases 1–3 (HKDF-SHA-256): PRK and OKM, with the info passed whole
/// and split in two parts.
pub fn rfc5869_hkdf_sha256(p: &dyn CryptoProvider) -> Report {
    let mut r = Report::new("rfc5869_hkdf_sha256");
    for case in &RFC5869_SHA256 {
        let id = format!("rfc5869 {}", case.name);
        let (ikm, salt, info) = ((case.ikm)(), (case.salt)(), (case.info)());
        let prk = must(
            &id,
            "hkdf_extract",
            p.hkdf_extract(HashAlg::Sha256, &salt, &ikm),
        );
        assert_eq!(to_hex(prk.expose()), case.prk, "[{id}] PRK is wrong");
        let expected_okm = hex(case.okm);
        assert_eq!(
            expected_okm.len(),
            case.len,
            "[{id}] bad transcription of OKM"
        );

        let mut okm = vec![0u8; case.len];
        must(
            &id,
            "hkdf_expand",
            p.hkdf_expand(HashAlg::Sha256, prk.expose(), &[&info], &mut okm),
        );
        assert_eq!(to_hex(&okm), to_hex(&expected_okm), "[{id}] OKM is wrong");

        let (a, b) = info.split_at(info.len() / 2);
        let mut okm = vec![0u8; case.len];
        must(
            &id,
            "hkdf_expand (split info)",
            p.hkdf_expand(HashAlg::Sha256, prk.expose(), &[a, b], &mut okm),
        );
        assert_eq!(
            to_hex(&okm),
            to_hex(&expected_okm),
            "[{id}] OKM with split info is wrong"
        );
        r.pass();
    }
    assert_eq!(r.passed, 3, "[rfc5869] not all three test cases ran");
    r.finish(3)
}

// ---------------------------------------------------------------------------------------------
// Wycheproof
// ---------------------------------------------------------------------------------------------

fn wycheproof_id(set: &str, tc_id: usize, comment: &str) -> String {
    if comment.is_empty() {
        format!("wycheproof {set} tcId {tc_id}")
    } else {
        format!("wycheproof {set} tcId {tc_id} ({comment})")
    }
}

/// Records the outcome of one Wycheproof case: `Ok(())` accepted with the right output,
/// `Err(why)` rejected.
#[track_caller]
fn record(r: &mut Report, id: &str, expected: TestResult, outcome: Result<(), String>) {
    match (expected, outcome) {
        (TestResult::Valid, Ok(())) => r.valid += 1,
        (TestResult::Valid, Err(why)) => panic!("[{id}] valid vector rejected: {why}"),
        (TestResult::Invalid, Err(_)) => r.invalid += 1,
        (TestResult::Invalid, Ok(())) => panic!("[{id}] invalid vector accepted"),
        (TestResult::Acceptable, Ok(())) => r.acceptable_accepted += 1,
        (TestResult::Acceptable, Err(_)) => r.acceptable_rejected += 1,
    }
    r.pass();
}

#[track_caller]
fn finish_wycheproof(r: Report, total_in_set: usize, min: usize) -> Report {
    assert_eq!(
        r.passed + r.skipped,
        total_in_set,
        "[{}] ran + skipped does not cover the whole set",
        r.area
    );
    assert!(r.valid > 0, "[{}] no valid vector ran", r.area);
    assert!(r.invalid > 0, "[{}] no invalid vector ran", r.area);
    r.finish(min)
}

fn wycheproof_hkdf(p: &dyn CryptoProvider, alg: HashAlg) -> Report {
    use wycheproof::hkdf::{TestName, TestSet};
    let (area, set_name, name) = match alg {
        HashAlg::Sha256 => (
            "wycheproof_hkdf_sha256",
            "hkdf_sha256",
            TestName::HkdfSha256,
        ),
        HashAlg::Sha512 => (
            "wycheproof_hkdf_sha512",
            "hkdf_sha512",
            TestName::HkdfSha512,
        ),
    };
    let set = TestSet::load(name)
        .unwrap_or_else(|e| panic!("[wycheproof {set_name}] cannot load the test set: {e}"));
    let mut r = Report::new(area);
    for group in &set.test_groups {
        for t in &group.tests {
            let id = wycheproof_id(set_name, t.tc_id, &t.comment);
            let outcome = (|| -> Result<(), String> {
                let prk = p
                    .hkdf_extract(alg, &t.salt, &t.ikm)
                    .map_err(|e| format!("hkdf_extract: {e:?}"))?;
                let mut okm = vec![0u8; t.size];
                let expanded = p.hkdf_expand(alg, prk.expose(), &[&t.info], &mut okm);
                if t.size > 255 * alg.output_len() {
                    // The only reason for rejection in these sets: it must be the right error.
                    expect_err!(
                        id,
                        "hkdf_expand beyond 255*HashLen",
                        expanded,
                        CryptoError::HkdfOutputTooLong(_)
                    );
                    return Err("output too long".into());
                }
                expanded.map_err(|e| format!("hkdf_expand: {e:?}"))?;
                if okm != t.okm.as_slice() {
                    panic!(
                        "[{id}] OKM is wrong: got {}, expected {}",
                        to_hex(&okm),
                        to_hex(&t.okm)
                    );
                }
                Ok(())
            })();
            record(&mut r, &id, t.result, outcome);
        }
    }
    finish_wycheproof(r, set.number_of_tests, 70)
}

/// Wycheproof `hkdf_sha256_test.json`: every vector (valid: exact OKM; invalid: refused).
pub fn wycheproof_hkdf_sha256(p: &dyn CryptoProvider) -> Report {
    wycheproof_hkdf(p, HashAlg::Sha256)
}

/// Wycheproof `hkdf_sha512_test.json`: every vector (valid: exact OKM; invalid: refused).
pub fn wycheproof_hkdf_sha512(p: &dyn CryptoProvider) -> Report {
    wycheproof_hkdf(p, HashAlg::Sha512)
}

/// Wycheproof `aes_gcm_test.json`, the vectors with 96-bit IVs, 128-bit tags and 128- or
/// 256-bit keys (the others are skipped and counted). Valid vectors must seal to exactly the
/// expected ciphertext and tag and open again; invalid ones must fail to open.
pub fn wycheproof_aes_gcm(p: &dyn CryptoProvider) -> Report {
    use wycheproof::aead::{TestName, TestSet};
    let set = TestSet::load(TestName::AesGcm)
        .unwrap_or_else(|e| panic!("[wycheproof aes_gcm] cannot load the test set: {e}"));
    let mut r = Report::new("wycheproof_aes_gcm");
    let mut ran_per_key_size = [0usize; 2];
    for group in &set.test_groups {
        let alg = match group.key_size {
            128 => AeadAlg::Aes128Gcm,
            256 => AeadAlg::Aes256Gcm,
            _ => {
                r.skipped += group.tests.len();
                continue;
            }
        };
        if group.nonce_size != NONCE_LEN * 8 || group.tag_size != TAG_LEN * 8 {
            r.skipped += group.tests.len();
            continue;
        }
        for t in &group.tests {
            let id = wycheproof_id("aes_gcm", t.tc_id, &t.comment);
            let key = must(&id, "aead_key", p.aead_key(alg, &t.key));
            let nonce: [u8; NONCE_LEN] = array(&id, "iv", &t.nonce);
            let tag: [u8; TAG_LEN] = array(&id, "tag", &t.tag);

            if t.result != TestResult::Invalid {
                let mut buf = t.pt.to_vec();
                let sealed_tag = must(
                    &id,
                    "seal_in_place",
                    key.seal_in_place(&nonce, &t.aad, &mut buf),
                );
                assert_eq!(to_hex(&buf), to_hex(&t.ct), "[{id}] seal: wrong ciphertext");
                assert_eq!(
                    to_hex(&sealed_tag),
                    to_hex(&t.tag),
                    "[{id}] seal: wrong tag"
                );
            }
            let mut buf = t.ct.to_vec();
            let outcome = match key.open_in_place(&nonce, &t.aad, &mut buf, &tag) {
                Ok(()) => {
                    assert_eq!(to_hex(&buf), to_hex(&t.pt), "[{id}] open: wrong plaintext");
                    Ok(())
                }
                Err(CryptoError::AuthenticationFailed) => Err("AuthenticationFailed".to_string()),
                Err(e) => panic!("[{id}] open failed with {e:?}, expected AuthenticationFailed"),
            };
            record(&mut r, &id, t.result, outcome);
            ran_per_key_size[usize::from(alg == AeadAlg::Aes256Gcm)] += 1;
        }
    }
    assert!(
        ran_per_key_size.iter().all(|&n| n >= 40),
        "[wycheproof aes_gcm] too few vectors per key size (AES-128, AES-256): {ran_per_key_size:?}"
    );
    finish_wycheproof(r, set.number_of_tests, 100)
}

/// A Wycheproof private scalar (possibly with a leading 0x00 or shorter than 32 bytes) as
/// exactly 32 big-endian bytes.
fn normalise_scalar(id: &str, raw: &[u8]) -> [u8; 32] {
    let start = raw.iter().position(|&b| b != 0).unwrap_or(raw.len());
    let digits = &raw[start..];
    assert!(
        digits.len() <= 32,
        "[{id}] private scalar longer than 32 bytes (bad test data)"
    );
    let mut out = [0u8; 32];
    out[32 - digits.len()..].copy_from_slice(digits);
    out
}

/// Wycheproof `ecdh_secp256r1_ecpoint_test.json` (peer keys as raw SEC1 points). Valid vectors
/// must give the expected shared secret; invalid ones must be rejected at some stage
/// (encoding, import, `validate_public_key`, `ecdh`); see the module documentation for
/// acceptable vectors.
pub fn wycheproof_ecdh_secp256r1(p: &dyn CryptoProvider) -> Report {
    use wycheproof::EllipticCurve;
    use wycheproof::ecdh::{EcdhEncoding, TestName, TestSet};
    let set = TestSet::load(TestName::EcdhSecp256r1Ecpoint).unwrap_or_else(|e| {
        panic!("[wycheproof ecdh_secp256r1_ecpoint] cannot load the test set: {e}")
    });
    let mut r = Report::new("wycheproof_ecdh_secp256r1");
    for group in &set.test_groups {
        if group.curve != EllipticCurve::Secp256r1 || group.encoding != EcdhEncoding::EcPoint {
            r.skipped += group.tests.len();
            continue;
        }
        for t in &group.tests {
            let id = wycheproof_id("ecdh_secp256r1_ecpoint", t.tc_id, &t.comment);
            let outcome = (|| -> Result<(), String> {
                let scalar = normalise_scalar(&id, &t.private_key);
                let key = p
                    .import_p256(&scalar, KeyUsage::KeyAgreement)
                    .map_err(|e| format!("import_p256: {e:?}"))?;
                let peer = P256PublicKey::from_sec1(&t.public_key).map_err(|_| {
                    "not a SEC1 uncompressed point (P256PublicKey::from_sec1)".to_string()
                })?;
                // validate_public_key and ecdh must agree about the peer key.
                let shared = match (p.validate_public_key(&peer), key.ecdh(&peer)) {
                    (Ok(()), Ok(shared)) => shared,
                    (Ok(()), Err(CryptoError::InvalidPublicKey)) => {
                        panic!("[{id}] validate_public_key accepts a key that ecdh rejects")
                    }
                    (Ok(()), Err(e)) => return Err(format!("ecdh: {e:?}")),
                    (Err(CryptoError::InvalidPublicKey), Err(CryptoError::InvalidPublicKey)) => {
                        return Err("InvalidPublicKey".into());
                    }
                    (Err(CryptoError::InvalidPublicKey), Ok(_)) => {
                        panic!("[{id}] validate_public_key rejects a key that ecdh accepts")
                    }
                    (Err(CryptoError::InvalidPublicKey), Err(e)) => panic!(
                        "[{id}] validate_public_key rejects the key but ecdh fails with {e:?}, \
                         expected InvalidPublicKey"
                    ),
                    (Err(e), _) => panic!(
                        "[{id}] validate_public_key failed with {e:?}, expected InvalidPublicKey"
                    ),
                };
                if shared.expose() != t.shared_secret.as_slice() {
                    panic!(
                        "[{id}] wrong shared secret: got {}, expected {}",
                        to_hex(shared.expose()),
                        to_hex(&t.shared_secret)
                    );
                }
                Ok(())
            })();
            record(&mut r, &id, t.result, outcome);
        }
    }
    finish_wycheproof(r, set.number_of_tests, 300)
}

/// Wycheproof `ecdsa_secp256r1_sha256_p1363_test.json` (raw `r ‖ s` signatures). Valid
/// signatures must verify; invalid ones must fail with `BadSignature` (or be refused by
/// [`Signature::from_slice`] when not 64 bytes long).
pub fn wycheproof_ecdsa_secp256r1_sha256(p: &dyn CryptoProvider) -> Report {
    use wycheproof::ecdsa::{TestGroupTypeId, TestName, TestSet};
    use wycheproof::{EllipticCurve, HashFunction};
    let set_name = "ecdsa_secp256r1_sha256_p1363";
    let set = TestSet::load(TestName::EcdsaSecp256r1Sha256P1363)
        .unwrap_or_else(|e| panic!("[wycheproof {set_name}] cannot load the test set: {e}"));
    let mut r = Report::new("wycheproof_ecdsa_secp256r1_sha256");
    for group in &set.test_groups {
        if group.test_type != TestGroupTypeId::EcdsaP1363
            || group.key.curve != EllipticCurve::Secp256r1
            || group.hash != HashFunction::Sha2_256
        {
            r.skipped += group.tests.len();
            continue;
        }
        let group_id = format!("wycheproof {set_name} key {}", to_hex(&group.key.key[..9]));
        let public = public_key(&group_id, &group.key.key);
        must(
            &group_id,
            "validate_public_key",
            p.validate_public_key(&public),
        );
        for t in &group.tests {
            let id = wycheproof_id(set_name, t.tc_id, &t.comment);
            let outcome = match Signature::from_slice(&t.sig) {
                Err(_) => Err(format!(
                    "{}-byte signature refused by Signature::from_slice",
                    t.sig.len()
                )),
                Ok(sig) => match p.verify_p256(&public, &t.msg, &sig) {
                    Ok(()) => Ok(()),
                    Err(CryptoError::BadSignature) => Err("BadSignature".into()),
                    Err(e) => panic!("[{id}] verify_p256 failed with {e:?}, expected BadSignature"),
                },
            };
            record(&mut r, &id, t.result, outcome);
        }
    }
    finish_wycheproof(r, set.number_of_tests, 200)
}
