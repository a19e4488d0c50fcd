import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as C from '../../src/crypto/index.js';
import { P256_N } from '../../src/crypto/primitives.js';

const NOW = 1_800_000_000_000;

async function pairOfIdentities() {
  const alice = await C.createIdentity({ nowMs: NOW - 1000 });
  const bob = await C.createIdentity({ nowMs: NOW - 1000 });
  await C.generatePrekeys(bob, 3);
  return { alice, bob };
}

function bundleOf(id) {
  return C.encodeBundle(id.certificate, [...id.prekeys.values()]);
}

/** The high-S twin of a 64-byte signature at `off` in `bytes`. */
function malleate(bytes, off) {
  const out = bytes.slice();
  const s = BigInt('0x' + C.toHex(out.subarray(off + 32, off + 64)));
  out.set(C.fromHex((P256_N - s).toString(16).padStart(64, '0')), off + 32);
  return out;
}

test('certificate: 284 bytes, verifies; tampering, high-S, bad version, bad length refused', async () => {
  const { alice } = await pairOfIdentities();
  assert.equal(alice.certificate.length, 284);
  const dev = await C.verifyCertificate(alice.certificate);
  assert.deepEqual(dev.deviceId, alice.deviceId);
  assert.equal(dev.createdMs, BigInt(NOW - 1000));
  const tampered = alice.certificate.slice();
  tampered[70] ^= 1; // device id
  await assert.rejects(C.verifyCertificate(tampered), { code: 'BadCertificate' });
  const badSig = alice.certificate.slice();
  badSig[250] ^= 1;
  await assert.rejects(C.verifyCertificate(badSig), { code: 'BadCertificate' });
  await assert.rejects(C.verifyCertificate(malleate(alice.certificate, 220)), { code: 'BadCertificate' });
  const v2 = alice.certificate.slice();
  v2[0] = 2;
  await assert.rejects(C.verifyCertificate(v2), { code: 'Wire' });
  await assert.rejects(C.verifyCertificate(alice.certificate.subarray(0, 283)), { code: 'Wire' });
  await assert.rejects(C.verifyCertificate(C.concat(alice.certificate, new Uint8Array(1))), { code: 'Wire' });
  const badKey = alice.certificate.slice();
  badKey[100] ^= 1; // app key off the curve
  await assert.rejects(C.verifyCertificate(badKey), { code: 'InvalidPublicKey' });
});

test('fingerprint and user hash match independent SHA-256', async () => {
  const { alice } = await pairOfIdentities();
  const fp = createHash('sha256').update(alice.userKey.publicKey).digest('hex');
  assert.equal(await C.fingerprint(alice.userKey.publicKey), fp);
  const salt = new Uint8Array(32).fill(1);
  const expected = createHash('sha256').update('conclave-v1 user-hash').update(salt).update('alice').digest('hex');
  assert.equal(await C.userHash(salt, 'Alice'), expected);
  assert.equal(await C.userHash(salt, 'alice'), expected);
  for (const bad of ['', ' alice', 'al\nice', 'x'.repeat(257)]) await assert.rejects(C.userHash(salt, bad), { code: 'Invalid' });
});

test('bundle: verifies; bad prekey signature, high-S, strict JSON refused', async () => {
  const { bob } = await pairOfIdentities();
  const text = bundleOf(bob);
  const v = await C.verifyBundle(text);
  assert.deepEqual(v.prekeys.map((p) => p.id), [1, 2, 3]);
  const doc = JSON.parse(text);
  const mutate = (f) => {
    const d = structuredClone(doc);
    f(d);
    return JSON.stringify(d);
  };
  const sig = C.b64decode(doc.prekeys[1].signature);
  sig[5] ^= 1;
  await assert.rejects(C.verifyBundle(mutate((d) => (d.prekeys[1].signature = C.b64encode(sig)))), (e) => e.code === 'BadPrekeySignature' && /2/.test(e.message));
  const high = malleate(C.b64decode(doc.prekeys[0].signature), 0);
  await assert.rejects(C.verifyBundle(mutate((d) => (d.prekeys[0].signature = C.b64encode(high)))), { code: 'BadPrekeySignature' });
  await assert.rejects(C.verifyBundle(mutate((d) => (d.prekeys[0].id = 9))), { code: 'BadPrekeySignature' });
  for (const bad of [
    mutate((d) => (d.extra = 1)),
    mutate((d) => (d.prekeys[0].extra = 1)),
    mutate((d) => (d.version = 2)),
    mutate((d) => (d.version = '1')),
    mutate((d) => delete d.prekeys),
    mutate((d) => (d.prekeys[1].id = 1)),
    mutate((d) => (d.prekeys[0].id = -1)),
    mutate((d) => (d.prekeys[0].id = 2 ** 32)),
    mutate((d) => (d.certificate = d.certificate.replace(/=*$/, ''))),
    mutate((d) => (d.certificate = ' ' + d.certificate)),
    mutate((d) => (d.prekeys[0].public_key = C.b64encode(new Uint8Array(64)))),
    mutate((d) => (d.prekeys = Array.from({ length: 1001 }, (_, i) => ({ ...doc.prekeys[0], id: i })))),
    text.replace('"version": 1,', '"version": 1, "version": 1,'),
    text.replace('"version": 1,', '"version": 1.0,'),
    text + 'x',
  ]) {
    assert.throws(() => C.parseBundle(bad), { code: 'Wire' });
  }
});

test('container: seal and open, consumption, replay guard', async () => {
  const { alice, bob } = await pairOfIdentities();
  const r = C.takeRecipient(await C.verifyBundle(bundleOf(bob)));
  const c = await C.sealContainer(alice, { type: 'text', text: 'hi' }, [r], { nowMs: NOW, ttlSeconds: 60 });
  assert.equal(c.length, 420 + 214 + '{"type":"text","text":"hi"}'.length + 16);
  const o = await C.openContainer(bob, c, { nowMs: NOW, expectedSender: alice.userKey.publicKey });
  assert.equal(o.payload.text, 'hi');
  assert.equal(o.expiresMs, BigInt(NOW + 60000));
  assert.ok(bob.consumed.has(r.prekeyId));
  await assert.rejects(C.openContainer(bob, c, { nowMs: NOW }), { code: 'PrekeyConsumed' });
  const seen = new C.SeenContainers();
  seen.checkAndRecord(o, NOW);
  assert.throws(() => seen.checkAndRecord(o, NOW + 1), { code: 'Replay' });
  seen.checkAndRecord(o, NOW + 60001); // forgotten after expiry
});

test('container: signature checked before decrypting, high-S, commitment, strict parsing', async () => {
  const { alice, bob } = await pairOfIdentities();
  const mk = async (payload = { type: 'text', text: 'x' }, opts = {}) =>
    C.sealContainer(alice, payload, [C.takeRecipient(await C.verifyBundle(bundleOf(bob)))], { nowMs: NOW, ttlSeconds: 60, ...opts });
  const c = await mk();
  const open = (bytes, nowMs = NOW) => C.openContainer(bob, bytes, { nowMs });
  // Wrong prekey index in the entry: signature fails first, not the prekey lookup.
  const badEntry = c.slice();
  badEntry[352 + 19] ^= 0xff;
  await assert.rejects(open(badEntry), { code: 'BadContainerSignature' });
  await assert.rejects(open(malleate(c, c.length - 64)), { code: 'BadContainerSignature' });
  await assert.rejects(open(c, NOW + 60001), { code: 'Expired' });
  await assert.rejects(open(c, NOW - 300001), { code: 'FromTheFuture' });
  // A commitment that does not match, validly signed by the sender.
  const forged = c.slice(0, c.length - 64);
  forged[320] ^= 1;
  const { sign } = await import('../../src/crypto/primitives.js');
  const resigned = C.concat(forged, await sign(alice.appKey.privateKey, C.concat(C.utf8('conclave-v1 container'), forged)));
  // The header is the AAD of both HPKE layers, so the unwrap fails first.
  await assert.rejects(open(resigned), { code: 'DecryptFailed' });
  // Strict parsing.
  const wire = (b) => assert.throws(() => C.parseContainer(b), { code: 'Wire' });
  wire(c.subarray(0, c.length - 1));
  wire(C.concat(c, new Uint8Array(1)));
  for (const [off, v] of [[0, 0x44], [4, 2], [5, 6], [5, 0], [34, 2]]) {
    const b = c.slice();
    b[off] = v;
    wire(b);
  }
  const ttl0 = c.slice();
  ttl0.fill(0, 30, 34);
  wire(ttl0);
  const n0 = c.slice();
  n0.fill(0, 350, 352);
  wire(n0);
  assert.equal(C.parseContainer(c).recipients.length, 1);
  // Tampering leaves the prekey usable.
  assert.equal((await open(c)).payload.text, 'x');
});

test('container: duplicate recipients, bad ttl, no prekeys, not a recipient', async () => {
  const { alice, bob } = await pairOfIdentities();
  const v = await C.verifyBundle(bundleOf(bob));
  const r1 = C.takeRecipient(v);
  const r2 = C.takeRecipient(v);
  await assert.rejects(C.sealContainer(alice, { type: 'text', text: 'x' }, [r1, r2], { nowMs: NOW }), { code: 'Wire' });
  await assert.rejects(C.sealContainer(alice, { type: 'text', text: 'x' }, [r1], { nowMs: NOW, ttlSeconds: 0 }), { code: 'BadTtl' });
  await assert.rejects(C.sealContainer(alice, { type: 'text', text: 'x' }, [], { nowMs: NOW }), { code: 'TooManyRecipients' });
  C.takeRecipient(v);
  assert.throws(() => C.takeRecipient(v), { code: 'NoPrekeys' });
  const c = await C.sealContainer(alice, { type: 'text', text: 'x' }, [r1], { nowMs: NOW });
  await assert.rejects(C.openContainer(alice, c, { nowMs: NOW }), { code: 'NotARecipient' });
  const carol = await C.createIdentity({ nowMs: NOW });
  await assert.rejects(C.openContainer(bob, c, { nowMs: NOW, expectedSender: carol.userKey.publicKey }), { code: 'UntrustedSender' });
  bob.prekeys.clear();
  await assert.rejects(C.openContainer(bob, c, { nowMs: NOW }), { code: 'UnknownPrekey' });
});

test('payload JSON is strict', () => {
  const mid = 'ab'.repeat(32);
  const key = C.b64encode(new Uint8Array(32));
  const uk = C.b64encode(C.concat(new Uint8Array([4]), new Uint8Array(64)));
  const invite = { type: 'invite', meeting_id: mid, epoch: 0, meeting_key: key, roster: [{ index: 0, device_id: '00'.repeat(16), user_key: uk }], call_type: 'video' };
  const s = JSON.stringify(invite);
  assert.equal(new TextDecoder().decode(C.encodePayload(invite)), s);
  C.parsePayload(C.utf8(s));
  C.parsePayload(C.utf8(JSON.stringify({ ...invite, type: 'rekey', switch_at_ms: 5 })));
  const bad = (text, code = 'BadPayload') => assert.throws(() => C.parsePayload(C.utf8(text)), { code }, text);
  bad(JSON.stringify({ ...invite, switch_at_ms: 5 }));
  bad(JSON.stringify({ ...invite, extra: 1 }));
  bad(s.replace('"epoch":0', '"epoch":0,"epoch":1'));
  bad(s.replace('"epoch":0', '"epoch":1.0'));
  bad(s.replace('"epoch":0', '"epoch":1e0'));
  bad(s.replace('"epoch":0', '"epoch":281474976710656'));
  bad(s.replace('"epoch":0', '"epoch":-1'));
  bad(s.replace(key, key.slice(0, -4)));
  bad(s.replace(mid, mid.slice(2)));
  bad(s.replace('"video"', '"screen"'));
  bad(JSON.stringify({ ...invite, roster: [] }), 'BadRoster');
  bad(JSON.stringify({ ...invite, roster: [invite.roster[0], { ...invite.roster[0], device_id: '11'.repeat(16) }] }), 'BadRoster');
  bad(JSON.stringify({ ...invite, roster: [invite.roster[0], { ...invite.roster[0], index: 1 }] }), 'BadRoster');
  bad(JSON.stringify({ ...invite, roster: [{ ...invite.roster[0], index: 65536 }] }));
  bad(JSON.stringify({ type: 'text', text: 1 }));
  bad(JSON.stringify({ type: 'text' }));
  bad(JSON.stringify({ type: 'hello' }));
  bad('{"type":"text","text":"a"} x');
  bad('[1]');
  C.parsePayload(C.utf8(JSON.stringify({ type: 'leave', meeting_id: mid, epoch: 3 })));
  C.parsePayload(C.utf8(JSON.stringify({ type: 'reject', meeting_id: mid })));
  const big = C.parsePayload(C.utf8(s.replace('"type":"invite"', '"type":"rekey"').replace('}],', '}],"switch_at_ms":18446744073709551615,')));
  assert.equal(big.switch_at_ms, 18446744073709551615n);
});

test('epoch guard (§4.12)', async () => {
  const { alice, bob } = await pairOfIdentities();
  const mid = 'cd'.repeat(32);
  const key = C.b64encode(new Uint8Array(32));
  const entry = (i, id) => ({ index: i, device_id: C.toHex(id.deviceId), user_key: C.b64encode(id.userKey.publicKey) });
  const keys = (type, epoch, roster) => ({ type, meeting_id: mid, epoch, meeting_key: key, roster, call_type: 'audio' });
  const from = (id, payload) => ({ sender: { deviceId: id.deviceId, userKey: id.userKey.publicKey }, payload });
  const g = new C.EpochGuard();
  assert.throws(() => g.check(from(alice, keys('rekey', 1, [entry(0, alice)]))), { code: 'NotAMember' });
  g.check(from(alice, keys('invite', 0, [entry(0, alice), entry(1, bob)])));
  assert.equal(g.current(mid), 0);
  g.check(from(bob, keys('invite', 0, [entry(0, alice), entry(1, bob)])));
  assert.throws(() => g.check(from(alice, keys('invite', 0, [entry(0, alice)]))), { code: 'StaleEpoch' });
  assert.throws(() => g.check(from(alice, keys('rekey', 0, [entry(0, alice)]))), { code: 'StaleEpoch' });
  g.check(from(alice, keys('rekey', 1, [entry(0, alice)])));
  assert.throws(() => g.check(from(bob, { type: 'leave', meeting_id: mid, epoch: 1 })), { code: 'NotAMember' });
  assert.throws(() => g.check(from(alice, { type: 'leave', meeting_id: mid, epoch: 0 })), { code: 'StaleEpoch' });
  g.check(from(alice, { type: 'leave', meeting_id: mid, epoch: 1 }));
  g.check(from(bob, { type: 'text', text: 'anyone' }));
});

/** Seals like sealContainer, but with a chosen header commitment and message type. */
async function forge(sender, recipient, payloadText, { commitment, messageType }) {
  const { payloadKeys } = await import('../../src/crypto/container.js');
  const { sign, aesGcmSeal, importAesKey } = await import('../../src/crypto/primitives.js');
  const { u16, u32, u64 } = await import('../../src/crypto/bytes.js');
  const cid = C.randomBytes(16);
  const firstKey = C.randomBytes(32);
  const keys = await payloadKeys(cid, firstKey);
  const header = C.concat(C.utf8('CNCL'), new Uint8Array([1, messageType]), cid, u64(NOW), u32(60), sender.certificate, commitment ?? keys.commitment);
  const info = (label) => C.concat(C.utf8(label), cid, sender.deviceId, recipient.device.deviceId, u32(recipient.prekeyId));
  const inner = await C.hpke.seal(recipient.prekey, info('conclave-v1 wrap-prekey'), header, firstKey);
  const outer = await C.hpke.seal(recipient.device.deviceKey, info('conclave-v1 wrap-device'), header, inner.ct);
  const aad = C.concat(header, u16(1), recipient.device.deviceId, u32(recipient.prekeyId), inner.enc, outer.enc, outer.ct);
  const ct = await aesGcmSeal(await importAesKey(keys.key), keys.nonce, aad, C.utf8(payloadText));
  const body = C.concat(aad, u32(ct.length), ct);
  return C.concat(body, await sign(sender.appKey.privateKey, C.concat(C.utf8('conclave-v1 container'), body)));
}

test('container: commitment mismatch and type mismatch, validly signed', async () => {
  const { alice, bob } = await pairOfIdentities();
  const v = await C.verifyBundle(bundleOf(bob));
  const text = '{"type":"text","text":"x"}';
  const ok = await forge(alice, C.takeRecipient(v), text, { messageType: 5 });
  assert.equal((await C.openContainer(bob, ok, { nowMs: NOW })).payload.text, 'x');
  const r2 = C.takeRecipient(v);
  const badCommit = await forge(alice, r2, text, { messageType: 5, commitment: new Uint8Array(32) });
  await assert.rejects(C.openContainer(bob, badCommit, { nowMs: NOW }), { code: 'CommitmentMismatch' });
  assert.ok(bob.prekeys.has(r2.prekeyId), 'a failed open leaves the prekey');
  const wrongType = await forge(alice, r2, text, { messageType: 1 });
  await assert.rejects(C.openContainer(bob, wrongType, { nowMs: NOW }), { code: 'TypeMismatch' });
  const badJson = await forge(alice, r2, '{"type":"text","text":"x","text":"y"}', { messageType: 5 });
  await assert.rejects(C.openContainer(bob, badJson, { nowMs: NOW }), { code: 'BadPayload' });
  assert.ok(bob.prekeys.has(r2.prekeyId));
});
