// Small helpers of the app: encodings and hashes (from the protocol module), the roster code.

import { b64encode, b64decode, toHex, fromHex, concat, utf8 } from '../src/crypto/bytes.js';
import { sha256, hmacSha256 } from '../src/crypto/primitives.js';

export { concat, utf8, fromHex, sha256, hmacSha256 };

/** @param {Uint8Array} bytes @returns {string} lowercase hex */
export const hex = toHex;
/** @param {Uint8Array} bytes @returns {string} padded base64 */
export const b64 = b64encode;
/** @param {string} text @param {number} [len] @returns {Uint8Array} */
export const fromB64 = b64decode;

/**
 * The roster verification code: `d = SHA-256("conclave-v1 roster-code" ‖ k1 ‖ k2 ‖ …)` over
 * the roster's distinct user keys (65-byte SEC1) in ascending byte order; the first 8 bytes
 * of `d` as a big-endian integer modulo 10^12, as three groups of four decimal digits.
 * Everyone in the meeting with the same roster sees the same code; comparing it out of band
 * detects a roster that differs.
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
