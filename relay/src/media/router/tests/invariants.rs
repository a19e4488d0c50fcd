//! Random operation sequences (a seeded generator, reproducible): whatever the inputs, the
//! router never panics, never forwards to the sender or outside the sender's meeting,
//! never twice to one destination, forwards video only on the layer a subscriber is
//! switched to, and keeps its counters consistent.

use std::collections::HashMap;

use conclave_wire::media::{MAX_FRAGMENT, ReceiverReport, ReportEntry};

use super::*;

/// xorshift64*: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<T: Copy>(&mut self, v: &[T]) -> Option<T> {
        (!v.is_empty()).then(|| v[self.below(v.len() as u64) as usize])
    }
}

struct World {
    h: Harness,
    rng: Rng,
    /// Current members: id -> (meeting, dest).
    members: HashMap<ParticipantId, (u8, Dest)>,
    next_dest: Dest,
    forwarded: u64,
    video_forwarded: u64,
}

impl World {
    fn ids(&self) -> Vec<ParticipantId> {
        let mut v: Vec<_> = self.members.keys().copied().collect();
        v.sort_unstable();
        v
    }

    fn some_id(&mut self) -> ParticipantId {
        let ids = self.ids();
        // Now and then an unknown id.
        if self.rng.below(20) == 0 {
            return 100_000 + self.rng.below(5) as u32;
        }
        self.rng.pick(&ids).unwrap_or(7)
    }

    fn random_header(&mut self) -> MediaHeader {
        let stream = Stream::ALL[self.rng.below(5) as usize];
        let mut h = header(
            stream,
            stream.is_video() && self.rng.below(3) == 0,
            self.rng.below(128) as u8,
        );
        if self.rng.below(4) == 0 {
            h.frag_count = 1 + self.rng.below(4) as u16;
            h.frag_index = self.rng.below(u64::from(h.frag_count)) as u16;
        }
        if self.rng.below(50) == 0 {
            // Invalid on purpose.
            h.frag_index = h.frag_count;
        }
        h
    }

    fn random_fragment(&mut self, h: &MediaHeader) -> Vec<u8> {
        let epoch = 1 + self.rng.below(3);
        let mut f = match self.rng.below(10) {
            0 => (0..self.rng.below(20))
                .map(|_| self.rng.next() as u8)
                .collect(),
            _ => frame(epoch, self.rng.next()),
        };
        if !h.is_last_fragment() && self.rng.below(10) != 0 {
            f.resize(MAX_FRAGMENT, 0);
        }
        f
    }

    fn step(&mut self) {
        let now = self.h.now;
        match self.rng.below(100) {
            0..=6 => {
                let m = self.rng.below(3) as u8;
                let id = self.h.join(meeting(m));
                self.members.insert(id, (m, 1000 + id));
            }
            7..=9 => {
                let id = self.some_id();
                self.h.r.remove_participant(now, id);
                self.members.remove(&id);
            }
            10 => {
                let id = self.some_id();
                self.next_dest += 1;
                self.h.r.set_dest(id, self.next_dest);
                if let Some(e) = self.members.get_mut(&id) {
                    e.1 = self.next_dest;
                }
            }
            11..=14 => {
                let (from, source) = (self.some_id(), self.some_id());
                let stream = Stream::ALL[self.rng.below(5) as usize];
                self.h.r.on_keyframe_request(now, from, source, stream);
            }
            15..=17 => {
                let from = self.some_id();
                let l = [None, Some(0), Some(1), Some(2), Some(9)];
                let l = self.rng.pick(&l).flatten();
                self.h.r.on_layer_preference(now, from, l);
            }
            18..=20 => {
                let from = self.some_id();
                let source = self.some_id();
                let entries = (0..self.rng.below(3))
                    .map(|_| ReportEntry {
                        source_id: source.max(1),
                        stream: Stream::ALL[self.rng.below(5) as usize],
                        fraction_lost: self.rng.next() as u8,
                        cumulative_lost: 0,
                        jitter_us: 0,
                    })
                    .collect();
                let bw = [0, 50, 300, 5000][self.rng.below(4) as usize];
                self.h
                    .r
                    .on_receiver_report(now, from, &ReceiverReport::new(bw, entries));
            }
            21..=30 => self.h.advance(ms(self.rng.below(400))),
            _ => self.route(),
        }
        // Control messages go to current members only, at their current destination.
        for o in self.h.outputs() {
            assert_eq!(self.members.get(&o.to).map(|e| e.1), Some(o.dest), "{o:?}");
        }
    }

    fn route(&mut self) {
        let from = self.some_id();
        let h = self.random_header();
        let f = self.random_fragment(&h);
        let Ok(mut out) = self.h.send_raw(from, h, &f) else {
            return;
        };
        let (m, own) = self.members[&from];
        let n = out.len();
        out.dedup();
        assert_eq!(out.len(), n, "one copy per destination");
        self.forwarded += n as u64;
        let by_dest: HashMap<Dest, ParticipantId> =
            self.members.iter().map(|(id, e)| (e.1, *id)).collect();
        for d in &out {
            assert_ne!(*d, own, "never back to the sender");
            let sub = by_dest[d];
            assert_eq!(self.members[&sub].0, m, "only within the meeting");
            if let Stream::Video(l) = h.stream {
                self.video_forwarded += 1;
                assert_eq!(
                    self.h.layer(sub, from).0,
                    Some(l),
                    "only the layer switched to"
                );
            }
        }
        if !h.stream.is_video() {
            let others = self.members.values().filter(|e| e.0 == m).count() - 1;
            assert_eq!(n, others, "audio and data reach every other member");
        }
    }
}

#[test]
fn random_operations_keep_the_invariants() {
    let mut video = 0;
    for seed in 1..=16u64 {
        let mut w = World {
            h: Harness::new(),
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
            members: HashMap::new(),
            next_dest: 1_000_000,
            forwarded: 0,
            video_forwarded: 0,
        };
        for _ in 0..2500 {
            w.step();
        }
        let s = w.h.r.stats();
        assert_eq!(s.forwarded, w.forwarded, "seed {seed}");
        assert_eq!(s.participants, w.members.len() as u64, "seed {seed}");
        let meetings = {
            let mut v: Vec<_> = w.members.values().map(|e| e.0).collect();
            v.sort_unstable();
            v.dedup();
            v.len() as u64
        };
        assert_eq!(s.meetings, meetings, "seed {seed}");
        video += w.video_forwarded;
    }
    assert!(
        video > 100,
        "the sequences exercise video forwarding ({video})"
    );
}
