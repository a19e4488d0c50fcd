// Per-frame end-to-end encryption of a meeting's media (PROTOCOL §5.4–5.6, §6, §13.1),
// shared by the RTCRtpScriptTransform worker and the legacy main-thread transform.
// Keys per epoch: our sending key (KID = epoch << 16 | own index) and a receiving key per
// other roster entry. A rekey's receiving keys are installed at once; sending switches at
// the rekey's switch time; the old epoch's receiving keys go after the grace period.

import {
  SFrameKey, SFrameSender, SFrameReceiver, DEFAULT_SUITE, sealCodecFrame, openCodecFrameInfo,
  parseHeader, clearLen,
} from '../src/crypto/sframe.js';
import { senderBaseKey, kidOf } from '../src/crypto/meeting.js';
import { b64decode, fromHex } from '../src/crypto/bytes.js';

/** Receive keys of an old epoch stay this long after the switch (§5.6). */
export const GRACE_MS = 5000;
/** Switch delay of a rekey without a switch time (§12.3). */
export const FIXED_OVERLAP_MS = 250;
/**
 * Bounds on frames held, still sealed, for the keys of a newer epoch (§12.3): how long,
 * how many per claimed sender, in all, their bytes, and how far ahead of our newest epoch.
 */
export const HOLD = { ms: 1000, perSender: 128, frames: 2048, bytes: 8 << 20, epochsAhead: 2 };

/**
 * The base keys of every roster entry of an epoch (§5.4).
 * @param {Uint8Array} meetingId 32 bytes
 * @param {Uint8Array} meetingKey 32 bytes
 * @param {number} epoch
 * @param {number[]} indexes
 * @returns {Promise<Map<number, Uint8Array>>}
 */
export async function baseKeys(meetingId, meetingKey, epoch, indexes) {
  const out = new Map();
  for (const i of indexes) out.set(i, await senderBaseKey(meetingId, meetingKey, epoch, i));
  return out;
}

function bump(map, key) {
  map[key] = (map[key] ?? 0) + 1;
}

/** The keys and counters of one participant's media transforms. */
export class FrameCrypto {
  /** @param {number} [suite] */
  constructor(suite = DEFAULT_SUITE) {
    this.suite = suite;
    this.receiver = new SFrameReceiver(suite);
    this.sender = null;
    this.sendEpoch = null;
    this.latestEpoch = -1;
    this.epochKids = new Map(); // epoch -> kids installed for receiving
    this.counters = { sent: { audio: 0, video: 0 }, send_dropped: {}, mids: {}, senders: {} };
    this.installing = Promise.resolve();
    this.ownIndex = null;
    this.held = []; // frames waiting for a newer epoch's keys, in arrival order
    this.heldBytes = 0;
  }

  /**
   * Installs an epoch (an invite's, or a rekey's). Older or equal epochs are ignored.
   * @param {{meeting_id: string, epoch: number, meeting_key: string, roster: {index:number, device_id:string}[], device_id: string, switch_at_local_ms?: number|null}} d
   * @returns {Promise<void>}
   */
  install(d) {
    this.installing = this.installing.then(() => this.doInstall(d));
    return this.installing;
  }

  async doInstall(d) {
    const epoch = Number(d.epoch);
    if (!(epoch > this.latestEpoch)) return;
    const own = d.roster.find((r) => r.device_id.toLowerCase() === d.device_id.toLowerCase());
    const keys = await baseKeys(fromHex(d.meeting_id, 32), b64decode(d.meeting_key, 32), epoch, d.roster.map((r) => r.index));
    const kids = [];
    for (const r of d.roster) {
      if (own && r.index === own.index) continue; // no receive key for our own KID
      const kid = kidOf(epoch, r.index);
      await this.receiver.addKey(kid, keys.get(r.index));
      kids.push(kid);
    }
    this.epochKids.set(epoch, kids);
    const first = this.latestEpoch < 0;
    this.latestEpoch = epoch;
    this.ownIndex = own ? own.index : null;
    await this.releaseHeld();
    if (!own) {
      // Not in this epoch's roster: removed. Stop sending.
      this.switchSending(null, null);
      return;
    }
    const next = new SFrameSender(await SFrameKey.create(this.suite, kidOf(epoch, own.index), keys.get(own.index)));
    if (first) {
      this.switchSending(next, epoch);
      return;
    }
    const at = d.switch_at_local_ms == null ? Date.now() + FIXED_OVERLAP_MS : d.switch_at_local_ms;
    setTimeout(() => {
      if (this.latestEpoch === epoch) this.switchSending(next, epoch);
    }, Math.max(0, at - Date.now()));
  }

  switchSending(sender, epoch) {
    const old = this.sendEpoch;
    this.sender = sender;
    this.sendEpoch = epoch;
    if (old == null) return;
    // Older epochs' receive keys go after the grace period, counted from the switch.
    setTimeout(() => {
      for (const [e, kids] of this.epochKids) {
        if (epoch != null && e >= epoch) continue;
        for (const k of kids) this.receiver.removeKey(k);
        this.epochKids.delete(e);
      }
    }, GRACE_MS);
  }

  /**
   * Seals an outgoing encoded frame; null when it must be dropped.
   * @param {'audio'|'video'} kind
   * @param {Uint8Array} data
   * @returns {Promise<Uint8Array|null>}
   */
  async seal(kind, data) {
    if (!this.sender) {
      bump(this.counters.send_dropped, 'no_key');
      return null;
    }
    try {
      const out = await sealCodecFrame(this.sender, kind, data);
      this.counters.sent[kind] += 1;
      return out;
    } catch (e) {
      bump(this.counters.send_dropped, e?.code ?? 'error');
      return null;
    }
  }

  /**
   * Opens an incoming frame: the original codec frame, or null when it must be dropped
   * (counted by error code), or `{held}` for a frame of a newer epoch whose keys have not
   * arrived yet: a promise of what it opens to once they do, or of null when its time runs
   * out (§12.3).
   * @param {'audio'|'video'} kind
   * @param {string} mid the receiving m-line
   * @param {Uint8Array} frame
   * @returns {Promise<Uint8Array|null|{held: Promise<Uint8Array|null>}>}
   */
  async open(kind, mid, frame) {
    const m = this.midCounters(mid, kind);
    try {
      const o = await openCodecFrameInfo(this.receiver, kind, frame);
      m.decrypted += 1;
      m.sender_index = o.senderIndex;
      m.epoch = o.epoch;
      this.senderCounters(o.senderIndex).decrypted += 1;
      return o.data;
    } catch (e) {
      const code = e?.code ?? 'error';
      const claim = claimedKid(kind, frame);
      if (code === 'UnknownKid' && claim && this.latestEpoch >= 0 && claim.epoch > this.latestEpoch
          && claim.epoch <= this.latestEpoch + HOLD.epochsAhead && claim.index !== this.ownIndex) {
        const held = this.hold(kind, mid, frame, claim);
        if (held) return { held };
        this.fail(m, 'key_pending_full', claim);
        return null;
      }
      this.fail(m, code, claim);
      return null;
    }
  }

  fail(m, code, claim) {
    bump(m.failures, code);
    if (claim) {
      if (m.sender_index == null) m.claimed_index = claim.index;
      bump(this.senderCounters(claim.index).failures, code);
    }
  }

  /** Holds a frame for a newer epoch; null when a bound is reached (the newest is dropped). */
  hold(kind, mid, frame, claim) {
    const perSender = this.held.reduce((n, h) => n + (h.index === claim.index ? 1 : 0), 0);
    if (perSender >= HOLD.perSender || this.held.length >= HOLD.frames || this.heldBytes + frame.length > HOLD.bytes) {
      return null;
    }
    return new Promise((resolve) => {
      const h = { kind, mid, frame, index: claim.index, epoch: claim.epoch, resolve, timer: null };
      h.timer = setTimeout(() => {
        if (!this.unhold(h)) return;
        this.fail(this.midCounters(mid, kind), 'key_pending_expired', claim);
        resolve(null);
      }, HOLD.ms);
      this.held.push(h);
      this.heldBytes += frame.length;
    });
  }

  unhold(h) {
    const i = this.held.indexOf(h);
    if (i < 0) return false;
    this.held.splice(i, 1);
    this.heldBytes -= h.frame.length;
    clearTimeout(h.timer);
    return true;
  }

  /** Opens, in arrival order, the held frames whose keys are now installed. */
  async releaseHeld() {
    const ready = this.held.filter((h) => this.receiver.hasKey(kidOf(h.epoch, h.index)));
    for (const h of ready) this.unhold(h);
    const opened = ready.map((h) => this.open(h.kind, h.mid, h.frame));
    for (let i = 0; i < ready.length; i += 1) {
      const r = await opened[i];
      ready[i].resolve(r instanceof Uint8Array ? r : null);
    }
  }

  midCounters(mid, kind) {
    const key = String(mid);
    let m = this.counters.mids[key];
    if (!m) {
      m = { kind, decrypted: 0, failures: {}, sender_index: null, epoch: null };
      this.counters.mids[key] = m;
    }
    return m;
  }

  senderCounters(index) {
    let s = this.counters.senders[index];
    if (!s) {
      s = { decrypted: 0, failures: {} };
      this.counters.senders[index] = s;
    }
    return s;
  }

  /** @returns {object} a copy of the counters, with the sending epoch */
  stats() {
    return { ...structuredClone(this.counters), send_epoch: this.sendEpoch, latest_epoch: this.latestEpoch };
  }
}

/** The epoch and sender index a frame's clear KID claims (unauthenticated), or null. */
function claimedKid(kind, frame) {
  try {
    if (frame.length === 0) return null;
    const h = parseHeader(frame.subarray(clearLen(kind, frame[0])));
    return { epoch: Number(h.kid >> 16n), index: Number(h.kid & 0xffffn) };
  } catch {
    return null;
  }
}

/**
 * The TransformStream of one sender or receiver: sealed or opened frames go on; frames that
 * cannot be sealed or opened are dropped, never passed on.
 * @param {FrameCrypto} fc
 * @param {{side: 'send'|'recv', kind: 'audio'|'video', mid?: string}} options
 * @returns {TransformStream}
 */
export function frameTransform(fc, options) {
  const { side, kind } = options;
  return new TransformStream({
    async transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      const out = side === 'send' ? await fc.seal(kind, data) : await fc.open(kind, options.mid ?? '?', data);
      const pass = (bytes) => {
        if (!bytes) return;
        frame.data = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
        controller.enqueue(frame);
      };
      if (out && out.held) {
        // Held for a newer epoch's keys: passed on later, without stalling the stream.
        out.held.then((bytes) => {
          try {
            pass(bytes);
          } catch {
            // the stream ended meanwhile
          }
        });
        return;
      }
      pass(out);
    },
  });
}
