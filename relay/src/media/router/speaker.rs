//! Active-speaker detection from the clear audio level (PROTOCOL §11.5, informative):
//! exponential smoothing per publisher, the loudest above the threshold leads, and a
//! leader is announced once it has led for the hold time.

use std::time::{Duration, Instant};

use super::ParticipantId;

/// One smoothing step towards `level` (−dBov).
pub(super) fn smooth(current: f32, level: u8, alpha: f32) -> f32 {
    current + alpha * (f32::from(level) - current)
}

/// The loudest (lowest −dBov) of `levels` strictly louder than `threshold`; ties go to the
/// lower id.
pub(super) fn leader(
    levels: impl Iterator<Item = (ParticipantId, f32)>,
    threshold: u8,
) -> Option<ParticipantId> {
    levels
        .filter(|(_, l)| *l < f32::from(threshold))
        .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
        .map(|(id, _)| id)
}

/// Advances the (candidate, since) state with this tick's leader; returns the speaker to
/// announce when the candidate has led for `hold` and is not the announced one.
pub(super) fn step(
    candidate: &mut Option<(ParticipantId, Instant)>,
    announced: Option<ParticipantId>,
    leader: Option<ParticipantId>,
    now: Instant,
    hold: Duration,
) -> Option<ParticipantId> {
    if leader != candidate.map(|c| c.0) {
        *candidate = leader.map(|id| (id, now));
    }
    match *candidate {
        Some((id, since))
            if Some(id) != announced && now.saturating_duration_since(since) >= hold =>
        {
            Some(id)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smoothing_converges() {
        let mut s = 127.0;
        for _ in 0..50 {
            s = smooth(s, 20, 0.3);
        }
        assert!((s - 20.0).abs() < 0.01);
        // One loud frame does not make a leader.
        assert!(smooth(127.0, 0, 0.3) > 50.0);
    }

    #[test]
    fn leader_is_loudest_above_threshold() {
        let l = [(1, 40.0), (2, 30.0), (3, 10.0)];
        assert_eq!(leader(l.into_iter(), 50), Some(3));
        assert_eq!(leader([(1, 50.0), (2, 80.0)].into_iter(), 50), None);
        assert_eq!(leader([(4, 30.0), (2, 30.0)].into_iter(), 50), Some(2));
    }

    #[test]
    fn hold_before_announcing() {
        let t0 = Instant::now();
        let hold = Duration::from_millis(300);
        let mut c = None;
        assert_eq!(step(&mut c, None, Some(1), t0, hold), None);
        assert_eq!(
            step(&mut c, None, Some(1), t0 + Duration::from_millis(299), hold),
            None
        );
        assert_eq!(step(&mut c, None, Some(1), t0 + hold, hold), Some(1));
        // Announced: not again.
        assert_eq!(step(&mut c, Some(1), Some(1), t0 + 2 * hold, hold), None);
        // A new leader restarts the hold.
        assert_eq!(step(&mut c, Some(1), Some(2), t0 + 3 * hold, hold), None);
        assert_eq!(step(&mut c, Some(1), Some(1), t0 + 4 * hold, hold), None);
        assert_eq!(step(&mut c, Some(1), Some(2), t0 + 5 * hold, hold), None);
        assert_eq!(step(&mut c, Some(1), Some(2), t0 + 6 * hold, hold), Some(2));
    }
}
