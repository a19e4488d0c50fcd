//! Exponential backoff with jitter.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// `initial · 2^retry`, capped at `max`, then a random point in its upper half ("equal
/// jitter"), so that many relays retrying at once spread out. A receiver's `Retry-After`
/// raises the delay (still capped at `max`).
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    rng: u64,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration) -> Backoff {
        // RandomState is randomly keyed per instance: a different seed for every plugin.
        let seed = RandomState::new().build_hasher().finish();
        Backoff {
            initial,
            max,
            rng: seed,
        }
    }

    /// SplitMix64: plenty for jitter (not for secrets).
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The delay before retry number `retry` (0 for the first retry).
    pub(crate) fn delay(&mut self, retry: u32, asked: Option<Duration>) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        let full = self.initial.saturating_mul(factor).min(self.max);
        let half = full / 2;
        let span = u64::try_from((full - half).as_millis()).unwrap_or(u64::MAX);
        let jitter = Duration::from_millis(self.next() % span.saturating_add(1));
        let delay = half + jitter;
        match asked {
            Some(asked) => delay.max(asked).min(self.max),
            None => delay,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_is_capped_and_jittered() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1_000));
        for _ in 0..100 {
            let d0 = b.delay(0, None);
            assert!(d0 >= ms(50) && d0 <= ms(100), "{d0:?}");
            let d2 = b.delay(2, None);
            assert!(d2 >= ms(200) && d2 <= ms(400), "{d2:?}");
            let d9 = b.delay(40, None);
            assert!(d9 >= ms(500) && d9 <= ms(1_000), "{d9:?}");
            assert_eq!(b.delay(0, Some(ms(5_000))), ms(1_000));
            assert!(b.delay(0, Some(ms(300))) >= ms(300));
        }
        let spread: std::collections::HashSet<_> = (0..50).map(|_| b.delay(3, None)).collect();
        assert!(spread.len() > 5, "no jitter: {spread:?}");
    }
}
