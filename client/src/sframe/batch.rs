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
        for (ctr, (metadata, payload)) in (first_ctr..).zip(frames) {
            self.seal(ctr, metadata, payload, &mut out.buf)?;
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
        for (ctr, (metadata, payload)) in (first_ctr..).zip(frames) {
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
        for ((ctr, (metadata, payload)), hlen) in (first_ctr..).zip(frames).zip(header_lens) {
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
