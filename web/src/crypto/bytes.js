// Byte helpers: strict base64 (PROTOCOL §1.3), hex, concatenation, big-endian integers,
// constant-time comparison.

import { ConclaveError } from './errors.js';

/** Error for malformed input (base64, hex, lengths, structures): code 'Wire'. */
export class WireError extends ConclaveError {
  /** @param {string} message */
  constructor(message) {
    super('Wire', message);
    this.name = 'WireError';
  }
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/**
 * Standard base64 with padding.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function b64encode(bytes) {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + B64[v & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const v = bytes[i] << 16;
    out += B64[v >> 18] + B64[(v >> 12) & 63] + '==';
  } else if (rest === 2) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + '=';
  }
  return out;
}

/**
 * Strict base64 decoding: standard alphabet, canonical padding, zero trailing bits, no
 * whitespace. With `len`, the result must have exactly that many bytes.
 * @param {string} text
 * @param {number} [len]
 * @returns {Uint8Array}
 */
export function b64decode(text, len) {
  if (typeof text !== 'string' || text.length % 4 !== 0) throw new WireError('invalid base64');
  let pad = 0;
  if (text.endsWith('==')) pad = 2;
  else if (text.endsWith('=')) pad = 1;
  const n = (text.length / 4) * 3 - pad;
  const out = new Uint8Array(n);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    const last = i + 4 === text.length;
    const c = [0, 1, 2, 3].map((k) => {
      const ch = text.charCodeAt(i + k);
      if (last && ch === 61 /* = */ && k >= 4 - pad) return 0;
      const v = ch < 256 ? B64_INDEX[ch] : -1;
      if (v < 0) throw new WireError('invalid base64');
      return v;
    });
    const v = (c[0] << 18) | (c[1] << 12) | (c[2] << 6) | c[3];
    if (last && pad === 2 && (c[1] & 15) !== 0) throw new WireError('invalid base64');
    if (last && pad === 1 && (c[2] & 3) !== 0) throw new WireError('invalid base64');
    out[o++] = v >> 16;
    if (o < n) out[o++] = (v >> 8) & 255;
    if (o < n) out[o++] = v & 255;
  }
  if (len !== undefined && out.length !== len) {
    throw new WireError(`base64 must decode to ${len} bytes, got ${out.length}`);
  }
  return out;
}

/**
 * Lowercase hex.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toHex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/**
 * Hex decoding (either case). With `len`, exactly that many bytes.
 * @param {string} text
 * @param {number} [len]
 * @returns {Uint8Array}
 */
export function fromHex(text, len) {
  if (typeof text !== 'string' || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new WireError('invalid hex');
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  if (len !== undefined && out.length !== len) {
    throw new WireError(`hex must decode to ${len} bytes, got ${out.length}`);
  }
  return out;
}

/**
 * Concatenates byte strings.
 * @param {...Uint8Array} parts
 * @returns {Uint8Array}
 */
export function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** @param {string} s ASCII/UTF-8 text @returns {Uint8Array} */
export function utf8(s) {
  return new TextEncoder().encode(s);
}

/** @param {number} v @returns {Uint8Array} */
export function u16(v) {
  return new Uint8Array([(v >>> 8) & 255, v & 255]);
}

/** @param {number} v @returns {Uint8Array} */
export function u32(v) {
  return new Uint8Array([(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
}

/**
 * Big-endian u64.
 * @param {bigint|number} v
 * @returns {Uint8Array}
 */
export function u64(v) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(v));
  return out;
}

/** @param {Uint8Array} b @param {number} off @returns {number} */
export function readU16(b, off) {
  return (b[off] << 8) | b[off + 1];
}

/** @param {Uint8Array} b @param {number} off @returns {number} */
export function readU32(b, off) {
  return ((b[off] << 24) >>> 0) + (b[off + 1] << 16) + (b[off + 2] << 8) + b[off + 3];
}

/** @param {Uint8Array} b @param {number} off @returns {bigint} */
export function readU64(b, off) {
  return new DataView(b.buffer, b.byteOffset + off, 8).getBigUint64(0);
}

/**
 * Constant-time equality of two byte strings (length is not secret).
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @returns {boolean}
 */
export function ctEqual(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

/**
 * Plain byte equality.
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @returns {boolean}
 */
export function bytesEqual(a, b) {
  return ctEqual(a, b);
}

/**
 * Bytes from the secure random generator.
 * @param {number} n
 * @returns {Uint8Array}
 */
export function randomBytes(n) {
  const out = new Uint8Array(n);
  globalThis.crypto.getRandomValues(out);
  return out;
}
