// The browser client's per-frame encryption (web/app/frame-crypto.js) under node: frames
// sealed by one participant open at another's, a wrong meeting key opens nothing, frames of
// a newer epoch wait for its keys and open once they arrive, and the transform stream drops
// what does not open instead of passing it to the decoder.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { FrameCrypto, frameTransform, HOLD } from '../../app/frame-crypto.js';
import { b64encode, toHex } from '../../src/crypto/bytes.js';

const MEETING = toHex(new Uint8Array(32).fill(7));
const DEVICES = ['0a'.repeat(16), '0b'.repeat(16), '0c'.repeat(16)];
const ROSTER = DEVICES.map((device_id, index) => ({ index, device_id }));

function keys(epoch, fill, device) {
  return {
    meeting_id: MEETING,
    epoch,
    meeting_key: b64encode(new Uint8Array(32).fill(fill)),
    roster: ROSTER,
    device_id: device,
    switch_at_local_ms: Date.now(),
  };
}

/** A VP8 key frame: frame tag with P = 0, start code, dimensions, then payload. */
function vp8Key(n) {
  const f = new Uint8Array(400);
  f.set([0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]);
  for (let i = 10; i < f.length; i += 1) f[i] = (i * 7 + n) & 0xff;
  return f;
}

async function participant(index, fill = 1) {
  const fc = new FrameCrypto();
  await fc.install(keys(0, fill, DEVICES[index]));
  return fc;
}

test('a sealed frame opens at another participant, byte for byte, and its clear bytes stay in front', async () => {
  const [alice, bob] = [await participant(0), await participant(1)];
  const frame = vp8Key(1);
  const sealed = await alice.seal('video', frame);
  assert.ok(sealed.length > frame.length);
  assert.deepEqual(sealed.subarray(0, 10), frame.subarray(0, 10));
  assert.notDeepEqual(sealed.subarray(10, 40), frame.subarray(10, 40));
  assert.deepEqual(await bob.open('video', '1', sealed), frame);
  assert.equal(bob.stats().senders[0].decrypted, 1);
  // Opus: one clear byte.
  const opus = new Uint8Array([0x78, 1, 2, 3, 4, 5]);
  assert.deepEqual(await bob.open('audio', '0', await alice.seal('audio', opus)), opus);
  // A replay, a tampered frame and one's own frame echoed back do not open.
  assert.equal(await bob.open('video', '1', sealed), null);
  const tampered = (await alice.seal('video', vp8Key(2))).slice();
  tampered[tampered.length - 1] ^= 1;
  assert.equal(await bob.open('video', '1', tampered), null);
  assert.equal(await alice.open('video', '1', await alice.seal('video', vp8Key(3))), null);
  const f = bob.stats().mids['1'].failures;
  assert.equal(f.FrameReplay, 1);
  assert.equal(f.FrameAuthFailed, 1);
});

test('a participant holding a wrong meeting key opens nothing', async () => {
  const alice = await participant(0);
  const eve = await participant(2, 9);
  for (let i = 0; i < 5; i += 1) {
    assert.equal(await eve.open('video', '1', await alice.seal('video', vp8Key(i))), null);
  }
  assert.equal(eve.stats().mids['1'].failures.FrameAuthFailed, 5);
  assert.equal(eve.stats().mids['1'].decrypted, 0);
});

test('frames of a newer epoch wait for its keys and open when they arrive', async () => {
  const [alice, bob] = [await participant(0), await participant(1)];
  await alice.install(keys(1, 2, DEVICES[0]));
  await new Promise((r) => setTimeout(r, 20)); // the switch time has passed
  assert.equal(alice.stats().send_epoch, 1);
  const frame = vp8Key(4);
  const r = await bob.open('video', '1', await alice.seal('video', frame));
  assert.ok(r && r.held, 'held, not dropped');
  await bob.install(keys(1, 2, DEVICES[1]));
  assert.deepEqual(await r.held, frame);
  assert.equal(bob.held.length, 0);
});

test('a held frame whose keys never come is dropped after the hold time', async () => {
  const [alice, bob] = [await participant(0), await participant(1)];
  await alice.install(keys(1, 2, DEVICES[0]));
  await new Promise((r) => setTimeout(r, 20));
  const r = await bob.open('video', '1', await alice.seal('video', vp8Key(5)));
  assert.ok(r && r.held);
  const start = Date.now();
  assert.equal(await r.held, null);
  assert.ok(Date.now() - start >= HOLD.ms - 50);
  assert.equal(bob.stats().mids['1'].failures.key_pending_expired, 1);
});

test('the receive transform passes opened frames and drops the others', async () => {
  const [alice, bob] = [await participant(0), await participant(1)];
  const eve = await participant(2, 9);
  const good = vp8Key(6);
  const frames = [await alice.seal('video', good), await eve.seal('video', vp8Key(7))].map(
    (bytes) => ({ data: bytes.slice().buffer }),
  );
  const out = [];
  const t = frameTransform(bob, { side: 'recv', kind: 'video', mid: '1' });
  const writer = t.writable.getWriter();
  const reading = (async () => {
    const reader = t.readable.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      out.push(new Uint8Array(value.data));
    }
  })();
  for (const f of frames) await writer.write(f);
  await writer.close();
  await reading;
  assert.equal(out.length, 1);
  assert.deepEqual(out[0], good);
});
