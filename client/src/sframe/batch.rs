//! Batched SFrame sealing: many frames of one sender in one call, handed to the provider's
//! batched AEAD ([`conclave_crypto::AeadKey::seal_batch`]) when its capabilities say it has a
//! native one, sealed one by one otherwise. Either way the output is byte for byte what
//! [`SframeSender::seal`] gives frame after frame.

use std::fmt;

use conclave_crypto::{AeadBatchItem, TAG_LEN};
use conclave_wire::sframe::{MAX_HEADER_LEN, SframeHeader};

use super::{SframeKey, SframeSender};
use crate::{ClientError, Result};

/// A frame to seal: `(metadata, payload)`. The metadata is authenticated (it is part of the
/// AAD) but not carried in the frame.
pub type FrameRef<'a> = (&'a [u8], &'a [u8]);

/// Sealed frames laid end to end in one buffer (`header ‖ ciphertext ‖ tag` each), so that a
/// batch costs no allocation per frame and the buffer can be reused: [`Self::clear`] keeps
/// the capacity.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SealedFrames {
    buf: Vec<u8>,
    /// The end offset of each frame in `buf`.
    ends: Vec<usize>,
}

impl fmt::Debug for SealedFrames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedFrames")
            .field("frames", &self.ends.len())
            .field("bytes", &self.buf.len())
            .finish()
    }
}

impl SealedFrames {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty set with room for `frames` frames of `bytes` bytes in total.
    pub fn with_capacity(frames: usize, bytes: usize) -> Self {
        SealedFrames {
            buf: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(frames),
        }
    }

    /// Forgets every frame, keeping the allocations.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    /// How many frames there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is no frame.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The total size of all frames in bytes.
    pub fn total_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Frame `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        self.buf.get(start..end)
    }

    /// The frames in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        // `get` succeeds for every index below `len` (the offsets are ours).
        (0..self.len()).map(move |i| self.get(i).unwrap_or_default())
    }

    /// Drops frames past the first `frames` (after a failed batch).
    fn truncate(&mut self, frames: usize) {
        self.ends.truncate(frames);
        self.buf.truncate(self.ends.last().copied().unwrap_or(0));
    }
}

/// The counter of frame `i` of a batch starting at `first`. [`SframeSender::seal_batch`] has
/// checked that the batch's last counter does not overflow.
fn ctr_at(first: u64, i: usize) -> u64 {
    first + i as u64
}

impl SframeKey {
    /// Seals `frames` with the counters `first_ctr`, `first_ctr + 1`, … (which the caller has
    /// checked do not overflow and reserved), appending them to `out`. On error `out` is left
    /// as it was.
    fn seal_batch(
        &self,
        first_ctr: u64,
        frames: &[FrameRef<'_>],
        out: &mut SealedFrames,
    ) -> Result<()> {
        let before = out.len();
        let result = if self.batched {
            self.seal_batch_native(first_ctr, frames, out)
        } else {
            self.seal_batch_loop(first_ctr, frames, out)
        };
        if result.is_err() {
            out.truncate(before);
        }
        result
    }

    /// The provider has no native batch: the single-frame path, frame after frame.
    fn seal_batch_loop(
        &self,
        first_ctr: u64,
        frames: &[FrameRef<'_>],
        out: &mut SealedFrames,
    ) -> Result<()> {
        for (i, (metadata, payload)) in frames.iter().enumerate() {
            self.seal(ctr_at(first_ctr, i), metadata, payload, &mut out.buf)?;
            out.ends.push(out.buf.len());
        }
        Ok(())
    }

    /// Lays out `header ‖ (ciphertext) ‖ (tag)` for every frame with one reservation, then
    /// seals every payload into its place in one provider call and writes the tags.
    fn seal_batch_native(
        &self,
        first_ctr: u64,
        frames: &[FrameRef<'_>],
        out: &mut SealedFrames,
    ) -> Result<()> {
        let upper_bound: usize = frames
            .iter()
            .map(|(_, payload)| MAX_HEADER_LEN + payload.len() + TAG_LEN)
            .sum();
        out.buf.reserve(upper_bound);
        out.ends.reserve(frames.len());
        let base = out.buf.len();
        // AADs are `header ‖ metadata`: when any frame has metadata, they are built in one
        // scratch buffer; otherwise each AAD is the header in place.
        let with_metadata = frames.iter().any(|(metadata, _)| !metadata.is_empty());
        let mut aads = Vec::new();
        let mut hbuf = [0u8; MAX_HEADER_LEN];
        let mut header_lens = Vec::with_capacity(frames.len());
        for (i, (metadata, payload)) in frames.iter().enumerate() {
            let ctr = ctr_at(first_ctr, i);
            let hlen = SframeHeader::new(self.kid, ctr).encode_into(&mut hbuf)?;
            out.buf.extend_from_slice(&hbuf[..hlen]);
            // Room for the ciphertext and the tag: the provider encrypts straight into it.
            out.buf.resize(out.buf.len() + payload.len() + TAG_LEN, 0);
            out.ends.push(out.buf.len());
            header_lens.push(hlen);
            if with_metadata {
                aads.extend_from_slice(&hbuf[..hlen]);
                aads.extend_from_slice(metadata);
            }
        }

        // Disjoint views of the new frames: AAD (shared), body (sealed in place), tag slot.
        let mut items = Vec::with_capacity(frames.len());
        let mut tag_slots = Vec::with_capacity(frames.len());
        let mut rest: &mut [u8] = &mut out.buf[base..];
        let mut aads_rest: &[u8] = &aads;
        for ((i, (metadata, payload)), hlen) in frames.iter().enumerate().zip(header_lens) {
            let ctr = ctr_at(first_ctr, i);
            let (frame, tail) =
                std::mem::take(&mut rest).split_at_mut(hlen + payload.len() + TAG_LEN);
            rest = tail;
            let (header, body) = frame.split_at_mut(hlen);
            let (body, tag_slot) = body.split_at_mut(payload.len());
            let aad: &[u8] = if with_metadata {
                let (aad, tail) = aads_rest.split_at(hlen + metadata.len());
                aads_rest = tail;
                aad
            } else {
                header
            };
            items.push(AeadBatchItem::to_seal_from(
                self.nonce(ctr),
                aad,
                payload,
                body,
            ));
            tag_slots.push(tag_slot);
        }
        self.aead.seal_batch(&mut items)?;
        for (item, slot) in items.iter().zip(tag_slots) {
            slot.copy_from_slice(&item.tag);
        }
        Ok(())
    }
}

impl SframeSender {
    /// Seals `frames` with consecutive counters and appends them to `out`, in order. With a
    /// provider whose capabilities have `batched_aead` the frames go to the provider in one
    /// call; otherwise they are sealed one by one. The frames are byte for byte those that
    /// [`Self::seal`] would give one after the other.
    ///
    /// The counters are spent before sealing: after an error (`out` is then unchanged) they
    /// are not reused.
    pub fn seal_batch(&mut self, frames: &[FrameRef<'_>], out: &mut SealedFrames) -> Result<()> {
        let Some(last_offset) = frames.len().checked_sub(1) else {
            return Ok(());
        };
        let first = self.next_ctr.ok_or(ClientError::CounterExhausted)?;
        let last = u64::try_from(last_offset)
            .ok()
            .and_then(|offset| first.checked_add(offset))
            .ok_or(ClientError::CounterExhausted)?;
        self.next_ctr = last.checked_add(1);
        self.key.seal_batch(first, frames, out)
    }

    /// Whether [`Self::seal_batch`] hands frames to the provider's native batched AEAD.
    pub fn uses_batched_aead(&self) -> bool {
        self.key.batched
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use conclave_crypto::CryptoProvider;

    use super::*;
    use crate::sframe::{CipherSuite, SframeReceiver};

    fn providers() -> [Arc<dyn CryptoProvider>; 2] {
        [
            Arc::new(conclave_crypto_software::SoftwareProvider::new()),
            Arc::new(conclave_crypto_accel::AccelProvider::new().unwrap()),
        ]
    }

    #[test]
    fn batches_stop_at_the_last_counter() {
        for p in providers() {
            let key = || SframeKey::new(p.as_ref(), CipherSuite::DEFAULT, 5, &[3; 32]).unwrap();
            let frames: [FrameRef<'_>; 3] = [(b"", b"a"), (b"m", b"b"), (b"", b"c")];

            // Three counters left: the batch takes them all, then nothing more is sealed.
            let mut tx = SframeSender {
                key: key(),
                next_ctr: Some(u64::MAX - 2),
            };
            let mut out = SealedFrames::new();
            tx.seal_batch(&frames, &mut out).unwrap();
            assert_eq!(tx.next_ctr, None);
            let mut rx = SframeReceiver::new(p.clone(), CipherSuite::DEFAULT);
            rx.add_key(5, &[3; 32]).unwrap();
            for (i, frame) in out.iter().enumerate() {
                let (header, pt) = rx.open(frames[i].0, frame).unwrap();
                assert_eq!(header.ctr, u64::MAX - 2 + i as u64);
                assert_eq!(pt, frames[i].1);
            }
            let before = out.clone();
            assert!(matches!(
                tx.seal_batch(&frames[..1], &mut out),
                Err(ClientError::CounterExhausted)
            ));
            assert_eq!(out, before, "a failed batch leaves the output alone");

            // Two counters left: a batch of three is refused whole, and spends nothing.
            let mut tx = SframeSender {
                key: key(),
                next_ctr: Some(u64::MAX - 1),
            };
            assert!(matches!(
                tx.seal_batch(&frames, &mut out),
                Err(ClientError::CounterExhausted)
            ));
            assert_eq!(tx.next_ctr, Some(u64::MAX - 1));
            assert_eq!(out, before);
        }
    }
}
