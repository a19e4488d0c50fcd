//! WHIP-style signalling (docs/PROTOCOL.md §13.2): the `Ticket` credential that proves
//! possession of a join ticket's session key over the exact offer bytes, and the checks
//! an SDP offer must pass before a peer is created. Everything here is pure and total.

use conclave_wire::media::Join;
use hmac::{KeyInit, Mac};
use str0m::change::SdpOffer;
use thiserror::Error;

use crate::media::native::ticket::session_key;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// The label the proof is computed under.
pub const OFFER_LABEL: &[u8] = b"conclave-v1 webrtc-offer";

/// The largest SDP offer accepted (a browser's offer is a few KiB).
pub const MAX_OFFER: usize = 64 * 1024;

/// Why a request's credential or offer is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignalError {
    #[error(
        "the Authorization header is not `Ticket <device>.<session>.<expires_ms>.<worker>.<proof>`"
    )]
    BadCredential,
    #[error("the ticket's proof does not verify")]
    BadProof,
    #[error("the ticket has expired")]
    Expired,
    #[error("the offer is not valid SDP: {0}")]
    BadSdp(String),
    #[error("the offer lacks {0}")]
    Unusable(&'static str),
    #[error("the offer is larger than {MAX_OFFER} bytes")]
    TooLarge,
}

/// The fields of a `Ticket` credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketAuth {
    pub device_id: [u8; 16],
    pub session_id: [u8; 16],
    pub expires_ms: u64,
    pub worker: u8,
    pub proof: [u8; 32],
}

fn hex_exact<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    // Plain digits only: no sign, no leading zeros (but "0"), no whitespace.
    let ok = !s.is_empty()
        && s.len() <= 20
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    if ok { s.parse().ok() } else { None }
}

impl TicketAuth {
    /// Parses `Ticket <device_id>.<session_id>.<expires_ms>.<worker>.<proof>` (the value of
    /// an `Authorization` header).
    pub fn parse(header: &str) -> Result<TicketAuth, SignalError> {
        let rest = header
            .strip_prefix("Ticket ")
            .ok_or(SignalError::BadCredential)?;
        let mut parts = rest.split('.');
        let mut next = || parts.next().ok_or(SignalError::BadCredential);
        let device_id = hex_exact::<16>(next()?).ok_or(SignalError::BadCredential)?;
        let session_id = hex_exact::<16>(next()?).ok_or(SignalError::BadCredential)?;
        let expires_ms = decimal::<u64>(next()?).ok_or(SignalError::BadCredential)?;
        let worker = decimal::<u8>(next()?).ok_or(SignalError::BadCredential)?;
        let proof = hex_exact::<32>(next()?).ok_or(SignalError::BadCredential)?;
        if parts.next().is_some() {
            return Err(SignalError::BadCredential);
        }
        Ok(TicketAuth {
            device_id,
            session_id,
            expires_ms,
            worker,
            proof,
        })
    }

    /// The `JOIN` this credential stands for, in `meeting`.
    pub fn join(&self, meeting: [u8; 32]) -> Join {
        Join {
            meeting_id: meeting,
            device_id: self.device_id,
            session_id: self.session_id,
            expires_ms: self.expires_ms,
            worker: self.worker,
        }
    }

    /// Checks the proof over `body` under the session key recomputed from the relay's
    /// secret (constant time) and the expiry; returns the session key.
    pub fn verify(
        &self,
        ticket_secret: &[u8; 32],
        meeting: [u8; 32],
        body: &[u8],
        now_ms: u64,
    ) -> Result<[u8; 32], SignalError> {
        let key = session_key(ticket_secret, &self.join(meeting));
        let mut mac = HmacSha256::new_from_slice(&key).map_err(|_| SignalError::BadProof)?;
        mac.update(OFFER_LABEL);
        mac.update(body);
        mac.verify_slice(&self.proof)
            .map_err(|_| SignalError::BadProof)?;
        if self.expires_ms <= now_ms {
            return Err(SignalError::Expired);
        }
        Ok(key)
    }
}

/// The proof a client computes (tests, the load tester's WebRTC participants).
pub fn proof(session_key: &[u8; 32], body: &[u8]) -> [u8; 32] {
    let mut mac = match HmacSha256::new_from_slice(session_key) {
        Ok(m) => m,
        Err(_) => return [0; 32],
    };
    mac.update(OFFER_LABEL);
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Parses an offer and checks that it is usable: audio, video and a data channel, as
/// §13.3 describes (codecs are negotiated by str0m: Opus and VP8 only).
pub fn check_offer(body: &[u8]) -> Result<SdpOffer, SignalError> {
    if body.len() > MAX_OFFER {
        return Err(SignalError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| SignalError::BadSdp("not UTF-8".into()))?;
    let offer =
        SdpOffer::from_sdp_string(text).map_err(|e| SignalError::BadSdp(short(&e.to_string())))?;
    let has = |kind: &str| {
        text.lines()
            .any(|l| l.trim_end().starts_with(&format!("m={kind} ")))
    };
    if !has("audio") {
        return Err(SignalError::Unusable("an audio m-line"));
    }
    if !has("video") {
        return Err(SignalError::Unusable("a video m-line"));
    }
    if !has("application") {
        return Err(SignalError::Unusable("a data channel"));
    }
    if !text
        .lines()
        .any(|l| l.to_ascii_lowercase().contains("opus/48000"))
    {
        return Err(SignalError::Unusable("Opus"));
    }
    if !text
        .lines()
        .any(|l| l.to_ascii_uppercase().contains("VP8/90000"))
    {
        return Err(SignalError::Unusable("VP8"));
    }
    Ok(offer)
}

/// The first line of an error, at most 200 characters.
fn short(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: [u8; 32] = [7; 32];
    const MEETING: [u8; 32] = [3; 32];

    fn credential(auth: &TicketAuth) -> String {
        format!(
            "Ticket {}.{}.{}.{}.{}",
            hex::encode(auth.device_id),
            hex::encode(auth.session_id),
            auth.expires_ms,
            auth.worker,
            hex::encode(auth.proof)
        )
    }

    fn signed(body: &[u8], expires_ms: u64) -> TicketAuth {
        let mut a = TicketAuth {
            device_id: [1; 16],
            session_id: [2; 16],
            expires_ms,
            worker: 0,
            proof: [0; 32],
        };
        a.proof = proof(&session_key(&SECRET, &a.join(MEETING)), body);
        a
    }

    #[test]
    fn a_proof_over_the_offer_verifies_and_nothing_else_does() {
        let a = signed(b"v=0 offer", 2_000);
        let parsed = TicketAuth::parse(&credential(&a)).unwrap();
        assert_eq!(parsed, a);
        assert!(parsed.verify(&SECRET, MEETING, b"v=0 offer", 1_000).is_ok());
        assert_eq!(
            parsed.verify(&SECRET, MEETING, b"v=0 offer!", 1_000),
            Err(SignalError::BadProof)
        );
        assert_eq!(
            parsed.verify(&SECRET, [4; 32], b"v=0 offer", 1_000),
            Err(SignalError::BadProof)
        );
        assert_eq!(
            parsed.verify(&[8; 32], MEETING, b"v=0 offer", 1_000),
            Err(SignalError::BadProof)
        );
        assert_eq!(
            parsed.verify(&SECRET, MEETING, b"v=0 offer", 2_000),
            Err(SignalError::Expired)
        );
        let mut other = parsed.clone();
        other.worker = 1;
        assert_eq!(
            other.verify(&SECRET, MEETING, b"v=0 offer", 1_000),
            Err(SignalError::BadProof)
        );
    }

    #[test]
    fn malformed_credentials_are_refused() {
        let good = credential(&signed(b"x", 5));
        for bad in [
            String::new(),
            "Bearer dev:abc".into(),
            good.replacen("Ticket ", "ticket ", 1),
            format!("{good}.00"),
            good.replacen(".5.", ".05.", 1),
            good.replacen(".5.", ".+5.", 1),
            good.replacen(".0.", ".256.", 1),
            good[..good.len() - 2].to_string(),
            good.replacen('0', "g", 1),
        ] {
            assert_eq!(
                TicketAuth::parse(&bad),
                Err(SignalError::BadCredential),
                "{bad}"
            );
        }
    }

    #[test]
    fn offers_without_usable_media_are_refused() {
        assert!(matches!(check_offer(b"hello"), Err(SignalError::BadSdp(_))));
        assert!(matches!(
            check_offer(&[0xff, 0xfe]),
            Err(SignalError::BadSdp(_))
        ));
        assert_eq!(
            check_offer(&vec![b'a'; MAX_OFFER + 1]).unwrap_err(),
            SignalError::TooLarge
        );
    }

    proptest! {
        #[test]
        fn credential_parsing_is_total(s in "\\PC{0,200}") {
            let _ = TicketAuth::parse(&s);
            let _ = TicketAuth::parse(&format!("Ticket {s}"));
        }

        #[test]
        fn offer_parsing_is_total(b in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let _ = check_offer(&b);
        }

        #[test]
        fn mutated_sdp_never_panics(cut in 0usize..3000, byte in any::<u8>(), at in 0usize..3000) {
            let mut sdp = SAMPLE_OFFER.as_bytes().to_vec();
            if let Some(b) = sdp.get_mut(at) { *b = byte; }
            sdp.truncate(cut.max(1));
            let _ = check_offer(&sdp);
        }
    }

    /// A Chromium-shaped offer: audio, simulcast video, data channel.
    pub(crate) const SAMPLE_OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendonly\r\na=msid:- a1\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=ssrc:1001 cname:x\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=mid:1\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\na=sendonly\r\na=msid:- v1\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 transport-cc\r\na=rid:l0 send\r\na=rid:l1 send\r\na=simulcast:send l0;l1\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=mid:2\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";

    #[test]
    fn a_browser_offer_is_usable() {
        check_offer(SAMPLE_OFFER.as_bytes()).unwrap();
        let no_video = SAMPLE_OFFER.replace("m=video", "m=videx");
        assert!(check_offer(no_video.as_bytes()).is_err());
    }
}
