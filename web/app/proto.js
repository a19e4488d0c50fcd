// The app's use of the protocol module (web/src/crypto): containers with the replay guard
// (PROTOCOL §4.11) and the epoch guard (§4.12), recipients from verified bundles, meeting
// ids (§5.1).

import { openContainer as open, sealContainer, takeRecipient } from '../src/crypto/container.js';
import { ConclaveError } from '../src/crypto/errors.js';
import { b64encode, randomBytes, toHex, utf8 } from '../src/crypto/bytes.js';
import { meetingId } from '../src/crypto/meeting.js';

/**
 * Fresh replay and epoch guards.
 * @returns {{seen: Map<string, bigint>, epochs: Map<string, {epoch: number, members: string[]}>}}
 */
export function newGuards() {
  return { seen: new Map(), epochs: new Map() };
}

const pairsOf = (roster) => [...roster]
  .sort((a, b) => a.index - b.index)
  .map((r) => `${r.device_id.toLowerCase()}/${r.user_key}`);

/**
 * Opens a container and applies the replay and epoch guards; throws a ConclaveError.
 * @param {object} identity
 * @param {Uint8Array} bytes
 * @param {number} nowMs
 * @param {ReturnType<typeof newGuards>} guard
 * @returns {Promise<object>} the opened container
 */
export async function openContainer(identity, bytes, nowMs, guard) {
  const o = await open(identity, bytes, { nowMs });
  const now = BigInt(nowMs);
  for (const [k, exp] of guard.seen) if (exp < now) guard.seen.delete(k);
  const key = `${toHex(o.sender.appKey)}/${toHex(o.containerId)}`;
  if (guard.seen.has(key)) throw new ConclaveError('Replay');
  guard.seen.set(key, o.expiresMs);
  checkEpoch(guard, o);
  return o;
}

function checkEpoch(guard, o) {
  const p = o.payload;
  if (!['invite', 'rekey', 'leave'].includes(p.type)) return;
  const entry = guard.epochs.get(p.meeting_id);
  const sender = `${toHex(o.sender.deviceId)}/${b64encode(o.sender.userKey)}`;
  const epoch = Number(p.epoch);
  if (!entry) {
    if (p.type !== 'invite') throw new ConclaveError('NotAMember');
    guard.epochs.set(p.meeting_id, { epoch, members: pairsOf(p.roster) });
    return;
  }
  if (!entry.members.includes(sender)) throw new ConclaveError('NotAMember');
  if (p.type === 'invite') {
    const same = JSON.stringify(pairsOf(p.roster)) === JSON.stringify(entry.members);
    if (epoch < entry.epoch || (epoch === entry.epoch && !same)) throw new ConclaveError('StaleEpoch');
    guard.epochs.set(p.meeting_id, { epoch, members: pairsOf(p.roster) });
  } else if (p.type === 'rekey') {
    if (epoch <= entry.epoch) throw new ConclaveError('StaleEpoch');
    guard.epochs.set(p.meeting_id, { epoch, members: pairsOf(p.roster) });
  } else if (epoch < entry.epoch) {
    throw new ConclaveError('StaleEpoch');
  }
}

/**
 * Records the epoch of a meeting this device keys itself (as initiator).
 * @param {ReturnType<typeof newGuards>} guard
 * @param {object} keys
 */
export function recordOwn(guard, keys) {
  guard.epochs.set(keys.meeting_id, { epoch: keys.epoch, members: pairsOf(keys.roster) });
}

/**
 * The meeting-key members of an invite or rekey payload, as stored by the app.
 * @param {object} p
 * @returns {{meeting_id: string, epoch: number, meeting_key: string, roster: object[], call_type: string}}
 */
export function keysJson(p) {
  return {
    meeting_id: p.meeting_id.toLowerCase(),
    epoch: Number(p.epoch),
    meeting_key: p.meeting_key,
    roster: p.roster.map((r) => ({ index: Number(r.index), device_id: r.device_id.toLowerCase(), user_key: r.user_key })),
    call_type: p.call_type,
  };
}

/**
 * One recipient per device of the users (a random prekey taken from each verified bundle),
 * this device excluded; devices without a prekey are skipped.
 * @param {{user_hash: string, devices: object[]}[]} users
 * @param {string} ownDevice
 * @returns {{recipients: object[], members: Map<string,string>, skipped: string[]}}
 */
export function recipientsOf(users, ownDevice) {
  const recipients = [];
  const members = new Map();
  const skipped = [];
  for (const u of users) {
    for (const b of u.devices) {
      const id = toHex(b.device.deviceId);
      if (id === ownDevice) continue;
      if (b.prekeys.length === 0) {
        skipped.push(id);
        continue;
      }
      recipients.push(takeRecipient(b));
      members.set(id, u.user_hash);
    }
  }
  return { recipients, members, skipped };
}

/**
 * A fresh meeting id (§5.1): SHA-256("conclave-v1 meeting-id" ‖ u32(len) ‖ properties ‖ nonce).
 * @param {string} properties
 * @returns {Promise<string>} 64 hex digits
 */
export async function newMeetingId(properties) {
  return toHex(await meetingId(utf8(properties)));
}

/** @param {number} n @returns {Uint8Array} */
export function random(n) {
  return randomBytes(n);
}

/**
 * Seals a payload to recipients.
 * @param {object} identity
 * @param {object} payload
 * @param {object[]} recipients
 * @param {number} nowMs
 * @param {number} ttlSeconds
 * @returns {Promise<Uint8Array>}
 */
export function sealPayload(identity, payload, recipients, nowMs, ttlSeconds) {
  return sealContainer(identity, payload, recipients, { nowMs, ttlSeconds });
}
