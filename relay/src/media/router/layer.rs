//! Simulcast layer choice per (subscriber, publisher) (PROTOCOL §11.5, informative).

use std::time::Instant;

use conclave_wire::media::Layer;

use super::config::RouterConfig;

/// What a publisher sends: which layers are active and their measured bitrates.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct PublisherView {
    pub active: [bool; 3],
    pub bitrate_bps: [u64; 3],
}

impl PublisherView {
    pub(super) fn sends_video(&self) -> bool {
        self.active.iter().any(|&a| a)
    }
}

/// What a subscriber wants and can take.
#[derive(Debug, Clone, Copy)]
pub(super) struct SubscriberView {
    pub max_layer: Option<Layer>,
    /// Its share of its estimated bandwidth per video publisher; None = no estimate yet.
    pub share_bps: Option<u64>,
}

/// Per (subscriber, publisher) forwarding state, held in the publisher's fan-out list.
#[derive(Debug, Clone, Copy)]
pub(super) struct Link<D> {
    pub sub: u32,
    pub dest: D,
    /// The layer forwarded now.
    pub current: Option<Layer>,
    /// The layer to switch to at its next keyframe (== current when settled).
    pub target: Option<Layer>,
    /// No step up before this (after a step down for loss).
    pub up_blocked_until: Option<Instant>,
}

impl<D> Link<D> {
    pub(super) fn new(sub: u32, dest: D) -> Self {
        Link {
            sub,
            dest,
            current: None,
            target: None,
            up_blocked_until: None,
        }
    }

    /// Whether the link waits for a keyframe of its target.
    pub(super) fn switching(&self) -> Option<Layer> {
        match self.target {
            Some(t) if self.current != Some(t) => Some(t),
            _ => None,
        }
    }
}

/// The highest active layer not above `cap` whose bitrate fits `share`; if none fits, the
/// lowest active layer not above `cap`; if no active layer is below `cap`, the lowest
/// active layer not above `pref`; None when the subscriber wants no video or nothing fits.
pub(super) fn choose_layer(
    pref: Option<Layer>,
    cap: Option<Layer>,
    p: &PublisherView,
    share_bps: Option<u64>,
) -> Option<Layer> {
    let pref = pref?;
    let cap = cap.map_or(pref, |c| c.min(pref));
    let active = |l: &Layer| p.active[usize::from(l.index())];
    let fits = |l: &Layer| share_bps.is_none_or(|s| p.bitrate_bps[usize::from(l.index())] <= s);
    let candidates = Layer::ALL.into_iter().filter(|l| *l <= cap && active(l));
    let lowest = candidates.clone().next();
    candidates
        .rev()
        .find(fits)
        .or(lowest)
        .or_else(|| Layer::ALL.into_iter().find(|l| *l <= pref && active(l)))
}

/// Re-decides a link's target. `loss_step`: the subscriber just reported loss above the
/// threshold for this publisher. Returns the new target when the link must now wait for
/// a keyframe of it (the caller requests one).
pub(super) fn decide<D>(
    link: &mut Link<D>,
    now: Instant,
    config: &RouterConfig,
    sub: &SubscriberView,
    publisher: &PublisherView,
    loss_step: bool,
) -> Option<Layer> {
    // The layer the link is at or heading down to.
    let level = match (link.current, link.target) {
        (Some(c), Some(t)) => Some(c.min(t)),
        (c, t) => c.or(t),
    };
    let mut cap = None;
    if let Some(c) = level {
        if loss_step {
            cap = Some(c.lower().unwrap_or(Layer::L0));
            link.up_blocked_until = Some(now + config.layer_up_hold);
        } else if link.up_blocked_until.is_some_and(|t| now < t) {
            cap = Some(c);
        }
    }
    let target = choose_layer(sub.max_layer, cap, publisher, sub.share_bps);
    if target.is_none() {
        link.current = None;
    }
    let changed = target != link.target;
    link.target = target;
    if changed { link.switching() } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(active: [bool; 3], bitrate_bps: [u64; 3]) -> PublisherView {
        PublisherView {
            active,
            bitrate_bps,
        }
    }

    const ALL: [bool; 3] = [true; 3];
    const RATES: [u64; 3] = [150_000, 500_000, 1_500_000];

    #[test]
    fn highest_layer_under_the_preference() {
        let p = view(ALL, RATES);
        assert_eq!(
            choose_layer(Some(Layer::L2), None, &p, None),
            Some(Layer::L2)
        );
        assert_eq!(
            choose_layer(Some(Layer::L1), None, &p, None),
            Some(Layer::L1)
        );
        assert_eq!(choose_layer(None, None, &p, None), None, "no video");
    }

    #[test]
    fn highest_layer_that_fits_the_share() {
        let p = view(ALL, RATES);
        assert_eq!(
            choose_layer(Some(Layer::L2), None, &p, Some(2_000_000)),
            Some(Layer::L2)
        );
        assert_eq!(
            choose_layer(Some(Layer::L2), None, &p, Some(600_000)),
            Some(Layer::L1)
        );
        assert_eq!(
            choose_layer(Some(Layer::L2), None, &p, Some(200_000)),
            Some(Layer::L0)
        );
        // Nothing fits: still the lowest layer rather than no video.
        assert_eq!(
            choose_layer(Some(Layer::L2), None, &p, Some(10)),
            Some(Layer::L0)
        );
    }

    #[test]
    fn only_active_layers() {
        let p = view([true, false, true], RATES);
        assert_eq!(
            choose_layer(Some(Layer::L1), None, &p, None),
            Some(Layer::L0)
        );
        let p = view([false, true, true], RATES);
        // The cap (from loss) is below every active layer: the lowest under the preference.
        assert_eq!(
            choose_layer(Some(Layer::L2), Some(Layer::L0), &p, None),
            Some(Layer::L1)
        );
        assert_eq!(choose_layer(Some(Layer::L0), None, &p, None), None);
        assert_eq!(
            choose_layer(Some(Layer::L2), None, &view([false; 3], RATES), None),
            None
        );
    }
}
