//! The client media pipeline per frame, sender and receiver, with the software provider:
//! plaintext header → SFrame seal (MeetingCrypto::seal_batch) → fragments → tagged MEDIA
//! datagrams (HMAC-SHA256) → as MEDIA_FWD: parse → reassemble → SFrame open in place →
//! plaintext header parse. The relay's part (tag check, routing) is not included.
//! `cargo bench -p conclave-client --bench media`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use conclave_client::media::frame::FrameHeader;
use conclave_client::media::packetize::{FrameMeta, fragments};
use conclave_client::media::reassembly::{Reassembler, ReassemblyConfig};
use conclave_client::media::tag::TagKey;
use conclave_client::meeting::{EpochKeys, MeetingCrypto, MeetingId, Roster, RosterEntry};
use conclave_client::sframe::{CipherSuite, FrameRef, SealedFrames};
use conclave_crypto::{CryptoProvider, P256PublicKey, Secret};
use conclave_crypto_software::SoftwareProvider;
use conclave_wire::media::{self, Body, Direction, Layer, MAX_DATAGRAM, Stream};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn crypto(p: &Arc<dyn CryptoProvider>, me: u8) -> MeetingCrypto {
    let user_key = P256PublicKey::from_sec1(&[4; 65]).unwrap();
    let roster = Roster::new(
        [1u8, 2]
            .iter()
            .map(|&d| RosterEntry {
                index: u16::from(d),
                device_id: [d; 16],
                user_key,
            })
            .collect(),
    )
    .unwrap();
    let keys =
        EpochKeys::from_parts(MeetingId([7; 32]), 3, Secret::new(vec![1; 32]), roster).unwrap();
    MeetingCrypto::new(p.clone(), CipherSuite::DEFAULT, keys, &[me; 16]).unwrap()
}

struct Pipeline {
    tx: MeetingCrypto,
    rx: MeetingCrypto,
    tag: TagKey,
    plaintext: Vec<u8>,
    sealed: SealedFrames,
    datagrams: Vec<Vec<u8>>,
    reassembler: Reassembler,
    frame_number: u32,
    pn: u64,
    start: Instant,
}

impl Pipeline {
    fn new() -> Self {
        let p: Arc<dyn CryptoProvider> = Arc::new(SoftwareProvider::new());
        Pipeline {
            tx: crypto(&p, 1),
            rx: crypto(&p, 2),
            tag: TagKey::new(&[9; 32]),
            plaintext: Vec::new(),
            sealed: SealedFrames::new(),
            datagrams: Vec::new(),
            reassembler: Reassembler::new(ReassemblyConfig::default()),
            frame_number: 0,
            pn: 0,
            start: Instant::now(),
        }
    }

    /// Sends one frame and receives it; returns the media bytes delivered.
    fn frame(&mut self, stream: Stream, keyframe: bool, data: &[u8]) -> usize {
        // Sender.
        FrameHeader {
            stream,
            keyframe,
            sequence: u64::from(self.frame_number),
            send_time_us: 1,
        }
        .write_plaintext(data, &mut self.plaintext);
        self.sealed.clear();
        let frames: [FrameRef<'_>; 1] = [(b"", &self.plaintext)];
        self.tx.seal_batch(&frames, &mut self.sealed).unwrap();
        let meta = FrameMeta {
            stream,
            keyframe,
            codec: false,
            audio_level: if stream == Stream::Audio { 30 } else { 127 },
            frame_number: self.frame_number,
        };
        self.frame_number = self.frame_number.wrapping_add(1);
        let sealed = self.sealed.get(0).unwrap();
        let mut n = 0;
        for (header, fragment) in fragments(meta, sealed).unwrap() {
            if self.datagrams.len() <= n {
                self.datagrams.push(vec![0u8; MAX_DATAGRAM]);
            }
            let buf = &mut self.datagrams[n];
            buf.resize(MAX_DATAGRAM, 0);
            let tag = &self.tag;
            let len =
                media::encode_tagged(buf, 77, self.pn, &Body::Media { header, fragment }, |a| {
                    tag.tag(a)
                })
                .unwrap();
            self.pn += 1;
            // What the relay forwards.
            let fwd = media::media_to_fwd(&mut buf[..len], 5).unwrap();
            buf.truncate(fwd);
            n += 1;
        }
        // Receiver.
        let now = self.start;
        let mut delivered = 0;
        for d in &self.datagrams[..n] {
            let parsed = media::parse(d, Direction::ToClient).unwrap();
            let Body::MediaFwd { header, fragment } = parsed.body else {
                unreachable!()
            };
            if let Some(mut frame) = self.reassembler.push(now, 5, &header, fragment) {
                self.rx.open_in_place(b"", &mut frame.data).unwrap();
                let (fh, media) = FrameHeader::parse(&frame.data).unwrap();
                assert_eq!(fh.stream, stream);
                delivered = media.len();
                self.reassembler.recycle(frame.data);
            }
        }
        delivered
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("media/pipeline");
    let cases = [
        ("audio/100", Stream::Audio, false, 100usize),
        ("video/1200", Stream::Video(Layer::L1), false, 1200),
        ("keyframe/30000", Stream::Video(Layer::L2), true, 30_000),
    ];
    for (name, stream, keyframe, size) in cases {
        let mut p = Pipeline::new();
        let data = vec![0x5au8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(name, |b| {
            b.iter(|| black_box(p.frame(stream, keyframe, black_box(&data))))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
