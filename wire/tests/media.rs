//! PROTOCOL §11 datagrams: encode→parse round trips, total parsing of arbitrary bytes, and
//! one test per rule of §11.2/§11.3 that makes a datagram invalid.

use conclave_wire::media::*;
use proptest::prelude::*;
use std::collections::HashSet;

/// A stand-in for the HMAC: the wire crate only places the tag.
fn fake_tag(auth: &[u8]) -> [u8; TAG_LEN] {
    let mut t = [0u8; TAG_LEN];
    for (i, b) in auth.iter().enumerate() {
        t[i % TAG_LEN] = t[i % TAG_LEN].rotate_left(3) ^ b;
    }
    t
}

/// A datagram assembled by hand (no validation), tagged with [`fake_tag`] when `tagged`.
fn raw(ty: u8, conn_id: u32, pn: u64, body: &[u8], tagged: bool) -> Vec<u8> {
    let mut v = vec![ty];
    v.extend_from_slice(&conn_id.to_be_bytes());
    v.extend_from_slice(&pn.to_be_bytes());
    v.extend_from_slice(body);
    if tagged {
        let t = fake_tag(&v);
        v.extend_from_slice(&t);
    }
    v
}

fn header_bytes(stream: u8, flags: u8, level: u8, frame: u32, idx: u16, count: u16) -> Vec<u8> {
    let mut v = vec![stream, flags, level];
    v.extend_from_slice(&frame.to_be_bytes());
    v.extend_from_slice(&idx.to_be_bytes());
    v.extend_from_slice(&count.to_be_bytes());
    v
}

fn media_raw(header: &[u8], fragment_len: usize) -> Vec<u8> {
    let mut body = header.to_vec();
    body.extend(std::iter::repeat_n(0xab, fragment_len));
    raw(0x10, 7, 1, &body, true)
}

fn encode_vec(conn_id: u32, pn: u64, body: &Body) -> Vec<u8> {
    let mut buf = [0u8; MAX_DATAGRAM];
    let n = encode_tagged(&mut buf, conn_id, pn, body, fake_tag).expect("valid body");
    buf[..n].to_vec()
}

fn stream() -> impl Strategy<Value = Stream> {
    prop::sample::select(Stream::ALL.to_vec())
}

prop_compose! {
    fn media_header()(stream in stream(), key in any::<bool>(), codec in any::<bool>(), level in 0u8..=127,
                      frame_number in any::<u32>(), count in 1u16..=MAX_FRAG_COUNT)
                     (stream in Just(stream), key in Just(key), codec in Just(codec), level in Just(level),
                      frame_number in Just(frame_number), count in Just(count),
                      index in 0..count) -> MediaHeader {
        MediaHeader {
            stream,
            keyframe: key && stream.is_video(),
            codec: codec && stream != Stream::Data,
            audio_level: if stream == Stream::Audio { level } else { SILENT_LEVEL },
            frame_number,
            frag_index: index,
            frag_count: count,
        }
    }
}

prop_compose! {
    fn media()(h in media_header())
              (len in if h.is_last_fragment() { 1..=MAX_FRAGMENT } else { MAX_FRAGMENT..=MAX_FRAGMENT },
               h in Just(h), fill in any::<u8>()) -> (MediaHeader, Vec<u8>) {
        (h, vec![fill; len])
    }
}

fn source_id() -> impl Strategy<Value = u32> {
    1u32..
}

fn report_entry() -> impl Strategy<Value = ReportEntry> {
    (
        source_id(),
        stream(),
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(source_id, stream, fraction_lost, cumulative_lost, jitter_us)| ReportEntry {
                source_id,
                stream,
                fraction_lost,
                cumulative_lost,
                jitter_us,
            },
        )
}

/// An owned description of a body (so that strategies can own the fragment bytes).
#[derive(Debug, Clone)]
enum B {
    Join(Join),
    JoinAck(JoinAck),
    JoinReject(RejectReason),
    Media(MediaHeader, Vec<u8>),
    MediaFwd(MediaHeader, Vec<u8>),
    Report(ReceiverReport),
    Keyframe(u32, Stream),
    Layer(Option<Layer>),
    Speaker(u32),
    Gone(u32),
    Behind(u64),
    Ping(u64),
    Pong(u64),
    Closed(CloseReason),
    Leave,
}

impl B {
    fn body(&self) -> Body<'_> {
        match self {
            B::Join(j) => Body::Join(*j),
            B::JoinAck(a) => Body::JoinAck(*a),
            B::JoinReject(r) => Body::JoinReject(*r),
            B::Media(header, f) => Body::Media {
                header: *header,
                fragment: f,
            },
            B::MediaFwd(header, f) => Body::MediaFwd {
                header: *header,
                fragment: f,
            },
            B::Report(r) => Body::ReceiverReport(r.clone()),
            B::Keyframe(source_id, stream) => Body::KeyframeRequest {
                source_id: *source_id,
                stream: *stream,
            },
            B::Layer(max_layer) => Body::LayerPreference {
                max_layer: *max_layer,
            },
            B::Speaker(source_id) => Body::ActiveSpeaker {
                source_id: *source_id,
            },
            B::Gone(source_id) => Body::SourceGone {
                source_id: *source_id,
            },
            B::Behind(meeting_epoch) => Body::EpochBehind {
                meeting_epoch: *meeting_epoch,
            },
            B::Ping(timestamp_us) => Body::Ping {
                timestamp_us: *timestamp_us,
            },
            B::Pong(timestamp_us) => Body::Pong {
                timestamp_us: *timestamp_us,
            },
            B::Closed(r) => Body::Closed(*r),
            B::Leave => Body::Leave,
        }
    }
}

fn reject_reason() -> impl Strategy<Value = RejectReason> {
    prop::sample::select(vec![
        RejectReason::TicketExpired,
        RejectReason::WrongWorker,
        RejectReason::Removed,
        RejectReason::RelayFull,
        RejectReason::SessionClosed,
    ])
}

fn close_reason() -> impl Strategy<Value = CloseReason> {
    prop::sample::select(vec![
        CloseReason::Left,
        CloseReason::Removed,
        CloseReason::MeetingEnded,
        CloseReason::TimedOut,
        CloseReason::ShuttingDown,
    ])
}

fn to_relay() -> impl Strategy<Value = B> {
    prop_oneof![
        (
            any::<[u8; 32]>(),
            any::<[u8; 16]>(),
            any::<[u8; 16]>(),
            any::<u64>(),
            any::<u8>()
        )
            .prop_map(
                |(meeting_id, device_id, session_id, expires_ms, worker)| B::Join(Join {
                    meeting_id,
                    device_id,
                    session_id,
                    expires_ms,
                    worker
                })
            ),
        media().prop_map(|(h, f)| B::Media(h, f)),
        (
            any::<u32>(),
            prop::collection::vec(report_entry(), 0..=MAX_REPORT_ENTRIES)
        )
            .prop_map(|(bw, e)| B::Report(ReceiverReport::new(bw, e))),
        (source_id(), stream()).prop_map(|(s, t)| B::Keyframe(s, t)),
        prop::option::of(prop::sample::select(Layer::ALL.to_vec())).prop_map(B::Layer),
        any::<u64>().prop_map(B::Ping),
        Just(B::Leave),
    ]
}

fn to_client() -> impl Strategy<Value = B> {
    prop_oneof![
        (source_id(), any::<u32>(), any::<u32>()).prop_map(
            |(source_id, keepalive_ms, timeout_ms)| {
                B::JoinAck(JoinAck {
                    source_id,
                    keepalive_ms,
                    timeout_ms,
                })
            }
        ),
        reject_reason().prop_map(B::JoinReject),
        media().prop_map(|(h, f)| B::MediaFwd(h, f)),
        (source_id(), stream()).prop_map(|(s, t)| B::Keyframe(s, t)),
        source_id().prop_map(B::Speaker),
        source_id().prop_map(B::Gone),
        (0..=MAX_EPOCH).prop_map(B::Behind),
        any::<u64>().prop_map(B::Pong),
        close_reason().prop_map(B::Closed),
    ]
}

fn conn_for(b: &Body, c: u32) -> u32 {
    if b.ty() == DatagramType::Join { 0 } else { c }
}

/// Re-tags a datagram after a mutation of its authenticated bytes, so that only the rule
/// under test is broken.
fn retag(mut d: Vec<u8>) -> Vec<u8> {
    let n = d.len() - TAG_LEN;
    let t = fake_tag(&d[..n]);
    d[n..].copy_from_slice(&t);
    d
}

fn fixed_length_body_types() -> Vec<B> {
    vec![
        B::Keyframe(3, Stream::Video(Layer::L1)),
        B::Layer(Some(Layer::L2)),
        B::Ping(5),
        B::Leave,
        B::Join(Join {
            meeting_id: [1; 32],
            device_id: [2; 16],
            session_id: [3; 16],
            expires_ms: 4,
            worker: 5,
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip_to_relay(b in to_relay(), conn in 1u32.., pn in any::<u64>()) {
        let body = b.body();
        let conn = conn_for(&body, conn);
        let d = encode_vec(conn, pn, &body);
        prop_assert!(d.len() <= MAX_DATAGRAM);
        let p = parse(&d, Direction::ToRelay).expect("parses");
        prop_assert_eq!(p.prefix, Prefix { ty: body.ty(), conn_id: conn, pn });
        prop_assert_eq!(&p.body, &body);
        prop_assert_eq!(p.authenticated, &d[..d.len() - TAG_LEN]);
        prop_assert_eq!(p.tag.copied(), Some(fake_tag(p.authenticated)));
        prop_assert_eq!(Prefix::parse(&d), Ok(p.prefix));
    }

    #[test]
    fn round_trip_to_client(b in to_client(), conn in 1u32.., pn in any::<u64>()) {
        let body = b.body();
        let d = encode_vec(conn, pn, &body);
        let p = parse(&d, Direction::ToClient).expect("parses");
        prop_assert_eq!(p.prefix, Prefix { ty: body.ty(), conn_id: conn, pn });
        prop_assert_eq!(&p.body, &body);
        if body.ty().is_tagged() {
            prop_assert_eq!(p.tag.copied(), Some(fake_tag(p.authenticated)));
        } else {
            prop_assert_eq!(p.tag, None);
            prop_assert_eq!(p.authenticated, &d[..]);
        }
    }

    #[test]
    fn media_to_fwd_is_the_forwarded_copy((h, f) in media(), conn in 1u32.., source in 1u32.., pn in any::<u64>()) {
        let mut d = encode_vec(conn, pn, &Body::Media { header: h, fragment: &f });
        let n = media_to_fwd(&mut d, source).expect("rewrites");
        let expect = encode_vec(source, pn, &Body::MediaFwd { header: h, fragment: &f });
        prop_assert_eq!(&d[..n], &expect[..]);
        let p = parse(&d[..n], Direction::ToClient).expect("parses");
        prop_assert_eq!(p.body, Body::MediaFwd { header: h, fragment: &f });
        prop_assert_eq!(p.prefix.conn_id, source);
    }

    #[test]
    fn arbitrary_bytes_never_panic(d in prop::collection::vec(any::<u8>(), 0..1300)) {
        let _ = parse(&d, Direction::ToRelay);
        let _ = parse(&d, Direction::ToClient);
        let _ = Prefix::parse(&d);
        let mut m = d.clone();
        if let Ok(n) = media_to_fwd(&mut m, 9) {
            prop_assert!(n <= d.len());
        }
    }

    /// Arbitrary bytes behind a valid type byte and conn id reach the body parsers.
    #[test]
    fn arbitrary_bodies_never_panic(ty in prop::sample::select(vec![
            0x01u8, 0x02, 0x03, 0x10, 0x11, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x30, 0x31, 0x3e, 0x3f]),
            body in prop::collection::vec(any::<u8>(), 0..1200), conn in 0u32..3) {
        let d = raw(ty, conn, 0, &body, ty != 0x11);
        for dir in [Direction::ToRelay, Direction::ToClient] {
            if let Ok(p) = parse(&d, dir) {
                // Whatever parses re-encodes to the same bytes.
                let again = encode_vec(p.prefix.conn_id, p.prefix.pn, &p.body);
                prop_assert_eq!(&again[..], &d[..d.len().min(MAX_DATAGRAM)]);
            }
        }
    }

    // ---- §11.2: one test per rule ----

    #[test]
    fn rule_longer_than_max_datagram(extra in 1usize..200, fill in any::<u8>()) {
        let mut d = media_raw(&header_bytes(0, 0, 10, 0, 0, 1), 100);
        d.resize(MAX_DATAGRAM + extra, fill);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::TooLong { len: d.len() }));
        prop_assert_eq!(Prefix::parse(&d), Err(DatagramError::TooLong { len: d.len() }));
        // Encoders refuse too.
        let f = vec![1u8; MAX_FRAGMENT + extra];
        let h = MediaHeader { stream: Stream::Data, keyframe: false, codec: false, audio_level: 127,
                              frame_number: 0, frag_index: 0, frag_count: 1 };
        let mut buf = [0u8; 2 * MAX_DATAGRAM];
        let r = encode(&mut buf, 1, 0, &Body::Media { header: h, fragment: &f });
        prop_assert!(r.is_err());
    }

    #[test]
    fn rule_shorter_than_type_minimum(b in to_relay(), cut in 1usize..64) {
        let body = b.body();
        let d = encode_vec(conn_for(&body, 1), 0, &body);
        let min = body.ty().min_len();
        let len = min.saturating_sub(cut);
        prop_assert_eq!(parse(&d[..len], Direction::ToRelay), Err(DatagramError::Truncated { len }));
    }

    #[test]
    fn rule_unknown_type(ty in any::<u8>(), rest in prop::collection::vec(any::<u8>(), 12..100)) {
        prop_assume!(DatagramType::from_byte(ty).is_err());
        let mut d = vec![ty];
        d.extend_from_slice(&rest);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::UnknownType(ty)));
        prop_assert_eq!(parse(&d, Direction::ToClient), Err(DatagramError::UnknownType(ty)));
        prop_assert_eq!(parse(&d[..1], Direction::ToClient), Err(DatagramError::UnknownType(ty)));
    }

    #[test]
    fn rule_wrong_direction(b in to_relay(), c in to_client()) {
        for (b, dir) in [(b, Direction::ToClient), (c, Direction::ToRelay)] {
            let body = b.body();
            prop_assume!(body.ty() != DatagramType::KeyframeRequest);
            let d = encode_vec(conn_for(&body, 1), 0, &body);
            prop_assert_eq!(parse(&d, dir), Err(DatagramError::WrongDirection(body.ty())));
        }
    }

    #[test]
    fn rule_body_length_mismatch(i in 0usize..5, extra in 1usize..20) {
        let b = &fixed_length_body_types()[i];
        let body = b.body();
        let d = encode_vec(conn_for(&body, 1), 0, &body);
        let (auth, _) = d.split_at(d.len() - TAG_LEN);
        let mut longer = auth.to_vec();
        longer.extend(std::iter::repeat_n(0, extra));
        let longer = raw(longer[0], conn_for(&body, 1), 0, &longer[PREFIX_LEN..], true);
        prop_assert_eq!(parse(&longer, Direction::ToRelay),
                        Err(DatagramError::BodyLength { ty: body.ty(), len: body.encoded_len() + extra }));
    }

    #[test]
    fn rule_report_count_does_not_match_length(n in 0u8..=64, have in 0usize..=64) {
        prop_assume!(usize::from(n) != have);
        let mut body = 1000u32.to_be_bytes().to_vec();
        body.push(n);
        for _ in 0..have {
            body.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        let d = raw(0x20, 1, 0, &body, true);
        prop_assume!(d.len() <= MAX_DATAGRAM);
        prop_assert_eq!(parse(&d, Direction::ToRelay),
                        Err(DatagramError::BodyLength { ty: DatagramType::ReceiverReport, len: body.len() }));
    }

    #[test]
    fn rule_report_more_than_64_entries(n in 65u8..=255) {
        let mut body = 1000u32.to_be_bytes().to_vec();
        body.push(n);
        let d = raw(0x20, 1, 0, &body, true);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::ReportCount(n.into())));
    }

    #[test]
    fn rule_conn_id_zero_outside_join(b in to_relay(), c in to_client()) {
        for (b, dir) in [(b, Direction::ToRelay), (c, Direction::ToClient)] {
            let body = b.body();
            prop_assume!(body.ty() != DatagramType::Join);
            let d = encode_vec(1, 0, &body);
            let mut z = d.clone();
            z[1..5].copy_from_slice(&[0; 4]);
            let z = if body.ty().is_tagged() { retag(z) } else { z };
            prop_assert_eq!(parse(&z, dir), Err(DatagramError::ConnId(body.ty())));
        }
    }

    #[test]
    fn rule_conn_id_non_zero_in_join(conn in 1u32..) {
        let j = &fixed_length_body_types()[4];
        let mut d = encode_vec(0, 0, &j.body());
        d[1..5].copy_from_slice(&conn.to_be_bytes());
        let d = retag(d);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::ConnId(DatagramType::Join)));
    }

    #[test]
    fn rule_zero_source_id(which in 0usize..4) {
        let d = match which {
            0 => raw(0x21, 1, 0, &[0, 0, 0, 0, 1], true),
            1 => raw(0x23, 1, 0, &[0, 0, 0, 0], true),
            2 => raw(0x24, 1, 0, &[0, 0, 0, 0], true),
            _ => raw(0x02, 1, 0, &[0; 12], true),
        };
        prop_assert_eq!(parse(&d, Direction::ToClient), Err(DatagramError::ZeroSourceId));
        let mut entry = vec![0, 0, 0, 9, 1];
        entry.extend_from_slice(&[0; 14]);
        let d = raw(0x20, 1, 0, &entry, true);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::ZeroSourceId));
    }

    #[test]
    fn rule_invalid_reason(r in any::<u8>(), closed in any::<bool>()) {
        prop_assume!(!(1..=5).contains(&r));
        let d = raw(if closed { 0x3e } else { 0x03 }, 1, 0, &[r], true);
        prop_assert_eq!(parse(&d, Direction::ToClient), Err(DatagramError::InvalidReason(r)));
    }

    #[test]
    fn rule_invalid_layer_preference(l in 3u8..0xff) {
        let d = raw(0x22, 1, 0, &[l], true);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::InvalidLayer(l)));
    }

    #[test]
    fn rule_epoch_out_of_range(e in (MAX_EPOCH + 1)..) {
        let d = raw(0x25, 1, 0, &e.to_be_bytes(), true);
        prop_assert_eq!(parse(&d, Direction::ToClient), Err(DatagramError::EpochOutOfRange(e)));
    }

    #[test]
    fn rule_invalid_stream(s in 5u8..) {
        let d = media_raw(&header_bytes(s, 0, 127, 0, 0, 1), 10);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::InvalidStream(s)));
        let d = raw(0x21, 1, 0, &[0, 0, 0, 1, s], true);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::InvalidStream(s)));
        let mut body = vec![0, 0, 0, 0, 1, 0, 0, 0, 1, s];
        body.extend_from_slice(&[0; 9]);
        let d = raw(0x20, 1, 0, &body, true);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::InvalidStream(s)));
    }

    // ---- §11.3: one test per rule of the media header ----

    #[test]
    fn rule_reserved_flag_bits(stream in 1u8..=3, flags in 4u8..) {
        let d = media_raw(&header_bytes(stream, flags, 127, 0, 0, 1), 10);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::ReservedFlags(flags)));
    }

    #[test]
    fn rule_codec_flag_on_data(key in 0u8..=1) {
        let d = media_raw(&header_bytes(4, 2 | key, 127, 0, 0, 1), 10);
        let want = if key == 1 { DatagramError::KeyframeNotVideo } else { DatagramError::ReservedFlags(2) };
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(want));
    }

    #[test]
    fn rule_keyframe_flag_on_audio_or_data(data in any::<bool>()) {
        let (s, level) = if data { (4, 127) } else { (0, 30) };
        let d = media_raw(&header_bytes(s, 1, level, 0, 0, 1), 10);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::KeyframeNotVideo));
    }

    #[test]
    fn rule_audio_level_above_127(level in 128u8..) {
        let d = media_raw(&header_bytes(0, 0, level, 0, 0, 1), 10);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::AudioLevel(level)));
    }

    #[test]
    fn rule_video_and_data_level_is_127(s in 1u8..=4, level in 0u8..127) {
        let d = media_raw(&header_bytes(s, 0, level, 0, 0, 1), 10);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::LevelNotSilent(level)));
    }

    #[test]
    fn rule_frag_count_range(count in prop_oneof![Just(0u16), (MAX_FRAG_COUNT + 1)..]) {
        let d = media_raw(&header_bytes(4, 0, 127, 0, 0, count), 10);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::FragCount(count)));
    }

    #[test]
    fn rule_frag_index_below_count(count in 1u16..=MAX_FRAG_COUNT, over in 0u16..100) {
        let index = count.saturating_add(over);
        let d = media_raw(&header_bytes(4, 0, 127, 0, index, count), 10);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::FragIndex { index, count }));
    }

    #[test]
    fn rule_fragment_never_empty(fwd in any::<bool>()) {
        // A header without a fragment is shorter than the type's minimum.
        let h = header_bytes(0, 0, 0, 0, 0, 1);
        let d = if fwd { raw(0x11, 1, 0, &h, false) } else { raw(0x10, 1, 0, &h, true) };
        let dir = if fwd { Direction::ToClient } else { Direction::ToRelay };
        prop_assert_eq!(parse(&d, dir), Err(DatagramError::Truncated { len: d.len() }));
        let header = MediaHeader::parse(&h.clone().try_into().unwrap()).unwrap();
        let mut buf = [0u8; MAX_DATAGRAM];
        prop_assert_eq!(encode(&mut buf, 1, 0, &Body::Media { header, fragment: &[] }),
                        Err(DatagramError::EmptyFragment));
    }

    #[test]
    fn rule_fragment_at_most_max_fragment(len in (MAX_FRAGMENT + 1)..=(MAX_DATAGRAM - PREFIX_LEN - MEDIA_HEADER_LEN)) {
        // Only MEDIA_FWD (no tag) has room for a longer fragment within MAX_DATAGRAM.
        let mut body = header_bytes(4, 0, 127, 0, 0, 1);
        body.extend(std::iter::repeat_n(0, len));
        let d = raw(0x11, 1, 0, &body, false);
        prop_assert_eq!(parse(&d, Direction::ToClient), Err(DatagramError::FragmentTooLong(len)));
    }

    #[test]
    fn rule_fragments_but_the_last_are_full(count in 2u16..=MAX_FRAG_COUNT, index in any::<u16>(), len in 1usize..MAX_FRAGMENT) {
        let index = index % (count - 1);
        let d = media_raw(&header_bytes(2, 0, 127, 0, index, count), len);
        prop_assert_eq!(parse(&d, Direction::ToRelay), Err(DatagramError::FragmentNotFull(len)));
    }

    // ---- replay window (§11.2, W = 1024) ----

    #[test]
    fn replay_window_matches_model(pns in prop::collection::vec(
            prop_oneof![0u64..3000, any::<u64>()], 1..300)) {
        let mut w = ReplayWindow::new();
        let mut seen = HashSet::new();
        let mut top: Option<u64> = None;
        for pn in pns {
            let model = match top {
                None => true,
                Some(t) => pn > t || (t - pn < REPLAY_WINDOW && !seen.contains(&pn)),
            };
            prop_assert_eq!(w.check(pn), model, "pn {} top {:?}", pn, top);
            prop_assert_eq!(w.accept(pn), model);
            if model {
                seen.insert(pn);
                top = Some(top.map_or(pn, |t| t.max(pn)));
            }
            prop_assert_eq!(w.top(), top);
        }
    }
}

#[test]
fn replay_window_edges() {
    let mut w = ReplayWindow::new();
    assert!(w.accept(5000));
    assert!(!w.accept(5000), "replay");
    assert!(w.accept(5000 - 1023), "oldest inside the window");
    assert!(!w.check(5000 - 1024), "just outside the window");
    assert!(w.accept(4000));
    assert!(w.accept(5064));
    assert!(!w.check(4000), "still remembered after a shift by 64");
    assert!(w.accept(4500));
    assert!(w.accept(u64::MAX));
    assert!(!w.check(5064), "far below the new top");
}

#[test]
fn constants_are_consistent() {
    assert_eq!(MAX_FRAGMENT, 1160);
    assert_eq!(
        DatagramType::Media.min_len(),
        PREFIX_LEN + MEDIA_HEADER_LEN + 1 + TAG_LEN
    );
    assert_eq!(Join::SESSION_KEY_INPUT_LEN, 25 + 73);
    let j = Join {
        meeting_id: [1; 32],
        device_id: [2; 16],
        session_id: [3; 16],
        expires_ms: 0x0102030405060708,
        worker: 9,
    };
    let input = j.session_key_input();
    assert_eq!(&input[..25], b"conclave-v1 media-session");
    assert_eq!(&input[25..57], &[1; 32]);
    assert_eq!(&input[89..97], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(input[97], 9);
    for s in Stream::ALL {
        assert_eq!(Stream::from_byte(s.to_byte()), Ok(s));
        assert_eq!(Stream::ALL[s.index()], s);
    }
}

#[test]
fn media_to_fwd_refuses_other_datagrams() {
    let mut ping = encode_vec(1, 0, &Body::Ping { timestamp_us: 1 });
    ping.resize(60, 0);
    assert_eq!(
        media_to_fwd(&mut ping, 3),
        Err(DatagramError::WrongDirection(DatagramType::Ping))
    );
    let mut short = vec![0x10; 20];
    assert_eq!(
        media_to_fwd(&mut short, 3),
        Err(DatagramError::Truncated { len: 20 })
    );
}
