// HPKE (RFC 9180) base mode, PROTOCOL §3: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM
// (AES-128-GCM also available, for the RFC's A.3 vectors).

import { ConclaveError } from './errors.js';
import { concat, u16, u64, utf8 } from './bytes.js';
import {
  aesGcmOpen,
  aesGcmSeal,
  ecdh,
  generateKeyPair,
  hkdfExpand,
  hkdfExtract,
  importAesKey,
  validatePublicKey,
} from './primitives.js';

const KEM_ID = 0x0010;
const KDF_ID = 0x0001;
/** AEAD ids: AES-128-GCM 0x0001, AES-256-GCM 0x0002 (Conclave's). */
export const AEAD_AES128GCM = 0x0001;
export const AEAD_AES256GCM = 0x0002;

const KEM_SUITE_ID = concat(utf8('KEM'), u16(KEM_ID));
/** @param {number} aead @returns {Uint8Array} */
function hpkeSuiteId(aead) {
  return concat(utf8('HPKE'), u16(KEM_ID), u16(KDF_ID), u16(aead));
}
const HPKE_V1 = utf8('HPKE-v1');

/**
 * LabeledExtract(salt, label, ikm).
 * @param {Uint8Array} suiteId
 * @param {Uint8Array} salt
 * @param {string} label
 * @param {Uint8Array} ikm
 * @returns {Promise<Uint8Array>}
 */
export function labeledExtract(suiteId, salt, label, ikm) {
  return hkdfExtract('SHA-256', salt, concat(HPKE_V1, suiteId, utf8(label), ikm));
}

/**
 * LabeledExpand(prk, label, info, L).
 * @param {Uint8Array} suiteId
 * @param {Uint8Array} prk
 * @param {string} label
 * @param {Uint8Array} info
 * @param {number} len
 * @returns {Promise<Uint8Array>}
 */
export function labeledExpand(suiteId, prk, label, info, len) {
  return hkdfExpand('SHA-256', prk, concat(u16(len), HPKE_V1, suiteId, utf8(label), info), len);
}

/** @param {Uint8Array} dh @param {Uint8Array} kemContext */
async function extractAndExpand(dh, kemContext) {
  const eaePrk = await labeledExtract(KEM_SUITE_ID, new Uint8Array(0), 'eae_prk', dh);
  return labeledExpand(KEM_SUITE_ID, eaePrk, 'shared_secret', kemContext, 32);
}

/**
 * Encap(pkR), with a given ephemeral key pair (vectors) or a fresh one.
 * @param {Uint8Array} pkR 65 bytes
 * @param {import('./primitives.js').KeyPair} [ephemeral]
 * @returns {Promise<{shared: Uint8Array, enc: Uint8Array}>}
 */
export async function encap(pkR, ephemeral) {
  const e = ephemeral ?? (await generateKeyPair('key_agreement'));
  const dh = await ecdh(e.privateKey, pkR);
  const shared = await extractAndExpand(dh, concat(e.publicKey, pkR));
  return { shared, enc: e.publicKey };
}

/**
 * Decap(enc, skR); skR is a key pair (its public half is part of the KEM context).
 * @param {Uint8Array} enc
 * @param {import('./primitives.js').KeyPair} skR
 * @returns {Promise<Uint8Array>}
 */
export async function decap(enc, skR) {
  const dh = await ecdh(skR.privateKey, enc);
  return extractAndExpand(dh, concat(enc, skR.publicKey));
}

/**
 * Base-mode key schedule.
 * @param {Uint8Array} shared
 * @param {Uint8Array} info
 * @param {number} [aead] AEAD id (default AES-256-GCM)
 * @returns {Promise<{context: Uint8Array, secret: Uint8Array, key: Uint8Array, baseNonce: Uint8Array, exporterSecret: Uint8Array}>}
 */
export async function keySchedule(shared, info, aead = AEAD_AES256GCM) {
  const sid = hpkeSuiteId(aead);
  const empty = new Uint8Array(0);
  const pskIdHash = await labeledExtract(sid, empty, 'psk_id_hash', empty);
  const infoHash = await labeledExtract(sid, empty, 'info_hash', info);
  const context = concat(new Uint8Array([0]), pskIdHash, infoHash);
  const secret = await labeledExtract(sid, shared, 'secret', empty);
  const nk = aead === AEAD_AES128GCM ? 16 : 32;
  const key = await labeledExpand(sid, secret, 'key', context, nk);
  const baseNonce = await labeledExpand(sid, secret, 'base_nonce', context, 12);
  const exporterSecret = await labeledExpand(sid, secret, 'exp', context, 32);
  return { context, secret, key, baseNonce, exporterSecret };
}

/**
 * base_nonce XOR seq (right-aligned).
 * @param {Uint8Array} baseNonce
 * @param {bigint|number} seq
 * @returns {Uint8Array}
 */
export function contextNonce(baseNonce, seq) {
  const n = baseNonce.slice();
  const s = u64(seq);
  for (let i = 0; i < 8; i++) n[4 + i] ^= s[i];
  return n;
}

/**
 * Context.Export(exporter_context, L).
 * @param {Uint8Array} exporterSecret
 * @param {Uint8Array} exporterContext
 * @param {number} len
 * @param {number} [aead]
 * @returns {Promise<Uint8Array>}
 */
export function exportSecret(exporterSecret, exporterContext, len, aead = AEAD_AES256GCM) {
  return labeledExpand(hpkeSuiteId(aead), exporterSecret, 'sec', exporterContext, len);
}

/**
 * Seal with a context's key at sequence number seq: ct ‖ tag.
 * @param {Uint8Array} key
 * @param {Uint8Array} baseNonce
 * @param {bigint|number} seq
 * @param {Uint8Array} aad
 * @param {Uint8Array} pt
 * @returns {Promise<Uint8Array>}
 */
export async function contextSeal(key, baseNonce, seq, aad, pt) {
  return aesGcmSeal(await importAesKey(key), contextNonce(baseNonce, seq), aad, pt);
}

/**
 * Open with a context's key at sequence number seq; 'DecryptFailed' on failure.
 * @param {Uint8Array} key
 * @param {Uint8Array} baseNonce
 * @param {bigint|number} seq
 * @param {Uint8Array} aad
 * @param {Uint8Array} ct
 * @returns {Promise<Uint8Array>}
 */
export async function contextOpen(key, baseNonce, seq, aad, ct) {
  return aesGcmOpen(await importAesKey(key), contextNonce(baseNonce, seq), aad, ct);
}

/**
 * Single-shot SealBase: returns { enc, ct }.
 * @param {Uint8Array} pkR
 * @param {Uint8Array} info
 * @param {Uint8Array} aad
 * @param {Uint8Array} pt
 * @param {{ephemeral?: import('./primitives.js').KeyPair, aead?: number}} [opts]
 * @returns {Promise<{enc: Uint8Array, ct: Uint8Array}>}
 */
export async function seal(pkR, info, aad, pt, opts = {}) {
  const aead = opts.aead ?? AEAD_AES256GCM;
  const { shared, enc } = await encap(pkR, opts.ephemeral);
  const ks = await keySchedule(shared, info, aead);
  return { enc, ct: await contextSeal(ks.key, ks.baseNonce, 0, aad, pt) };
}

/**
 * Single-shot OpenBase. Any failure (malformed enc included) is 'DecryptFailed'.
 * @param {Uint8Array} enc
 * @param {import('./primitives.js').KeyPair} skR
 * @param {Uint8Array} info
 * @param {Uint8Array} aad
 * @param {Uint8Array} ct
 * @param {{aead?: number}} [opts]
 * @returns {Promise<Uint8Array>}
 */
export async function open(enc, skR, info, aad, ct, opts = {}) {
  const aead = opts.aead ?? AEAD_AES256GCM;
  if (ct.length < 16) throw new ConclaveError('DecryptFailed', 'ciphertext shorter than the tag');
  let shared;
  try {
    await validatePublicKey(enc);
    shared = await decap(enc, skR);
  } catch {
    throw new ConclaveError('DecryptFailed', 'bad enc');
  }
  const ks = await keySchedule(shared, info, aead);
  return contextOpen(ks.key, ks.baseNonce, 0, aad, ct);
}
