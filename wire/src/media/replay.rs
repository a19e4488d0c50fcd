//! The per-session packet-number replay window (PROTOCOL §11.2: the rules of §6.5 with
//! `W = 1024`).

use super::REPLAY_WINDOW;

const WORDS: usize = (REPLAY_WINDOW as usize) / 64;

/// Remembers the highest accepted packet number and which of the 1023 below it were
/// accepted. [`ReplayWindow::check`] before verifying nothing; [`ReplayWindow::update`]
/// only after the tag verified.
#[derive(Debug, Clone, Default)]
pub struct ReplayWindow {
    /// Highest accepted pn, or None before the first.
    top: Option<u64>,
    /// Bit `d` set = `top − d` was accepted (`d < 1024`).
    bits: [u64; WORDS],
}

impl ReplayWindow {
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest accepted packet number.
    pub fn top(&self) -> Option<u64> {
        self.top
    }

    /// Whether `pn` would be accepted (fresh and not too old).
    pub fn check(&self, pn: u64) -> bool {
        match self.top {
            None => true,
            Some(top) if pn > top => true,
            Some(top) => {
                let d = top - pn;
                d < REPLAY_WINDOW && !self.bit(d)
            }
        }
    }

    /// Records `pn` as accepted. Call only after [`Self::check`] passed and the tag verified.
    pub fn update(&mut self, pn: u64) {
        match self.top {
            Some(top) if pn <= top => {
                let d = top - pn;
                if d < REPLAY_WINDOW {
                    self.set(d);
                }
            }
            Some(top) => {
                self.shift(pn - top);
                self.top = Some(pn);
                self.set(0);
            }
            None => {
                self.top = Some(pn);
                self.set(0);
            }
        }
    }

    /// Check and update in one step: true if `pn` was fresh (and is now recorded).
    pub fn accept(&mut self, pn: u64) -> bool {
        let ok = self.check(pn);
        if ok {
            self.update(pn);
        }
        ok
    }

    fn bit(&self, d: u64) -> bool {
        let d = d as usize;
        self.bits
            .get(d / 64)
            .is_some_and(|w| w & (1u64 << (d % 64)) != 0)
    }

    fn set(&mut self, d: u64) {
        let d = d as usize;
        if let Some(w) = self.bits.get_mut(d / 64) {
            *w |= 1u64 << (d % 64);
        }
    }

    /// Moves every recorded distance up by `by` (the top rose by `by`).
    fn shift(&mut self, by: u64) {
        if by >= REPLAY_WINDOW {
            self.bits = [0; WORDS];
            return;
        }
        let words = (by / 64) as usize;
        let bits = (by % 64) as u32;
        for i in (0..WORDS).rev() {
            let src = i.checked_sub(words);
            let hi = src.and_then(|s| self.bits.get(s)).copied().unwrap_or(0);
            let lo = src
                .and_then(|s| s.checked_sub(1))
                .and_then(|s| self.bits.get(s))
                .copied()
                .unwrap_or(0);
            let v = if bits == 0 {
                hi
            } else {
                (hi << bits) | (lo >> (64 - bits))
            };
            if let Some(w) = self.bits.get_mut(i) {
                *w = v;
            }
        }
    }
}
