//! One video layer per (subscriber, publisher): preference, bandwidth, loss, keyframes.

use conclave_wire::media::{ReceiverReport, ReportEntry};

use super::*;

fn sized(epoch: u64, len: usize) -> Vec<u8> {
    let mut f = frame(epoch, 0);
    f.resize(len, 0x33);
    f
}

fn report(bw_kbps: u32, entries: Vec<ReportEntry>) -> ReceiverReport {
    ReceiverReport::new(bw_kbps, entries)
}

fn loss(source_id: ParticipantId, stream: Stream, fraction_lost: u8) -> ReportEntry {
    ReportEntry {
        source_id,
        stream,
        fraction_lost,
        cumulative_lost: 0,
        jitter_us: 0,
    }
}

/// Sends deltas of every layer every 100 ms for `d` (layers stay active).
fn keep_sending(h: &mut Harness, publisher: ParticipantId, d: Duration) {
    let end = h.now + d;
    while h.now < end {
        h.advance(ms(100));
        for l in Layer::ALL {
            h.send(publisher, video(l, false));
        }
    }
}

#[test]
fn one_layer_per_subscriber_switching_at_a_keyframe() {
    let mut h = Harness::new();
    let (a, b, c) = (h.join(meeting(1)), h.join(meeting(1)), h.join(meeting(1)));
    // Each layer appearing raises the target; deltas are useless before a keyframe.
    for l in Layer::ALL {
        assert_eq!(h.send(a, video(l, false)), Vec::<Dest>::new());
    }
    assert_eq!(
        h.keyframe_requests(),
        vec![
            (a, Stream::Video(Layer::L0)),
            (a, Stream::Video(Layer::L1)),
            (a, Stream::Video(Layer::L2))
        ],
        "one request per layer for both subscribers"
    );
    assert_eq!(h.layer(b, a), (None, Some(Layer::L2)));
    assert_eq!(h.send(a, video(Layer::L0, true)), Vec::<Dest>::new());
    assert_eq!(h.send(a, video(Layer::L2, true)), vec![1000 + b, 1000 + c]);
    assert_eq!(h.layer(b, a), (Some(Layer::L2), Some(Layer::L2)));
    assert_eq!(h.send(a, video(Layer::L0, false)), Vec::<Dest>::new());
    assert_eq!(h.send(a, video(Layer::L1, true)), Vec::<Dest>::new());
    assert_eq!(h.send(a, video(Layer::L2, false)), vec![1000 + b, 1000 + c]);
    assert_eq!(h.r.stats().layer_switches, 2);
    // Never the publisher itself.
    assert!(h.r.video_layer(a, a).is_none());
}

#[test]
fn a_layer_that_starts_with_a_keyframe_is_forwarded_at_once() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    assert_eq!(h.send(a, video(Layer::L0, true)), vec![1000 + b]);
    assert_eq!(
        h.keyframe_requests(),
        vec![],
        "no request for the keyframe in hand"
    );
}

#[test]
fn later_fragments_of_the_switching_keyframe_follow_it() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    let mut first = video(Layer::L1, true);
    first.frag_count = 2;
    let big = sized(1, conclave_wire::media::MAX_FRAGMENT);
    assert_eq!(h.send_raw(a, first, &big), Ok(vec![1000 + b]));
    let mut second = first;
    second.frag_index = 1;
    assert_eq!(h.send_raw(a, second, &[1, 2, 3]), Ok(vec![1000 + b]));
}

#[test]
fn layer_preference_caps_the_layer_and_none_stops_video() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    h.publish_video(a, Layer::L2);
    assert_eq!(h.layer(b, a), (Some(Layer::L2), Some(Layer::L2)));
    keep_sending(&mut h, a, ms(600)); // past the keyframe throttle
    h.outputs();
    h.r.on_layer_preference(h.now, b, Some(0));
    assert_eq!(h.keyframe_requests(), vec![(a, Stream::Video(Layer::L0))]);
    assert_eq!(h.layer(b, a), (Some(Layer::L2), Some(Layer::L0)));
    // Still L2 until the L0 keyframe.
    assert_eq!(h.send(a, video(Layer::L2, false)), vec![1000 + b]);
    assert_eq!(h.send(a, video(Layer::L0, false)), Vec::<Dest>::new());
    assert_eq!(h.send(a, video(Layer::L0, true)), vec![1000 + b]);
    assert_eq!(h.send(a, video(Layer::L2, true)), Vec::<Dest>::new());
    // No video: stops at once; audio continues.
    h.r.on_layer_preference(h.now, b, None);
    assert_eq!(h.layer(b, a), (None, None));
    assert_eq!(h.send(a, video(Layer::L0, true)), Vec::<Dest>::new());
    assert_eq!(h.send(a, audio(20)), vec![1000 + b]);
    // Out of range: ignored and counted.
    h.r.on_layer_preference(h.now, b, Some(3));
    assert_eq!(h.r.stats().feedback_ignored, 1);
    assert_eq!(h.layer(b, a), (None, None));
    // Back to L1.
    h.r.on_layer_preference(h.now, b, Some(1));
    assert_eq!(h.layer(b, a), (None, Some(Layer::L1)));
    assert_eq!(h.send(a, video(Layer::L1, true)), vec![1000 + b]);
}

#[test]
fn bandwidth_share_picks_the_highest_layer_that_fits() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    h.publish_video(a, Layer::L2);
    // ~20, ~84 and ~290 kbit/s (with the 52-byte overhead per datagram).
    for _ in 0..10 {
        h.advance(ms(100));
        h.send_raw(a, video(Layer::L0, false), &sized(1, 200))
            .unwrap();
        h.send_raw(a, video(Layer::L1, false), &sized(1, 1000))
            .unwrap();
        for _ in 0..3 {
            h.send_raw(a, video(Layer::L2, false), &sized(1, 1160))
                .unwrap();
        }
    }
    h.advance(ms(1)); // the rate window closed at 1 s
    h.outputs();
    h.r.on_receiver_report(h.now, b, &report(100, vec![]));
    assert_eq!(h.layer(b, a), (Some(Layer::L2), Some(Layer::L1)));
    assert_eq!(h.keyframe_requests(), vec![(a, Stream::Video(Layer::L1))]);
    assert_eq!(h.send(a, video(Layer::L1, true)), vec![1000 + b]);
    h.r.on_receiver_report(h.now, b, &report(30, vec![]));
    assert_eq!(h.layer(b, a), (Some(Layer::L1), Some(Layer::L0)));
    h.r.on_receiver_report(h.now, b, &report(5, vec![]));
    assert_eq!(
        h.layer(b, a),
        (Some(Layer::L1), Some(Layer::L0)),
        "nothing fits: lowest"
    );
    h.r.on_receiver_report(h.now, b, &report(10_000, vec![]));
    assert_eq!(h.layer(b, a), (Some(Layer::L1), Some(Layer::L2)));
    // The share is per video publisher: a second publisher halves it.
    let c = h.join(meeting(1));
    h.publish_video(c, Layer::L2);
    h.r.on_receiver_report(h.now, b, &report(500, vec![]));
    assert_eq!(
        h.layer(b, a).1,
        Some(Layer::L1),
        "290 kbit/s does not fit 500 / 2"
    );
    h.r.on_receiver_report(h.now, b, &report(700, vec![]));
    assert_eq!(h.layer(b, a).1, Some(Layer::L2), "290 kbit/s fits 700 / 2");
}

#[test]
fn loss_above_ten_percent_steps_down_and_holds() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    h.publish_video(a, Layer::L2);
    // 25/256 is below 10 %: no change.
    h.r.on_receiver_report(
        h.now,
        b,
        &report(0, vec![loss(a, Stream::Video(Layer::L2), 25)]),
    );
    assert_eq!(h.layer(b, a), (Some(Layer::L2), Some(Layer::L2)));
    // Loss on another stream or of another source: no change.
    h.r.on_receiver_report(h.now, b, &report(0, vec![loss(a, Stream::Audio, 200)]));
    h.r.on_receiver_report(
        h.now,
        b,
        &report(0, vec![loss(b, Stream::Video(Layer::L2), 200)]),
    );
    assert_eq!(h.layer(b, a), (Some(Layer::L2), Some(Layer::L2)));
    // 26/256: one layer down, at its keyframe.
    h.r.on_receiver_report(
        h.now,
        b,
        &report(0, vec![loss(a, Stream::Video(Layer::L2), 26)]),
    );
    assert_eq!(h.layer(b, a), (Some(Layer::L2), Some(Layer::L1)));
    // Without loss, no step up while the hold lasts.
    keep_sending(&mut h, a, ms(1000));
    h.r.on_receiver_report(h.now, b, &report(0, vec![]));
    assert_eq!(h.layer(b, a).1, Some(Layer::L1));
    // More loss: another layer down.
    h.r.on_receiver_report(
        h.now,
        b,
        &report(0, vec![loss(a, Stream::Video(Layer::L2), 100)]),
    );
    assert_eq!(h.layer(b, a).1, Some(Layer::L0));
    h.send(a, video(Layer::L0, true));
    assert_eq!(h.layer(b, a), (Some(Layer::L0), Some(Layer::L0)));
    // After the hold, up again (the periodic re-evaluation).
    keep_sending(&mut h, a, ms(2100));
    assert_eq!(h.layer(b, a), (Some(Layer::L0), Some(Layer::L2)));
    assert!(
        h.keyframe_requests()
            .contains(&(a, Stream::Video(Layer::L2)))
    );
}

#[test]
fn a_layer_that_stops_is_replaced() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    h.publish_video(a, Layer::L2);
    // a stops sending L2; L0 and L1 continue.
    for _ in 0..15 {
        h.advance(ms(100));
        h.send(a, video(Layer::L0, false));
        h.send(a, video(Layer::L1, false));
    }
    assert_eq!(h.layer(b, a).1, Some(Layer::L1));
    assert!(
        h.keyframe_requests()
            .contains(&(a, Stream::Video(Layer::L1)))
    );
}

#[test]
fn a_new_subscriber_gets_a_keyframe_requested() {
    let mut h = Harness::new();
    let (a, _b) = (h.join(meeting(1)), h.join(meeting(1)));
    h.publish_video(a, Layer::L2);
    keep_sending(&mut h, a, ms(600));
    h.outputs();
    let c = h.join(meeting(1));
    assert_eq!(h.layer(c, a), (None, Some(Layer::L2)));
    assert_eq!(h.keyframe_requests(), vec![(a, Stream::Video(Layer::L2))]);
}
