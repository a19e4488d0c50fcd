import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as C from '../../src/crypto/index.js';

const h = C.fromHex;

test('SFrame header: PROTOCOL §6.3 table, minimal encoding, boundaries', () => {
  const table = [
    [7n, 7n, '77'],
    [8n, 7n, '8708'],
    [7n, 8n, '7808'],
    [255n, 256n, '89ff0100'],
    [0x10003n, 0x100n, 'a90100030100'],
    [(1n << 64n) - 1n, 0n, 'f0ffffffffffffffff'],
    [0n, 0n, '00'],
    [256n, (1n << 64n) - 1n, '9f0100ffffffffffffffff'],
  ];
  for (const [kid, ctr, hex] of table) {
    assert.equal(C.toHex(C.encodeHeader(kid, ctr)), hex);
    const p = C.parseHeader(C.concat(h(hex), new Uint8Array(20)));
    assert.deepEqual([p.kid, p.ctr, p.len], [kid, ctr, hex.length / 2]);
  }
  for (const bad of ['8005', '8007', '9000ff', '0f01', '', '88', '8f08', '08', '0807']) {
    assert.throws(() => C.parseHeader(h(bad)), { code: 'Wire' }, bad);
  }
  for (let v = 0n; v < 600n; v += 1n) {
    const p = C.parseHeader(C.encodeHeader(v, 600n - v));
    assert.deepEqual([p.kid, p.ctr], [v, 600n - v]);
  }
});

test('replay window: W = 128, moves only forward', () => {
  const w = new C.ReplayWindow();
  assert.ok(w.check(5n));
  w.accept(5n);
  assert.ok(!w.check(5n));
  assert.ok(w.check(4n));
  w.accept(200n);
  assert.ok(!w.check(5n));
  assert.ok(w.check(199n));
  assert.ok(w.check(200n - 127n));
  assert.ok(!w.check(200n - 128n));
  w.accept(199n);
  assert.ok(!w.check(199n));
  const max = (1n << 64n) - 1n;
  assert.ok(w.check(max));
  w.accept(max);
  assert.ok(!w.check(max));
  assert.ok(!w.check(200n));
});

async function pair(kid = 0x30001n, suite = C.DEFAULT_SUITE) {
  const base = new Uint8Array(32).fill(9);
  const tx = new C.SFrameSender(await C.SFrameKey.create(suite, kid, base));
  const rx = new C.SFrameReceiver(suite);
  await rx.addKey(kid, base);
  return { tx, rx, base };
}

test('SFrame: seal/open with metadata; wrong metadata, tampering, replay, unknown KID', async () => {
  const { tx, rx } = await pair();
  const meta = C.utf8('metadata');
  const f0 = await tx.seal(meta, C.utf8('frame 0'));
  const f1 = await tx.seal(new Uint8Array(0), new Uint8Array(0));
  assert.equal(C.parseHeader(f1).ctr, 1n);
  assert.equal(f1.length, C.parseHeader(f1).len + 16);
  await assert.rejects(rx.open(C.utf8('other'), f0), { code: 'FrameAuthFailed' });
  await assert.rejects(rx.open(meta, f0.subarray(0, 16)), { code: 'FrameAuthFailed' });
  for (let i = 0; i < f0.length; i++) {
    const bad = f0.slice();
    bad[i] ^= 0x40;
    await assert.rejects(rx.open(meta, bad), (e) => ['FrameAuthFailed', 'UnknownKid', 'Wire'].includes(e.code));
  }
  const o = await rx.open(meta, f0);
  assert.deepEqual(o.plaintext, C.utf8('frame 0'));
  assert.deepEqual([o.epoch, o.senderIndex, o.ctr], [3, 1, 0n]);
  await assert.rejects(rx.open(meta, f0), { code: 'FrameReplay' });
  assert.equal((await rx.open(new Uint8Array(0), f1)).plaintext.length, 0);
  // The replay check comes before authentication (§6.5 steps 3, 4).
  await assert.rejects(rx.open(meta, f0.subarray(0, 16)), { code: 'FrameReplay' });
  rx.removeKey(0x30001n);
  await assert.rejects(rx.open(meta, f0), { code: 'UnknownKid' });
  await assert.rejects(rx.addKey(5n, new Uint8Array(32)).then(() => rx.addKey(5n, new Uint8Array(32))), { code: 'DuplicateKid' });
  assert.throws(() => new C.SFrameReceiver(1), { code: 'UnsupportedSuite' });
  await assert.rejects(C.deriveKeySalt(3, 1n, new Uint8Array(32)), { code: 'UnsupportedSuite' });
});

test('SFrame: concurrent opens of one frame deliver it once; counter exhaustion', async () => {
  const { tx, rx } = await pair();
  const f = await tx.seal(new Uint8Array(0), C.utf8('x'));
  const results = await Promise.allSettled([rx.open(new Uint8Array(0), f), rx.open(new Uint8Array(0), f)]);
  assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  tx.nextCtr = (1n << 64n) - 1n;
  const last = await tx.seal(new Uint8Array(0), C.utf8('last'));
  assert.equal(C.parseHeader(last).ctr, (1n << 64n) - 1n);
  await assert.rejects(tx.seal(new Uint8Array(0), C.utf8('more')), { code: 'CounterExhausted' });
});

test('codec frames (§13.1): clear lengths, round trip, tampered clear bytes, short frames', async () => {
  assert.equal(C.clearLen('audio', 0x01), 1);
  assert.equal(C.clearLen('video', 0x10), 10);
  assert.equal(C.clearLen('video', 0x11), 3);
  const { tx, rx } = await pair(5n);
  const key = Uint8Array.from([0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00, 1, 2, 3]);
  const frame = await C.sealCodecFrame(tx, 'video', key);
  assert.deepEqual(frame.subarray(0, 10), key.subarray(0, 10));
  for (let i = 0; i < 10; i++) {
    const bad = frame.slice();
    bad[i] ^= i === 0 ? 0x10 : 1; // keep bit 0 (key frame) in byte 0
    await assert.rejects(C.openCodecFrame(rx, 'video', bad), { code: 'FrameAuthFailed' });
  }
  // Opened as audio the split is wrong: another header, or other metadata.
  await assert.rejects(C.openCodecFrame(rx, 'audio', frame), (e) => ['UnknownKid', 'FrameAuthFailed'].includes(e.code));
  assert.deepEqual(await C.openCodecFrame(rx, 'video', frame), key);
  await assert.rejects(C.openCodecFrame(rx, 'video', frame), { code: 'FrameReplay' });
  const opus = Uint8Array.from([0xfc]);
  assert.deepEqual(await C.openCodecFrame(rx, 'audio', await C.sealCodecFrame(tx, 'audio', opus)), opus);
  await assert.rejects(C.sealCodecFrame(tx, 'video', Uint8Array.from([0x10, 1, 2])), { code: 'BadPayload' });
  await assert.rejects(C.sealCodecFrame(tx, 'audio', new Uint8Array(0)), { code: 'BadPayload' });
  await assert.rejects(C.openCodecFrame(rx, 'audio', new Uint8Array(17)), { code: 'FrameAuthFailed' });
  await assert.rejects(C.openCodecFrame(rx, 'video', new Uint8Array(26)), { code: 'FrameAuthFailed' });
  await assert.rejects(C.openCodecFrame(rx, 'video', new Uint8Array(0)), { code: 'FrameAuthFailed' });
});

test('meeting: KIDs, own frames refused, rekey with grace period and staged switch', async () => {
  assert.equal(C.kidOf(3, 17), 0x30011n);
  assert.equal(C.kidOf(0, 5), 5n);
  const dev = (n) => new Uint8Array(16).fill(n);
  const uk = C.concat(new Uint8Array([4]), new Uint8Array(64));
  const roster = (...ns) => ns.map((n) => ({ index: n, deviceId: dev(n), userKey: uk }));
  const mid = await C.meetingId(C.utf8('props'));
  const e0 = { meetingId: mid, epoch: 0, meetingKey: C.randomBytes(32), roster: roster(0, 1, 2) };
  const a = await C.MeetingKeys.create(e0, dev(0), { graceMs: 1000 });
  const b = await C.MeetingKeys.create(e0, dev(1), { graceMs: 1000 });
  await assert.rejects(C.MeetingKeys.create(e0, dev(9)), { code: 'NotAMember' });
  const f = await a.seal(new Uint8Array(0), C.utf8('from a'));
  await assert.rejects(a.open(new Uint8Array(0), f), { code: 'UnknownKid' });
  assert.equal((await b.open(new Uint8Array(0), f)).senderIndex, 0);
  const e1 = { meetingId: mid, epoch: 1, meetingKey: C.randomBytes(32), roster: roster(0, 1) };
  await a.install(e1, 10_000);
  assert.equal(a.sendingKid, C.kidOf(1, 0));
  await assert.rejects(a.install(e1, 10_000), { code: 'StaleEpoch' });
  await assert.rejects(a.install({ ...e1, epoch: 2, meetingId: C.randomBytes(32) }, 10_000), { code: 'BadPayload' });
  await assert.rejects(a.install({ ...e1, epoch: 2, roster: roster(1) }, 10_000), { code: 'NotAMember' });
  await b.installStaged(e1, 10_000, 250);
  assert.equal(b.sendingKid, C.kidOf(0, 1));
  const old = await b.seal(new Uint8Array(0), C.utf8('old epoch'));
  assert.equal(b.poll(10_249), null);
  assert.equal(b.poll(10_250), 1);
  assert.equal(b.sendingKid, C.kidOf(1, 1));
  // a still opens b's old-epoch frame within the grace period, not after it.
  assert.equal(a.pollTimeout(), 11_000);
  assert.deepEqual((await a.open(new Uint8Array(0), old)).plaintext, C.utf8('old epoch'));
  const old2 = await (async () => {
    const c = await C.MeetingKeys.create(e0, dev(2));
    return c.seal(new Uint8Array(0), C.utf8('from c'));
  })();
  a.poll(11_000);
  await assert.rejects(a.open(new Uint8Array(0), old2), { code: 'UnknownKid' });
  const fresh = await b.seal(new Uint8Array(0), C.utf8('new'));
  assert.equal((await a.open(new Uint8Array(0), fresh)).epoch, 1);
  // Payload round trip of epoch keys.
  const p = C.payloadFromEpochKeys(e1, 'rekey', 'video', 123);
  const back = C.epochKeysFromPayload(C.parsePayload(C.encodePayload(p)));
  assert.deepEqual(back.meetingKey, e1.meetingKey);
  assert.equal(back.roster.length, 2);
});
