// The RTCRtpScriptTransform worker: seals every outgoing encoded frame with SFrame as a
// codec frame (PROTOCOL §13.1) and opens every incoming one; frames that do not open are
// dropped (never handed to the decoder) and counted.

import { FrameCrypto, frameTransform } from './frame-crypto.js';

const fc = new FrameCrypto();

self.onrtctransform = (event) => {
  const t = event.transformer;
  t.readable.pipeThrough(frameTransform(fc, t.options ?? {})).pipeTo(t.writable).catch((e) => {
    self.postMessage({ type: 'error', message: `transform ended: ${e && e.message ? e.message : e}` });
  });
};

self.onmessage = (event) => {
  const m = event.data;
  if (!m || typeof m !== 'object') return;
  if (m.type === 'keys') {
    fc.install(m.keys).catch((e) => self.postMessage({ type: 'error', message: `install keys: ${e && e.message ? e.message : e}` }));
  } else if (m.type === 'stats') {
    self.postMessage({ type: 'stats', stats: fc.stats() });
  }
};

setInterval(() => self.postMessage({ type: 'stats', stats: fc.stats() }), 500);
