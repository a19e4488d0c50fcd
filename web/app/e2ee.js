// The main thread's side of the end-to-end encryption of media: attaches the encoded-frame
// transforms (RTCRtpScriptTransform with e2ee-worker.js; the legacy createEncodedStreams()
// in this thread where RTCRtpScriptTransform is missing), hands meeting keys to them and
// collects their counters.

import { FrameCrypto, frameTransform } from './frame-crypto.js';

/**
 * Which encoded-transform API to use: 'script' (RTCRtpScriptTransform), 'legacy'
 * (createEncodedStreams) or null when the browser has neither.
 * @param {string|null} [prefer] 'legacy' to use the legacy API where it exists (tests)
 * @returns {'script'|'legacy'|null}
 */
export function transformMode(prefer = null) {
  const legacy = typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype;
  if (prefer === 'legacy' && legacy) return 'legacy';
  if (typeof RTCRtpScriptTransform === 'function') return 'script';
  return legacy ? 'legacy' : null;
}

/** The encoded-frame transforms of one meeting. */
export class E2ee {
  /** @param {string|null} [prefer] see transformMode */
  constructor(prefer = null) {
    this.mode = transformMode(prefer);
    if (!this.mode) throw new Error('this browser has no encoded-frame transform API: end-to-end encryption is impossible');
    this.latest = null;
    this.waiters = [];
    this.attached = new WeakSet();
    if (this.mode === 'script') {
      this.worker = new Worker(new URL('./e2ee-worker.js', import.meta.url), { type: 'module' });
      this.worker.onmessage = (ev) => this.onWorker(ev.data);
      this.worker.onerror = (ev) => console.error('e2ee worker', ev.message ?? ev);
    } else {
      this.fc = new FrameCrypto();
    }
  }

  onWorker(msg) {
    if (!msg || typeof msg !== 'object') return;
    if (msg.type === 'stats') {
      this.latest = msg.stats;
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f(msg.stats);
    } else if (msg.type === 'error') {
      console.error('e2ee worker:', msg.message);
    }
  }

  /** @returns {RTCConfiguration} what the peer connection needs for this mode */
  peerConnectionConfig() {
    return this.mode === 'legacy' ? { encodedInsertableStreams: true } : {};
  }

  /**
   * Installs an epoch's keys (invite or rekey).
   * @param {object} keys {meeting_id, epoch, meeting_key, roster, device_id, switch_at_local_ms}
   */
  setKeys(keys) {
    if (this.mode === 'script') this.worker.postMessage({ type: 'keys', keys });
    else this.fc.install(keys).catch((e) => console.error('install keys', e));
  }

  /** @param {RTCRtpSender} sender @param {'audio'|'video'} kind */
  attachSender(sender, kind) {
    this.attach(sender, { side: 'send', kind });
  }

  /** @param {RTCRtpReceiver} receiver @param {'audio'|'video'} kind @param {string} mid */
  attachReceiver(receiver, kind, mid) {
    this.attach(receiver, { side: 'recv', kind, mid });
  }

  attach(senderOrReceiver, options) {
    // A recycled m-line fires ontrack again on the same receiver: keep its transform.
    if (this.attached.has(senderOrReceiver)) return;
    this.attached.add(senderOrReceiver);
    if (this.mode === 'script') {
      senderOrReceiver.transform = new RTCRtpScriptTransform(this.worker, options);
    } else {
      const { readable, writable } = senderOrReceiver.createEncodedStreams();
      readable.pipeThrough(frameTransform(this.fc, options)).pipeTo(writable).catch(() => {});
    }
  }

  /**
   * The current counters (sent frames, decrypted frames and failures by code, per mid and
   * per sender index).
   * @returns {Promise<object>}
   */
  stats() {
    if (this.mode !== 'script') return Promise.resolve(this.fc.stats());
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.worker.postMessage({ type: 'stats' });
      setTimeout(() => resolve(this.latest), 1000);
    });
  }

  /** Stops the worker. */
  close() {
    if (this.worker) this.worker.terminate();
  }
}
