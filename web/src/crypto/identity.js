// Identities (PROTOCOL §2): device certificate, signed prekeys, fingerprint, bundle, and the
// user hash of docs/API.md.

import { ConclaveError } from './errors.js';
import {
  WireError,
  b64decode,
  b64encode,
  concat,
  randomBytes,
  readU64,
  toHex,
  u32,
  u64,
  utf8,
} from './bytes.js';
import { generateKeyPair, sha256, sign, validatePublicKey, verify } from './primitives.js';
import { checkMembers, isUint, parseStrictJson } from './json.js';

export const CERT_LEN = 284;
const CERT_LABEL = utf8('conclave-v1 device-cert');
const PREKEY_LABEL = utf8('conclave-v1 prekey');
const USER_HASH_LABEL = utf8('conclave-v1 user-hash');
export const MAX_BUNDLE_PREKEYS = 1000;
export const MAX_BUNDLE_JSON = 524288;

/**
 * @typedef {object} DeviceCertificate
 * @property {Uint8Array} userKey
 * @property {Uint8Array} deviceId 16 bytes
 * @property {Uint8Array} appKey
 * @property {Uint8Array} deviceKey
 * @property {bigint} createdMs
 * @property {Uint8Array} signature
 */

/**
 * Encodes a certificate (284 bytes); with no signature, 64 zero bytes.
 * @param {DeviceCertificate} c
 * @returns {Uint8Array}
 */
export function encodeCertificate(c) {
  return concat(
    new Uint8Array([1]),
    c.userKey,
    c.deviceId,
    c.appKey,
    c.deviceKey,
    u64(c.createdMs),
    c.signature ?? new Uint8Array(64),
  );
}

/**
 * Parses a certificate strictly: exactly 284 bytes, version 1.
 * @param {Uint8Array} bytes
 * @returns {DeviceCertificate}
 */
export function parseCertificate(bytes) {
  if (bytes.length < CERT_LEN) throw new WireError('certificate truncated');
  if (bytes.length > CERT_LEN) throw new WireError('trailing bytes after the certificate');
  if (bytes[0] !== 1) throw new WireError('unsupported certificate version');
  return {
    userKey: bytes.slice(1, 66),
    deviceId: bytes.slice(66, 82),
    appKey: bytes.slice(82, 147),
    deviceKey: bytes.slice(147, 212),
    createdMs: readU64(bytes, 212),
    signature: bytes.slice(220, 284),
  };
}

/**
 * The bytes the user key signs: label ‖ cert[0..220].
 * @param {Uint8Array} cert 284 bytes
 * @returns {Uint8Array}
 */
export function certSignedBytes(cert) {
  return concat(CERT_LABEL, cert.subarray(0, 220));
}

/**
 * @typedef {object} VerifiedDevice
 * @property {Uint8Array} userKey
 * @property {Uint8Array} deviceId
 * @property {Uint8Array} appKey
 * @property {Uint8Array} deviceKey
 * @property {bigint} createdMs
 */

/**
 * Verifies a certificate (keys on the curve, then the user key's low-S signature).
 * Throws 'Wire', 'InvalidPublicKey' or 'BadCertificate'.
 * @param {Uint8Array} cert
 * @returns {Promise<VerifiedDevice>}
 */
export async function verifyCertificate(cert) {
  const c = parseCertificate(cert);
  for (const k of [c.userKey, c.appKey, c.deviceKey]) await validatePublicKey(k);
  if (!(await verify(c.userKey, certSignedBytes(cert), c.signature))) {
    throw new ConclaveError('BadCertificate', 'user key signature invalid');
  }
  const { userKey, deviceId, appKey, deviceKey, createdMs } = c;
  return { userKey, deviceId, appKey, deviceKey, createdMs };
}

/**
 * prekey_signed_bytes = label ‖ device_id ‖ u32(id) ‖ public (103 bytes).
 * @param {Uint8Array} deviceId
 * @param {number} id
 * @param {Uint8Array} publicKey
 * @returns {Uint8Array}
 */
export function prekeySignedBytes(deviceId, id, publicKey) {
  return concat(PREKEY_LABEL, deviceId, u32(id), publicKey);
}

/**
 * SHA-256 fingerprint of a user key, 64 lowercase hex digits.
 * @param {Uint8Array} userKey 65 bytes
 * @returns {Promise<string>}
 */
export async function fingerprint(userKey) {
  return toHex(await sha256(userKey));
}

/**
 * The user hash hex(SHA-256("conclave-v1 user-hash" ‖ salt ‖ lowercase(username))).
 * Refuses empty names, names over 256 bytes, control characters and surrounding spaces.
 * @param {Uint8Array} salt the deployment's username_salt
 * @param {string} username
 * @returns {Promise<string>}
 */
export async function userHash(salt, username) {
  const bytes = utf8(username);
  // eslint-disable-next-line no-control-regex
  if (!username || bytes.length > 256 || username.trim() !== username || /[\u0000-\u001f\u007f-\u009f]/.test(username)) {
    throw new ConclaveError('Invalid', 'invalid username');
  }
  return toHex(await sha256(concat(USER_HASH_LABEL, salt, utf8(username.toLowerCase()))));
}

/**
 * @typedef {object} SignedPrekey
 * @property {number} id
 * @property {Uint8Array} publicKey
 * @property {Uint8Array} signature
 */

/**
 * @typedef {object} Identity
 * @property {import('./primitives.js').KeyPair} userKey signing
 * @property {import('./primitives.js').KeyPair} appKey signing
 * @property {import('./primitives.js').KeyPair} deviceKey key agreement
 * @property {Uint8Array} deviceId
 * @property {Uint8Array} certificate 284 bytes
 * @property {Map<number, SignedPrekey & {privateKey: CryptoKey}>} prekeys unused prekeys
 * @property {Set<number>} consumed consumed prekey ids
 * @property {number} nextPrekeyId
 */

/**
 * Builds and signs a device certificate.
 * @param {import('./primitives.js').KeyPair} userKey
 * @param {{deviceId: Uint8Array, appKey: Uint8Array, deviceKey: Uint8Array, createdMs: bigint|number}} d
 * @returns {Promise<Uint8Array>}
 */
export async function signCertificate(userKey, d) {
  const unsigned = encodeCertificate({ ...d, userKey: userKey.publicKey, signature: undefined });
  const sig = await sign(userKey.privateKey, certSignedBytes(unsigned));
  return concat(unsigned.subarray(0, 220), sig);
}

/**
 * A new user with one device: user, app and device keys (private halves not extractable
 * unless asked), a random device id, a signed certificate, an empty prekey pool.
 * @param {{nowMs?: number|bigint, extractable?: boolean}} [opts]
 * @returns {Promise<Identity>}
 */
export async function createIdentity(opts = {}) {
  const extractable = opts.extractable ?? false;
  const userKey = await generateKeyPair('signing', extractable);
  const appKey = await generateKeyPair('signing', extractable);
  const deviceKey = await generateKeyPair('key_agreement', extractable);
  const deviceId = randomBytes(16);
  const createdMs = BigInt(opts.nowMs ?? Date.now());
  const certificate = await signCertificate(userKey, {
    deviceId,
    appKey: appKey.publicKey,
    deviceKey: deviceKey.publicKey,
    createdMs,
  });
  return { userKey, appKey, deviceKey, deviceId, certificate, prekeys: new Map(), consumed: new Set(), nextPrekeyId: 1 };
}

/**
 * Generates `n` one-time prekeys signed by the app key, adds them to the pool and returns
 * their public halves.
 * @param {Identity} identity
 * @param {number} n
 * @param {{extractable?: boolean}} [opts]
 * @returns {Promise<SignedPrekey[]>}
 */
export async function generatePrekeys(identity, n, opts = {}) {
  const out = [];
  for (let k = 0; k < n; k++) {
    const id = identity.nextPrekeyId;
    if (id >= 0xffffffff) throw new ConclaveError('BadPayload', 'prekey id space exhausted');
    const pair = await generateKeyPair('key_agreement', opts.extractable ?? false);
    const signature = await sign(identity.appKey.privateKey, prekeySignedBytes(identity.deviceId, id, pair.publicKey));
    const signed = { id, publicKey: pair.publicKey, signature };
    identity.prekeys.set(id, { ...signed, privateKey: pair.privateKey });
    identity.nextPrekeyId = id + 1;
    out.push(signed);
  }
  return out;
}

/**
 * Encodes a bundle as the reference does (pretty JSON, fields in order).
 * @param {Uint8Array} certificate
 * @param {SignedPrekey[]} prekeys
 * @returns {string}
 */
export function encodeBundle(certificate, prekeys) {
  return JSON.stringify(
    {
      version: 1,
      certificate: b64encode(certificate),
      prekeys: prekeys.map((p) => ({ id: p.id, public_key: b64encode(p.publicKey), signature: b64encode(p.signature) })),
    },
    null,
    2,
  );
}

/**
 * Parses a bundle strictly (structure only; verify before use).
 * @param {string} text
 * @returns {{certificate: Uint8Array, prekeys: SignedPrekey[]}}
 */
export function parseBundle(text) {
  if (utf8(text).length > MAX_BUNDLE_JSON) throw new WireError('bundle too large');
  const doc = parseStrictJson(text);
  checkMembers(doc, ['version', 'certificate', 'prekeys']);
  if (!isUint(doc.version, 0xffffffffn)) throw new WireError('bad version');
  if (doc.version !== 1) throw new WireError('unsupported bundle version');
  const certificate = b64decode(doc.certificate, CERT_LEN);
  parseCertificate(certificate);
  if (!Array.isArray(doc.prekeys)) throw new WireError('prekeys must be an array');
  if (doc.prekeys.length > MAX_BUNDLE_PREKEYS) throw new WireError('too many prekeys');
  const seen = new Set();
  const prekeys = doc.prekeys.map((p) => {
    checkMembers(p, ['id', 'public_key', 'signature']);
    if (!isUint(p.id, 0xffffffffn)) throw new WireError('bad prekey id');
    if (seen.has(p.id)) throw new WireError('duplicate prekey id');
    seen.add(p.id);
    return { id: p.id, publicKey: b64decode(p.public_key, 65), signature: b64decode(p.signature, 64) };
  });
  return { certificate, prekeys };
}

/**
 * Verifies a bundle completely: certificate, then every prekey (point on the curve, app-key
 * signature). Throws 'BadCertificate', 'InvalidPublicKey', 'BadPrekeySignature'.
 * @param {string|{certificate: Uint8Array, prekeys: SignedPrekey[]}} bundle JSON text or parsed
 * @returns {Promise<{device: VerifiedDevice, prekeys: {id: number, publicKey: Uint8Array}[]}>}
 */
export async function verifyBundle(bundle) {
  const b = typeof bundle === 'string' ? parseBundle(bundle) : bundle;
  const device = await verifyCertificate(b.certificate);
  const prekeys = [];
  for (const p of b.prekeys) {
    await validatePublicKey(p.publicKey);
    if (!(await verify(device.appKey, prekeySignedBytes(device.deviceId, p.id, p.publicKey), p.signature))) {
      throw new ConclaveError('BadPrekeySignature', `prekey ${p.id}`);
    }
    prekeys.push({ id: p.id, publicKey: p.publicKey });
  }
  return { device, prekeys };
}
