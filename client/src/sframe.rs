//! SFrame (RFC 9605) with the AES-GCM suites 0x0004 and 0x0005, on the provider trait.
//!
//! A [`SframeSender`] seals frames under one KID with a counter; a [`SframeReceiver`] holds
//! the keys of many KIDs, each with a replay window that moves only after a frame has
//! authenticated. The header format lives in `conclave_wire::sframe`.

use std::collections::HashMap;
use std::sync::Arc;

use conclave_crypto::{AeadAlg, AeadKey, CryptoProvider, HashAlg, NONCE_LEN, Secret, TAG_LEN};
use conclave_wire::sframe::SframeHeader;

use crate::{ClientError, Result};

mod batch;
pub mod codec;

pub use batch::{FrameRef, SealedFrames};

/// The SFrame cipher suites Conclave implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    /// 0x0004: AES_128_GCM_SHA256_128.
    Aes128GcmSha256,
    /// 0x0005: AES_256_GCM_SHA512_128 — Conclave's default.
    Aes256GcmSha512,
}

impl CipherSuite {
    pub const DEFAULT: CipherSuite = CipherSuite::Aes256GcmSha512;

    pub fn from_id(id: u16) -> Result<Self> {
        match id {
            0x0004 => Ok(CipherSuite::Aes128GcmSha256),
            0x0005 => Ok(CipherSuite::Aes256GcmSha512),
            other => Err(ClientError::UnsupportedSuite(other)),
        }
    }

    pub fn id(self) -> u16 {
        match self {
            CipherSuite::Aes128GcmSha256 => 0x0004,
            CipherSuite::Aes256GcmSha512 => 0x0005,
        }
    }

    pub fn hash(self) -> HashAlg {
        match self {
            CipherSuite::Aes128GcmSha256 => HashAlg::Sha256,
            CipherSuite::Aes256GcmSha512 => HashAlg::Sha512,
        }
    }

    pub fn aead(self) -> AeadAlg {
        match self {
            CipherSuite::Aes128GcmSha256 => AeadAlg::Aes128Gcm,
            CipherSuite::Aes256GcmSha512 => AeadAlg::Aes256Gcm,
        }
    }
}

/// The key and salt of one KID (RFC 9605 §4.4.2), with the intermediate secret.
pub struct DerivedKey {
    pub secret: Secret,
    pub key: Secret,
    pub salt: [u8; NONCE_LEN],
}

/// `derive_key_salt(KID, base_key)`:
/// `sframe_secret = HKDF-Extract("", base_key)`,
/// `sframe_key = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret key " ‖ KID ‖ suite, Nk)`,
/// `sframe_salt = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret salt " ‖ KID ‖ suite, Nn)`,
/// with KID as 8 and the suite as 2 big-endian bytes.
pub fn derive_key(
    p: &dyn CryptoProvider,
    suite: CipherSuite,
    kid: u64,
    base_key: &[u8],
) -> Result<DerivedKey> {
    let secret = p.hkdf_extract(suite.hash(), b"", base_key)?;
    let kid_bytes = kid.to_be_bytes();
    let suite_bytes = suite.id().to_be_bytes();
    let mut key = Secret::zeroed(suite.aead().key_len());
    p.hkdf_expand(
        suite.hash(),
        secret.expose(),
        &[b"SFrame 1.0 Secret key ", &kid_bytes, &suite_bytes],
        key.expose_mut(),
    )?;
    let mut salt = [0u8; NONCE_LEN];
    p.hkdf_expand(
        suite.hash(),
        secret.expose(),
        &[b"SFrame 1.0 Secret salt ", &kid_bytes, &suite_bytes],
        &mut salt,
    )?;
    Ok(DerivedKey { secret, key, salt })
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey(redacted)")
    }
}

/// A ready-to-use key for one KID.
pub struct SframeKey {
    kid: u64,
    aead: Box<dyn AeadKey>,
    salt: [u8; NONCE_LEN],
    /// The provider seals batches natively (`Capabilities::batched_aead`).
    batched: bool,
}

impl std::fmt::Debug for SframeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SframeKey(kid {:#x}, redacted)", self.kid)
    }
}

impl SframeKey {
    pub fn new(
        p: &dyn CryptoProvider,
        suite: CipherSuite,
        kid: u64,
        base_key: &[u8],
    ) -> Result<Self> {
        let d = derive_key(p, suite, kid, base_key)?;
        Ok(SframeKey {
            kid,
            aead: p.aead_key(suite.aead(), d.key.expose())?,
            salt: d.salt,
            batched: p.capabilities().batched_aead,
        })
    }

    pub fn kid(&self) -> u64 {
        self.kid
    }

    /// `salt XOR CTR`, the counter big-endian and right-aligned in `Nn` bytes.
    fn nonce(&self, ctr: u64) -> [u8; NONCE_LEN] {
        let mut nonce = self.salt;
        for (n, c) in nonce[NONCE_LEN - 8..].iter_mut().zip(ctr.to_be_bytes()) {
            *n ^= c;
        }
        nonce
    }

    /// Seals `plaintext` with counter `ctr`, appending `header ‖ ciphertext ‖ tag` to `out`.
    /// The AAD is `header ‖ metadata`. A counter must never be used twice with one key:
    /// [`SframeSender`] guarantees that; this form exists for test vectors.
    pub fn seal(
        &self,
        ctr: u64,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let start = out.len();
        let need = SframeHeader::new(self.kid, ctr).encoded_len() + plaintext.len() + TAG_LEN;
        // Room for the whole frame; the provider encrypts straight into it.
        out.resize(start + need, 0);
        match self.seal_into(ctr, metadata, plaintext, &mut out[start..]) {
            Ok(_) => Ok(()),
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// Like [`Self::seal`], but writes the frame at the start of `out` (a packet buffer, for
    /// instance) and returns its length: `header ‖ ciphertext ‖ tag`, which must fit.
    pub fn seal_into(
        &self,
        ctr: u64,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize> {
        let header = SframeHeader::new(self.kid, ctr);
        let hlen = header.encoded_len();
        let len = hlen + plaintext.len() + TAG_LEN;
        let available = out.len();
        let frame = out
            .get_mut(..len)
            .ok_or(conclave_crypto::CryptoError::InvalidLength {
                what: "SFrame output buffer (at least)",
                expected: len,
                got: available,
            })?;
        let (head, rest) = frame.split_at_mut(hlen);
        // The header is written in place and is (the start of) the AAD.
        header.encode_into(head)?;
        let (body, tag_slot) = rest.split_at_mut(plaintext.len());
        let tag = with_aad(head, metadata, |aad| {
            self.aead.seal_to(&self.nonce(ctr), aad, plaintext, body)
        })?;
        tag_slot.copy_from_slice(&tag);
        Ok(len)
    }

    /// Opens the ciphertext part of a frame whose header was already parsed.
    fn open_in_place(
        &self,
        ctr: u64,
        header: &[u8],
        metadata: &[u8],
        body: &mut [u8],
    ) -> Result<usize> {
        let split = body
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(ClientError::FrameAuthFailed)?;
        let (ct, tag) = body.split_at_mut(split);
        let tag: &[u8; TAG_LEN] = (&*tag)
            .try_into()
            .map_err(|_| ClientError::FrameAuthFailed)?;
        with_aad(header, metadata, |aad| {
            self.aead.open_in_place(&self.nonce(ctr), aad, ct, tag)
        })
        .map_err(|_| ClientError::FrameAuthFailed)?;
        Ok(split)
    }
}

/// Runs `f` with `header ‖ metadata`, without allocating when there is no metadata.
fn with_aad<T>(
    header: &[u8],
    metadata: &[u8],
    f: impl FnOnce(&[u8]) -> std::result::Result<T, conclave_crypto::CryptoError>,
) -> Result<T> {
    if metadata.is_empty() {
        Ok(f(header)?)
    } else {
        let mut aad = Vec::with_capacity(header.len() + metadata.len());
        aad.extend_from_slice(header);
        aad.extend_from_slice(metadata);
        Ok(f(&aad)?)
    }
}

/// Seals frames under one KID with a counter that never repeats.
#[derive(Debug)]
pub struct SframeSender {
    key: SframeKey,
    next_ctr: Option<u64>,
}

impl SframeSender {
    pub fn new(key: SframeKey) -> Self {
        SframeSender {
            key,
            next_ctr: Some(0),
        }
    }

    pub fn kid(&self) -> u64 {
        self.key.kid
    }

    /// Seals one frame, appending it to `out`.
    pub fn seal(&mut self, metadata: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let ctr = self.next_ctr.ok_or(ClientError::CounterExhausted)?;
        self.key.seal(ctr, metadata, plaintext, out)?;
        self.next_ctr = ctr.checked_add(1);
        Ok(())
    }

    /// Seals one frame into the start of `out` (e.g. a reused packet buffer, which saves
    /// initialising fresh memory per frame) and returns the frame's length. `out` needs room
    /// for the header (at most 17 bytes), the payload and the 16-byte tag.
    pub fn seal_into(
        &mut self,
        metadata: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize> {
        let ctr = self.next_ctr.ok_or(ClientError::CounterExhausted)?;
        let len = self.key.seal_into(ctr, metadata, plaintext, out)?;
        self.next_ctr = ctr.checked_add(1);
        Ok(len)
    }
}

/// How many counters below the highest seen are still accepted (once each).
pub const REPLAY_WINDOW: u64 = 128;

/// A sliding replay window over CTR values.
#[derive(Debug, Default, Clone)]
pub struct ReplayWindow {
    top: Option<u64>,
    /// Bit `i` is set when `top − i` has been accepted.
    seen: u128,
}

impl ReplayWindow {
    /// Would `ctr` be accepted?
    pub fn check(&self, ctr: u64) -> bool {
        match self.top {
            None => true,
            Some(top) if ctr > top => true,
            Some(top) => {
                let d = top - ctr;
                d < REPLAY_WINDOW && self.seen & (1u128 << d) == 0
            }
        }
    }

    /// Records `ctr` as accepted. Call only after the frame authenticated.
    pub fn accept(&mut self, ctr: u64) {
        match self.top {
            Some(top) if ctr <= top => {
                let d = top - ctr;
                if d < REPLAY_WINDOW {
                    self.seen |= 1u128 << d;
                }
            }
            Some(top) => {
                let shift = ctr - top;
                self.seen = if shift >= REPLAY_WINDOW {
                    0
                } else {
                    self.seen << shift
                };
                self.seen |= 1;
                self.top = Some(ctr);
            }
            None => {
                self.seen = 1;
                self.top = Some(ctr);
            }
        }
    }
}

#[derive(Debug)]
struct ReceiveKey {
    key: SframeKey,
    window: ReplayWindow,
}

/// Opens frames of many KIDs.
#[derive(Debug)]
pub struct SframeReceiver {
    provider: Arc<dyn CryptoProvider>,
    suite: CipherSuite,
    keys: HashMap<u64, ReceiveKey>,
}

impl SframeReceiver {
    pub fn new(provider: Arc<dyn CryptoProvider>, suite: CipherSuite) -> Self {
        SframeReceiver {
            provider,
            suite,
            keys: HashMap::new(),
        }
    }

    /// Installs the key of a new `kid`, with a fresh replay window. A KID that already has
    /// a key is refused: replacing it would reset its replay window.
    pub fn add_key(&mut self, kid: u64, base_key: &[u8]) -> Result<()> {
        if self.keys.contains_key(&kid) {
            return Err(ClientError::DuplicateKid(kid));
        }
        let key = SframeKey::new(self.provider.as_ref(), self.suite, kid, base_key)?;
        self.keys.insert(
            kid,
            ReceiveKey {
                key,
                window: ReplayWindow::default(),
            },
        );
        Ok(())
    }

    /// Removes a KID's key; it is zeroized by the provider's key object on drop.
    pub fn remove_key(&mut self, kid: u64) -> bool {
        self.keys.remove(&kid).is_some()
    }

    pub fn has_key(&self, kid: u64) -> bool {
        self.keys.contains_key(&kid)
    }

    pub fn kids(&self) -> impl Iterator<Item = u64> + '_ {
        self.keys.keys().copied()
    }

    /// Opens `frame` in place: on success `frame` holds the plaintext and the header is
    /// returned. On failure the frame must be discarded; the replay window is unchanged.
    pub fn open_in_place(&mut self, metadata: &[u8], frame: &mut Vec<u8>) -> Result<SframeHeader> {
        let (header, hlen) = SframeHeader::parse(frame)?;
        let entry = self
            .keys
            .get_mut(&header.kid)
            .ok_or(ClientError::UnknownKid(header.kid))?;
        if !entry.window.check(header.ctr) {
            return Err(ClientError::FrameReplay {
                kid: header.kid,
                ctr: header.ctr,
            });
        }
        let (head, body) = frame.split_at_mut(hlen);
        let pt_len = entry.key.open_in_place(header.ctr, head, metadata, body)?;
        entry.window.accept(header.ctr);
        frame.truncate(hlen + pt_len);
        frame.drain(..hlen);
        Ok(header)
    }

    /// Opens a frame into a new buffer.
    pub fn open(&mut self, metadata: &[u8], frame: &[u8]) -> Result<(SframeHeader, Vec<u8>)> {
        let mut buf = frame.to_vec();
        let header = self.open_in_place(metadata, &mut buf)?;
        Ok((header, buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window_moves_only_forward() {
        let mut w = ReplayWindow::default();
        assert!(w.check(5));
        w.accept(5);
        assert!(!w.check(5));
        assert!(w.check(4));
        w.accept(200);
        assert!(!w.check(5), "older than the window");
        assert!(w.check(199));
        assert!(w.check(200 - 127));
        assert!(!w.check(200 - 128));
        w.accept(199);
        assert!(!w.check(199));
        assert!(w.check(u64::MAX));
        w.accept(u64::MAX);
        assert!(!w.check(u64::MAX));
        assert!(!w.check(200));
    }

    proptest::proptest! {
        #[test]
        fn random_and_mutated_frames_never_panic_nor_open(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            pos: usize,
            flip in 1u8..=255,
        ) {
            let p: Arc<dyn CryptoProvider> = Arc::new(conclave_crypto_software::SoftwareProvider::new());
            let mut rx = SframeReceiver::new(p.clone(), CipherSuite::DEFAULT);
            rx.add_key(9, &[1; 32]).unwrap();
            rx.add_key(3, &[2; 32]).unwrap();
            let _ = rx.open(b"", &noise);
            let mut tx = SframeSender::new(SframeKey::new(p.as_ref(), CipherSuite::DEFAULT, 9, &[1; 32]).unwrap());
            let mut frame = Vec::new();
            tx.seal(b"meta", b"a media frame", &mut frame).unwrap();
            let i = pos % frame.len();
            frame[i] ^= flip;
            proptest::prop_assert!(rx.open(b"meta", &frame).is_err());
        }
    }

    #[test]
    fn unsupported_suites() {
        for id in [0u16, 1, 2, 3, 6, 0xffff] {
            assert!(
                matches!(CipherSuite::from_id(id), Err(ClientError::UnsupportedSuite(x)) if x == id)
            );
        }
    }
}
