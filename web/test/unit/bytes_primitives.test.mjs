import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as C from '../../src/crypto/index.js';
import { P256_N, P256_HALF_N, normalizeS } from '../../src/crypto/primitives.js';
import { u64, readU64 } from '../../src/crypto/bytes.js';

test('base64 round trip and RFC 4648 §10 vectors', () => {
  const cases = [['', ''], ['f', 'Zg=='], ['fo', 'Zm8='], ['foo', 'Zm9v'], ['foob', 'Zm9vYg=='], ['fooba', 'Zm9vYmE='], ['foobar', 'Zm9vYmFy']];
  for (const [plain, enc] of cases) {
    assert.equal(C.b64encode(C.utf8(plain)), enc);
    assert.deepEqual(C.b64decode(enc), C.utf8(plain));
  }
  const all = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.deepEqual(C.b64decode(C.b64encode(all)), all);
  assert.equal(C.b64encode(Uint8Array.from([0xfb, 0xff])), '+/8=');
});

test('base64 is strict: padding, trailing bits, alphabet, whitespace, length', () => {
  for (const bad of ['Zg', 'Zg=', 'Zh==', 'Zm9=', 'Zm9v\n', ' Zm9v', 'Zm-v', 'Zm_v', 'Z===', '====', 'Zg==Zg==', 'Zm9v=', 'é123']) {
    assert.throws(() => C.b64decode(bad), { code: 'Wire' }, bad);
  }
  assert.throws(() => C.b64decode('Zm9v', 4), { code: 'Wire' });
  assert.deepEqual(C.b64decode('Zm9v', 3), C.utf8('foo'));
});

test('hex, u64, constant-time equality', () => {
  assert.equal(C.toHex(Uint8Array.from([0, 15, 255])), '000fff');
  assert.deepEqual(C.fromHex('000FfF'), Uint8Array.from([0, 15, 255]));
  for (const bad of ['0', 'zz', '0g']) assert.throws(() => C.fromHex(bad), { code: 'Wire' });
  assert.throws(() => C.fromHex('00', 2), { code: 'Wire' });
  const max = (1n << 64n) - 1n;
  assert.equal(C.toHex(u64(max)), 'ffffffffffffffff');
  assert.equal(readU64(u64(0x0102030405060708n), 0), 0x0102030405060708n);
  assert.ok(C.ctEqual(C.utf8('abc'), C.utf8('abc')));
  assert.ok(!C.ctEqual(C.utf8('abc'), C.utf8('abd')));
  assert.ok(!C.ctEqual(C.utf8('abc'), C.utf8('ab')));
});

test('HKDF-SHA256: RFC 5869 A.1 and A.3', async () => {
  const ikm = C.fromHex('0b'.repeat(22));
  const prk = await C.hkdfExtract('SHA-256', C.fromHex('000102030405060708090a0b0c'), ikm);
  assert.equal(C.toHex(prk), '077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5');
  const okm = await C.hkdfExpand('SHA-256', prk, C.fromHex('f0f1f2f3f4f5f6f7f8f9'), 42);
  assert.equal(C.toHex(okm), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865');
  // A.3: empty salt and info.
  const prk3 = await C.hkdfExtract('SHA-256', new Uint8Array(0), ikm);
  assert.equal(C.toHex(prk3), '19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04');
  assert.equal(C.toHex(await C.hkdfExpand('SHA-256', prk3, new Uint8Array(0), 42)), '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8');
  await assert.rejects(C.hkdfExpand('SHA-256', prk, new Uint8Array(0), 255 * 32 + 1));
});

test('HMAC-SHA256: RFC 4231 case 2', async () => {
  const mac = await C.hmacSha256(C.utf8('Jefe'), C.utf8('what do ya want for nothing?'));
  assert.equal(C.toHex(mac), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
});

test('ECDSA: signatures are low-S and verify; high-S, zero and out-of-range are refused', async () => {
  const k = await C.generateKeyPair('signing');
  const msg = C.utf8('message');
  let sawHigh = false;
  for (let i = 0; i < 12; i++) {
    const sig = await C.sign(k.privateKey, msg);
    assert.ok(C.isLowS(sig));
    assert.ok(await C.verify(k.publicKey, msg, sig));
    assert.ok(!(await C.verify(k.publicKey, C.utf8('other'), sig)));
    // The malleated twin (r, n − s) is a valid ECDSA signature but high-S: refused.
    const s = BigInt('0x' + C.toHex(sig.subarray(32)));
    const twin = sig.slice();
    twin.set(C.fromHex((P256_N - s).toString(16).padStart(64, '0')), 32);
    assert.ok(!C.isLowS(twin));
    assert.ok(!(await C.verify(k.publicKey, msg, twin)));
    assert.deepEqual(normalizeS(twin), sig);
    sawHigh ||= s !== 0n;
  }
  assert.ok(sawHigh);
  const sig = await C.sign(k.privateKey, msg);
  const zeroR = sig.slice();
  zeroR.fill(0, 0, 32);
  assert.ok(!(await C.verify(k.publicKey, msg, zeroR)));
  assert.ok(!(await C.verify(k.publicKey, msg, sig.subarray(0, 63))));
  const half = C.fromHex(P256_HALF_N.toString(16).padStart(64, '0'));
  assert.ok(C.isLowS(C.concat(new Uint8Array(32), half)));
  half[31] += 1;
  assert.ok(!C.isLowS(C.concat(new Uint8Array(32), half)));
});

test('ECDH is symmetric; invalid public keys are refused', async () => {
  const a = await C.generateKeyPair('key_agreement');
  const b = await C.generateKeyPair('key_agreement');
  assert.deepEqual(await C.ecdh(a.privateKey, b.publicKey), await C.ecdh(b.privateKey, a.publicKey));
  const offCurve = b.publicKey.slice();
  offCurve[64] ^= 1;
  await assert.rejects(C.ecdh(a.privateKey, offCurve), { code: 'InvalidPublicKey' });
  await assert.rejects(C.validatePublicKey(b.publicKey.subarray(0, 33)), { code: 'InvalidPublicKey' });
  const compressedTag = b.publicKey.slice();
  compressedTag[0] = 2;
  await assert.rejects(C.validatePublicKey(compressedTag), { code: 'InvalidPublicKey' });
  await assert.rejects(C.validatePublicKey(new Uint8Array(65).fill(0, 1).map((v, i) => (i === 0 ? 4 : 0))), { code: 'InvalidPublicKey' });
});

test('private keys are not extractable by default; scalars round-trip when asked', async () => {
  const k = await C.generateKeyPair('signing');
  assert.equal(k.privateKey.extractable, false);
  const x = await C.generateKeyPair('key_agreement', true);
  const scalar = await C.exportScalar(x.privateKey);
  const back = await C.importPrivateKey(scalar, x.publicKey, 'key_agreement');
  const peer = await C.generateKeyPair('key_agreement');
  assert.deepEqual(await C.ecdh(back.privateKey, peer.publicKey), await C.ecdh(x.privateKey, peer.publicKey));
  await assert.rejects(C.importPrivateKey(new Uint8Array(32), x.publicKey, 'signing'), { code: 'InvalidPrivateKey' });
});
