// Containers (PROTOCOL §4): strict parsing, sealing, opening (signature verified before any
// decryption, key commitment), and the payload JSON (§4.9).

import { ConclaveError } from './errors.js';
import {
  WireError,
  b64decode,
  concat,
  ctEqual,
  fromHex,
  randomBytes,
  readU16,
  readU32,
  readU64,
  toHex,
  u16,
  u32,
  u64,
  utf8,
} from './bytes.js';
import { aesGcmOpen, aesGcmSeal, hkdfExpand, hkdfExtract, importAesKey, sign, verify } from './primitives.js';
import * as hpke from './hpke.js';
import { CERT_LEN, verifyCertificate } from './identity.js';
import { JsonFloat, checkMembers, isUint, parseStrictJson } from './json.js';

export const MESSAGE_TYPES = { invite: 1, rekey: 2, leave: 3, reject: 4, text: 5 };
const TYPE_NAMES = ['', 'invite', 'rekey', 'leave', 'reject', 'text'];
export const HEADER_LEN = 350;
export const ENTRY_LEN = 214;
export const MAX_TTL_SECONDS = 2592000;
export const DEFAULT_TTL_SECONDS = 7 * 24 * 3600;
export const MAX_RECIPIENTS = 1024;
export const MAX_PAYLOAD_PLAINTEXT = 1 << 20;
const MAX_PAYLOAD_LEN = MAX_PAYLOAD_PLAINTEXT + 16;
const MAX_CONTAINER_LEN = 420 + ENTRY_LEN * MAX_RECIPIENTS + MAX_PAYLOAD_LEN;
export const MAX_CLOCK_SKEW_MS = 300000n;
const MAX_EPOCH = (1n << 48n) - 1n;
const MAGIC = utf8('CNCL');
const L = {
  payloadKey: utf8('conclave-v1 container payload-key'),
  payloadNonce: utf8('conclave-v1 container payload-nonce'),
  commitment: utf8('conclave-v1 container commitment'),
  wrapPrekey: utf8('conclave-v1 wrap-prekey'),
  wrapDevice: utf8('conclave-v1 wrap-device'),
  signature: utf8('conclave-v1 container'),
};

/**
 * @typedef {object} RecipientEntry
 * @property {Uint8Array} deviceId
 * @property {number} prekeyId
 * @property {Uint8Array} prekeyEnc
 * @property {Uint8Array} deviceEnc
 * @property {Uint8Array} wrappedKey 64 bytes
 */

/**
 * @typedef {object} Container
 * @property {number} messageType 1..5
 * @property {Uint8Array} containerId
 * @property {bigint} createdMs
 * @property {number} ttlSeconds
 * @property {Uint8Array} sender 284-byte certificate
 * @property {Uint8Array} commitment
 * @property {RecipientEntry[]} recipients
 * @property {Uint8Array} payload ct ‖ tag
 * @property {Uint8Array} signature
 * @property {Uint8Array} bytes the encoded container
 * @property {number} payloadEnd offset of the signature
 */

/**
 * Parses a container strictly (§4.10). Throws WireError (code 'Wire').
 * @param {Uint8Array} bytes
 * @returns {Container}
 */
export function parseContainer(bytes) {
  if (bytes.length > MAX_CONTAINER_LEN) throw new WireError('TooLarge: container');
  let pos = 0;
  const take = (n, what) => {
    if (pos + n > bytes.length) throw new WireError(`Truncated: ${what}`);
    const v = bytes.subarray(pos, pos + n);
    pos += n;
    return v;
  };
  if (!ctEqual(take(4, 'magic'), MAGIC)) throw new WireError('BadMagic');
  if (take(1, 'version')[0] !== 1) throw new WireError('UnsupportedVersion: container');
  const messageType = take(1, 'message type')[0];
  if (messageType < 1 || messageType > 5) throw new WireError('UnknownValue: message type');
  const containerId = take(16, 'container id').slice();
  const createdMs = readU64(take(8, 'created_ms'), 0);
  const ttlSeconds = readU32(take(4, 'ttl_seconds'), 0);
  if (ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) throw new WireError('OutOfRange: ttl_seconds');
  const senderBytes = take(CERT_LEN, 'sender certificate');
  if (senderBytes[0] !== 1) throw new WireError('UnsupportedVersion: certificate');
  const sender = senderBytes.slice();
  const commitment = take(32, 'commitment').slice();
  const n = readU16(take(2, 'recipient count'), 0);
  if (n < 1 || n > MAX_RECIPIENTS) throw new WireError('OutOfRange: recipient count');
  const recipients = [];
  const seen = new Set();
  for (let k = 0; k < n; k++) {
    const e = take(ENTRY_LEN, 'recipient entry');
    const deviceId = e.slice(0, 16);
    recipients.push({
      deviceId,
      prekeyId: readU32(e, 16),
      prekeyEnc: e.slice(20, 85),
      deviceEnc: e.slice(85, 150),
      wrappedKey: e.slice(150, 214),
    });
  }
  for (const r of recipients) {
    const h = toHex(r.deviceId);
    if (seen.has(h)) throw new WireError('Duplicate: recipient device id');
    seen.add(h);
  }
  const payloadLen = readU32(take(4, 'payload length'), 0);
  if (payloadLen < 16) throw new WireError('OutOfRange: payload length');
  if (payloadLen > MAX_PAYLOAD_LEN) throw new WireError('TooLarge: payload');
  const payload = take(payloadLen, 'payload').slice();
  const payloadEnd = pos;
  const signature = take(64, 'signature').slice();
  if (pos !== bytes.length) throw new WireError('TrailingBytes: container');
  return { messageType, containerId, createdMs, ttlSeconds, sender, commitment, recipients, payload, signature, bytes, payloadEnd };
}

/** @param {number} messageType @param {Uint8Array} containerId @param {bigint|number} createdMs @param {number} ttl @param {Uint8Array} sender @param {Uint8Array} commitment */
function encodeHeader(messageType, containerId, createdMs, ttl, sender, commitment) {
  return concat(MAGIC, new Uint8Array([1, messageType]), containerId, u64(createdMs), u32(ttl), sender, commitment);
}

/** @param {RecipientEntry} r */
function encodeEntry(r) {
  return concat(r.deviceId, u32(r.prekeyId), r.prekeyEnc, r.deviceEnc, r.wrappedKey);
}

/**
 * payload_key, payload_nonce, commitment from the first key (§4.3).
 * @param {Uint8Array} containerId
 * @param {Uint8Array} firstKey
 * @returns {Promise<{key: Uint8Array, nonce: Uint8Array, commitment: Uint8Array}>}
 */
export async function payloadKeys(containerId, firstKey) {
  const prk = await hkdfExtract('SHA-256', containerId, firstKey);
  return {
    key: await hkdfExpand('SHA-256', prk, L.payloadKey, 32),
    nonce: await hkdfExpand('SHA-256', prk, L.payloadNonce, 12),
    commitment: await hkdfExpand('SHA-256', prk, L.commitment, 32),
  };
}

/** @param {Uint8Array} label @param {Uint8Array} cid @param {Uint8Array} s @param {Uint8Array} r @param {number} prekeyId */
function wrapInfo(label, cid, s, r, prekeyId) {
  return concat(label, cid, s, r, u32(prekeyId));
}

// ---- payload (§4.9) ----

/** @param {string} m @returns {never} */
const bad = (m) => {
  throw new ConclaveError('BadPayload', m);
};

/** @param {any} v @param {number} len @param {string} what */
function hexField(v, len, what) {
  if (typeof v !== 'string') bad(`${what} must be a string`);
  try {
    return fromHex(v, len);
  } catch {
    return bad(`${what} must be ${2 * len} hex digits`);
  }
}

/** @param {any} v @param {number} len @param {string} what */
function b64Field(v, len, what) {
  if (typeof v !== 'string') bad(`${what} must be a string`);
  try {
    return b64decode(v, len);
  } catch {
    return bad(`${what} must be base64 of ${len} bytes`);
  }
}

/**
 * Validates a payload object (§4.9): throws 'BadPayload' or 'BadRoster'.
 * @param {any} p
 */
export function validatePayload(p) {
  const members = (req, opt = []) => {
    try {
      checkMembers(p, req, opt);
    } catch (e) {
      bad(e.message);
    }
  };
  if (p === null || typeof p !== 'object' || typeof p.type !== 'string') bad('missing type');
  const epochOk = (e) => isUint(e, MAX_EPOCH);
  switch (p.type) {
    case 'invite':
    case 'rekey': {
      const keys = ['type', 'meeting_id', 'epoch', 'meeting_key', 'roster', 'call_type'];
      members(keys, p.type === 'rekey' ? ['switch_at_ms'] : []);
      hexField(p.meeting_id, 32, 'meeting_id');
      if (!isUint(p.epoch, (1n << 64n) - 1n)) bad('epoch must be a u64');
      if (!epochOk(p.epoch)) bad('epoch out of range');
      b64Field(p.meeting_key, 32, 'meeting_key');
      if (p.call_type !== 'audio' && p.call_type !== 'video') bad('call_type');
      if (Object.hasOwn(p, 'switch_at_ms') && !isUint(p.switch_at_ms, (1n << 64n) - 1n)) bad('switch_at_ms must be a u64');
      if (!Array.isArray(p.roster)) bad('roster must be an array');
      const entries = p.roster.map((e) => {
        try {
          checkMembers(e, ['index', 'device_id', 'user_key']);
        } catch (err) {
          bad(err.message);
        }
        if (!isUint(e.index, 0xffffn)) bad('roster index must be a u16');
        const deviceId = hexField(e.device_id, 16, 'roster device id');
        const userKey = b64Field(e.user_key, 65, 'roster user key');
        if (userKey[0] !== 4) bad('roster user key must be SEC1 uncompressed');
        return { index: e.index, deviceId: toHex(deviceId) };
      });
      if (entries.length === 0) throw new ConclaveError('BadRoster', 'empty');
      if (entries.length > 1024) throw new ConclaveError('BadRoster', 'too many participants');
      if (new Set(entries.map((e) => e.index)).size !== entries.length) {
        throw new ConclaveError('BadRoster', 'duplicate sender index');
      }
      if (new Set(entries.map((e) => e.deviceId)).size !== entries.length) {
        throw new ConclaveError('BadRoster', 'duplicate device');
      }
      return;
    }
    case 'leave':
      members(['type', 'meeting_id', 'epoch']);
      hexField(p.meeting_id, 32, 'meeting_id');
      if (!epochOk(p.epoch)) bad('epoch out of range');
      return;
    case 'reject':
      members(['type', 'meeting_id']);
      hexField(p.meeting_id, 32, 'meeting_id');
      return;
    case 'text':
      members(['type', 'text']);
      if (typeof p.text !== 'string') bad('text must be a string');
      return;
    default:
      bad(`unknown type ${p.type}`);
  }
}

/** @param {any} v */
function jsonValue(v) {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof JsonFloat) return String(v.value);
  if (Array.isArray(v)) return `[${v.map(jsonValue).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .map((k) => `${JSON.stringify(k)}:${jsonValue(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

const ORDER = {
  invite: ['type', 'meeting_id', 'epoch', 'meeting_key', 'roster', 'call_type'],
  rekey: ['type', 'meeting_id', 'epoch', 'meeting_key', 'roster', 'call_type', 'switch_at_ms'],
  leave: ['type', 'meeting_id', 'epoch'],
  reject: ['type', 'meeting_id'],
  text: ['type', 'text'],
};

/**
 * Validates and serialises a payload as compact JSON, members in the reference order.
 * @param {any} p
 * @returns {Uint8Array}
 */
export function encodePayload(p) {
  validatePayload(p);
  const o = {};
  for (const k of ORDER[p.type]) {
    if (!Object.hasOwn(p, k)) continue;
    o[k] = k === 'roster' ? p.roster.map((e) => ({ index: e.index, device_id: e.device_id, user_key: e.user_key })) : p[k];
  }
  const bytes = utf8(jsonValue(o));
  if (bytes.length > MAX_PAYLOAD_PLAINTEXT) bad('payload too large');
  return bytes;
}

/**
 * Parses and validates payload bytes (strict JSON: unknown and duplicate members rejected).
 * Integers beyond 2^53 − 1 come back as BigInt.
 * @param {Uint8Array} bytes
 * @returns {any}
 */
export function parsePayload(bytes) {
  if (bytes.length > MAX_PAYLOAD_PLAINTEXT) bad('payload too large');
  let p;
  try {
    p = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    bad(e.message);
  }
  validatePayload(p);
  return p;
}

// ---- seal / open ----

/**
 * @typedef {object} Recipient
 * @property {import('./identity.js').VerifiedDevice} device
 * @property {number} prekeyId
 * @property {Uint8Array} prekey
 */

/**
 * Takes a random prekey out of a verified bundle (so it is never used twice).
 * @param {{device: import('./identity.js').VerifiedDevice, prekeys: {id: number, publicKey: Uint8Array}[]}} bundle
 * @returns {Recipient}
 */
export function takeRecipient(bundle) {
  if (bundle.prekeys.length === 0) throw new ConclaveError('NoPrekeys');
  const r = new Uint32Array(1);
  globalThis.crypto.getRandomValues(r);
  const [p] = bundle.prekeys.splice(r[0] % bundle.prekeys.length, 1);
  return { device: bundle.device, prekeyId: p.id, prekey: p.publicKey };
}

/**
 * Seals a payload for recipients (§4.7), signed by the sender's app key.
 * @param {import('./identity.js').Identity} sender
 * @param {any} payload
 * @param {Recipient[]} recipients
 * @param {{nowMs: number|bigint, ttlSeconds?: number, containerId?: Uint8Array, firstKey?: Uint8Array}} opts
 *   containerId/firstKey only for test vectors
 * @returns {Promise<Uint8Array>}
 */
export async function sealContainer(sender, payload, recipients, opts) {
  const ttl = opts.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (recipients.length < 1 || recipients.length > MAX_RECIPIENTS) {
    throw new ConclaveError('TooManyRecipients', String(recipients.length));
  }
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) throw new ConclaveError('BadTtl', String(ttl));
  const plaintext = encodePayload(payload);
  const ids = new Set(recipients.map((r) => toHex(r.device.deviceId)));
  if (ids.size !== recipients.length) throw new WireError('Duplicate: recipient device id');
  const containerId = opts.containerId ?? randomBytes(16);
  const firstKey = opts.firstKey ?? randomBytes(32);
  const keys = await payloadKeys(containerId, firstKey);
  const header = encodeHeader(MESSAGE_TYPES[payload.type], containerId, BigInt(opts.nowMs), ttl, sender.certificate, keys.commitment);
  const entries = [];
  for (const r of recipients) {
    const did = r.device.deviceId;
    const inner = await hpke.seal(r.prekey, wrapInfo(L.wrapPrekey, containerId, sender.deviceId, did, r.prekeyId), header, firstKey);
    const outer = await hpke.seal(r.device.deviceKey, wrapInfo(L.wrapDevice, containerId, sender.deviceId, did, r.prekeyId), header, inner.ct);
    entries.push(encodeEntry({ deviceId: did, prekeyId: r.prekeyId, prekeyEnc: inner.enc, deviceEnc: outer.enc, wrappedKey: outer.ct }));
  }
  const aad = concat(header, u16(recipients.length), ...entries);
  const ct = await aesGcmSeal(await importAesKey(keys.key), keys.nonce, aad, plaintext);
  const body = concat(aad, u32(ct.length), ct);
  const sig = await sign(sender.appKey.privateKey, concat(L.signature, body));
  return concat(body, sig);
}

/**
 * @typedef {object} OpenedContainer
 * @property {Uint8Array} containerId
 * @property {string} messageType
 * @property {bigint} createdMs
 * @property {number} ttlSeconds
 * @property {bigint} expiresMs
 * @property {import('./identity.js').VerifiedDevice} sender
 * @property {number} prekeyId
 * @property {any} payload
 */

/**
 * Opens a container addressed to `me` (§4.8, steps in order). On success the prekey is
 * consumed (removed from me.prekeys, added to me.consumed): persist that before acting.
 * @param {import('./identity.js').Identity} me
 * @param {Uint8Array} bytes
 * @param {{nowMs: number|bigint, expectedSender?: Uint8Array}} opts
 * @returns {Promise<OpenedContainer>}
 */
export async function openContainer(me, bytes, opts) {
  const now = BigInt(opts.nowMs);
  const c = parseContainer(bytes);
  const sender = await verifyCertificate(c.sender);
  if (opts.expectedSender && !ctEqual(opts.expectedSender, sender.userKey)) throw new ConclaveError('UntrustedSender');
  if (!(await verify(sender.appKey, concat(L.signature, bytes.subarray(0, c.payloadEnd)), c.signature))) {
    throw new ConclaveError('BadContainerSignature');
  }
  if (c.createdMs > now + MAX_CLOCK_SKEW_MS) throw new ConclaveError('FromTheFuture');
  const expires = c.createdMs + BigInt(c.ttlSeconds) * 1000n;
  if (now > expires) throw new ConclaveError('Expired');
  const entry = c.recipients.find((r) => ctEqual(r.deviceId, me.deviceId));
  if (!entry) throw new ConclaveError('NotARecipient');
  const prekey = me.prekeys.get(entry.prekeyId);
  if (!prekey) {
    if (me.consumed.has(entry.prekeyId)) throw new ConclaveError('PrekeyConsumed', String(entry.prekeyId));
    throw new ConclaveError('UnknownPrekey', String(entry.prekeyId));
  }
  const header = bytes.subarray(0, HEADER_LEN);
  const s = sender.deviceId;
  const inner = await hpke.open(entry.deviceEnc, me.deviceKey, wrapInfo(L.wrapDevice, c.containerId, s, me.deviceId, entry.prekeyId), header, entry.wrappedKey);
  const firstKey = await hpke.open(
    entry.prekeyEnc,
    { privateKey: prekey.privateKey, publicKey: prekey.publicKey },
    wrapInfo(L.wrapPrekey, c.containerId, s, me.deviceId, entry.prekeyId),
    header,
    inner,
  );
  if (firstKey.length !== 32) throw new ConclaveError('DecryptFailed', 'first key length');
  const keys = await payloadKeys(c.containerId, firstKey);
  if (!ctEqual(keys.commitment, c.commitment)) throw new ConclaveError('CommitmentMismatch');
  const aad = bytes.subarray(0, HEADER_LEN + 2 + ENTRY_LEN * c.recipients.length);
  const plaintext = await aesGcmOpen(await importAesKey(keys.key), keys.nonce, aad, c.payload);
  const payload = parsePayload(plaintext);
  if (MESSAGE_TYPES[payload.type] !== c.messageType) throw new ConclaveError('TypeMismatch');
  me.prekeys.delete(entry.prekeyId);
  me.consumed.add(entry.prekeyId);
  return {
    containerId: c.containerId,
    messageType: TYPE_NAMES[c.messageType],
    createdMs: c.createdMs,
    ttlSeconds: c.ttlSeconds,
    expiresMs: expires > 0xffffffffffffffffn ? 0xffffffffffffffffn : expires,
    sender,
    prekeyId: entry.prekeyId,
    payload,
  };
}


// ---- receiver guards (§4.11, §4.12) ----

/** Replay guard: (sender app key, container id) → expiry. */
export class SeenContainers {
  constructor() {
    /** @type {Map<string, bigint>} */
    this.seen = new Map();
  }

  /**
   * Forgets expired entries, refuses a container seen before ('Replay'), records it.
   * @param {OpenedContainer} opened
   * @param {number|bigint} nowMs
   */
  checkAndRecord(opened, nowMs) {
    const now = BigInt(nowMs);
    for (const [k, exp] of this.seen) if (exp < now) this.seen.delete(k);
    const key = toHex(opened.sender.appKey) + toHex(opened.containerId);
    if (this.seen.has(key)) throw new ConclaveError('Replay');
    this.seen.set(key, opened.expiresMs);
  }
}

/** @param {any[]} roster @returns {string[]} (device id, user key) pairs in index order */
function rosterPairs(roster) {
  return [...roster]
    .sort((a, b) => a.index - b.index)
    .map((e) => `${toHex(fromHex(e.device_id, 16))}:${toHex(b64decode(e.user_key, 65))}`);
}

/** Epoch guard: per meeting id, the current epoch and its members. */
export class EpochGuard {
  constructor() {
    /** @type {Map<string, {epoch: number, members: string[]}>} */
    this.meetings = new Map();
  }

  /** @param {string} meetingIdHex @returns {number|undefined} */
  current(meetingIdHex) {
    return this.meetings.get(meetingIdHex.toLowerCase())?.epoch;
  }

  /**
   * Checks an opened container against §4.12 and records accepted invites and rekeys.
   * Throws 'NotAMember' or 'StaleEpoch'.
   * @param {OpenedContainer} opened
   */
  check(opened) {
    const p = opened.payload;
    if (p.type === 'reject' || p.type === 'text') return;
    const id = toHex(fromHex(p.meeting_id, 32));
    const sender = `${toHex(opened.sender.deviceId)}:${toHex(opened.sender.userKey)}`;
    const m = this.meetings.get(id);
    if (m && !m.members.includes(sender)) throw new ConclaveError('NotAMember');
    const epoch = Number(p.epoch);
    if (p.type === 'leave') {
      if (!m) throw new ConclaveError('NotAMember');
      if (epoch < m.epoch) throw new ConclaveError('StaleEpoch', `${epoch} < ${m.epoch}`);
      return;
    }
    const members = rosterPairs(p.roster);
    if (!m && p.type === 'rekey') throw new ConclaveError('NotAMember');
    if (m) {
      const same = members.length === m.members.length && members.every((x, i) => x === m.members[i]);
      const stale = p.type === 'rekey' ? epoch <= m.epoch : epoch < m.epoch || (epoch === m.epoch && !same);
      if (stale) throw new ConclaveError('StaleEpoch', `${epoch} vs ${m.epoch}`);
    }
    this.meetings.set(id, { epoch, members });
  }
}
