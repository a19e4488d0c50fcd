//! Active speaker from the clear audio level.

use super::*;

/// 20 ms audio frames from each (participant, level) for `d`.
fn talk(h: &mut Harness, levels: &[(ParticipantId, u8)], d: Duration) {
    let end = h.now + d;
    while h.now < end {
        for &(id, level) in levels {
            h.send(id, audio(level));
        }
        h.advance(ms(20));
    }
}

fn speakers(h: &mut Harness) -> Vec<(ParticipantId, ParticipantId)> {
    h.outputs()
        .into_iter()
        .filter_map(|o| match o.msg {
            ControlMsg::ActiveSpeaker { source } => Some((o.to, source)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_loudest_is_announced_to_everyone_after_the_hold() {
    let mut h = Harness::new();
    let (a, b, c) = (h.join(meeting(1)), h.join(meeting(1)), h.join(meeting(1)));
    talk(&mut h, &[(a, 10), (b, 40), (c, 127)], ms(300));
    assert_eq!(speakers(&mut h), vec![], "not before it led for 300 ms");
    talk(&mut h, &[(a, 10), (b, 40), (c, 127)], ms(200));
    assert_eq!(speakers(&mut h), vec![(a, a), (b, a), (c, a)]);
    assert_eq!(h.r.active_speaker(&meeting(1)), Some(a));
    talk(&mut h, &[(a, 10), (b, 40)], ms(1000));
    assert_eq!(speakers(&mut h), vec![], "announced once");
    // b takes over.
    talk(&mut h, &[(a, 60), (b, 5)], ms(600));
    assert_eq!(speakers(&mut h), vec![(a, b), (b, b), (c, b)]);
    assert_eq!(h.r.stats().active_speaker_changes, 2);
}

#[test]
fn a_short_burst_does_not_take_over() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    talk(&mut h, &[(a, 20), (b, 45)], ms(600));
    speakers(&mut h);
    talk(&mut h, &[(a, 20), (b, 0)], ms(200));
    talk(&mut h, &[(a, 20), (b, 45)], ms(600));
    assert_eq!(speakers(&mut h), vec![]);
    assert_eq!(h.r.active_speaker(&meeting(1)), Some(a));
}

#[test]
fn nobody_quieter_than_the_threshold_is_announced() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    talk(&mut h, &[(a, 55), (b, 60)], ms(2000));
    assert_eq!(speakers(&mut h), vec![]);
    assert_eq!(h.r.active_speaker(&meeting(1)), None);
}

#[test]
fn silence_keeps_the_last_speaker_and_newcomers_learn_it() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    talk(&mut h, &[(a, 10)], ms(600));
    assert_eq!(speakers(&mut h).len(), 2);
    h.advance(ms(3000));
    assert_eq!(h.r.active_speaker(&meeting(1)), Some(a));
    let c = h.join(meeting(1));
    assert_eq!(speakers(&mut h), vec![(c, a)]);
    // A speaker that stopped sending cannot lead: b, quieter but talking, takes over.
    talk(&mut h, &[(b, 40)], ms(600));
    assert_eq!(speakers(&mut h), vec![(a, b), (b, b), (c, b)]);
}

#[test]
fn a_departed_speaker_is_forgotten() {
    let mut h = Harness::new();
    let (a, b) = (h.join(meeting(1)), h.join(meeting(1)));
    talk(&mut h, &[(a, 10), (b, 30)], ms(600));
    h.r.remove_participant(h.now, a);
    assert_eq!(h.r.active_speaker(&meeting(1)), None);
    h.outputs();
    talk(&mut h, &[(b, 30)], ms(600));
    assert_eq!(speakers(&mut h), vec![(b, b)]);
}
