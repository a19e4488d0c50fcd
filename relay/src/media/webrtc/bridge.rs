//! Frames between the transports (docs/PROTOCOL.md §13.5): native codec frames arrive as
//! fragments and are reassembled before they are written to browsers; browser frames are
//! split into `MEDIA_FWD` fragments for native subscribers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use conclave_wire::media::{MAX_FRAGMENT, MediaHeader};

use crate::media::router::ParticipantId;

/// The largest codec frame bridged to browsers, in fragments (≈ 297 KB).
pub const MAX_BRIDGED_FRAGMENTS: u16 = 256;
/// A frame not complete after this long is dropped.
const STALE_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Partial {
    frame_number: u32,
    frag_count: u16,
    got: Vec<bool>,
    missing: u16,
    buf: Vec<u8>,
    len: usize,
    targets: Vec<ParticipantId>,
    started: Instant,
}

/// Reassembles native codec frames per (publisher, stream), one frame in flight each.
#[derive(Debug, Default)]
pub struct Assembler {
    partial: HashMap<(ParticipantId, u8), Partial>,
}

impl Assembler {
    /// One fragment; `targets` are the browsers the router chose for it (those of
    /// fragment 0 receive the frame). Returns the complete frame and its targets.
    pub fn push(
        &mut self,
        now: Instant,
        source: ParticipantId,
        h: &MediaHeader,
        fragment: &[u8],
        targets: impl Iterator<Item = ParticipantId>,
    ) -> Option<(Arc<[u8]>, Vec<ParticipantId>)> {
        if h.frag_count > MAX_BRIDGED_FRAGMENTS || fragment.len() > MAX_FRAGMENT {
            return None;
        }
        let key = (source, h.stream.to_byte());
        if h.frag_count == 1 {
            self.partial.remove(&key);
            return Some((Arc::from(fragment), targets.collect()));
        }
        let fresh = self
            .partial
            .get(&key)
            .is_none_or(|p| p.frame_number != h.frame_number || p.frag_count != h.frag_count);
        if fresh {
            self.partial.insert(
                key,
                Partial {
                    frame_number: h.frame_number,
                    frag_count: h.frag_count,
                    got: vec![false; usize::from(h.frag_count)],
                    missing: h.frag_count,
                    buf: vec![0; usize::from(h.frag_count) * MAX_FRAGMENT],
                    len: 0,
                    targets: Vec::new(),
                    started: now,
                },
            );
        }
        let p = self.partial.get_mut(&key)?;
        let i = usize::from(h.frag_index);
        if p.got.get(i).copied().unwrap_or(true) {
            return None;
        }
        let at = i * MAX_FRAGMENT;
        p.buf
            .get_mut(at..at + fragment.len())?
            .copy_from_slice(fragment);
        if let Some(g) = p.got.get_mut(i) {
            *g = true;
        }
        p.missing -= 1;
        if h.is_first_fragment() {
            p.targets = targets.collect();
        }
        if h.is_last_fragment() {
            p.len = at + fragment.len();
        }
        if p.missing > 0 {
            return None;
        }
        let mut p = self.partial.remove(&key)?;
        p.buf.truncate(p.len);
        Some((Arc::from(p.buf), p.targets))
    }

    /// Drops frames that stalled and everything of `gone`.
    pub fn expire(&mut self, now: Instant, gone: Option<ParticipantId>) {
        self.partial.retain(|(s, _), p| {
            Some(*s) != gone && now.saturating_duration_since(p.started) < STALE_AFTER
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use conclave_wire::media::{SILENT_LEVEL, Stream};

    fn header(index: u16, count: u16, frame_number: u32) -> MediaHeader {
        MediaHeader {
            stream: Stream::Video(conclave_wire::media::Layer::L0),
            keyframe: true,
            codec: true,
            audio_level: SILENT_LEVEL,
            frame_number,
            frag_index: index,
            frag_count: count,
        }
    }

    #[test]
    fn fragments_in_any_order_make_the_frame_once() {
        let now = Instant::now();
        let frame: Vec<u8> = (0..(2 * MAX_FRAGMENT + 7)).map(|i| i as u8).collect();
        let chunks: Vec<&[u8]> = frame.chunks(MAX_FRAGMENT).collect();
        let mut a = Assembler::default();
        assert!(
            a.push(now, 1, &header(2, 3, 9), chunks[2], [].into_iter())
                .is_none()
        );
        assert!(
            a.push(now, 1, &header(0, 3, 9), chunks[0], [5, 6].into_iter())
                .is_none()
        );
        assert!(
            a.push(now, 1, &header(0, 3, 9), chunks[0], [5].into_iter())
                .is_none()
        );
        let (f, t) = a
            .push(now, 1, &header(1, 3, 9), chunks[1], [].into_iter())
            .unwrap();
        assert_eq!(&f[..], &frame[..]);
        assert_eq!(t, vec![5, 6]);
        // A new frame replaces an incomplete one; stale ones expire.
        assert!(
            a.push(now, 1, &header(0, 2, 10), chunks[0], [5].into_iter())
                .is_none()
        );
        assert!(
            a.push(now, 1, &header(0, 2, 11), chunks[0], [5].into_iter())
                .is_none()
        );
        assert!(
            a.push(now, 1, &header(1, 2, 10), &[1], [].into_iter())
                .is_none()
        );
        a.expire(now + STALE_AFTER, None);
        assert!(a.partial.is_empty());
        assert!(
            a.push(
                now,
                1,
                &header(0, MAX_BRIDGED_FRAGMENTS + 1, 1),
                chunks[0],
                [].into_iter()
            )
            .is_none()
        );
    }
}
