//! Keyframe-request aggregation and throttling.

use super::*;

const L2: Stream = Stream::Video(Layer::L2);

#[test]
fn requests_are_aggregated_and_throttled() {
    let mut h = Harness::new();
    let (a, b, c) = (h.join(meeting(1)), h.join(meeting(1)), h.join(meeting(1)));
    h.advance(ms(1));
    h.r.on_keyframe_request(h.now, b, a, L2);
    h.r.on_keyframe_request(h.now, c, a, L2);
    assert_eq!(
        h.keyframe_requests(),
        vec![(a, L2)],
        "one for both subscribers"
    );
    h.advance(ms(200));
    h.r.on_keyframe_request(h.now, b, a, L2);
    h.r.on_keyframe_request(h.now, c, a, L2);
    h.advance(ms(298));
    assert_eq!(h.keyframe_requests(), vec![], "throttled");
    h.advance(ms(2));
    assert_eq!(
        h.keyframe_requests(),
        vec![(a, L2)],
        "the pending one, once, at 500 ms"
    );
    h.advance(ms(1000));
    assert_eq!(h.keyframe_requests(), vec![]);
    let s = h.r.stats();
    assert_eq!(s.keyframe_requests, 4);
    assert_eq!(s.keyframe_requests_forwarded, 2);
    assert_eq!(s.keyframe_requests_suppressed, 3);
}

#[test]
fn a_keyframe_answers_pending_requests() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    h.r.on_keyframe_request(h.now, b, a, L2);
    h.advance(ms(100));
    h.r.on_keyframe_request(h.now, b, a, L2);
    h.outputs();
    h.send(a, video(Layer::L2, true));
    h.advance(ms(1000));
    assert_eq!(h.keyframe_requests(), vec![]);
}

#[test]
fn layers_are_throttled_separately() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    for l in Layer::ALL {
        h.r.on_keyframe_request(h.now, b, a, Stream::Video(l));
    }
    assert_eq!(h.keyframe_requests().len(), 3);
}

#[test]
fn requests_without_a_valid_target_are_ignored() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    let x = h.join(meeting(2));
    h.r.on_keyframe_request(h.now, b, b, L2); // its own
    h.r.on_keyframe_request(h.now, b, a, Stream::Audio); // not video
    h.r.on_keyframe_request(h.now, b, 999, L2); // unknown source
    h.r.on_keyframe_request(h.now, 999, a, L2); // unknown requester
    h.r.on_keyframe_request(h.now, x, a, L2); // another meeting
    assert_eq!(h.keyframe_requests(), vec![]);
    assert_eq!(h.r.stats().feedback_ignored, 5);
    assert_eq!(h.r.stats().keyframe_requests, 0);
}
