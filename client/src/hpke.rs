//! HPKE base mode (RFC 9180) with DHKEM(P-256, HKDF-SHA256) and HKDF-SHA256, generic over
//! the AEAD (AES-128-GCM or AES-256-GCM), built only on the [`CryptoProvider`] trait so the
//! recipient's private key can stay inside an HSM.

use conclave_crypto::{
    AeadAlg, AeadKey, CryptoProvider, HashAlg, KeyUsage, NONCE_LEN, P256PrivateKey, P256PublicKey,
    Secret, TAG_LEN,
};

use crate::{ClientError, Result};

/// DHKEM(P-256, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0010;
/// HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// `Nsecret` of the KEM and `Nh` of the KDF.
const NH: usize = 32;
const MODE_BASE: u8 = 0x00;

/// An HPKE suite: the fixed KEM and KDF with a choice of AEAD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    pub aead: AeadAlg,
}

impl Suite {
    /// The suite Conclave uses: AES-256-GCM.
    pub const CONCLAVE: Suite = Suite {
        aead: AeadAlg::Aes256Gcm,
    };

    pub fn aead_id(self) -> u16 {
        match self.aead {
            AeadAlg::Aes128Gcm => 0x0001,
            AeadAlg::Aes256Gcm => 0x0002,
        }
    }

    fn suite_id(self) -> [u8; 10] {
        let mut id = [0u8; 10];
        id[..4].copy_from_slice(b"HPKE");
        id[4..6].copy_from_slice(&KEM_ID.to_be_bytes());
        id[6..8].copy_from_slice(&KDF_ID.to_be_bytes());
        id[8..10].copy_from_slice(&self.aead_id().to_be_bytes());
        id
    }
}

fn kem_suite_id() -> [u8; 5] {
    let mut id = [0u8; 5];
    id[..3].copy_from_slice(b"KEM");
    id[3..].copy_from_slice(&KEM_ID.to_be_bytes());
    id
}

fn labeled_extract(
    p: &dyn CryptoProvider,
    suite_id: &[u8],
    salt: &[u8],
    label: &[u8],
    ikm: &[u8],
) -> Result<Secret> {
    let mut labeled = Secret::zeroed(7 + suite_id.len() + label.len() + ikm.len());
    let buf = labeled.expose_mut();
    let mut pos = 0;
    for part in [&b"HPKE-v1"[..], suite_id, label, ikm] {
        buf[pos..pos + part.len()].copy_from_slice(part);
        pos += part.len();
    }
    Ok(p.hkdf_extract(HashAlg::Sha256, salt, labeled.expose())?)
}

fn labeled_expand(
    p: &dyn CryptoProvider,
    suite_id: &[u8],
    prk: &[u8],
    label: &[u8],
    info: &[u8],
    out: &mut [u8],
) -> Result<()> {
    let len = u16::try_from(out.len())
        .map_err(|_| conclave_crypto::CryptoError::HkdfOutputTooLong(out.len()))?
        .to_be_bytes();
    p.hkdf_expand(
        HashAlg::Sha256,
        prk,
        &[&len, b"HPKE-v1", suite_id, label, info],
        out,
    )?;
    Ok(())
}

/// `DeriveKeyPair(ikm)` of DHKEM(P-256) (RFC 9180 §7.1.3): a deterministic key-agreement
/// key imported into the provider.
pub fn derive_key_pair(p: &dyn CryptoProvider, ikm: &[u8]) -> Result<Box<dyn P256PrivateKey>> {
    let sid = kem_suite_id();
    let dkp_prk = labeled_extract(p, &sid, b"", b"dkp_prk", ikm)?;
    let mut candidate = Secret::zeroed(32);
    for counter in 0u8..=255 {
        labeled_expand(
            p,
            &sid,
            dkp_prk.expose(),
            b"candidate",
            &[counter],
            candidate.expose_mut(),
        )?;
        // The P-256 bitmask is 0xff: no bits are cleared.
        match p.import_p256(candidate.expose(), KeyUsage::KeyAgreement) {
            Ok(key) => return Ok(key),
            Err(conclave_crypto::CryptoError::InvalidPrivateKey) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(conclave_crypto::CryptoError::InvalidPrivateKey.into())
}

fn extract_and_expand(p: &dyn CryptoProvider, dh: &[u8], kem_context: &[u8]) -> Result<Secret> {
    let sid = kem_suite_id();
    let eae_prk = labeled_extract(p, &sid, b"", b"eae_prk", dh)?;
    let mut shared = Secret::zeroed(NH);
    labeled_expand(
        p,
        &sid,
        eae_prk.expose(),
        b"shared_secret",
        kem_context,
        shared.expose_mut(),
    )?;
    Ok(shared)
}

/// `Encap(pkR)` with a given ephemeral key `sk_e` (RFC 9180 §4.1): returns the shared
/// secret and `enc`. [`setup_sender`] draws the ephemeral key itself; this form exists for
/// test vectors.
pub fn encap_with(
    p: &dyn CryptoProvider,
    pk_r: &P256PublicKey,
    sk_e: &dyn P256PrivateKey,
) -> Result<(Secret, P256PublicKey)> {
    let dh = sk_e.ecdh(pk_r)?;
    let enc = sk_e.public_key();
    let mut kem_context = [0u8; 130];
    kem_context[..65].copy_from_slice(enc.as_bytes());
    kem_context[65..].copy_from_slice(pk_r.as_bytes());
    Ok((extract_and_expand(p, dh.expose(), &kem_context)?, enc))
}

/// `Decap(enc, skR)` (RFC 9180 §4.1).
pub fn decap(
    p: &dyn CryptoProvider,
    enc: &P256PublicKey,
    sk_r: &dyn P256PrivateKey,
) -> Result<Secret> {
    let dh = sk_r.ecdh(enc)?;
    let mut kem_context = [0u8; 130];
    kem_context[..65].copy_from_slice(enc.as_bytes());
    kem_context[65..].copy_from_slice(sk_r.public_key().as_bytes());
    extract_and_expand(p, dh.expose(), &kem_context)
}

/// The output of the base-mode key schedule (RFC 9180 §5.1).
pub struct KeySchedule {
    /// `key_schedule_context = mode ‖ psk_id_hash ‖ info_hash`.
    pub context: [u8; 1 + 2 * NH],
    /// The `secret` the key, nonce and exporter secret are expanded from.
    pub secret: Secret,
    pub key: Secret,
    pub base_nonce: [u8; NONCE_LEN],
    pub exporter_secret: Secret,
}

impl std::fmt::Debug for KeySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeySchedule(redacted)")
    }
}

/// `KeySchedule(mode_base, shared_secret, info, default_psk, default_psk_id)`.
pub fn key_schedule(
    p: &dyn CryptoProvider,
    suite: Suite,
    shared_secret: &[u8],
    info: &[u8],
) -> Result<KeySchedule> {
    let sid = suite.suite_id();
    let psk_id_hash = labeled_extract(p, &sid, b"", b"psk_id_hash", b"")?;
    let info_hash = labeled_extract(p, &sid, b"", b"info_hash", info)?;
    let mut context = [0u8; 1 + 2 * NH];
    context[0] = MODE_BASE;
    context[1..1 + NH].copy_from_slice(psk_id_hash.expose());
    context[1 + NH..].copy_from_slice(info_hash.expose());
    let secret = labeled_extract(p, &sid, shared_secret, b"secret", b"")?;
    let mut key = Secret::zeroed(suite.aead.key_len());
    labeled_expand(p, &sid, secret.expose(), b"key", &context, key.expose_mut())?;
    let mut base_nonce = [0u8; NONCE_LEN];
    labeled_expand(
        p,
        &sid,
        secret.expose(),
        b"base_nonce",
        &context,
        &mut base_nonce,
    )?;
    let mut exporter_secret = Secret::zeroed(NH);
    labeled_expand(
        p,
        &sid,
        secret.expose(),
        b"exp",
        &context,
        exporter_secret.expose_mut(),
    )?;
    Ok(KeySchedule {
        context,
        secret,
        key,
        base_nonce,
        exporter_secret,
    })
}

/// The state both sides of an HPKE context share: AEAD key, base nonce, sequence number
/// and exporter secret.
struct Context<'p> {
    provider: &'p dyn CryptoProvider,
    suite: Suite,
    key: Box<dyn AeadKey>,
    base_nonce: [u8; NONCE_LEN],
    exporter_secret: Secret,
    seq: u64,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "hpke::Context({:?}, seq {}, redacted)",
            self.suite, self.seq
        )
    }
}

impl<'p> Context<'p> {
    fn new(provider: &'p dyn CryptoProvider, suite: Suite, schedule: KeySchedule) -> Result<Self> {
        Ok(Context {
            provider,
            suite,
            key: provider.aead_key(suite.aead, schedule.key.expose())?,
            base_nonce: schedule.base_nonce,
            exporter_secret: schedule.exporter_secret,
            seq: 0,
        })
    }

    /// `base_nonce XOR I2OSP(seq, Nn)`.
    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = self.base_nonce;
        for (n, s) in nonce[NONCE_LEN - 8..]
            .iter_mut()
            .zip(self.seq.to_be_bytes())
        {
            *n ^= s;
        }
        nonce
    }

    /// `IncrementSeq()`: sequence numbers are u64 here, far below the 2^96 limit, and never
    /// wrap.
    fn increment(&mut self) -> Result<()> {
        self.seq = self
            .seq
            .checked_add(1)
            .ok_or(ClientError::HpkeSequenceExhausted)?;
        Ok(())
    }

    fn export(&self, exporter_context: &[u8], out: &mut [u8]) -> Result<()> {
        labeled_expand(
            self.provider,
            &self.suite.suite_id(),
            self.exporter_secret.expose(),
            b"sec",
            exporter_context,
            out,
        )
    }
}

/// The sender's side of an HPKE context: it can only seal (and export), so a receiver can
/// never reuse the sender's nonces.
#[derive(Debug)]
pub struct SenderContext<'p>(Context<'p>);

impl<'p> SenderContext<'p> {
    /// A context from a key schedule (for test vectors; [`setup_sender`] is the normal way).
    pub fn new(
        provider: &'p dyn CryptoProvider,
        suite: Suite,
        schedule: KeySchedule,
    ) -> Result<Self> {
        Context::new(provider, suite, schedule).map(SenderContext)
    }

    /// The sequence number of the next seal.
    pub fn sequence(&self) -> u64 {
        self.0.seq
    }

    /// `ContextS.Seal(aad, pt)`: returns `ct ‖ tag`.
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce = self.0.nonce();
        self.0.increment()?;
        let mut out = Vec::with_capacity(plaintext.len() + TAG_LEN);
        out.extend_from_slice(plaintext);
        let tag = self.0.key.seal_in_place(&nonce, aad, &mut out)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// `Context.Export(exporter_context, L)`.
    pub fn export(&self, exporter_context: &[u8], out: &mut [u8]) -> Result<()> {
        self.0.export(exporter_context, out)
    }
}

/// The recipient's side of an HPKE context: it can only open (and export).
#[derive(Debug)]
pub struct ReceiverContext<'p>(Context<'p>);

impl<'p> ReceiverContext<'p> {
    /// A context from a key schedule (for test vectors; [`setup_receiver`] is the normal way).
    pub fn new(
        provider: &'p dyn CryptoProvider,
        suite: Suite,
        schedule: KeySchedule,
    ) -> Result<Self> {
        Context::new(provider, suite, schedule).map(ReceiverContext)
    }

    /// The sequence number of the next open.
    pub fn sequence(&self) -> u64 {
        self.0.seq
    }

    /// `ContextR.Open(aad, ct)`. The sequence number advances only on success.
    pub fn open(&mut self, aad: &[u8], ciphertext: &[u8]) -> Result<Secret> {
        let split = ciphertext
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(ClientError::DecryptFailed)?;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&ciphertext[split..]);
        let mut out = Secret::from_slice(&ciphertext[..split]);
        self.0
            .key
            .open_in_place(&self.0.nonce(), aad, out.expose_mut(), &tag)
            .map_err(|_| ClientError::DecryptFailed)?;
        self.0.increment()?;
        Ok(out)
    }

    /// `Context.Export(exporter_context, L)`.
    pub fn export(&self, exporter_context: &[u8], out: &mut [u8]) -> Result<()> {
        self.0.export(exporter_context, out)
    }
}

/// `SetupBaseS(pkR, info)`: a fresh ephemeral key from the provider; returns `enc` and the
/// sender context.
pub fn setup_sender<'p>(
    p: &'p dyn CryptoProvider,
    suite: Suite,
    pk_r: &P256PublicKey,
    info: &[u8],
) -> Result<(P256PublicKey, SenderContext<'p>)> {
    let sk_e = p.generate_ephemeral_p256(KeyUsage::KeyAgreement)?;
    let (shared, enc) = encap_with(p, pk_r, sk_e.as_ref())?;
    let ctx = SenderContext::new(p, suite, key_schedule(p, suite, shared.expose(), info)?)?;
    Ok((enc, ctx))
}

/// `SetupBaseR(enc, skR, info)`.
pub fn setup_receiver<'p>(
    p: &'p dyn CryptoProvider,
    suite: Suite,
    enc: &P256PublicKey,
    sk_r: &dyn P256PrivateKey,
    info: &[u8],
) -> Result<ReceiverContext<'p>> {
    let shared = decap(p, enc, sk_r)?;
    ReceiverContext::new(p, suite, key_schedule(p, suite, shared.expose(), info)?)
}

/// Single-shot `Seal`: returns `(enc, ct ‖ tag)`.
pub fn seal(
    p: &dyn CryptoProvider,
    suite: Suite,
    pk_r: &P256PublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(P256PublicKey, Vec<u8>)> {
    let (enc, mut ctx) = setup_sender(p, suite, pk_r, info)?;
    Ok((enc, ctx.seal(aad, plaintext)?))
}

/// Single-shot `Open`.
pub fn open(
    p: &dyn CryptoProvider,
    suite: Suite,
    enc: &P256PublicKey,
    sk_r: &dyn P256PrivateKey,
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Secret> {
    setup_receiver(p, suite, enc, sk_r, info)?.open(aad, ciphertext)
}
