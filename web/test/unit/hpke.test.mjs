// HPKE against RFC 9180 Appendix A.3.1 (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
// AES-128-GCM, base mode): the KEM and key schedule are those of Conclave's suite; only the
// AEAD differs (Conclave: AES-256-GCM, cross-checked with the Rust reference in
// rust_made.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as C from '../../src/crypto/index.js';
import { AEAD_AES128GCM, contextNonce, contextOpen, contextSeal, decap, encap, exportSecret, keySchedule } from '../../src/crypto/hpke.js';

const h = C.fromHex;
const A3 = {
  info: '4f6465206f6e2061204772656369616e2055726e',
  pkEm: '04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4',
  skEm: '4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb',
  pkRm: '04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0',
  skRm: 'f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2',
  sharedSecret: 'c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8',
  context: '00b88d4e6d91759e65e87c470e8b9141113e9ad5f0c8ceefc1e088c82e6980500798e486f9c9c09c9b5c753ac72d6005de254c607d1b534ed11d493ae1c1d9ac85',
  secret: '2eb7b6bf138f6b5aff857414a058a3f1750054a9ba1f72c2cf0684a6f20b10e1',
  key: '868c066ef58aae6dc589b6cfdd18f97e',
  baseNonce: '4e0bc5018beba4bf004cca59',
  exporterSecret: '14ad94af484a7ad3ef40e9f3be99ecc6fa9036df9d4920548424df127ee0d99f',
};
const PT = '4265617574792069732074727574682c20747275746820626561757479';
const ENCRYPTIONS = [
  [0, '436f756e742d30', '4e0bc5018beba4bf004cca59', '5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434'],
  [1, '436f756e742d31', '4e0bc5018beba4bf004cca58', 'fa6f037b47fc21826b610172ca9637e82d6e5801eb31cbd3748271affd4ecb06646e0329cbdf3c3cd655b28e82'],
  [2, '436f756e742d32', '4e0bc5018beba4bf004cca5b', '895cabfac50ce6c6eb02ffe6c048bf53b7f7be9a91fc559402cbc5b8dcaeb52b2ccc93e466c28fb55fed7a7fec'],
  [4, '436f756e742d34', '4e0bc5018beba4bf004cca5d', '8787491ee8df99bc99a246c4b3216d3d57ab5076e18fa27133f520703bc70ec999dd36ce042e44f0c3169a6a8f'],
  [255, '436f756e742d323535', '4e0bc5018beba4bf004ccaa6', '2ad71c85bf3f45c6eca301426289854b31448bcf8a8ccb1deef3ebd87f60848aa53c538c30a4dac71d619ee2cd'],
  [256, '436f756e742d323536', '4e0bc5018beba4bf004ccb59', '10f179686aa2caec1758c8e554513f16472bd0a11e2a907dde0b212cbe87d74f367f8ffe5e41cd3e9962a6afb2'],
];
const EXPORTS = [
  ['', 32, '5e9bc3d236e1911d95e65b576a8a86d478fb827e8bdfe77b741b289890490d4d'],
  ['00', 32, '6cff87658931bda83dc857e6353efe4987a201b849658d9b047aab4cf216e796'],
  ['54657374436f6e74657874', 32, 'd8f1ea7942adbba7412c6d431c62d01371ea476b823eb697e1f6e6cae1dab85a'],
];

const pair = (sk, pk) => C.importPrivateKey(h(sk), h(pk), 'key_agreement');

test('RFC 9180 A.3: Encap/Decap and the key schedule', async () => {
  const e = await pair(A3.skEm, A3.pkEm);
  const r = await pair(A3.skRm, A3.pkRm);
  const { shared, enc } = await encap(h(A3.pkRm), e);
  assert.equal(C.toHex(enc), A3.pkEm);
  assert.equal(C.toHex(shared), A3.sharedSecret);
  assert.equal(C.toHex(await decap(enc, r)), A3.sharedSecret);
  const ks = await keySchedule(shared, h(A3.info), AEAD_AES128GCM);
  assert.equal(C.toHex(ks.context), A3.context);
  assert.equal(C.toHex(ks.secret), A3.secret);
  assert.equal(C.toHex(ks.key), A3.key);
  assert.equal(C.toHex(ks.baseNonce), A3.baseNonce);
  assert.equal(C.toHex(ks.exporterSecret), A3.exporterSecret);
  for (const [ctx, len, value] of EXPORTS) {
    assert.equal(C.toHex(await exportSecret(ks.exporterSecret, h(ctx), len, AEAD_AES128GCM)), value);
  }
});

test('RFC 9180 A.3: encryptions at sequence numbers 0, 1, 2, 4, 255, 256', async () => {
  const ks = await keySchedule(h(A3.sharedSecret), h(A3.info), AEAD_AES128GCM);
  for (const [seq, aad, nonce, ct] of ENCRYPTIONS) {
    assert.equal(C.toHex(contextNonce(ks.baseNonce, seq)), nonce);
    assert.equal(C.toHex(await contextSeal(ks.key, ks.baseNonce, seq, h(aad), h(PT))), ct);
    assert.equal(C.toHex(await contextOpen(ks.key, ks.baseNonce, seq, h(aad), h(ct))), PT);
  }
  const [, aad, , ct] = ENCRYPTIONS[1];
  await assert.rejects(contextOpen(ks.key, ks.baseNonce, 0, h(aad), h(ct)), { code: 'DecryptFailed' });
});

test('RFC 9180 A.3: single-shot open; tampering with ct, aad, info or enc fails', async () => {
  const r = await pair(A3.skRm, A3.pkRm);
  const [, aad, , ct] = ENCRYPTIONS[0];
  const opts = { aead: AEAD_AES128GCM };
  assert.equal(C.toHex(await C.hpke.open(h(A3.pkEm), r, h(A3.info), h(aad), h(ct), opts)), PT);
  const badCt = h(ct);
  badCt[3] ^= 1;
  await assert.rejects(C.hpke.open(h(A3.pkEm), r, h(A3.info), h(aad), badCt, opts), { code: 'DecryptFailed' });
  await assert.rejects(C.hpke.open(h(A3.pkEm), r, h(A3.info), C.utf8('x'), h(ct), opts), { code: 'DecryptFailed' });
  await assert.rejects(C.hpke.open(h(A3.pkEm), r, C.utf8('x'), h(aad), h(ct), opts), { code: 'DecryptFailed' });
  const badEnc = h(A3.pkEm);
  badEnc[64] ^= 1;
  await assert.rejects(C.hpke.open(badEnc, r, h(A3.info), h(aad), h(ct), opts), { code: 'DecryptFailed' });
  await assert.rejects(C.hpke.open(h(A3.pkEm), r, h(A3.info), h(aad), new Uint8Array(15), opts), { code: 'DecryptFailed' });
});

test('Conclave suite (AES-256-GCM) round trip with fresh ephemeral keys', async () => {
  const r = await C.generateKeyPair('key_agreement');
  const a = await C.hpke.seal(r.publicKey, C.utf8('info'), C.utf8('aad'), C.utf8('first key'));
  const b = await C.hpke.seal(r.publicKey, C.utf8('info'), C.utf8('aad'), C.utf8('first key'));
  assert.notDeepEqual(a.enc, b.enc);
  assert.equal(a.ct.length, 9 + 16);
  assert.deepEqual(await C.hpke.open(a.enc, r, C.utf8('info'), C.utf8('aad'), a.ct), C.utf8('first key'));
});
