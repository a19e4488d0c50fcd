//! The real relay binary on loopback: WHIP-style signalling (docs/PROTOCOL.md §13.2) refuses
//! missing, forged and expired credentials and unusable offers with JSON errors, answers a
//! browser-shaped offer once per ticket (ICE-lite, a loopback host candidate), refuses a
//! removed device, and the WebRTC socket counts and drops datagrams no peer accepts while
//! the relay keeps serving.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use common::http::Reply;
use common::media::{Device, RelayProcess, Ticket, create_meeting, join_ticket};
use hmac::{KeyInit, Mac};
use serde_json::json;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A Chromium-shaped offer: Opus audio, VP8 simulcast video, a data channel.
const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1 2\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendonly\r\na=msid:- a1\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=ssrc:1001 cname:x\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=mid:1\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\na=sendonly\r\na=msid:- v1\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 transport-cc\r\na=rid:l0 send\r\na=rid:l1 send\r\na=simulcast:send l0;l1\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=ice-options:trickle\r\na=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:actpass\r\na=mid:2\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n";

fn credential(t: &Ticket, body: &[u8], key: &[u8; 32]) -> String {
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key).expect("hmac key");
    mac.update(b"conclave-v1 webrtc-offer");
    mac.update(body);
    let proof: [u8; 32] = mac.finalize().into_bytes().into();
    format!(
        "Ticket {}.{}.{}.{}.{}",
        hex::encode(t.join.device_id),
        hex::encode(t.join.session_id),
        t.join.expires_ms,
        t.join.worker,
        hex::encode(proof)
    )
}

fn request(method: &str, url: &str, auth: Option<&str>, body: &[u8]) -> Reply {
    let mut headers = vec![("Content-Type", "application/sdp")];
    headers.extend(auth.map(|a| ("Authorization", a)));
    common::http::request(method, url, &headers, body)
}

/// The WebRTC socket from the relay's startup lines (`media webrtc udp ADDR`).
fn webrtc_addr(relay: &RelayProcess) -> SocketAddr {
    for _ in 0..100 {
        if let Some(a) = relay
            .log()
            .lines()
            .find_map(|l| l.trim().strip_prefix("media        webrtc udp "))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        {
            return a;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no WebRTC socket in the relay's output: {}", relay.log());
}

#[test]
fn offers_are_answered_once_per_valid_ticket_and_everything_else_is_refused() {
    let relay = RelayProcess::start("[media]\nworkers = 1\n");
    let (host, guest) = (Device::new(1), Device::new(2));
    let meeting = create_meeting(&relay, &host, 9);
    let url = format!("{}/v1/meetings/{meeting}/webrtc", relay.url);
    let t = join_ticket(&relay, &meeting, &host);
    let offer = OFFER.as_bytes();

    // Credentials: none, a bearer token, a forged proof, a proof over other bytes.
    let r = request("POST", &url, None, offer);
    assert_eq!(
        (r.status, r.code().as_str()),
        (401, "unauthorized"),
        "{}",
        r.body
    );
    let bearer = format!("Bearer dev:{}:{}", host.user, host.device);
    let r = request("POST", &url, Some(&bearer), offer);
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    let r = request("POST", &url, Some(&credential(&t, offer, &[9; 32])), offer);
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    let r = request("POST", &url, Some(&credential(&t, b"other", &t.key)), offer);
    assert_eq!((r.status, r.code().as_str()), (401, "unauthorized"));
    let mut expired = t.clone_with_expiry(1);
    expired.key = common::media::session_key(&relay.ticket_secret(), &expired.join);
    let r = request(
        "POST",
        &url,
        Some(&credential(&expired, offer, &expired.key)),
        offer,
    );
    assert_eq!(
        (r.status, r.code().as_str()),
        (401, "unauthorized"),
        "{}",
        r.body
    );

    // Unusable offers with a valid proof: JSON errors with the stable code.
    for bad in [
        &b"hello"[..],
        &[0xff, 0xfe, 0x00][..],
        OFFER.replace("m=video", "m=vidéo").as_bytes(),
        OFFER.replace("VP8/90000", "H264/90000").as_bytes(),
        OFFER.replace("m=application", "m=text").as_bytes(),
    ] {
        let r = request("POST", &url, Some(&credential(&t, bad, &t.key)), bad);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "bad_sdp"),
            "{}: {}",
            String::from_utf8_lossy(bad),
            r.body
        );
        assert!(
            !r.json()["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains('\n')
        );
    }

    // A usable offer: an ICE-lite answer with a loopback host candidate.
    let r = request("POST", &url, Some(&credential(&t, offer, &t.key)), offer);
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/sdp");
    assert!(r.body.contains("a=ice-lite"), "{}", r.body);
    assert!(r.body.contains("127.0.0.1"), "{}", r.body);
    let session = hex::encode(t.join.session_id);
    assert_eq!(
        r.header("location"),
        format!("/v1/meetings/{meeting}/webrtc/{session}")
    );
    // The ticket's session joins once.
    let r = request("POST", &url, Some(&credential(&t, offer, &t.key)), offer);
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "forbidden"),
        "{}",
        r.body
    );

    // DELETE: only with the session's own ticket.
    let other = join_ticket(&relay, &meeting, &host);
    let del = format!("{}{}", relay.url, r_location(&meeting, &session));
    let r = request(
        "DELETE",
        &del,
        Some(&credential(&other, b"", &other.key)),
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (403, "forbidden"));
    let r = request("DELETE", &del, Some(&credential(&t, b"", &t.key)), b"");
    assert_eq!(r.status, 204, "{}", r.body);

    // A removed device's ticket is refused.
    let g = join_ticket(&relay, &meeting, &guest);
    let (status, _) = relay.call(
        "POST",
        &format!("/v1/meetings/{meeting}/members"),
        &host,
        Some(json!({"device_id": guest.device, "state": "removed"})),
    );
    assert_eq!(status, 204);
    let mut refused = false;
    for _ in 0..50 {
        let r = request("POST", &url, Some(&credential(&g, offer, &g.key)), offer);
        if r.status == 403 {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused, "a removed device's offer is refused");

    // Datagrams no peer accepts: garbage, STUN-, DTLS- and RTP-shaped. Counted, dropped.
    let rtc = webrtc_addr(&relay);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    for d in [
        vec![0u8; 1],
        vec![0xff; 1500],
        stun,
        vec![22, 254, 253, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5],
        vec![0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 1, 2, 3],
    ] {
        sock.send_to(&d, rtc).expect("send");
    }
    let mut counted = 0;
    for _ in 0..100 {
        counted = relay.metric(
            "conclave_media_dropped_total",
            "reason=\"webrtc_unknown_peer\"",
        );
        if counted >= 5 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(counted >= 5, "unknown-peer datagrams counted: {counted}");
    let (status, _) = relay.call("GET", "/v1/clock", &host, None);
    assert_eq!(status, 200, "the relay still serves");
}

fn r_location(meeting: &str, session: &str) -> String {
    format!("/v1/meetings/{meeting}/webrtc/{session}")
}

trait WithExpiry {
    fn clone_with_expiry(&self, expires_ms: u64) -> Ticket;
}

impl WithExpiry for Ticket {
    fn clone_with_expiry(&self, expires_ms: u64) -> Ticket {
        let mut join = self.join;
        join.expires_ms = expires_ms;
        Ticket {
            address: self.address,
            join,
            key: self.key,
        }
    }
}
