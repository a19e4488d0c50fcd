//! Which worker serves which meeting. The control plane pins a meeting to the least-loaded
//! worker at its first join; a worker that accepts a `JOIN` of an unpinned meeting (a ticket
//! from before a restart) pins it to itself; a worker unpins a meeting when its last session
//! ends, and the control plane when the meeting ends.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

/// A meeting id (32 bytes).
pub type MeetingBytes = [u8; 32];

/// The meeting → worker map, shared by the control plane and the workers.
#[derive(Debug)]
pub struct Pins {
    map: DashMap<MeetingBytes, u8>,
    /// Meetings pinned per worker.
    load: Vec<AtomicUsize>,
}

impl Pins {
    /// Pins for `workers` workers (1..=256).
    pub fn new(workers: usize) -> Self {
        Pins {
            map: DashMap::new(),
            load: (0..workers.clamp(1, 256))
                .map(|_| AtomicUsize::new(0))
                .collect(),
        }
    }

    pub fn workers(&self) -> usize {
        self.load.len()
    }

    fn least_loaded(&self) -> u8 {
        let mut best = (usize::MAX, 0u8);
        for (i, l) in self.load.iter().enumerate() {
            let l = l.load(Ordering::Relaxed);
            if l < best.0 {
                best = (l, i as u8);
            }
        }
        best.1
    }

    fn add_load(&self, worker: u8) {
        if let Some(l) = self.load.get(usize::from(worker)) {
            l.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn sub_load(&self, worker: u8) {
        if let Some(l) = self.load.get(usize::from(worker)) {
            let _ = l.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| x.checked_sub(1));
        }
    }

    /// The meeting's worker; pins it to the least-loaded worker if it has none.
    pub fn assign(&self, meeting: &MeetingBytes) -> u8 {
        match self.map.entry(*meeting) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                let w = self.least_loaded();
                e.insert(w);
                self.add_load(w);
                w
            }
        }
    }

    /// Pins the meeting to `worker` if it has no worker; returns the meeting's worker.
    pub fn claim(&self, meeting: &MeetingBytes, worker: u8) -> u8 {
        match self.map.entry(*meeting) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                e.insert(worker);
                self.add_load(worker);
                worker
            }
        }
    }

    /// The meeting's worker, if pinned.
    pub fn get(&self, meeting: &MeetingBytes) -> Option<u8> {
        self.map.get(meeting).map(|w| *w)
    }

    /// Unpins the meeting if `worker` serves it (`None`: whoever serves it).
    pub fn release(&self, meeting: &MeetingBytes, worker: Option<u8>) {
        if let Some((_, w)) = self
            .map
            .remove_if(meeting, |_, w| worker.is_none_or(|x| x == *w))
        {
            self.sub_load(w);
        }
    }

    /// Meetings pinned to `worker`.
    pub fn load(&self, worker: u8) -> usize {
        self.load
            .get(usize::from(worker))
            .map_or(0, |l| l.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meetings_spread_over_workers_and_stay_pinned() {
        let p = Pins::new(3);
        let ws: Vec<u8> = (0..6u8).map(|i| p.assign(&[i; 32])).collect();
        assert_eq!(ws, [0, 1, 2, 0, 1, 2]);
        assert_eq!(p.assign(&[4; 32]), 1, "pinned meetings keep their worker");
        p.release(&[1; 32], Some(0));
        assert_eq!(p.get(&[1; 32]), Some(1), "only its own worker releases it");
        p.release(&[1; 32], Some(1));
        assert_eq!(p.get(&[1; 32]), None);
        assert_eq!(p.load(1), 1);
        assert_eq!(p.assign(&[9; 32]), 1, "least loaded");
        assert_eq!(p.claim(&[9; 32], 2), 1);
        assert_eq!(p.claim(&[10; 32], 2), 2);
        p.release(&[10; 32], None);
        assert_eq!(p.load(2), 2);
    }
}
