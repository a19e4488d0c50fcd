// Meetings (PROTOCOL §5): meeting id, sender base keys, KIDs, and MeetingKeys, one
// participant's media key state across epochs (grace period, staged switch of §12.3).

import { ConclaveError } from './errors.js';
import { b64decode, b64encode, concat, ctEqual, fromHex, randomBytes, toHex, u16, u32, u64, utf8 } from './bytes.js';
import { hkdfExpand, hkdfExtract, sha256 } from './primitives.js';
import { DEFAULT_SUITE, SFrameKey, SFrameReceiver, SFrameSender } from './sframe.js';

const MEETING_ID_LABEL = utf8('conclave-v1 meeting-id');
const SFRAME_BASE_LABEL = utf8('conclave-v1 sframe');
export const MAX_EPOCH = 2 ** 48 - 1;
export const DEFAULT_GRACE_MS = 5000;

/**
 * meeting_id = SHA-256(label ‖ u32(len(properties)) ‖ properties ‖ nonce).
 * @param {Uint8Array} properties
 * @param {Uint8Array} [nonce] 16 bytes (random if omitted)
 * @returns {Promise<Uint8Array>}
 */
export function meetingId(properties, nonce = randomBytes(16)) {
  return sha256(concat(MEETING_ID_LABEL, u32(properties.length), properties, nonce));
}

/**
 * A sender's SFrame base key (§5.4).
 * @param {Uint8Array} meetingIdBytes 32 bytes
 * @param {Uint8Array} meetingKey 32 bytes
 * @param {number|bigint} epoch
 * @param {number} index sender index
 * @returns {Promise<Uint8Array>}
 */
export async function senderBaseKey(meetingIdBytes, meetingKey, epoch, index) {
  const prk = await hkdfExtract('SHA-256', meetingIdBytes, meetingKey);
  return hkdfExpand('SHA-256', prk, concat(SFRAME_BASE_LABEL, u64(BigInt(epoch)), u16(index)), 32);
}

/**
 * KID = epoch << 16 | sender_index.
 * @param {number|bigint} epoch
 * @param {number} index
 * @returns {bigint}
 */
export function kidOf(epoch, index) {
  return (BigInt(epoch) << 16n) | BigInt(index);
}

/**
 * @typedef {object} EpochKeys
 * @property {Uint8Array} meetingId
 * @property {number} epoch
 * @property {Uint8Array} meetingKey
 * @property {{index: number, deviceId: Uint8Array, userKey: Uint8Array}[]} roster
 */

/**
 * EpochKeys from an invite/rekey payload (validated by parsePayload).
 * @param {any} p
 * @returns {EpochKeys}
 */
export function epochKeysFromPayload(p) {
  return {
    meetingId: fromHex(p.meeting_id, 32),
    epoch: Number(p.epoch),
    meetingKey: b64decode(p.meeting_key, 32),
    roster: p.roster.map((e) => ({ index: e.index, deviceId: fromHex(e.device_id, 16), userKey: b64decode(e.user_key, 65) })),
  };
}

/**
 * The invite/rekey payload members of epoch keys (sorted by index, as the reference does).
 * @param {EpochKeys} k
 * @param {'invite'|'rekey'} type
 * @param {'audio'|'video'} callType
 * @param {number} [switchAtMs] rekey only
 * @returns {any}
 */
export function payloadFromEpochKeys(k, type, callType, switchAtMs) {
  const p = {
    type,
    meeting_id: toHex(k.meetingId),
    epoch: k.epoch,
    meeting_key: b64encode(k.meetingKey),
    roster: [...k.roster]
      .sort((a, b) => a.index - b.index)
      .map((e) => ({ index: e.index, device_id: toHex(e.deviceId), user_key: b64encode(e.userKey) })),
    call_type: callType,
  };
  if (switchAtMs !== undefined) p.switch_at_ms = switchAtMs;
  return p;
}

/** @param {EpochKeys} keys @param {Uint8Array} device */
function indexOf(keys, device) {
  const e = keys.roster.find((r) => ctEqual(r.deviceId, device));
  if (!e) throw new ConclaveError('NotAMember');
  return e.index;
}

/**
 * One participant's media keys: seals its own frames in the sending epoch, opens everyone
 * else's frames of installed epochs. Time is passed in; call poll(now) to retire keys.
 */
export class MeetingKeys {
  /**
   * Use MeetingKeys.create.
   * @param {number} suite
   * @param {Uint8Array} ownDevice
   */
  constructor(suite, ownDevice) {
    this.suite = suite;
    this.ownDevice = ownDevice;
    this.receiver = new SFrameReceiver(suite);
    /** @type {SFrameSender|null} */
    this.sender = null;
    /** @type {EpochKeys|null} */
    this.current = null;
    this.ownIndex = 0;
    this.graceMs = DEFAULT_GRACE_MS;
    /** @type {Map<number, number>} epoch → removal time */
    this.retiring = new Map();
    /** @type {{keys: EpochKeys, ownIndex: number, sender: SFrameSender, switchAtMs: number}|null} */
    this.pending = null;
    /** @type {number[]} */
    this.skipped = [];
    this.lastSendingEpoch = -1;
  }

  /**
   * The media state of `ownDevice` (which must be in the roster) for the first epoch.
   * @param {EpochKeys} keys
   * @param {Uint8Array} ownDevice
   * @param {{suite?: number, graceMs?: number}} [opts]
   * @returns {Promise<MeetingKeys>}
   */
  static async create(keys, ownDevice, opts = {}) {
    const m = new MeetingKeys(opts.suite ?? DEFAULT_SUITE, ownDevice);
    if (opts.graceMs !== undefined) m.graceMs = opts.graceMs;
    m.checkKeys(keys);
    const idx = indexOf(keys, ownDevice);
    const sender = await m.makeSender(keys, idx);
    await m.addEpoch(keys, idx);
    m.current = keys;
    m.ownIndex = idx;
    m.sender = sender;
    m.lastSendingEpoch = keys.epoch;
    return m;
  }

  /** @param {EpochKeys} keys */
  checkKeys(keys) {
    if (keys.meetingKey.length !== 32) throw new ConclaveError('BadPayload', 'meeting key must be 32 bytes');
    if (!Number.isInteger(keys.epoch) || keys.epoch < 0 || keys.epoch > MAX_EPOCH) {
      throw new ConclaveError('BadPayload', 'epoch out of range');
    }
  }

  /** @param {EpochKeys} keys @param {number} index */
  async makeSender(keys, index) {
    const base = await senderBaseKey(keys.meetingId, keys.meetingKey, keys.epoch, index);
    return new SFrameSender(await SFrameKey.create(this.suite, kidOf(keys.epoch, index), base));
  }

  /** @param {EpochKeys} keys @param {number} ownIndex */
  async addEpoch(keys, ownIndex) {
    for (const e of keys.roster) {
      if (e.index === ownIndex) continue;
      const base = await senderBaseKey(keys.meetingId, keys.meetingKey, keys.epoch, e.index);
      await this.receiver.addKey(kidOf(keys.epoch, e.index), base);
    }
  }

  /** The sending epoch. @returns {number} */
  get epoch() {
    return this.current.epoch;
  }

  /** The KID frames are sealed with now. @returns {bigint} */
  get sendingKid() {
    return this.sender.kid;
  }

  /** The highest installed epoch, staged or not. @returns {number} */
  get latestEpoch() {
    return this.pending ? this.pending.keys.epoch : this.current.epoch;
  }

  /** @param {EpochKeys} keys @returns {number} own index */
  checkNewer(keys) {
    this.checkKeys(keys);
    if (!ctEqual(keys.meetingId, this.current.meetingId)) throw new ConclaveError('BadPayload', 'keys are for another meeting');
    const latest = Math.max(this.latestEpoch, this.lastSendingEpoch);
    if (keys.epoch <= latest) throw new ConclaveError('StaleEpoch', `${keys.epoch} <= ${latest}`);
    return indexOf(keys, this.ownDevice);
  }

  /**
   * Switches to a newer epoch at once; older epochs' receive keys retire at now + grace.
   * @param {EpochKeys} keys
   * @param {number} nowMs
   */
  async install(keys, nowMs) {
    const idx = this.checkNewer(keys);
    const sender = await this.makeSender(keys, idx);
    await this.addEpoch(keys, idx);
    if (this.pending) this.skipped.push(this.pending.keys.epoch);
    this.pending = null;
    this.lastSendingEpoch = keys.epoch;
    this.startSending(keys, idx, sender, nowMs);
  }

  /**
   * Installs a newer epoch's receive keys now; sending switches at nowMs + overlapMs (poll).
   * @param {EpochKeys} keys
   * @param {number} nowMs
   * @param {number} overlapMs
   */
  async installStaged(keys, nowMs, overlapMs) {
    const idx = this.checkNewer(keys);
    const sender = await this.makeSender(keys, idx);
    await this.addEpoch(keys, idx);
    if (this.pending) this.skipped.push(this.pending.keys.epoch);
    this.lastSendingEpoch = keys.epoch;
    this.pending = { keys, ownIndex: idx, sender, switchAtMs: nowMs + overlapMs };
  }

  /** @param {EpochKeys} keys @param {number} idx @param {SFrameSender} sender @param {number} nowMs */
  startSending(keys, idx, sender, nowMs) {
    const deadline = nowMs + this.graceMs;
    for (const e of [this.current.epoch, ...this.skipped]) if (!this.retiring.has(e)) this.retiring.set(e, deadline);
    this.skipped = [];
    this.sender = sender;
    this.ownIndex = idx;
    this.current = keys;
  }

  /**
   * Switches sending to a staged epoch whose time has come and drops receive keys whose
   * grace period has ended. Returns the epoch switched to, if any.
   * @param {number} nowMs
   * @returns {number|null}
   */
  poll(nowMs) {
    let switched = null;
    if (this.pending && this.pending.switchAtMs <= nowMs) {
      const p = this.pending;
      this.pending = null;
      switched = p.keys.epoch;
      this.startSending(p.keys, p.ownIndex, p.sender, nowMs);
    }
    for (const [epoch, deadline] of [...this.retiring]) {
      if (deadline > nowMs) continue;
      this.retiring.delete(epoch);
      for (const kid of [...this.receiver.keys.keys()]) if (Number(kid >> 16n) === epoch) this.receiver.removeKey(kid);
    }
    return switched;
  }

  /** When poll next has work to do, or null. @returns {number|null} */
  pollTimeout() {
    const times = [...this.retiring.values()];
    if (this.pending) times.push(this.pending.switchAtMs);
    return times.length ? Math.min(...times) : null;
  }

  /**
   * Seals one of our frames.
   * @param {Uint8Array} metadata
   * @param {Uint8Array} plaintext
   * @returns {Promise<Uint8Array>}
   */
  seal(metadata, plaintext) {
    return this.sender.seal(metadata, plaintext);
  }

  /**
   * Opens a frame of another participant.
   * @param {Uint8Array} metadata
   * @param {Uint8Array} frame
   * @returns {Promise<import('./sframe.js').OpenedFrame>}
   */
  open(metadata, frame) {
    return this.receiver.open(metadata, frame);
  }
}
