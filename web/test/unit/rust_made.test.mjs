// Every artefact of web/test/vectors/rust-made.json (made by the Rust reference) verifies,
// opens or re-derives identically here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as C from '../../src/crypto/index.js';
import { encap, keySchedule, contextSeal } from '../../src/crypto/hpke.js';

const doc = JSON.parse(readFileSync(new URL('../vectors/rust-made.json', import.meta.url), 'utf8'));
const hex = C.fromHex;
const b64 = (s) => C.b64decode(s);

/** The identity of a vector entry, with private keys imported from their scalars. */
async function loadIdentity(v) {
  const pair = (k, usage) => C.importPrivateKey(b64(v[k].scalar), b64(v[k].public), usage);
  const prekeys = new Map();
  for (const p of v.prekeys) {
    const k = await C.importPrivateKey(b64(p.scalar), b64(p.public_key), 'key_agreement');
    prekeys.set(p.id, { id: p.id, publicKey: k.publicKey, signature: b64(p.signature), privateKey: k.privateKey });
  }
  return {
    userKey: await pair('user_key', 'signing'),
    appKey: await pair('app_key', 'signing'),
    deviceKey: await pair('device_key', 'key_agreement'),
    deviceId: hex(v.device_id, 16),
    certificate: b64(v.certificate),
    prekeys,
    consumed: new Set(),
    nextPrekeyId: Math.max(...v.prekeys.map((p) => p.id)) + 1,
  };
}

for (const who of ['sender', 'recipient']) {
  test(`rust ${who}: certificate, fingerprint, bundle, prekeys`, async () => {
    const v = doc[who];
    const dev = await C.verifyCertificate(b64(v.certificate));
    assert.equal(C.toHex(dev.deviceId), v.device_id);
    assert.equal(dev.createdMs, BigInt(v.created_ms));
    assert.deepEqual(dev.userKey, b64(v.user_key.public));
    assert.deepEqual(dev.appKey, b64(v.app_key.public));
    assert.deepEqual(dev.deviceKey, b64(v.device_key.public));
    assert.equal(await C.fingerprint(dev.userKey), v.fingerprint);
    const bundle = await C.verifyBundle(v.bundle);
    assert.deepEqual(bundle.device, dev);
    assert.deepEqual(
      bundle.prekeys.map((p) => [p.id, C.b64encode(p.publicKey)]),
      v.prekeys.map((p) => [p.id, p.public_key]),
    );
    // The bundle re-encodes byte for byte as the reference writes it.
    const parsed = C.parseBundle(v.bundle);
    assert.equal(C.encodeBundle(parsed.certificate, parsed.prekeys), v.bundle);
    // The scalars import and belong to the public keys: sign with them, verify with the cert.
    const id = await loadIdentity(v);
    const msg = C.utf8('interop');
    assert.ok(await C.verify(dev.userKey, msg, await C.sign(id.userKey.privateKey, msg)));
    assert.ok(await C.verify(dev.appKey, msg, await C.sign(id.appKey.privateKey, msg)));
  });
}

test('rust HPKE seals: same bytes from the same ephemeral key, and they open', async () => {
  const recipient = await loadIdentity(doc.recipient);
  for (const c of doc.hpke) {
    const eph = await C.importPrivateKey(b64(c.sk_e), b64(c.pk_e), 'key_agreement');
    const pkR = b64(c.pk_r);
    const { shared, enc } = await encap(pkR, eph);
    assert.equal(C.toHex(shared), c.shared_secret);
    assert.deepEqual(enc, b64(c.pk_e));
    const ks = await keySchedule(shared, hex(c.info));
    assert.equal(C.toHex(ks.key), c.key);
    assert.equal(C.toHex(ks.baseNonce), c.base_nonce);
    assert.equal(C.toHex(await contextSeal(ks.key, ks.baseNonce, 0, hex(c.aad), hex(c.pt))), c.ct);
    const pt = await C.hpke.open(enc, recipient.deviceKey, hex(c.info), hex(c.aad), hex(c.ct));
    assert.equal(C.toHex(pt), c.pt);
    await assert.rejects(C.hpke.open(enc, recipient.deviceKey, hex(c.info), C.utf8('other'), hex(c.ct)), { code: 'DecryptFailed' });
  }
});

test('rust containers open with the expected payloads', async () => {
  assert.equal(doc.containers.length, 5);
  const senderUser = b64(doc.sender.user_key.public);
  for (const c of doc.containers) {
    const me = await loadIdentity(doc.recipient);
    const bytes = b64(c.bytes);
    const opened = await C.openContainer(me, bytes, { nowMs: c.now_ms, expectedSender: senderUser });
    assert.equal(opened.messageType, c.kind);
    assert.equal(opened.prekeyId, c.prekey_id);
    assert.deepEqual({ ...opened.payload }, stripProto(C.parsePayload(C.utf8(c.payload))));
    // Our serialisation of the payload is the reference's, byte for byte.
    assert.equal(new TextDecoder().decode(C.encodePayload(opened.payload)), c.payload);
    assert.ok(me.consumed.has(c.prekey_id) && !me.prekeys.has(c.prekey_id));
    await assert.rejects(C.openContainer(me, bytes, { nowMs: c.now_ms }), { code: 'PrekeyConsumed' });
    // The parse re-encodes to itself.
    assert.equal(C.parseContainer(bytes).bytes.length, bytes.length);
    if (c.kind === 'invite' || c.kind === 'rekey') {
      const keys = C.epochKeysFromPayload(opened.payload);
      assert.equal(C.toHex(keys.meetingId), doc.meeting.meeting_id);
      assert.equal(C.b64encode(keys.meetingKey), doc.meeting.meeting_key);
    }
  }
});

function stripProto(o) {
  return JSON.parse(JSON.stringify(o));
}

test('rust containers: wrong expected sender, expired, future, not a recipient', async () => {
  const c = doc.containers[4];
  const bytes = b64(c.bytes);
  const me = await loadIdentity(doc.recipient);
  await assert.rejects(C.openContainer(me, bytes, { nowMs: c.now_ms, expectedSender: b64(doc.recipient.user_key.public) }), { code: 'UntrustedSender' });
  const created = BigInt(doc.seal_ms);
  await assert.rejects(C.openContainer(me, bytes, { nowMs: created + 2592000n * 1000n + 1n }), { code: 'Expired' });
  await C.openContainer(await loadIdentity(doc.recipient), bytes, { nowMs: created + 2592000n * 1000n });
  await assert.rejects(C.openContainer(me, bytes, { nowMs: created - 300001n }), { code: 'FromTheFuture' });
  const other = await loadIdentity(doc.sender);
  await assert.rejects(C.openContainer(other, bytes, { nowMs: c.now_ms }), { code: 'NotARecipient' });
  // A flipped payload bit breaks the signature, checked before any decryption.
  const bad = bytes.slice();
  bad[bad.length - 70] ^= 1;
  await assert.rejects(C.openContainer(me, bad, { nowMs: c.now_ms }), { code: 'BadContainerSignature' });
  assert.ok(me.prekeys.has(c.prekey_id), 'failures leave the prekey');
});

test('rust meeting: id, base keys, KIDs', async () => {
  const m = doc.meeting;
  assert.equal(C.toHex(await C.meetingId(hex(m.properties), hex(m.nonce))), m.meeting_id);
  for (const b of m.base_keys) {
    assert.equal(C.kidOf(m.epoch, b.index).toString(), b.kid);
    assert.equal(C.toHex(await C.senderBaseKey(hex(m.meeting_id), b64(m.meeting_key), m.epoch, b.index)), b.base_key);
  }
  const f = m.far_base_key;
  assert.equal(C.kidOf(BigInt(f.epoch), f.index).toString(), f.kid);
  assert.equal(C.toHex(await C.senderBaseKey(hex(m.meeting_id), b64(m.meeting_key), BigInt(f.epoch), f.index)), f.base_key);
});

test('rust SFrame keys and salts, both suites', async () => {
  assert.equal(doc.sframe_keys.length, 4);
  for (const k of doc.sframe_keys) {
    const d = await C.deriveKeySalt(k.suite, BigInt(k.kid), hex(k.base_key));
    assert.equal(C.toHex(d.secret), k.secret);
    assert.equal(C.toHex(d.key), k.key);
    assert.equal(C.toHex(d.salt), k.salt);
  }
});

test('rust SFrame frames: identical when sealed here, open, replay refused', async () => {
  for (const f of doc.sframe_frames) {
    const kid = BigInt(f.kid);
    const key = await C.SFrameKey.create(f.suite, kid, hex(f.base_key));
    assert.equal(C.toHex(await key.seal(BigInt(f.ctr), hex(f.metadata), hex(f.plaintext))), f.frame);
    const rx = new C.SFrameReceiver(f.suite);
    await rx.addKey(kid, hex(f.base_key));
    const frame = hex(f.frame);
    if (f.metadata !== '' || f.plaintext !== '') {
      await assert.rejects(rx.open(C.utf8('wrong'), frame), { code: 'FrameAuthFailed' });
    }
    const opened = await rx.open(hex(f.metadata), frame);
    assert.equal(C.toHex(opened.plaintext), f.plaintext);
    assert.equal(opened.ctr.toString(), f.ctr);
    assert.equal(opened.kid, kid);
    await assert.rejects(rx.open(hex(f.metadata), frame), { code: 'FrameReplay' });
  }
});

test('rust codec frames: identical when sealed here, open to the codec data', async () => {
  const m = doc.meeting;
  const base = await C.senderBaseKey(hex(m.meeting_id), b64(m.meeting_key), m.epoch, 0);
  const kid = C.kidOf(m.epoch, 0);
  const tx = new C.SFrameSender(await C.SFrameKey.create(C.DEFAULT_SUITE, kid, base));
  const rx = new C.SFrameReceiver();
  await rx.addKey(kid, base);
  assert.equal(doc.codec_frames.length, 3);
  for (const f of doc.codec_frames) {
    const data = hex(f.data);
    assert.equal(C.clearLen(f.kind, data[0]), f.clear_len);
    assert.equal(C.toHex(await C.sealCodecFrame(tx, f.kind, data)), f.frame);
    const info = await C.openCodecFrameInfo(rx, f.kind, hex(f.frame));
    assert.deepEqual(info.data, data);
    assert.equal(info.ctr.toString(), f.ctr);
    await assert.rejects(C.openCodecFrame(rx, f.kind, hex(f.frame)), { code: 'FrameReplay' });
  }
});
