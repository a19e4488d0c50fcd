// Writes web/test/vectors/js-made.json: artefacts made by web/src/crypto that the Rust
// reference must open (client/tests/web_interop.rs). Run after rust-made.json changes:
//   node web/test/make-js-artefacts.mjs
import { readFileSync, writeFileSync } from 'node:fs';
import * as C from '../src/crypto/index.js';

const dir = new URL('./vectors/', import.meta.url);
const rust = JSON.parse(readFileSync(new URL('rust-made.json', dir), 'utf8'));
const hex = C.fromHex;
const b64 = (s) => C.b64decode(s);

// A JS identity with four prekeys.
const me = await C.createIdentity({ nowMs: rust.seal_ms - 3000 });
const prekeys = await C.generatePrekeys(me, 4);
const bundle = C.encodeBundle(me.certificate, prekeys);
const identity = {
  device_id: C.toHex(me.deviceId),
  created_ms: rust.seal_ms - 3000,
  user_key: C.b64encode(me.userKey.publicKey),
  certificate: C.b64encode(me.certificate),
  fingerprint: await C.fingerprint(me.userKey.publicKey),
  prekeys: prekeys.map((p) => ({ id: p.id, public_key: C.b64encode(p.publicKey), signature: C.b64encode(p.signature) })),
  bundle,
};

// HPKE seals to the Rust recipient's device key.
const recipientDeviceKey = b64(rust.recipient.device_key.public);
const hpke = [];
for (const [info, aad, pt] of [
  ['js interop info', 'js aad', 'thirty-two bytes of a first key!'],
  ['', '', ''],
]) {
  const { enc, ct } = await C.hpke.seal(recipientDeviceKey, C.utf8(info), C.utf8(aad), C.utf8(pt));
  hpke.push({ info: C.toHex(C.utf8(info)), aad: C.toHex(C.utf8(aad)), pt: C.toHex(C.utf8(pt)), enc: C.b64encode(enc), ct: C.toHex(ct) });
}

// Containers to the Rust recipient, from its verified bundle (prekeys 6, 7, 8: the Rust
// containers use 1–5).
const verified = await C.verifyBundle(rust.recipient.bundle);
const recipientWith = (id) => {
  const p = verified.prekeys.find((x) => x.id === id);
  return { device: verified.device, prekeyId: p.id, prekey: p.publicKey };
};
const m = rust.meeting;
const keys = {
  meetingId: hex(m.meeting_id),
  epoch: m.epoch + 1,
  meetingKey: C.randomBytes(32),
  roster: [
    ...m.roster.map((e) => ({ index: e.index, deviceId: hex(e.device_id), userKey: b64(e.user_key) })),
    { index: 7, deviceId: me.deviceId, userKey: me.userKey.publicKey },
  ],
};
const payloads = [
  ['invite', C.payloadFromEpochKeys(keys, 'invite', 'audio')],
  ['rekey', C.payloadFromEpochKeys(keys, 'rekey', 'video', rust.seal_ms + 2000)],
  ['text', { type: 'text', text: 'Grüße aus JavaScript 🦀 "quoted"\n\u0001' }],
];
const containers = [];
for (const [i, [kind, payload]] of payloads.entries()) {
  const bytes = await C.sealContainer(me, payload, [recipientWith(6 + i)], { nowMs: rust.seal_ms, ttlSeconds: 86400 });
  containers.push({ kind, now_ms: rust.open_ms, bytes: C.b64encode(bytes), payload: new TextDecoder().decode(C.encodePayload(payload)) });
}

// Meeting ids.
const meetingIds = [];
for (const [props, nonce] of [
  ['', '00000000000000000000000000000000'],
  ['{"title":"from the browser"}', 'ffeeddccbbaa99887766554433221100'],
]) {
  const id = await C.meetingId(C.utf8(props), hex(nonce));
  meetingIds.push({ properties: C.toHex(C.utf8(props)), nonce, meeting_id: C.toHex(id) });
}

// SFrame frames with keys derived here from the Rust meeting key (sender index 1).
const baseKeys = [];
for (const index of [0, 1]) {
  const base = await C.senderBaseKey(hex(m.meeting_id), b64(m.meeting_key), m.epoch, index);
  baseKeys.push({ index, kid: C.kidOf(m.epoch, index).toString(), base_key: C.toHex(base) });
}
const base1 = hex(baseKeys[1].base_key);
const kid1 = C.kidOf(m.epoch, 1);
const sframeFrames = [];
for (const [suite, ctr, metadata, pt] of [
  [C.SUITE_AES256GCM_SHA512, 0n, '', 'hello, rust'],
  [C.SUITE_AES256GCM_SHA512, 8n, 'meta', 'counter eight'],
  [C.SUITE_AES128GCM_SHA256, 255n, '', ''],
  [C.SUITE_AES256GCM_SHA512, (1n << 64n) - 1n, 'x', 'the last counter'],
]) {
  const key = await C.SFrameKey.create(suite, kid1, base1);
  const frame = await key.seal(ctr, C.utf8(metadata), C.utf8(pt));
  sframeFrames.push({
    suite,
    kid: kid1.toString(),
    ctr: ctr.toString(),
    base_key: C.toHex(base1),
    metadata: C.toHex(C.utf8(metadata)),
    plaintext: C.toHex(C.utf8(pt)),
    frame: C.toHex(frame),
  });
}

// Codec frames sealed by MeetingKeys of roster member 1 (the Rust recipient's slot).
const meeting = await C.MeetingKeys.create(
  {
    meetingId: hex(m.meeting_id),
    epoch: m.epoch,
    meetingKey: b64(m.meeting_key),
    roster: m.roster.map((e) => ({ index: e.index, deviceId: hex(e.device_id), userKey: b64(e.user_key) })),
  },
  hex(rust.recipient.device_id),
);
const vp8Key = Uint8Array.from([0x30, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01, ...Array.from({ length: 150 }, (_, i) => (i * 13) & 255)]);
const vp8Inter = Uint8Array.from([0x51, 0x02, 0x00, ...Array.from({ length: 60 }, (_, i) => i)]);
const opus = Uint8Array.from([0xfc, 0xff, 0xfe, 0x01, 0x02]);
const vp8Minimal = vp8Key.slice(0, 10);
const codecFrames = [];
let ctr = 0;
for (const [kind, data] of [['video', vp8Key], ['video', vp8Inter], ['audio', opus], ['video', vp8Minimal], ['audio', opus.slice(0, 1)]]) {
  const frame = await C.sealCodecFrame(meeting, kind, data);
  codecFrames.push({ kind, kid: meeting.sendingKid.toString(), ctr: String(ctr++), data: C.toHex(data), frame: C.toHex(frame) });
}

const doc = {
  description: 'Artefacts made by web/src/crypto for the Rust reference (client/tests/web_interop.rs); regenerate with node web/test/make-js-artefacts.mjs after rust-made.json changes.',
  recipient_device_id: rust.recipient.device_id,
  identity,
  hpke,
  containers,
  meeting_ids: meetingIds,
  base_keys: baseKeys,
  sframe_frames: sframeFrames,
  codec_frames: codecFrames,
};
writeFileSync(new URL('js-made.json', dir), JSON.stringify(doc, null, 2) + '\n');
console.log('wrote web/test/vectors/js-made.json');
