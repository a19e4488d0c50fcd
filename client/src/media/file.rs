//! The file carousel (PROTOCOL §12.2): a file sent on the data stream so that it arrives
//! complete without retransmission. Each frame's data is
//! `u64 file_size ‖ u32 chunk_index ‖ u32 chunk_count ‖ SHA-256(file) ‖ chunk`, chunks of
//! 16 384 bytes (the last may be shorter; an empty file is one empty chunk), repeated in
//! order until stopped. The receiver's [`FileAssembler`] keeps the chunks of each file (by
//! hash) and completes when it has them all and the hash matches.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use conclave_wire::media::{SILENT_LEVEL, Stream};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::media::source::SourceFrame;

/// Bytes per chunk.
pub const CHUNK_LEN: usize = 16_384;
/// `file_size ‖ chunk_index ‖ chunk_count ‖ hash`.
pub const CHUNK_HEADER_LEN: usize = 8 + 4 + 4 + 32;

/// How many chunks a file of `size` bytes has.
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_LEN as u64).max(1)
}

/// Sends a file's chunks in order, round after round.
#[derive(Debug)]
pub struct FileSource {
    bytes: Vec<u8>,
    hash: [u8; 32],
    count: u32,
    next_chunk: u32,
    interval: Duration,
    next: Option<Instant>,
    rounds: u64,
}

impl FileSource {
    /// A carousel over `bytes` sending `chunks_per_sec` chunks per second from `now`.
    /// Files of more than `u32::MAX` chunks are refused.
    pub fn new(now: Instant, bytes: Vec<u8>, chunks_per_sec: u32) -> Option<Self> {
        let count = u32::try_from(chunk_count(bytes.len() as u64)).ok()?;
        let hash = Sha256::digest(&bytes).into();
        Some(FileSource {
            bytes,
            hash,
            count,
            next_chunk: 0,
            interval: Duration::from_secs(1) / chunks_per_sec.max(1),
            next: Some(now),
            rounds: 0,
        })
    }

    pub fn sha256(&self) -> [u8; 32] {
        self.hash
    }

    pub fn next_due(&self) -> Option<Instant> {
        self.next
    }

    /// Full rounds sent.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// Stops the carousel.
    pub fn stop(&mut self) {
        self.next = None;
    }

    pub fn poll(&mut self, now: Instant, out: &mut Vec<SourceFrame>) {
        let Some(next) = self.next else { return };
        if next > now {
            return;
        }
        self.next = Some((next + self.interval).max(now));
        let i = self.next_chunk;
        let start = (i as usize).saturating_mul(CHUNK_LEN);
        let end = start.saturating_add(CHUNK_LEN).min(self.bytes.len());
        let chunk = self.bytes.get(start..end).unwrap_or_default();
        let mut data = Vec::with_capacity(CHUNK_HEADER_LEN + chunk.len());
        data.extend_from_slice(&(self.bytes.len() as u64).to_be_bytes());
        data.extend_from_slice(&i.to_be_bytes());
        data.extend_from_slice(&self.count.to_be_bytes());
        data.extend_from_slice(&self.hash);
        data.extend_from_slice(chunk);
        self.next_chunk += 1;
        if self.next_chunk >= self.count {
            self.next_chunk = 0;
            self.rounds += 1;
        }
        out.push(SourceFrame {
            stream: Stream::Data,
            keyframe: false,
            codec: false,
            audio_level: SILENT_LEVEL,
            data,
        });
    }
}

/// Why a data frame is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FileError {
    #[error("file chunk shorter than its header")]
    Truncated,
    #[error("file of {0} bytes exceeds the receiver's limit")]
    TooLarge(u64),
    #[error("chunk index or count inconsistent with the file size")]
    BadChunk,
    #[error("file content does not match its SHA-256")]
    HashMismatch,
}

/// A file received whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFile {
    pub sha256: [u8; 32],
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
struct Partial {
    size: u64,
    count: u32,
    have: Vec<bool>,
    got: u32,
    bytes: Vec<u8>,
}

/// Rebuilds files from carousel chunks, per file hash.
#[derive(Debug)]
pub struct FileAssembler {
    max_size: u64,
    max_files: usize,
    partial: HashMap<[u8; 32], Partial>,
    done: Vec<[u8; 32]>,
}

impl Default for FileAssembler {
    fn default() -> Self {
        Self::new(64 << 20, 4)
    }
}

impl FileAssembler {
    /// Accepts files up to `max_size` bytes, `max_files` incomplete at a time.
    pub fn new(max_size: u64, max_files: usize) -> Self {
        FileAssembler {
            max_size,
            max_files: max_files.max(1),
            partial: HashMap::new(),
            done: Vec::new(),
        }
    }

    /// One chunk (a data frame's data). Returns the file when this chunk completes it; a
    /// file already completed is not returned again.
    pub fn push(&mut self, data: &[u8]) -> Result<Option<ReceivedFile>, FileError> {
        let Some((h, chunk)) = data.split_first_chunk::<CHUNK_HEADER_LEN>() else {
            return Err(FileError::Truncated);
        };
        let mut size = [0u8; 8];
        size.copy_from_slice(&h[0..8]);
        let size = u64::from_be_bytes(size);
        let index = u32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        let count = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&h[16..48]);
        if size > self.max_size {
            return Err(FileError::TooLarge(size));
        }
        if u64::from(count) != chunk_count(size) || index >= count {
            return Err(FileError::BadChunk);
        }
        let start = u64::from(index) * CHUNK_LEN as u64;
        let expected = (size - start.min(size)).min(CHUNK_LEN as u64);
        if chunk.len() as u64 != expected {
            return Err(FileError::BadChunk);
        }
        if self.done.contains(&hash) {
            return Ok(None);
        }
        if !self.partial.contains_key(&hash) && self.partial.len() >= self.max_files {
            // Make room: forget the least complete file.
            if let Some(k) = self
                .partial
                .iter()
                .min_by_key(|(_, p)| p.got)
                .map(|(k, _)| *k)
            {
                self.partial.remove(&k);
            }
        }
        let p = self.partial.entry(hash).or_insert_with(|| Partial {
            size,
            count,
            have: vec![false; count as usize],
            got: 0,
            bytes: vec![0; size as usize],
        });
        if p.size != size || p.count != count {
            return Err(FileError::BadChunk);
        }
        let Some(slot) = p.have.get_mut(index as usize) else {
            return Err(FileError::BadChunk);
        };
        if *slot {
            return Ok(None);
        }
        let start = start as usize;
        let Some(dst) = p.bytes.get_mut(start..start + chunk.len()) else {
            return Err(FileError::BadChunk);
        };
        dst.copy_from_slice(chunk);
        *slot = true;
        p.got += 1;
        if p.got < p.count {
            return Ok(None);
        }
        let Some(p) = self.partial.remove(&hash) else {
            return Ok(None);
        };
        if <[u8; 32]>::from(Sha256::digest(&p.bytes)) != hash {
            return Err(FileError::HashMismatch);
        }
        self.done.push(hash);
        Ok(Some(ReceivedFile {
            sha256: hash,
            bytes: p.bytes,
        }))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn send_all(bytes: Vec<u8>, rounds: usize) -> Vec<Vec<u8>> {
        let t0 = Instant::now();
        let mut s = FileSource::new(t0, bytes, 1000).unwrap();
        let mut out = Vec::new();
        let total = chunk_count(s.bytes.len() as u64) as usize * rounds;
        let mut t = t0;
        while out.len() < total {
            s.poll(t, &mut out);
            t += Duration::from_millis(1);
        }
        out.into_iter().map(|f| f.data).collect()
    }

    #[test]
    fn carousel_delivers_a_file_despite_loss() {
        let file: Vec<u8> = (0..40_000u32).map(|i| (i * 7) as u8).collect();
        let frames = send_all(file.clone(), 2);
        assert_eq!(frames.len(), 6);
        let mut a = FileAssembler::default();
        // The first round loses chunk 1; the second round fills it in.
        let mut got = None;
        for (i, f) in frames.iter().enumerate() {
            if i == 1 {
                continue;
            }
            if let Some(done) = a.push(f).unwrap() {
                assert!(got.is_none());
                got = Some(done);
            }
        }
        let got = got.unwrap();
        assert_eq!(got.bytes, file);
        assert_eq!(got.sha256, <[u8; 32]>::from(Sha256::digest(&file)));
    }

    #[test]
    fn empty_file_is_one_empty_chunk() {
        let frames = send_all(Vec::new(), 1);
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].len(), CHUNK_HEADER_LEN);
        let mut a = FileAssembler::default();
        assert_eq!(a.push(&frames[0]).unwrap().unwrap().bytes, Vec::<u8>::new());
        assert_eq!(a.push(&frames[0]).unwrap(), None, "delivered once");
    }

    #[test]
    fn wrong_hash_and_bad_chunks_are_refused() {
        let mut frames = send_all(vec![1; 100], 1);
        let mut a = FileAssembler::default();
        let mut bad = frames[0].clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(a.push(&bad), Err(FileError::HashMismatch));
        frames[0][15] = 2; // chunk_count 2 for 100 bytes
        assert_eq!(a.push(&frames[0]), Err(FileError::BadChunk));
        assert_eq!(a.push(&frames[0][..10]), Err(FileError::Truncated));
        let mut small = FileAssembler::new(10, 1);
        assert_eq!(
            small.push(&send_all(vec![1; 100], 1)[0]),
            Err(FileError::TooLarge(100))
        );
    }

    proptest! {
        #[test]
        fn assembler_is_total(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut a = FileAssembler::new(1 << 16, 2);
            let _ = a.push(&data);
        }
    }
}
