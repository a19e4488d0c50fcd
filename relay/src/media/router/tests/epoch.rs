//! Epoch awareness from the clear SFrame KID.

use super::*;

fn epoch_behind(h: &mut Harness) -> Vec<(ParticipantId, u64)> {
    h.outputs()
        .into_iter()
        .filter_map(|o| match o.msg {
            ControlMsg::EpochBehind { meeting_epoch } => Some((o.to, meeting_epoch)),
            _ => None,
        })
        .collect()
}

/// a publishes three video layers in epoch 1; the throttle of its first requests expired.
fn setup() -> (Harness, ParticipantId, ParticipantId) {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    h.publish_video(a, Layer::L2);
    for _ in 0..6 {
        h.advance(ms(100));
        for l in Layer::ALL {
            h.send(a, video(l, false));
        }
    }
    h.outputs();
    (h, a, b)
}

#[test]
fn a_higher_epoch_requests_keyframes_of_every_layer_sent() {
    let (mut h, a, _b) = setup();
    h.epoch = 2;
    h.send(a, audio(30));
    let mut got = h.keyframe_requests();
    got.sort();
    assert_eq!(
        got,
        Layer::ALL.map(|l| (a, Stream::Video(l))).to_vec(),
        "every layer a sends"
    );
    // Further frames of the same epoch: nothing more.
    h.advance(ms(600));
    h.send(a, audio(30));
    assert_eq!(h.keyframe_requests(), vec![]);
}

#[test]
fn the_keyframe_that_opens_the_epoch_is_not_requested() {
    let (mut h, a, _b) = setup();
    h.epoch = 2;
    h.send(a, video(Layer::L1, true));
    let mut got = h.keyframe_requests();
    got.sort();
    assert_eq!(
        got,
        vec![(a, Stream::Video(Layer::L0)), (a, Stream::Video(Layer::L2))]
    );
}

#[test]
fn only_layers_being_sent_and_not_the_first_epoch() {
    let mut h = Harness::new();
    let (a, _b) = (h.join(meeting(1)), h.join(meeting(1)));
    h.send(a, audio(30)); // first epoch seen: no request
    h.send(a, video(Layer::L0, true));
    assert_eq!(h.keyframe_requests(), vec![]);
    h.advance(ms(600));
    h.send(a, video(Layer::L0, false));
    h.epoch = 2;
    h.send(a, audio(30));
    assert_eq!(h.keyframe_requests(), vec![(a, Stream::Video(Layer::L0))]);
}

#[test]
fn a_publisher_stuck_in_an_old_epoch_is_told_at_most_once_a_second() {
    let (mut h, a, b) = setup();
    h.send(b, audio(40)); // b in epoch 1
    h.epoch = 2;
    h.send(a, audio(30)); // the meeting reaches epoch 2 now
    let t = h.now;
    h.epoch = 1;
    h.advance(ms(1999));
    h.send(b, audio(40));
    assert_eq!(epoch_behind(&mut h), vec![], "within the grace");
    h.advance(ms(1));
    assert_eq!(h.now - t, ms(2000));
    h.send(b, audio(40));
    assert_eq!(epoch_behind(&mut h), vec![(b, 2)]);
    h.advance(ms(500));
    h.send(b, audio(40));
    assert_eq!(epoch_behind(&mut h), vec![], "once per second");
    h.advance(ms(500));
    h.send(b, data());
    assert_eq!(epoch_behind(&mut h), vec![(b, 2)]);
    assert_eq!(h.r.stats().epoch_behind, 2);
    // b catches up: no more.
    h.epoch = 2;
    h.advance(ms(1500));
    h.send(b, audio(40));
    assert_eq!(epoch_behind(&mut h), vec![]);
    // a itself, at the highest epoch, was never told.
    h.send(a, audio(40));
    assert_eq!(epoch_behind(&mut h), vec![]);
}

#[test]
fn a_newer_epoch_restarts_the_grace() {
    let (mut h, a, b) = setup();
    h.send(b, audio(40));
    h.epoch = 2;
    h.send(a, audio(30));
    h.advance(ms(1500));
    h.epoch = 3;
    h.send(a, audio(30));
    h.epoch = 2;
    h.send(b, audio(40)); // b moved to 2, 3 is 0 ms old
    h.advance(ms(1000));
    h.send(b, audio(40));
    assert_eq!(epoch_behind(&mut h), vec![]);
    h.advance(ms(1000));
    h.send(b, audio(40));
    assert_eq!(epoch_behind(&mut h), vec![(b, 3)]);
}
