//! Codec frames (PROTOCOL §13.1): an encoded VP8 or Opus frame whose first bytes stay in
//! clear, in front of the SFrame frame, and are authenticated as its metadata.
//!
//! ```text
//! N     = 1 (Opus TOC byte) | 10 (VP8 key frame) | 3 (VP8 inter frame)
//! frame = D[0..N] ‖ sframe(plaintext = D[N..], metadata = D[0..N])
//! ```
//!
//! A browser's RTP depacketizer and the relay can still read the codec's first bytes; the
//! rest is end-to-end encrypted, and changing the clear bytes makes the frame fail.

use conclave_wire::sframe::{MediaKid, SframeHeader};

use super::{SframeReceiver, SframeSender};
use crate::meeting::MeetingCrypto;
use crate::{ClientError, Result};

/// The SFrame tag length.
const TAG_LEN: usize = 16;

/// How many leading bytes of a codec frame stay in clear: 1 for Opus (`stream_is_audio`);
/// for VP8, 10 when the frame tag's bit 0 is clear (a key frame), 3 otherwise.
pub fn clear_len(stream_is_audio: bool, first_byte: u8) -> usize {
    // One rule for the relay, the wire codec and the SDK (PROTOCOL §13.1).
    conclave_wire::media::codec_clear_len(stream_is_audio, first_byte)
}

/// Something that seals SFrame frames under one sending KID and counter.
pub trait FrameSealer {
    /// Appends `header ‖ ciphertext ‖ tag` to `out`, with `metadata` authenticated.
    fn seal_frame(&mut self, metadata: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<()>;
}

/// Something that opens SFrame frames of many KIDs, with their replay windows.
pub trait FrameOpener {
    /// Opens `frame` with `metadata`; returns its header and plaintext.
    fn open_frame(&mut self, metadata: &[u8], frame: &[u8]) -> Result<(SframeHeader, Vec<u8>)>;
}

impl FrameSealer for SframeSender {
    fn seal_frame(&mut self, metadata: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        self.seal(metadata, plaintext, out)
    }
}

impl FrameOpener for SframeReceiver {
    fn open_frame(&mut self, metadata: &[u8], frame: &[u8]) -> Result<(SframeHeader, Vec<u8>)> {
        self.open(metadata, frame)
    }
}

impl FrameSealer for MeetingCrypto {
    fn seal_frame(&mut self, metadata: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        out.extend_from_slice(&self.seal(metadata, plaintext)?);
        Ok(())
    }
}

impl FrameOpener for MeetingCrypto {
    fn open_frame(&mut self, metadata: &[u8], frame: &[u8]) -> Result<(SframeHeader, Vec<u8>)> {
        let opened = self.open(metadata, frame)?;
        let kid = MediaKid {
            epoch: opened.epoch,
            sender_index: opened.sender_index,
        }
        .to_kid();
        Ok((SframeHeader::new(kid, opened.ctr), opened.payload))
    }
}

/// Seals the codec frame `data` (Opus if `audio`, else VP8) and appends
/// `clear ‖ sframe_frame` to `out`. A frame shorter than its clear part is refused
/// (`BadPayload`): it is not a valid VP8/Opus frame. On error `out` is unchanged.
pub fn seal_codec_frame<S: FrameSealer + ?Sized>(
    sender: &mut S,
    audio: bool,
    data: &[u8],
    out: &mut Vec<u8>,
) -> Result<()> {
    let first = *data
        .first()
        .ok_or_else(|| ClientError::BadPayload("empty codec frame".into()))?;
    let n = clear_len(audio, first);
    if data.len() < n {
        return Err(ClientError::BadPayload(format!(
            "codec frame of {} bytes is shorter than its {n} clear bytes",
            data.len()
        )));
    }
    let (clear, rest) = data.split_at(n);
    let start = out.len();
    out.extend_from_slice(clear);
    if let Err(e) = sender.seal_frame(clear, rest, out) {
        out.truncate(start);
        return Err(e);
    }
    Ok(())
}

/// Opens a codec frame (Opus if `audio`, else VP8): splits off the clear bytes, opens the
/// SFrame part with them as metadata and returns its header and the original codec frame
/// `clear ‖ plaintext`. A frame shorter than `N + 1 + 16` bytes is `FrameAuthFailed`.
pub fn open_codec_frame<O: FrameOpener + ?Sized>(
    ctx: &mut O,
    audio: bool,
    frame: &[u8],
) -> Result<(SframeHeader, Vec<u8>)> {
    let first = *frame.first().ok_or(ClientError::FrameAuthFailed)?;
    let n = clear_len(audio, first);
    if frame.len() < n + 1 + TAG_LEN {
        return Err(ClientError::FrameAuthFailed);
    }
    let (clear, sframe) = frame.split_at(n);
    let (header, plaintext) = ctx.open_frame(clear, sframe)?;
    let mut data = Vec::with_capacity(n + plaintext.len());
    data.extend_from_slice(clear);
    data.extend_from_slice(&plaintext);
    Ok((header, data))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use conclave_crypto::CryptoProvider;

    use super::*;
    use crate::sframe::{CipherSuite, SframeKey};

    fn pair(kid: u64) -> (SframeSender, SframeReceiver) {
        let p: Arc<dyn CryptoProvider> =
            Arc::new(conclave_crypto_software::SoftwareProvider::new());
        let base = [7u8; 32];
        let key = SframeKey::new(p.as_ref(), CipherSuite::DEFAULT, kid, &base).expect("key");
        let mut rx = SframeReceiver::new(p, CipherSuite::DEFAULT);
        rx.add_key(kid, &base).expect("add key");
        (SframeSender::new(key), rx)
    }

    fn vp8_key() -> Vec<u8> {
        // Frame tag with bit 0 clear (key frame), start code, 640x480, then data.
        let mut d = vec![0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01];
        d.extend((0..200u8).map(|i| i.wrapping_mul(7)));
        d
    }

    #[test]
    fn clear_lengths() {
        assert_eq!(clear_len(true, 0x00), 1);
        assert_eq!(clear_len(true, 0xff), 1);
        assert_eq!(clear_len(false, 0x50), 10);
        assert_eq!(clear_len(false, 0x51), 3);
        assert_eq!(clear_len(false, 0xfe), 10);
    }

    #[test]
    fn round_trip_keeps_clear_bytes_in_front() {
        let (mut tx, mut rx) = pair(0x10003);
        let opus = [0x78u8, 1, 2, 3, 4, 5];
        let inter = [0x31u8, 0x02, 0x00, 9, 9, 9, 9];
        for (audio, data) in [
            (true, &opus[..]),
            (false, &vp8_key()[..]),
            (false, &inter[..]),
        ] {
            let mut frame = Vec::new();
            seal_codec_frame(&mut tx, audio, data, &mut frame).expect("seal");
            let n = clear_len(audio, data[0]);
            assert_eq!(&frame[..n], &data[..n], "clear bytes lead the frame");
            let (hlen_header, _) = SframeHeader::parse(&frame[n..]).expect("header");
            assert_eq!(hlen_header.kid, 0x10003);
            assert_eq!(
                frame.len(),
                data.len() + SframeHeader::parse(&frame[n..]).expect("h").1 + 16
            );
            let (header, out) = open_codec_frame(&mut rx, audio, &frame).expect("open");
            assert_eq!(header.kid, 0x10003);
            assert_eq!(out, data);
        }
    }

    #[test]
    fn an_exactly_clear_frame_has_an_empty_plaintext() {
        let (mut tx, mut rx) = pair(5);
        let data = vp8_key()[..10].to_vec();
        let mut frame = Vec::new();
        seal_codec_frame(&mut tx, false, &data, &mut frame).expect("seal");
        assert_eq!(
            open_codec_frame(&mut rx, false, &frame).expect("open").1,
            data
        );
    }

    #[test]
    fn tampered_clear_bytes_fail_and_do_not_move_the_window() {
        let (mut tx, mut rx) = pair(9);
        let mut frame = Vec::new();
        seal_codec_frame(&mut tx, false, &vp8_key(), &mut frame).expect("seal");
        for i in 1..10 {
            let mut bad = frame.clone();
            bad[i] ^= 0x01;
            assert!(matches!(
                open_codec_frame(&mut rx, false, &bad),
                Err(ClientError::FrameAuthFailed)
            ));
        }
        // Opened as audio, the split is wrong: the metadata differs.
        assert!(open_codec_frame(&mut rx, true, &frame).is_err());
        assert!(open_codec_frame(&mut rx, false, &frame).is_ok());
        assert!(matches!(
            open_codec_frame(&mut rx, false, &frame),
            Err(ClientError::FrameReplay { .. })
        ));
    }

    #[test]
    fn short_frames() {
        let (mut tx, mut rx) = pair(9);
        let mut out = vec![0xaa];
        for (audio, data) in [
            (true, &[][..]),
            (false, &[0x50u8, 1, 2][..]),
            (false, &[0x51u8, 1][..]),
        ] {
            assert!(matches!(
                seal_codec_frame(&mut tx, audio, data, &mut out),
                Err(ClientError::BadPayload(_))
            ));
            assert_eq!(out, [0xaa], "output unchanged on error");
        }
        for (audio, len) in [(true, 17), (false, 26), (false, 19)] {
            let frame = vec![if len == 26 { 0x50 } else { 0x51 }; len];
            assert!(matches!(
                open_codec_frame(&mut rx, audio, &frame),
                Err(ClientError::FrameAuthFailed)
            ));
        }
        assert!(matches!(
            open_codec_frame(&mut rx, true, &[]),
            Err(ClientError::FrameAuthFailed)
        ));
    }

    #[test]
    fn meeting_crypto_implements_both_sides() {
        fn sealer<S: FrameSealer>() {}
        fn opener<O: FrameOpener>() {}
        sealer::<MeetingCrypto>();
        opener::<MeetingCrypto>();
    }
}
