// Small helpers of the app: encodings (from the protocol's bytes module) and HMAC.

import { b64encode, b64decode, toHex, fromHex, concat, utf8 } from '../src/crypto/bytes.js';

export { concat, utf8, fromHex };

/** @param {Uint8Array} bytes @returns {string} lowercase hex */
export const hex = toHex;
/** @param {Uint8Array} bytes @returns {string} padded base64 */
export const b64 = b64encode;
/** @param {string} text @param {number} [len] @returns {Uint8Array} */
export const fromB64 = b64decode;

/**
 * HMAC-SHA256.
 * @param {Uint8Array} key
 * @param {Uint8Array} msg
 * @returns {Promise<Uint8Array>}
 */
export async function hmacSha256(key, msg) {
  const k = await crypto.subtle.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, msg));
}

/**
 * SHA-256.
 * @param {Uint8Array} data
 * @returns {Promise<Uint8Array>}
 */
export async function sha256(data) {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
}

/**
 * The roster verification code: SHA-256 over the sorted, distinct user keys of the roster,
 * shown as three groups of four decimal digits. Everyone in the meeting with the same
 * roster sees the same code; comparing it out of band detects a roster that differs.
 * @param {Uint8Array[]} userKeys the roster's user keys (65-byte SEC1)
 * @returns {Promise<string>}
 */
export async function rosterCode(userKeys) {
  const distinct = [...new Map(userKeys.map((k) => [toHex(k), k])).entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map((e) => e[1]);
  const digest = await sha256(concat(utf8('conclave-v1 roster-code'), ...distinct));
  let n = 0n;
  for (let i = 0; i < 8; i += 1) n = (n << 8n) | BigInt(digest[i]);
  const digits = (n % 1_000_000_000_000n).toString().padStart(12, '0');
  return `${digits.slice(0, 4)} ${digits.slice(4, 8)} ${digits.slice(8, 12)}`;
}

/** @param {number} ms @returns {Promise<void>} */
export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
