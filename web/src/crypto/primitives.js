// Primitives of PROTOCOL §1.4 on WebCrypto: SHA-256/512, HMAC, HKDF, ECDSA P-256 (raw r‖s,
// low-S), ECDH P-256 (x-coordinate), AES-GCM, key generation and import.

import { ConclaveError } from './errors.js';
import { b64encode, concat } from './bytes.js';

const subtle = globalThis.crypto.subtle;

/** The P-256 group order n. */
export const P256_N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
/** ⌊n/2⌋. */
export const P256_HALF_N = P256_N >> 1n;

/** @typedef {'SHA-256'|'SHA-512'} Hash */
const HASH_LEN = { 'SHA-256': 32, 'SHA-512': 64 };

/**
 * SHA-256 (or SHA-512) digest.
 * @param {Uint8Array} data
 * @param {Hash} [hash]
 * @returns {Promise<Uint8Array>}
 */
export async function sha256(data, hash = 'SHA-256') {
  return new Uint8Array(await subtle.digest(hash, data));
}

/**
 * HMAC.
 * @param {Hash} hash
 * @param {Uint8Array} key non-empty
 * @param {Uint8Array} data
 * @returns {Promise<Uint8Array>}
 */
export async function hmac(hash, key, data) {
  const k = await subtle.importKey('raw', key, { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, data));
}

/**
 * HMAC-SHA256.
 * @param {Uint8Array} key
 * @param {Uint8Array} data
 * @returns {Promise<Uint8Array>}
 */
export function hmacSha256(key, data) {
  return hmac('SHA-256', key, data);
}

/**
 * HKDF-Extract (RFC 5869); an empty salt means HashLen zero bytes.
 * @param {Hash} hash
 * @param {Uint8Array} salt
 * @param {Uint8Array} ikm
 * @returns {Promise<Uint8Array>}
 */
export function hkdfExtract(hash, salt, ikm) {
  const s = salt.length === 0 ? new Uint8Array(HASH_LEN[hash]) : salt;
  return hmac(hash, s, ikm);
}

/**
 * HKDF-Expand (RFC 5869).
 * @param {Hash} hash
 * @param {Uint8Array} prk
 * @param {Uint8Array} info
 * @param {number} len at most 255·HashLen
 * @returns {Promise<Uint8Array>}
 */
export async function hkdfExpand(hash, prk, info, len) {
  const hl = HASH_LEN[hash];
  if (len > 255 * hl) throw new ConclaveError('Crypto', 'HKDF output too long');
  const key = await subtle.importKey('raw', prk, { name: 'HMAC', hash }, false, ['sign']);
  const out = new Uint8Array(len);
  let t = new Uint8Array(0);
  for (let i = 1, o = 0; o < len; i++) {
    t = new Uint8Array(await subtle.sign('HMAC', key, concat(t, info, new Uint8Array([i]))));
    out.set(t.subarray(0, Math.min(hl, len - o)), o);
    o += hl;
  }
  return out;
}

/** @param {Uint8Array} b @returns {bigint} */
function toBig(b) {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** @param {bigint} v @returns {Uint8Array} 32 bytes */
function fromBig(v) {
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/**
 * Is the 64-byte raw signature's s ≤ ⌊n/2⌋?
 * @param {Uint8Array} sig
 * @returns {boolean}
 */
export function isLowS(sig) {
  return sig.length === 64 && toBig(sig.subarray(32)) <= P256_HALF_N;
}

/**
 * Replaces a high s by n − s.
 * @param {Uint8Array} sig 64 bytes r‖s
 * @returns {Uint8Array}
 */
export function normalizeS(sig) {
  const s = toBig(sig.subarray(32));
  if (s <= P256_HALF_N) return sig;
  return concat(sig.subarray(0, 32), fromBig(P256_N - s));
}

/**
 * Checks a SEC1 uncompressed P-256 public key's form (65 bytes, 0x04).
 * @param {Uint8Array} pub
 */
function checkSec1(pub) {
  if (!(pub instanceof Uint8Array) || pub.length !== 65 || pub[0] !== 4) {
    throw new ConclaveError('InvalidPublicKey', 'not a 65-byte SEC1 uncompressed key');
  }
}

/**
 * Imports a SEC1 uncompressed public key (validated as a point on P-256).
 * @param {Uint8Array} pub 65 bytes
 * @param {'signing'|'key_agreement'} usage
 * @returns {Promise<CryptoKey>}
 */
export async function importPublicKey(pub, usage) {
  checkSec1(pub);
  const alg = usage === 'signing' ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'ECDH', namedCurve: 'P-256' };
  try {
    return await subtle.importKey('raw', pub, alg, true, usage === 'signing' ? ['verify'] : []);
  } catch {
    throw new ConclaveError('InvalidPublicKey', 'not a point on P-256');
  }
}

/**
 * Validates a public key: 65 bytes, 0x04, on the curve.
 * @param {Uint8Array} pub
 * @returns {Promise<void>}
 */
export async function validatePublicKey(pub) {
  await importPublicKey(pub, 'key_agreement');
}

/**
 * @typedef {object} KeyPair
 * @property {CryptoKey} privateKey
 * @property {Uint8Array} publicKey SEC1 uncompressed, 65 bytes
 */

/**
 * Generates a P-256 key pair for one usage; the private key is not extractable unless asked.
 * @param {'signing'|'key_agreement'} usage
 * @param {boolean} [extractable]
 * @returns {Promise<KeyPair>}
 */
export async function generateKeyPair(usage, extractable = false) {
  const pair =
    usage === 'signing'
      ? await subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, extractable, ['sign', 'verify'])
      : await subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, extractable, ['deriveBits']);
  const publicKey = new Uint8Array(await subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey };
}

/** @param {Uint8Array} b @returns {string} */
function b64url(b) {
  return b64encode(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Imports a private scalar with its public key (JWK), e.g. from test vectors.
 * @param {Uint8Array} scalar 32 bytes big-endian
 * @param {Uint8Array} publicKey 65 bytes SEC1
 * @param {'signing'|'key_agreement'} usage
 * @param {boolean} [extractable]
 * @returns {Promise<KeyPair>}
 */
export async function importPrivateKey(scalar, publicKey, usage, extractable = false) {
  checkSec1(publicKey);
  const d = toBig(scalar);
  if (scalar.length !== 32 || d === 0n || d >= P256_N) {
    throw new ConclaveError('InvalidPrivateKey', 'scalar out of range');
  }
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    x: b64url(publicKey.subarray(1, 33)),
    y: b64url(publicKey.subarray(33, 65)),
    d: b64url(scalar),
    ext: true,
  };
  const signing = usage === 'signing';
  try {
    const privateKey = await subtle.importKey(
      'jwk',
      jwk,
      signing ? { name: 'ECDSA', namedCurve: 'P-256' } : { name: 'ECDH', namedCurve: 'P-256' },
      extractable,
      signing ? ['sign'] : ['deriveBits'],
    );
    return { privateKey, publicKey };
  } catch {
    throw new ConclaveError('InvalidPrivateKey', 'scalar does not match the public key');
  }
}

/**
 * The 32-byte scalar of an extractable private key.
 * @param {CryptoKey} privateKey
 * @returns {Promise<Uint8Array>}
 */
export async function exportScalar(privateKey) {
  const jwk = await subtle.exportKey('jwk', privateKey);
  const d = jwk.d.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(d + '='.repeat((4 - (d.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * ECDSA P-256/SHA-256 signature, raw r‖s (64 bytes), low-S normalised.
 * @param {CryptoKey} privateKey
 * @param {Uint8Array} message
 * @returns {Promise<Uint8Array>}
 */
export async function sign(privateKey, message) {
  const sig = new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, message));
  return normalizeS(sig);
}

/**
 * Verifies a low-S ECDSA P-256/SHA-256 signature; high-S, r or s = 0 or ≥ n are refused.
 * @param {Uint8Array|CryptoKey} publicKey SEC1 bytes or an imported verify key
 * @param {Uint8Array} message
 * @param {Uint8Array} sig 64 bytes
 * @returns {Promise<boolean>}
 */
export async function verify(publicKey, message, sig) {
  if (!(sig instanceof Uint8Array) || sig.length !== 64) return false;
  const r = toBig(sig.subarray(0, 32));
  const s = toBig(sig.subarray(32));
  if (r === 0n || r >= P256_N || s === 0n || s > P256_HALF_N) return false;
  const key = publicKey instanceof Uint8Array ? await importPublicKey(publicKey, 'signing') : publicKey;
  return subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, sig, message);
}

/**
 * ECDH P-256: the 32-byte x-coordinate of d·P.
 * @param {CryptoKey} privateKey
 * @param {Uint8Array} peerPublic 65 bytes SEC1 (validated)
 * @returns {Promise<Uint8Array>}
 */
export async function ecdh(privateKey, peerPublic) {
  const pub = await importPublicKey(peerPublic, 'key_agreement');
  return new Uint8Array(await subtle.deriveBits({ name: 'ECDH', public: pub }, privateKey, 256));
}

/**
 * Imports an AES-GCM key (128 or 256 bits), not extractable.
 * @param {Uint8Array} raw 16 or 32 bytes
 * @returns {Promise<CryptoKey>}
 */
export function importAesKey(raw) {
  return subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['encrypt', 'decrypt']);
}

/**
 * AES-GCM seal: returns ct ‖ tag (16 bytes).
 * @param {CryptoKey} key
 * @param {Uint8Array} nonce 12 bytes
 * @param {Uint8Array} aad
 * @param {Uint8Array} plaintext
 * @returns {Promise<Uint8Array>}
 */
export async function aesGcmSeal(key, nonce, aad, plaintext) {
  return new Uint8Array(
    await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, key, plaintext),
  );
}

/**
 * AES-GCM open of ct ‖ tag; throws ConclaveError(code) on failure.
 * @param {CryptoKey} key
 * @param {Uint8Array} nonce
 * @param {Uint8Array} aad
 * @param {Uint8Array} ciphertext
 * @param {string} [code] error code on failure (default 'DecryptFailed')
 * @returns {Promise<Uint8Array>}
 */
export async function aesGcmOpen(key, nonce, aad, ciphertext, code = 'DecryptFailed') {
  if (ciphertext.length < 16) throw new ConclaveError(code, 'ciphertext shorter than the tag');
  try {
    return new Uint8Array(
      await subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad, tagLength: 128 }, key, ciphertext),
    );
  } catch {
    throw new ConclaveError(code, 'authentication failed');
  }
}

