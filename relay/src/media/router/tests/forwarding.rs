//! Membership, fan-out and bad input.

use super::*;

#[test]
fn audio_and_data_go_to_everyone_but_the_sender() {
    let mut h = Harness::new();
    let (a, b, c) = (h.join(meeting(1)), h.join(meeting(1)), h.join(meeting(1)));
    assert_eq!(h.send(a, audio(30)), vec![1000 + b, 1000 + c]);
    assert_eq!(h.send(b, data()), vec![1000 + a, 1000 + c]);
    assert_eq!(h.send(c, audio(127)), vec![1000 + a, 1000 + b]);
    let s = h.r.stats();
    assert_eq!((s.packets_routed, s.forwarded), (3, 6));
    assert_eq!((s.meetings, s.participants), (1, 3));
}

#[test]
fn a_lone_participant_reaches_nobody() {
    let mut h = Harness::new();
    let a = h.join(meeting(1));
    assert_eq!(h.send(a, audio(10)), Vec::<Dest>::new());
    assert_eq!(h.send(a, video(Layer::L2, true)), Vec::<Dest>::new());
}

#[test]
fn meetings_are_isolated() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    let (x, y) = (h.join(meeting(2)), h.join(meeting(2)));
    assert_eq!(h.send(a, audio(10)), vec![1000 + b]);
    assert_eq!(h.send(x, audio(10)), vec![1000 + y]);
    assert_eq!(h.r.members(&meeting(1)), &[a, b]);
    assert_eq!(h.r.members(&meeting(2)), &[x, y]);
    assert_eq!(h.r.stats().meetings, 2);
}

#[test]
fn later_joiners_receive_and_are_received() {
    let mut h = Harness::new();
    let a = h.join(meeting(1));
    let b = h.join(meeting(1));
    assert_eq!(h.send(a, audio(10)), vec![1000 + b]);
    let c = h.join(meeting(1));
    assert_eq!(h.send(a, audio(10)), vec![1000 + b, 1000 + c]);
    assert_eq!(h.send(c, data()), vec![1000 + a, 1000 + b]);
}

#[test]
fn unknown_participant_is_dropped_and_counted() {
    let mut h = Harness::new();
    let a = h.join(meeting(1));
    h.join(meeting(1));
    assert_eq!(
        h.send_raw(a + 100, audio(10), &frame(1, 0)),
        Err(RouteDrop::UnknownParticipant)
    );
    assert_eq!(
        h.send_raw(0, audio(10), &frame(1, 0)),
        Err(RouteDrop::UnknownParticipant)
    );
    assert_eq!(h.r.stats().dropped_unknown_participant, 2);
    assert_eq!(h.r.stats().packets_routed, 0);
}

#[test]
fn fragment_zero_without_a_valid_sframe_header_is_dropped() {
    let mut h = Harness::new();
    let a = h.join(meeting(1));
    h.join(meeting(1));
    // The config byte announces a 2-byte KID that is not there.
    assert_eq!(
        h.send_raw(a, audio(10), &[0x99]),
        Err(RouteDrop::BadSframeHeader)
    );
    // A non-minimal KID (5 in the extended form).
    assert_eq!(
        h.send_raw(a, data(), &[0x80, 0x05, 0, 0]),
        Err(RouteDrop::BadSframeHeader)
    );
    assert_eq!(h.r.stats().dropped_bad_sframe_header, 2);
    // Later fragments are not SFrame headers and are not parsed as such.
    let mut later = data();
    later.frag_count = 2;
    later.frag_index = 1;
    assert!(h.send_raw(a, later, &[0x99]).is_ok());
}

#[test]
fn invalid_header_or_fragment_is_dropped() {
    let mut h = Harness::new();
    let a = h.join(meeting(1));
    h.join(meeting(1));
    let mut bad = data();
    bad.frag_index = 3;
    assert_eq!(
        h.send_raw(a, bad, &frame(1, 0)),
        Err(RouteDrop::InvalidHeader)
    );
    let mut bad = audio(10);
    bad.keyframe = true;
    assert_eq!(
        h.send_raw(a, bad, &frame(1, 0)),
        Err(RouteDrop::InvalidHeader)
    );
    assert_eq!(h.send_raw(a, audio(10), &[]), Err(RouteDrop::InvalidHeader));
    let mut not_last = data();
    not_last.frag_count = 2;
    assert_eq!(
        h.send_raw(a, not_last, &frame(1, 0)),
        Err(RouteDrop::InvalidHeader),
        "not full"
    );
    assert_eq!(h.r.stats().dropped_invalid_header, 4);
}

#[test]
fn set_dest_moves_packets_and_outputs() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    h.r.set_dest(b, 7);
    assert_eq!(h.send(a, audio(10)), vec![7]);
    h.r.remove_participant(h.now, a);
    let out = h.outputs();
    assert_eq!(
        out,
        vec![RouterOutput {
            to: b,
            dest: 7,
            msg: ControlMsg::SourceGone { source: a }
        }]
    );
    h.r.set_dest(999, 1); // unknown: ignored
}

#[test]
fn leaving_sends_source_gone_and_stops_forwarding() {
    let mut h = Harness::new();
    let (a, b, c) = (h.join(meeting(1)), h.join(meeting(1)), h.join(meeting(1)));
    h.outputs();
    h.r.remove_participant(h.now, b);
    let gone: Vec<_> = h.outputs().into_iter().map(|o| (o.to, o.msg)).collect();
    assert_eq!(
        gone,
        vec![
            (a, ControlMsg::SourceGone { source: b }),
            (c, ControlMsg::SourceGone { source: b })
        ]
    );
    assert_eq!(h.send(a, audio(10)), vec![1000 + c]);
    assert_eq!(
        h.send_raw(b, audio(10), &frame(1, 0)),
        Err(RouteDrop::UnknownParticipant)
    );
    h.r.remove_participant(h.now, b); // twice: nothing
    assert!(h.outputs().is_empty());
    h.r.remove_participant(h.now, a);
    h.r.remove_participant(h.now, c);
    let s = h.r.stats();
    assert_eq!((s.meetings, s.participants), (0, 0));
    assert_eq!(h.r.poll_timeout(), None, "nothing left to time");
    // Ids are never reused.
    let d = h.join(meeting(1));
    assert!(d > c);
}

#[test]
fn outputs_for_departed_participants_are_skipped() {
    let mut h = Harness::new();
    let (a, b, c) = (h.join(meeting(1)), h.join(meeting(1)), h.join(meeting(1)));
    h.r.remove_participant(h.now, a); // SourceGone queued for b and c
    h.r.remove_participant(h.now, b); // b leaves before polling
    let to: Vec<_> = h.outputs().into_iter().map(|o| (o.to, o.msg)).collect();
    assert_eq!(
        to,
        vec![
            (c, ControlMsg::SourceGone { source: a }),
            (c, ControlMsg::SourceGone { source: b })
        ]
    );
}

#[test]
fn timers_exist_only_with_participants() {
    let mut h = Harness::new();
    assert_eq!(h.r.poll_timeout(), None);
    h.join(meeting(1));
    let t = h.r.poll_timeout().expect("a timer");
    assert!(t > h.now && t <= h.now + ms(1000));
}

#[test]
fn meeting_slots_are_reused_after_a_meeting_ends() {
    let mut h = Harness::new();
    let a = h.join(meeting(1));
    h.r.remove_participant(h.now, a);
    let (x, y) = (h.join(meeting(2)), h.join(meeting(2)));
    assert_eq!(h.send(x, audio(10)), vec![1000 + y]);
    assert_eq!(h.r.meetings.len(), 1);
}
