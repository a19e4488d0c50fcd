// SFrame (RFC 9605) as profiled in PROTOCOL §6, and codec frames (§13.1).
// KIDs and counters are BigInt (they are u64).

import { ConclaveError } from './errors.js';
import { WireError, concat, u16, u64, utf8 } from './bytes.js';
import { aesGcmOpen, aesGcmSeal, hkdfExpand, hkdfExtract, importAesKey } from './primitives.js';

/** Suite ids. */
export const SUITE_AES128GCM_SHA256 = 0x0004;
export const SUITE_AES256GCM_SHA512 = 0x0005;
export const DEFAULT_SUITE = SUITE_AES256GCM_SHA512;
export const REPLAY_WINDOW = 128n;
const U64_MAX = (1n << 64n) - 1n;
const KEY_LABEL = utf8('SFrame 1.0 Secret key ');
const SALT_LABEL = utf8('SFrame 1.0 Secret salt ');

/** @param {number} suite */
function suiteParams(suite) {
  if (suite === SUITE_AES128GCM_SHA256) return { hash: 'SHA-256', nk: 16 };
  if (suite === SUITE_AES256GCM_SHA512) return { hash: 'SHA-512', nk: 32 };
  throw new ConclaveError('UnsupportedSuite', String(suite));
}

/** @param {bigint} v @returns {number} bytes for v in the extended form (1..8) */
function byteLen(v) {
  let n = 1;
  while (n < 8 && v >> BigInt(8 * n) !== 0n) n++;
  return n;
}

/**
 * Encodes the minimal SFrame header of (kid, ctr).
 * @param {bigint|number} kid
 * @param {bigint|number} ctr
 * @returns {Uint8Array}
 */
export function encodeHeader(kid, ctr) {
  const k = BigInt(kid);
  const c = BigInt(ctr);
  if (k < 0n || k > U64_MAX || c < 0n || c > U64_MAX) throw new WireError('KID/CTR out of range');
  const parts = [];
  let config = 0;
  if (k < 8n) config |= Number(k) << 4;
  else {
    const n = byteLen(k);
    config |= 0x80 | ((n - 1) << 4);
    parts.push(u64(k).subarray(8 - n));
  }
  if (c < 8n) config |= Number(c);
  else {
    const n = byteLen(c);
    config |= 0x08 | (n - 1);
    parts.push(u64(c).subarray(8 - n));
  }
  return concat(new Uint8Array([config]), ...parts);
}

/**
 * Parses a header at the start of `frame`, rejecting non-minimal forms (code 'Wire').
 * @param {Uint8Array} frame
 * @returns {{kid: bigint, ctr: bigint, len: number}}
 */
export function parseHeader(frame) {
  if (frame.length < 1) throw new WireError('Truncated: SFrame header');
  const config = frame[0];
  let pos = 1;
  const field = (extended, lenOrValue, what) => {
    if (!extended) return BigInt(lenOrValue);
    const n = lenOrValue + 1;
    if (pos + n > frame.length) throw new WireError(`Truncated: SFrame ${what}`);
    if (frame[pos] === 0) throw new WireError(`NonMinimal: SFrame ${what}`);
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(frame[pos + i]);
    pos += n;
    if (v < 8n) throw new WireError(`NonMinimal: SFrame ${what}`);
    return v;
  };
  const kid = field((config & 0x80) !== 0, (config >> 4) & 7, 'KID');
  const ctr = field((config & 0x08) !== 0, config & 7, 'CTR');
  return { kid, ctr, len: pos };
}

/**
 * Key and salt of one KID (§6.2).
 * @param {number} suite 0x0004 or 0x0005
 * @param {bigint|number} kid
 * @param {Uint8Array} baseKey
 * @returns {Promise<{secret: Uint8Array, key: Uint8Array, salt: Uint8Array}>}
 */
export async function deriveKeySalt(suite, kid, baseKey) {
  const { hash, nk } = suiteParams(suite);
  const secret = await hkdfExtract(hash, new Uint8Array(0), baseKey);
  const tail = concat(u64(BigInt(kid)), u16(suite));
  const key = await hkdfExpand(hash, secret, concat(KEY_LABEL, tail), nk);
  const salt = await hkdfExpand(hash, secret, concat(SALT_LABEL, tail), 12);
  return { secret, key, salt };
}

/** A ready key of one KID: the imported AES-GCM key and the salt. */
export class SFrameKey {
  /**
   * @param {bigint} kid
   * @param {CryptoKey} aesKey
   * @param {Uint8Array} salt
   */
  constructor(kid, aesKey, salt) {
    this.kid = kid;
    this.aesKey = aesKey;
    this.salt = salt;
  }

  /**
   * Derives and imports the key of `kid` from its base key.
   * @param {number} suite
   * @param {bigint|number} kid
   * @param {Uint8Array} baseKey
   * @returns {Promise<SFrameKey>}
   */
  static async create(suite, kid, baseKey) {
    const d = await deriveKeySalt(suite, kid, baseKey);
    return new SFrameKey(BigInt(kid), await importAesKey(d.key), d.salt);
  }

  /** @param {bigint} ctr @returns {Uint8Array} */
  nonce(ctr) {
    const n = this.salt.slice();
    const c = u64(ctr);
    for (let i = 0; i < 8; i++) n[4 + i] ^= c[i];
    return n;
  }

  /**
   * Seals with an explicit counter (vectors; use SFrameSender otherwise).
   * @param {bigint|number} ctr
   * @param {Uint8Array} metadata
   * @param {Uint8Array} plaintext
   * @returns {Promise<Uint8Array>} header ‖ ct ‖ tag
   */
  async seal(ctr, metadata, plaintext) {
    const c = BigInt(ctr);
    const header = encodeHeader(this.kid, c);
    const aad = metadata.length ? concat(header, metadata) : header;
    return concat(header, await aesGcmSeal(this.aesKey, this.nonce(c), aad, plaintext));
  }
}

/** Seals frames under one KID with a counter that never repeats. */
export class SFrameSender {
  /** @param {SFrameKey} key */
  constructor(key) {
    this.key = key;
    /** @type {bigint|null} */
    this.nextCtr = 0n;
  }

  /** @returns {bigint} */
  get kid() {
    return this.key.kid;
  }

  /**
   * Seals one frame; the counter is taken synchronously, so concurrent calls never share one.
   * @param {Uint8Array} metadata
   * @param {Uint8Array} plaintext
   * @returns {Promise<Uint8Array>}
   */
  seal(metadata, plaintext) {
    const ctr = this.nextCtr;
    if (ctr === null) return Promise.reject(new ConclaveError('CounterExhausted'));
    this.nextCtr = ctr === U64_MAX ? null : ctr + 1n;
    return this.key.seal(ctr, metadata, plaintext);
  }
}

/** The replay window of one KID (§6.5), W = 128. */
export class ReplayWindow {
  constructor() {
    /** @type {bigint|null} */
    this.top = null;
    this.seen = 0n;
  }

  /** @param {bigint} ctr @returns {boolean} */
  check(ctr) {
    if (this.top === null || ctr > this.top) return true;
    const d = this.top - ctr;
    return d < REPLAY_WINDOW && ((this.seen >> d) & 1n) === 0n;
  }

  /** @param {bigint} ctr (only after authentication) */
  accept(ctr) {
    if (this.top === null) {
      this.seen = 1n;
      this.top = ctr;
    } else if (ctr <= this.top) {
      const d = this.top - ctr;
      if (d < REPLAY_WINDOW) this.seen |= 1n << d;
    } else {
      const shift = ctr - this.top;
      this.seen = shift >= REPLAY_WINDOW ? 0n : (this.seen << shift) & ((1n << REPLAY_WINDOW) - 1n);
      this.seen |= 1n;
      this.top = ctr;
    }
  }
}

/**
 * @typedef {object} OpenedFrame
 * @property {bigint} kid
 * @property {bigint} ctr
 * @property {number} epoch
 * @property {number} senderIndex
 * @property {Uint8Array} plaintext
 */

/** Opens frames of many KIDs, each with its own replay window. */
export class SFrameReceiver {
  /** @param {number} [suite] */
  constructor(suite = DEFAULT_SUITE) {
    suiteParams(suite);
    this.suite = suite;
    /** @type {Map<bigint, {key: SFrameKey, window: ReplayWindow}>} */
    this.keys = new Map();
  }

  /**
   * Installs the key of a new KID ('DuplicateKid' if it has one).
   * @param {bigint|number} kid
   * @param {Uint8Array} baseKey
   * @returns {Promise<void>}
   */
  async addKey(kid, baseKey) {
    const k = BigInt(kid);
    if (this.keys.has(k)) throw new ConclaveError('DuplicateKid', k.toString());
    const key = await SFrameKey.create(this.suite, k, baseKey);
    if (this.keys.has(k)) throw new ConclaveError('DuplicateKid', k.toString());
    this.keys.set(k, { key, window: new ReplayWindow() });
  }

  /** @param {bigint|number} kid @returns {boolean} */
  removeKey(kid) {
    return this.keys.delete(BigInt(kid));
  }

  /** @param {bigint|number} kid @returns {boolean} */
  hasKey(kid) {
    return this.keys.has(BigInt(kid));
  }

  /**
   * Opens a frame (§6.5 order): header, key, replay check, authentication, then the window.
   * Throws ConclaveError 'Wire', 'UnknownKid', 'FrameReplay' or 'FrameAuthFailed'.
   * @param {Uint8Array} metadata
   * @param {Uint8Array} frame
   * @returns {Promise<OpenedFrame>}
   */
  async open(metadata, frame) {
    const h = parseHeader(frame);
    const entry = this.keys.get(h.kid);
    if (!entry) throw new ConclaveError('UnknownKid', h.kid.toString());
    if (!entry.window.check(h.ctr)) throw new ConclaveError('FrameReplay', `${h.kid}/${h.ctr}`);
    const header = frame.subarray(0, h.len);
    const body = frame.subarray(h.len);
    if (body.length < 16) throw new ConclaveError('FrameAuthFailed', 'frame shorter than the tag');
    const aad = metadata.length ? concat(header, metadata) : header;
    const plaintext = await aesGcmOpen(entry.key.aesKey, entry.key.nonce(h.ctr), aad, body, 'FrameAuthFailed');
    // Another open of the same counter may have finished meanwhile.
    if (!entry.window.check(h.ctr)) throw new ConclaveError('FrameReplay', `${h.kid}/${h.ctr}`);
    entry.window.accept(h.ctr);
    return { kid: h.kid, ctr: h.ctr, epoch: Number(h.kid >> 16n), senderIndex: Number(h.kid & 0xffffn), plaintext };
  }
}

// ---- codec frames (§13.1) ----

/**
 * Clear bytes of a codec frame: Opus 1; VP8 10 for a key frame (bit 0 of byte 0 clear), 3 otherwise.
 * @param {'audio'|'video'} kind
 * @param {number} firstByte
 * @returns {number}
 */
export function clearLen(kind, firstByte) {
  if (kind === 'audio') return 1;
  return (firstByte & 1) === 0 ? 10 : 3;
}

/**
 * Seals a codec frame: clear ‖ SFrame(plaintext = rest, metadata = clear).
 * @param {{seal(metadata: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array>}} ctx an SFrameSender or MeetingKeys
 * @param {'audio'|'video'} kind
 * @param {Uint8Array} data the encoded Opus/VP8 frame
 * @returns {Promise<Uint8Array>}
 */
export async function sealCodecFrame(ctx, kind, data) {
  if (data.length === 0) throw new ConclaveError('BadPayload', 'empty codec frame');
  const n = clearLen(kind, data[0]);
  if (data.length < n) throw new ConclaveError('BadPayload', 'codec frame shorter than its clear bytes');
  const clear = data.subarray(0, n);
  return concat(clear, await ctx.seal(clear, data.subarray(n)));
}

/**
 * Opens a codec frame and returns the frame's origin and the original codec frame.
 * @param {{open(metadata: Uint8Array, frame: Uint8Array): Promise<OpenedFrame>}} keys an SFrameReceiver or MeetingKeys
 * @param {'audio'|'video'} kind
 * @param {Uint8Array} frame
 * @returns {Promise<OpenedFrame & {data: Uint8Array}>}
 */
export async function openCodecFrameInfo(keys, kind, frame) {
  if (frame.length === 0) throw new ConclaveError('FrameAuthFailed', 'empty frame');
  const n = clearLen(kind, frame[0]);
  if (frame.length < n + 1 + 16) throw new ConclaveError('FrameAuthFailed', 'frame too short');
  const clear = frame.subarray(0, n);
  const opened = await keys.open(clear, frame.subarray(n));
  return { ...opened, data: concat(clear, opened.plaintext) };
}

/**
 * Opens a codec frame: returns the original codec frame or throws a ConclaveError with
 * code 'Wire', 'UnknownKid', 'FrameReplay' or 'FrameAuthFailed'.
 * @param {{open(metadata: Uint8Array, frame: Uint8Array): Promise<OpenedFrame>}} keys
 * @param {'audio'|'video'} kind
 * @param {Uint8Array} frame
 * @returns {Promise<Uint8Array>}
 */
export async function openCodecFrame(keys, kind, frame) {
  return (await openCodecFrameInfo(keys, kind, frame)).data;
}
