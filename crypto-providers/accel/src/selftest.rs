//! Known-answer self-tests run when the provider is constructed: if the AES-GCM, SHA-2 or
//! HMAC code that AWS-LC selected for this CPU (or the AF_ALG engine) gives a wrong answer,
//! construction fails instead of sealing frames wrongly.
//!
//! Vectors: AES-GCM test cases 4 (AES-128) and 16 (AES-256) of McGrew & Viega, "The
//! Galois/Counter Mode of Operation (GCM)", the document NIST SP 800-38D refers to; SHA-256
//! and SHA-512 of FIPS 180-2 Appendices B.1, B.2 and C.1; HMAC-SHA-256 test case 2 of
//! RFC 4231 (computed as HKDF-Extract, which is HMAC(salt, IKM)).

use conclave_crypto::{AeadAlg, CryptoProvider, HashAlg, NONCE_LEN, TAG_LEN};

/// A known-answer test gave a wrong answer or failed to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("known-answer self-test '{test}' failed: {problem}")]
pub struct SelfTestError {
    /// Which test (e.g. `AES-256-GCM seal (GCM test case 16)`).
    pub test: &'static str,
    /// What went wrong. Never contains key material.
    pub problem: &'static str,
}

/// Decodes a hex constant at compile time (a malformed constant fails the build).
const fn hex<const N: usize>(s: &str) -> [u8; N] {
    const fn nibble(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("bad hex digit in a self-test constant"),
        }
    }
    let bytes = s.as_bytes();
    assert!(
        bytes.len() == 2 * N,
        "self-test constant has the wrong length"
    );
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = (nibble(bytes[2 * i]) << 4) | nibble(bytes[2 * i + 1]);
        i += 1;
    }
    out
}

/// One AES-GCM known answer.
struct GcmKat<const K: usize> {
    name: &'static str,
    alg: AeadAlg,
    key: [u8; K],
    nonce: [u8; NONCE_LEN],
    aad: [u8; 20],
    plaintext: [u8; 60],
    ciphertext: [u8; 60],
    tag: [u8; TAG_LEN],
}

const GCM_NONCE: [u8; NONCE_LEN] = hex("cafebabefacedbaddecaf888");
const GCM_AAD: [u8; 20] = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
const GCM_PLAINTEXT: [u8; 60] = hex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
     1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
);

const GCM_128: GcmKat<16> = GcmKat {
    name: "AES-128-GCM (GCM test case 4)",
    alg: AeadAlg::Aes128Gcm,
    key: hex("feffe9928665731c6d6a8f9467308308"),
    nonce: GCM_NONCE,
    aad: GCM_AAD,
    plaintext: GCM_PLAINTEXT,
    ciphertext: hex(
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
         21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
    ),
    tag: hex("5bc94fbc3221a5db94fae95ae7121a47"),
};

const GCM_256: GcmKat<32> = GcmKat {
    name: "AES-256-GCM (GCM test case 16)",
    alg: AeadAlg::Aes256Gcm,
    key: hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"),
    nonce: GCM_NONCE,
    aad: GCM_AAD,
    plaintext: GCM_PLAINTEXT,
    ciphertext: hex(
        "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
         8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
    ),
    tag: hex("76fc6ece0f4e1768cddf8853bb2d551b"),
};

fn fail(test: &'static str, problem: &'static str) -> SelfTestError {
    SelfTestError { test, problem }
}

/// Seals the plaintext (expecting the ciphertext and tag), opens it back, and checks that a
/// flipped tag bit is refused.
fn gcm_kat<const K: usize>(p: &dyn CryptoProvider, kat: &GcmKat<K>) -> Result<(), SelfTestError> {
    let key = p
        .aead_key(kat.alg, &kat.key)
        .map_err(|_| fail(kat.name, "key setup failed"))?;
    let mut buf = kat.plaintext;
    let tag = key
        .seal_in_place(&kat.nonce, &kat.aad, &mut buf)
        .map_err(|_| fail(kat.name, "seal failed"))?;
    if buf != kat.ciphertext {
        return Err(fail(kat.name, "seal gave the wrong ciphertext"));
    }
    if tag != kat.tag {
        return Err(fail(kat.name, "seal gave the wrong tag"));
    }
    key.open_in_place(&kat.nonce, &kat.aad, &mut buf, &kat.tag)
        .map_err(|_| fail(kat.name, "open of the known ciphertext failed"))?;
    if buf != kat.plaintext {
        return Err(fail(kat.name, "open gave the wrong plaintext"));
    }
    let mut forged_tag = kat.tag;
    forged_tag[0] ^= 1;
    let mut buf = kat.ciphertext;
    if key
        .open_in_place(&kat.nonce, &kat.aad, &mut buf, &forged_tag)
        .is_ok()
    {
        return Err(fail(kat.name, "open accepted a forged tag"));
    }
    Ok(())
}

fn hash_kat(
    p: &dyn CryptoProvider,
    name: &'static str,
    alg: HashAlg,
    message: &[u8],
    expected: &[u8],
) -> Result<(), SelfTestError> {
    // Split in two parts, to also exercise incremental hashing.
    let (a, b) = message.split_at(message.len() / 2);
    if p.hash(alg, &[a, b]) != expected {
        return Err(fail(name, "wrong digest"));
    }
    Ok(())
}

/// Runs every known-answer test against `p` and returns how many ran. The accel provider
/// calls this on itself at construction; it works on any provider.
pub fn known_answer_tests(p: &dyn CryptoProvider) -> Result<usize, SelfTestError> {
    gcm_kat(p, &GCM_128)?;
    gcm_kat(p, &GCM_256)?;
    hash_kat(
        p,
        "SHA-256 (FIPS 180-2 B.1, \"abc\")",
        HashAlg::Sha256,
        b"abc",
        &hex::<32>("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    )?;
    hash_kat(
        p,
        "SHA-256 (FIPS 180-2 B.2, two blocks)",
        HashAlg::Sha256,
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        &hex::<32>("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    )?;
    hash_kat(
        p,
        "SHA-512 (FIPS 180-2 C.1, \"abc\")",
        HashAlg::Sha512,
        b"abc",
        &hex::<64>(
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
        ),
    )?;
    let hmac_name = "HMAC-SHA-256 (RFC 4231 test case 2)";
    let mac = p
        .hkdf_extract(HashAlg::Sha256, b"Jefe", b"what do ya want for nothing?")
        .map_err(|_| fail(hmac_name, "HKDF-Extract failed"))?;
    if mac.expose() != hex::<32>("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    {
        return Err(fail(hmac_name, "wrong MAC"));
    }
    Ok(6)
}
