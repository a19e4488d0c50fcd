// Typed protocol errors: every failure carries a `code` naming the PROTOCOL §8 case
// (e.g. 'Wire', 'BadCertificate', 'DecryptFailed', 'UnknownKid', 'FrameReplay').

/** A protocol error with a machine-readable `code`. */
export class ConclaveError extends Error {
  /**
   * @param {string} code
   * @param {string} [message]
   */
  constructor(code, message) {
    super(message ? `${code}: ${message}` : code);
    this.name = 'ConclaveError';
    this.code = code;
  }
}

/**
 * Throws a ConclaveError.
 * @param {string} code
 * @param {string} [message]
 * @returns {never}
 */
export function fail(code, message) {
  throw new ConclaveError(code, message);
}
