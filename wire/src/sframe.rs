//! The SFrame header (RFC 9605 §4.3) and Conclave's KID layout.
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+---------------------+---------------------+
//! |X|  K  |Y|  C  |  KID (0 or K+1 B)   |  CTR (0 or C+1 B)   |
//! +-+-+-+-+-+-+-+-+---------------------+---------------------+
//! ```
//!
//! A value below 8 is carried in the config byte (X or Y clear); a larger one follows in
//! the fewest big-endian bytes that hold it (X or Y set, K or C = length − 1). Encoders
//! always emit this minimal form and the parser rejects any other form, so that every
//! (KID, CTR) pair has exactly one header.

use crate::WireError;

/// The largest header: config byte + 8 KID bytes + 8 CTR bytes.
pub const MAX_HEADER_LEN: usize = 17;

/// A parsed SFrame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SframeHeader {
    pub kid: u64,
    pub ctr: u64,
}

/// Number of bytes needed for `v` in the extended form (1..=8).
fn byte_len(v: u64) -> usize {
    (8 - (v.leading_zeros() as usize / 8)).max(1)
}

impl SframeHeader {
    pub fn new(kid: u64, ctr: u64) -> Self {
        SframeHeader { kid, ctr }
    }

    /// Length of the encoded header.
    pub fn encoded_len(&self) -> usize {
        let field = |v: u64| if v < 8 { 0 } else { byte_len(v) };
        1 + field(self.kid) + field(self.ctr)
    }

    /// Writes the header into `out` and returns its length. `out` must hold
    /// [`Self::encoded_len`] bytes (any buffer of [`MAX_HEADER_LEN`] does).
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, WireError> {
        let len = self.encoded_len();
        if out.len() < len {
            return Err(WireError::Truncated {
                what: "SFrame header buffer",
                need: len - out.len(),
            });
        }
        let mut pos = 1;
        let mut put = |v: u64, pos: &mut usize| -> u8 {
            if v < 8 {
                v as u8
            } else {
                let n = byte_len(v);
                out[*pos..*pos + n].copy_from_slice(&v.to_be_bytes()[8 - n..]);
                *pos += n;
                0b1000 | (n as u8 - 1)
            }
        };
        let k = put(self.kid, &mut pos);
        let c = put(self.ctr, &mut pos);
        out[0] = (k << 4) | c;
        Ok(len)
    }

    /// The encoded header as a fresh vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = [0u8; MAX_HEADER_LEN];
        // `buf` always holds MAX_HEADER_LEN bytes, enough for any header.
        let n = self.encode_into(&mut buf).unwrap_or(0);
        buf[..n].to_vec()
    }

    /// Parses a header at the start of `frame`; returns it and its length. The rest of
    /// `frame` is the ciphertext. Rejects truncated and non-minimal headers.
    pub fn parse(frame: &[u8]) -> Result<(SframeHeader, usize), WireError> {
        let Some(&config) = frame.first() else {
            return Err(WireError::Truncated {
                what: "SFrame header",
                need: 1,
            });
        };
        let mut pos = 1;
        let mut field = |nibble: u8, what: &'static str| -> Result<u64, WireError> {
            if nibble & 0b1000 == 0 {
                return Ok(u64::from(nibble));
            }
            let n = usize::from(nibble & 0b111) + 1;
            let bytes = frame
                .get(pos..pos + n)
                .ok_or_else(|| WireError::Truncated {
                    what,
                    need: pos + n - frame.len(),
                })?;
            pos += n;
            let v = bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
            if v < 8 || byte_len(v) != n {
                return Err(WireError::NonMinimal(what));
            }
            Ok(v)
        };
        let kid = field(config >> 4, "SFrame KID")?;
        let ctr = field(config & 0x0f, "SFrame CTR")?;
        Ok((SframeHeader { kid, ctr }, pos))
    }
}

/// Conclave's KID layout: `KID = epoch << 16 | sender_index`, so the relay can read the
/// epoch and the sender of a frame from the clear header without any key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaKid {
    pub epoch: u64,
    pub sender_index: u16,
}

impl MediaKid {
    /// The largest epoch that fits the layout (48 bits).
    pub const MAX_EPOCH: u64 = (1 << 48) - 1;

    pub fn new(epoch: u64, sender_index: u16) -> Result<Self, WireError> {
        if epoch > Self::MAX_EPOCH {
            return Err(WireError::OutOfRange {
                what: "epoch",
                got: epoch,
            });
        }
        Ok(MediaKid {
            epoch,
            sender_index,
        })
    }

    pub fn to_kid(self) -> u64 {
        (self.epoch << 16) | u64::from(self.sender_index)
    }

    pub fn from_kid(kid: u64) -> Self {
        MediaKid {
            epoch: kid >> 16,
            sender_index: (kid & 0xffff) as u16,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn short_and_extended_boundary() {
        // 7 fits the config byte; 8 needs one extra byte (the RFC vectors never test this).
        assert_eq!(SframeHeader::new(7, 7).to_bytes(), vec![0x77]);
        assert_eq!(SframeHeader::new(8, 7).to_bytes(), vec![0x87, 0x08]);
        assert_eq!(SframeHeader::new(7, 8).to_bytes(), vec![0x78, 0x08]);
        assert_eq!(
            SframeHeader::new(255, 256).to_bytes(),
            vec![0x89, 0xff, 0x01, 0x00]
        );
        assert_eq!(
            SframeHeader::new(u64::MAX, 0).to_bytes(),
            [&[0xf0][..], &[0xff; 8]].concat()
        );
        for v in [
            0u64,
            1,
            7,
            8,
            9,
            254,
            255,
            256,
            65535,
            65536,
            1 << 56,
            u64::MAX,
        ] {
            let h = SframeHeader::new(v, v);
            let bytes = h.to_bytes();
            assert_eq!(bytes.len(), h.encoded_len());
            assert_eq!(SframeHeader::parse(&bytes), Ok((h, bytes.len())));
        }
    }

    #[test]
    fn rejects_non_minimal_and_truncated() {
        // KID 5 in the extended form.
        assert_eq!(
            SframeHeader::parse(&[0x80, 0x05]),
            Err(WireError::NonMinimal("SFrame KID"))
        );
        // KID 255 in two bytes.
        assert_eq!(
            SframeHeader::parse(&[0x90, 0x00, 0xff]),
            Err(WireError::NonMinimal("SFrame KID"))
        );
        assert!(matches!(
            SframeHeader::parse(&[0x0f, 0x01]),
            Err(WireError::Truncated {
                what: "SFrame CTR",
                ..
            })
        ));
        assert!(matches!(
            SframeHeader::parse(&[]),
            Err(WireError::Truncated { .. })
        ));
    }

    #[test]
    fn media_kid_layout() {
        let k = MediaKid::new(3, 17).unwrap();
        assert_eq!(k.to_kid(), 0x3_0011);
        assert_eq!(MediaKid::from_kid(0x3_0011), k);
        assert!(MediaKid::new(1 << 48, 0).is_err());
        assert_eq!(MediaKid::new(0, 5).unwrap().to_kid(), 5);
    }

    proptest! {
        #[test]
        fn header_round_trip(kid: u64, ctr: u64, tail in proptest::collection::vec(any::<u8>(), 0..8)) {
            let h = SframeHeader::new(kid, ctr);
            let mut bytes = h.to_bytes();
            let n = bytes.len();
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(SframeHeader::parse(&bytes), Ok((h, n)));
        }

        #[test]
        fn parse_never_panics_and_is_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Ok((h, n)) = SframeHeader::parse(&bytes) {
                prop_assert_eq!(&h.to_bytes()[..], &bytes[..n]);
            }
        }
    }
}
