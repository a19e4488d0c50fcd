// Strict JSON (PROTOCOL §1.3): RFC 8259, duplicate members rejected, integers kept exact
// (as BigInt beyond Number.MAX_SAFE_INTEGER), plus helpers to check an object's members.

import { WireError } from './bytes.js';

/** A JSON number written with a fraction or exponent (never a valid protocol integer). */
export class JsonFloat {
  /** @param {number} value */
  constructor(value) {
    this.value = value;
  }
}

/**
 * Parses JSON text strictly. Objects are plain objects (a `__proto__` member is an own member); integer literals beyond the safe
 * range become BigInt, numbers with a fraction or exponent JsonFloat; duplicate members throw.
 * @param {string} text
 * @returns {any}
 */
export function parseStrictJson(text) {
  let i = 0;
  const err = (m) => new WireError(`JSON: ${m} at ${i}`);
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const value = (depth) => {
    if (depth > 64) throw err('too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj = {};
      ws();
      if (text[i] === '}') {
        i++;
        return obj;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw err('expected a member name');
        const k = string();
        if (Object.prototype.hasOwnProperty.call(obj, k)) throw err(`duplicate member "${k}"`);
        ws();
        if (text[i] !== ':') throw err('expected :');
        i++;
        // defineProperty: a member named __proto__ stays an ordinary member.
        Object.defineProperty(obj, k, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return obj;
        } else throw err('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') {
        i++;
        return arr;
      }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return arr;
        } else throw err('expected , or ]');
      }
    }
    if (c === '"') return string();
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]]) {
      if (text.startsWith(lit, i)) {
        i += lit.length;
        return v;
      }
    }
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(i, i + 400));
    if (!m) throw err('unexpected character');
    i += m[0].length;
    if (!m[2] && !m[3]) {
      const n = Number(m[0]);
      return Number.isSafeInteger(n) ? n : BigInt(m[0]);
    }
    return new JsonFloat(Number(m[0]));
  };
  const string = () => {
    i++;
    let out = '';
    for (;;) {
      if (i >= text.length) throw err('unterminated string');
      const c = text[i];
      if (c === '"') {
        i++;
        return out;
      }
      if (c < ' ') throw err('control character in string');
      if (c === '\\') {
        const e = text[i + 1];
        const map = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e in map) {
          out += map[e];
          i += 2;
        } else if (e === 'u' && /^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
          out += String.fromCharCode(parseInt(text.slice(i + 2, i + 6), 16));
          i += 6;
        } else throw err('bad escape');
      } else {
        out += c;
        i++;
      }
    }
  };
  const v = value(0);
  ws();
  if (i !== text.length) throw err('trailing characters');
  return v;
}

/**
 * Checks that `obj` is an object whose members are exactly `required` plus any of `optional`.
 * @param {any} obj
 * @param {string[]} required
 * @param {string[]} [optional]
 * @param {string} [code] error code (default 'Wire')
 */
export function checkMembers(obj, required, optional = [], code = 'Wire') {
  const fail = (m) => {
    const e = new WireError(m);
    e.code = code;
    throw e;
  };
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) fail('expected a JSON object');
  for (const k of Object.keys(obj)) {
    if (!required.includes(k) && !optional.includes(k)) fail(`unknown member "${k}"`);
  }
  for (const k of required) if (!Object.hasOwn(obj, k)) fail(`missing member "${k}"`);
}

/**
 * Is `v` a JSON integer in [0, max]?
 * @param {any} v
 * @param {bigint} max
 * @returns {boolean}
 */
export function isUint(v, max) {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && BigInt(v) <= max;
  if (typeof v === 'bigint') return v >= 0n && v <= max;
  return false;
}
