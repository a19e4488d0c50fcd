// IndexedDB storage of this browser profile: one identity (CryptoKey objects, stored as
// they are, so that non-extractable private keys never leave the browser) and the account
// record (username, user hash, device, contacts, invitations, calls).

const DB_NAME = 'conclave';
const DB_VERSION = 1;
const STORE = 'kv';

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      if (!req.result.objectStoreNames.contains(STORE)) req.result.createObjectStore(STORE);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let dbPromise = null;
function db() {
  if (!dbPromise) dbPromise = openDb();
  return dbPromise;
}

function tx(mode, fn) {
  return db().then((d) => new Promise((resolve, reject) => {
    const t = d.transaction(STORE, mode);
    const req = fn(t.objectStore(STORE));
    t.oncomplete = () => resolve(req ? req.result : undefined);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  }));
}

/**
 * Reads a value.
 * @param {string} key
 * @returns {Promise<any>} the value, or undefined
 */
export function load(key) {
  return tx('readonly', (s) => s.get(key));
}

/**
 * Writes a value (structured clone: CryptoKeys, Uint8Arrays and plain objects).
 * @param {string} key
 * @param {any} value
 * @returns {Promise<void>}
 */
export function save(key, value) {
  return tx('readwrite', (s) => s.put(value, key)).then(() => undefined);
}

/**
 * Deletes a value.
 * @param {string} key
 * @returns {Promise<void>}
 */
export function remove(key) {
  return tx('readwrite', (s) => s.delete(key)).then(() => undefined);
}
