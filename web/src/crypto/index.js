// Conclave's end-to-end protocol (docs/PROTOCOL.md) on WebCrypto: the public API.

export { ConclaveError } from './errors.js';
export {
  WireError,
  b64decode,
  b64encode,
  bytesEqual,
  concat,
  ctEqual,
  fromHex,
  randomBytes,
  toHex,
  utf8,
} from './bytes.js';
export {
  ecdh,
  exportScalar,
  generateKeyPair,
  hkdfExpand,
  hkdfExtract,
  hmacSha256,
  importPrivateKey,
  importPublicKey,
  isLowS,
  sha256,
  sign,
  validatePublicKey,
  verify,
} from './primitives.js';
export * as hpke from './hpke.js';
export {
  certSignedBytes,
  createIdentity,
  encodeBundle,
  encodeCertificate,
  fingerprint,
  generatePrekeys,
  parseBundle,
  parseCertificate,
  prekeySignedBytes,
  signCertificate,
  userHash,
  verifyBundle,
  verifyCertificate,
} from './identity.js';
export {
  DEFAULT_TTL_SECONDS,
  EpochGuard,
  SeenContainers,
  encodePayload,
  openContainer,
  parseContainer,
  parsePayload,
  sealContainer,
  takeRecipient,
  validatePayload,
} from './container.js';
export {
  DEFAULT_GRACE_MS,
  MeetingKeys,
  epochKeysFromPayload,
  kidOf,
  meetingId,
  payloadFromEpochKeys,
  senderBaseKey,
} from './meeting.js';
export {
  DEFAULT_SUITE,
  ReplayWindow,
  SFrameKey,
  SFrameReceiver,
  SFrameSender,
  SUITE_AES128GCM_SHA256,
  SUITE_AES256GCM_SHA512,
  clearLen,
  deriveKeySalt,
  encodeHeader,
  openCodecFrame,
  openCodecFrameInfo,
  parseHeader,
  sealCodecFrame,
} from './sframe.js';
