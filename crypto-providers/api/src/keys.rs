use std::fmt;

use crate::{AeadAlg, CryptoError, Secret};

/// A P-256 public key in SEC1 uncompressed form (`0x04 ‖ X ‖ Y`, 65 bytes).
///
/// Construction checks the form only; whether the point is on the curve is checked by
/// [`crate::CryptoProvider::validate_public_key`] and by every operation that uses it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct P256PublicKey([u8; 65]);

impl P256PublicKey {
    pub const LEN: usize = 65;

    pub fn from_sec1(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 65] = bytes
            .try_into()
            .map_err(|_| CryptoError::InvalidPublicKey)?;
        if arr[0] != 0x04 {
            return Err(CryptoError::InvalidPublicKey);
        }
        Ok(P256PublicKey(arr))
    }

    pub fn as_bytes(&self) -> &[u8; 65] {
        &self.0
    }
}

impl fmt::Debug for P256PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P256PublicKey(")?;
        for b in &self.0[1..9] {
            write!(f, "{b:02x}")?;
        }
        write!(f, "…)")
    }
}

/// An ECDSA P-256 signature as raw `r ‖ s` (32 + 32 bytes, big-endian).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub const LEN: usize = 64;

    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        bytes
            .try_into()
            .map(Signature)
            .map_err(|_| CryptoError::BadSignature)
    }

    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature(64 bytes)")
    }
}

/// What a P-256 private key may be used for. A key has exactly one usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// ECDSA P-256 with SHA-256.
    Signing,
    /// ECDH (P-256).
    KeyAgreement,
}

impl fmt::Display for KeyUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyUsage::Signing => "signing",
            KeyUsage::KeyAgreement => "key agreement",
        })
    }
}

/// How a private key is kept between runs. Produced by [`P256PrivateKey::persist`] and
/// turned back into a key by [`crate::CryptoProvider::restore_p256`] of the same provider.
#[derive(Clone, PartialEq, Eq)]
pub enum PersistedKey {
    /// The raw 32-byte big-endian scalar: only providers whose keys are extractable
    /// produce this.
    Raw { usage: KeyUsage, scalar: Secret },
    /// A reference to a key that stays inside the provider (e.g. a token object id).
    /// `reference` is not secret.
    Reference {
        provider: String,
        usage: KeyUsage,
        reference: Vec<u8>,
    },
}

impl PersistedKey {
    pub fn usage(&self) -> KeyUsage {
        match self {
            PersistedKey::Raw { usage, .. } | PersistedKey::Reference { usage, .. } => *usage,
        }
    }
}

impl fmt::Debug for PersistedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PersistedKey::Raw { usage, .. } => write!(f, "PersistedKey::Raw({usage}, redacted)"),
            PersistedKey::Reference {
                provider, usage, ..
            } => write!(f, "PersistedKey::Reference({provider}, {usage})"),
        }
    }
}

/// A P-256 private key held by a provider. The secret half may be unreachable (HSM).
pub trait P256PrivateKey: Send + Sync + fmt::Debug {
    fn usage(&self) -> KeyUsage;

    /// The public half, SEC1 uncompressed.
    fn public_key(&self) -> P256PublicKey;

    /// ECDSA P-256 over SHA-256(`message`), raw `r ‖ s`. Needs [`KeyUsage::Signing`].
    fn sign(&self, message: &[u8]) -> Result<Signature, CryptoError>;

    /// ECDH: the x-coordinate of `self · peer` (32 bytes). Needs [`KeyUsage::KeyAgreement`].
    /// Fails with [`CryptoError::InvalidPublicKey`] for a point not on the curve.
    fn ecdh(&self, peer: &P256PublicKey) -> Result<Secret, CryptoError>;

    /// How to find this key again in a later run.
    fn persist(&self) -> Result<PersistedKey, CryptoError>;

    /// Deletes the key from the provider's storage for good (a one-time prekey once used).
    /// Afterwards the key must not be used, and [`crate::CryptoProvider::restore_p256`] of
    /// its persisted form fails. Destroying twice is not an error.
    ///
    /// Keys in process memory are wiped when dropped, so the default does nothing; providers
    /// that keep keys elsewhere (a PKCS#11 token) override it.
    fn destroy(&self) -> Result<(), CryptoError> {
        Ok(())
    }
}

/// One message of a batched AEAD call ([`AeadKey::seal_batch`], [`AeadKey::open_batch`]):
/// its nonce, its additional authenticated data, where its input is, its output buffer, and
/// its tag (written by sealing, read by opening).
pub struct AeadBatchItem<'a> {
    /// The 96-bit nonce. Sealing requires a nonce never used before with the key.
    pub nonce: [u8; crate::NONCE_LEN],
    /// Additional authenticated data (authenticated, not encrypted).
    pub aad: &'a [u8],
    /// The input (plaintext to seal, ciphertext to open) when it is not already in `buffer`;
    /// it must have `buffer`'s length. `None`: the item is transformed in place.
    pub input: Option<&'a [u8]>,
    /// The output: ciphertext after sealing, plaintext after opening (and the input too,
    /// when `input` is `None`).
    pub buffer: &'a mut [u8],
    /// The 16-byte tag: an output of sealing, an input of opening.
    pub tag: [u8; crate::TAG_LEN],
}

impl<'a> AeadBatchItem<'a> {
    /// An item to seal in place: the tag starts zeroed and is written by
    /// [`AeadKey::seal_batch`].
    pub fn to_seal(nonce: [u8; crate::NONCE_LEN], aad: &'a [u8], buffer: &'a mut [u8]) -> Self {
        AeadBatchItem {
            nonce,
            aad,
            input: None,
            buffer,
            tag: [0; crate::TAG_LEN],
        }
    }

    /// An item to seal from `plaintext` into `out` (of the same length), in one pass where
    /// the provider can ([`AeadKey::seal_to`]).
    pub fn to_seal_from(
        nonce: [u8; crate::NONCE_LEN],
        aad: &'a [u8],
        plaintext: &'a [u8],
        out: &'a mut [u8],
    ) -> Self {
        AeadBatchItem {
            nonce,
            aad,
            input: Some(plaintext),
            buffer: out,
            tag: [0; crate::TAG_LEN],
        }
    }

    /// An item to open in place with the tag that came with the ciphertext.
    pub fn to_open(
        nonce: [u8; crate::NONCE_LEN],
        aad: &'a [u8],
        buffer: &'a mut [u8],
        tag: [u8; crate::TAG_LEN],
    ) -> Self {
        AeadBatchItem {
            nonce,
            aad,
            input: None,
            buffer,
            tag,
        }
    }

    /// An item to open from `ciphertext` into `out` (of the same length).
    pub fn to_open_from(
        nonce: [u8; crate::NONCE_LEN],
        aad: &'a [u8],
        ciphertext: &'a [u8],
        out: &'a mut [u8],
        tag: [u8; crate::TAG_LEN],
    ) -> Self {
        AeadBatchItem {
            nonce,
            aad,
            input: Some(ciphertext),
            buffer: out,
            tag,
        }
    }

    /// Copies a separate input into the buffer (for implementations that work in place).
    /// Fails if the lengths differ.
    pub fn move_input_into_buffer(&mut self) -> Result<(), CryptoError> {
        if let Some(input) = self.input.take() {
            check_output_len(input.len(), self.buffer.len())?;
            self.buffer.copy_from_slice(input);
        }
        Ok(())
    }
}

/// The error for an output buffer whose length differs from its input's.
pub(crate) fn check_output_len(input: usize, output: usize) -> Result<(), CryptoError> {
    if input == output {
        Ok(())
    } else {
        Err(CryptoError::InvalidLength {
            what: "AEAD output buffer",
            expected: input,
            got: output,
        })
    }
}

impl fmt::Debug for AeadBatchItem<'_> {
    /// Lengths only: the buffers may hold plaintext.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AeadBatchItem")
            .field("aad_len", &self.aad.len())
            .field("input_len", &self.input.map(<[u8]>::len))
            .field("buffer_len", &self.buffer.len())
            .finish_non_exhaustive()
    }
}

/// An AES-GCM key held by a provider, ready for sealing and opening in place.
pub trait AeadKey: Send + Sync + fmt::Debug {
    fn algorithm(&self) -> AeadAlg;

    /// Encrypts `buffer` in place and returns the 16-byte tag.
    fn seal_in_place(
        &self,
        nonce: &[u8; crate::NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
    ) -> Result<[u8; crate::TAG_LEN], CryptoError>;

    /// Verifies `tag` and decrypts `buffer` in place. On failure the buffer content is
    /// unspecified and must be discarded.
    fn open_in_place(
        &self,
        nonce: &[u8; crate::NONCE_LEN],
        aad: &[u8],
        buffer: &mut [u8],
        tag: &[u8; crate::TAG_LEN],
    ) -> Result<(), CryptoError>;

    /// Encrypts `plaintext` into `out` (which must have the same length) and returns the
    /// tag: the same result as copying `plaintext` into `out` and calling
    /// [`Self::seal_in_place`], which is what the default does. Providers whose library can
    /// read the plaintext and write the ciphertext in one pass override it (the SFrame sender
    /// seals every frame this way, into its output buffer).
    fn seal_to(
        &self,
        nonce: &[u8; crate::NONCE_LEN],
        aad: &[u8],
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<[u8; crate::TAG_LEN], CryptoError> {
        check_output_len(plaintext.len(), out.len())?;
        out.copy_from_slice(plaintext);
        self.seal_in_place(nonce, aad, out)
    }

    /// Seals every item (in place, or from its `input` into its buffer) and writes each item's
    /// tag, exactly as [`Self::seal_in_place`] / [`Self::seal_to`] would one after the other
    /// (the output is identical). Every nonce must be fresh for this
    /// key, also within the batch.
    ///
    /// On error no item's output may be used: the whole batch must be discarded (errors are
    /// only possible for inputs beyond the GCM length limits or a provider failure).
    ///
    /// The default calls [`Self::seal_in_place`] or [`Self::seal_to`] for each item; providers with a faster path
    /// override it and set [`crate::Capabilities::batched_aead`].
    fn seal_batch(&self, items: &mut [AeadBatchItem<'_>]) -> Result<(), CryptoError> {
        for item in items.iter_mut() {
            item.tag = match item.input {
                Some(plaintext) => self.seal_to(&item.nonce, item.aad, plaintext, item.buffer)?,
                None => self.seal_in_place(&item.nonce, item.aad, item.buffer)?,
            };
        }
        Ok(())
    }

    /// Opens every item (in place, or from its `input` into its buffer), exactly as
    /// [`Self::open_in_place`] would one after the other, and returns one result per item, in order: one forged item does not stop the
    /// others. The buffer of an item that failed holds unspecified bytes and must be discarded.
    ///
    /// The default copies a separate input into the buffer and calls [`Self::open_in_place`]
    /// for each item.
    fn open_batch(&self, items: &mut [AeadBatchItem<'_>]) -> Vec<Result<(), CryptoError>> {
        items
            .iter_mut()
            .map(|item| {
                item.move_input_into_buffer()?;
                self.open_in_place(&item.nonce, item.aad, item.buffer, &item.tag)
            })
            .collect()
    }
}
