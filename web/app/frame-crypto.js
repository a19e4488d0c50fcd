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
   * Opens an incoming frame; null (counted by error code) when it does not open.
   * @param {'audio'|'video'} kind
   * @param {string} mid the receiving m-line
   * @param {Uint8Array} frame
   * @returns {Promise<Uint8Array|null>}
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
      bump(m.failures, code);
      const claimed = claimedSender(kind, frame);
      if (claimed != null) {
        if (m.sender_index == null) m.claimed_index = claimed;
        bump(this.senderCounters(claimed).failures, code);
      }
      return null;
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

/** The sender index a frame's clear KID claims (unauthenticated; for counting only). */
function claimedSender(kind, frame) {
  try {
    if (frame.length === 0) return null;
    const h = parseHeader(frame.subarray(clearLen(kind, frame[0])));
    return Number(h.kid & 0xffffn);
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
      if (!out) return;
      frame.data = out.byteOffset === 0 && out.byteLength === out.buffer.byteLength ? out.buffer : out.slice().buffer;
      controller.enqueue(frame);
    },
  });
}
