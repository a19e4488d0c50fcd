//! `RECEIVER_REPORT` (PROTOCOL §11.2, §11.3): a subscriber's estimated bandwidth and, per
//! (publisher, stream) it receives, loss and jitter.

use super::{DatagramError, MAX_REPORT_ENTRIES, REPORT_ENTRY_LEN, Stream};

/// One entry: what a subscriber measured of one publisher's stream since its last report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReportEntry {
    pub source_id: u32,
    pub stream: Stream,
    /// Lost fraction since the last report, in 1/256.
    pub fraction_lost: u8,
    pub cumulative_lost: u32,
    /// RFC 3550 §6.4.1 interarrival jitter of frames, in µs.
    pub jitter_us: u32,
}

impl ReportEntry {
    /// The loss fraction as a number in `[0, 1)`.
    pub fn loss(&self) -> f32 {
        f32::from(self.fraction_lost) / 256.0
    }

    pub(crate) fn parse(b: &[u8; REPORT_ENTRY_LEN]) -> Result<ReportEntry, DatagramError> {
        let [s0, s1, s2, s3, stream, fl, c0, c1, c2, c3, j0, j1, j2, j3] = *b;
        let source_id = u32::from_be_bytes([s0, s1, s2, s3]);
        if source_id == 0 {
            return Err(DatagramError::ZeroSourceId);
        }
        Ok(ReportEntry {
            source_id,
            stream: Stream::from_byte(stream)?,
            fraction_lost: fl,
            cumulative_lost: u32::from_be_bytes([c0, c1, c2, c3]),
            jitter_us: u32::from_be_bytes([j0, j1, j2, j3]),
        })
    }

    pub(crate) fn to_bytes(self) -> [u8; REPORT_ENTRY_LEN] {
        let mut out = [0u8; REPORT_ENTRY_LEN];
        out[0..4].copy_from_slice(&self.source_id.to_be_bytes());
        out[4] = self.stream.to_byte();
        out[5] = self.fraction_lost;
        out[6..10].copy_from_slice(&self.cumulative_lost.to_be_bytes());
        out[10..14].copy_from_slice(&self.jitter_us.to_be_bytes());
        out
    }
}

/// A subscriber's receiver report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReceiverReport {
    /// The subscriber's estimate of its downlink bandwidth, kbit/s.
    pub est_bandwidth_kbps: u32,
    /// At most [`MAX_REPORT_ENTRIES`].
    pub entries: Vec<ReportEntry>,
}

impl ReceiverReport {
    pub fn new(est_bandwidth_kbps: u32, entries: Vec<ReportEntry>) -> Self {
        ReceiverReport {
            est_bandwidth_kbps,
            entries,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), DatagramError> {
        if self.entries.len() > MAX_REPORT_ENTRIES {
            return Err(DatagramError::ReportCount(self.entries.len()));
        }
        if self.entries.iter().any(|e| e.source_id == 0) {
            return Err(DatagramError::ZeroSourceId);
        }
        Ok(())
    }

    /// Body length: `u32 est_bandwidth_kbps ‖ u8 n ‖ n × 14`.
    pub fn encoded_len(&self) -> usize {
        5 + REPORT_ENTRY_LEN * self.entries.len()
    }

    /// Parses a whole body (its length must match `n` exactly).
    pub(crate) fn parse(body: &[u8]) -> Result<ReceiverReport, DatagramError> {
        let Some((head, rest)) = body.split_first_chunk::<5>() else {
            return Err(DatagramError::BodyLength {
                ty: super::DatagramType::ReceiverReport,
                len: body.len(),
            });
        };
        let [b0, b1, b2, b3, n] = *head;
        let n = usize::from(n);
        if n > MAX_REPORT_ENTRIES {
            return Err(DatagramError::ReportCount(n));
        }
        if rest.len() != n * REPORT_ENTRY_LEN {
            return Err(DatagramError::BodyLength {
                ty: super::DatagramType::ReceiverReport,
                len: body.len(),
            });
        }
        let (chunks, _) = rest.as_chunks::<REPORT_ENTRY_LEN>();
        let entries = chunks
            .iter()
            .map(ReportEntry::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ReceiverReport {
            est_bandwidth_kbps: u32::from_be_bytes([b0, b1, b2, b3]),
            entries,
        })
    }

    /// Writes the body into `out` (which holds exactly [`Self::encoded_len`] bytes).
    pub(crate) fn write(&self, out: &mut [u8]) {
        let mut pos = 0;
        let mut put = |b: &[u8]| {
            if let Some(dst) = out.get_mut(pos..pos + b.len()) {
                dst.copy_from_slice(b);
            }
            pos += b.len();
        };
        put(&self.est_bandwidth_kbps.to_be_bytes());
        put(&[self.entries.len() as u8]);
        for e in &self.entries {
            put(&e.to_bytes());
        }
    }
}
