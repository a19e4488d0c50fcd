// This browser's account on the relay: the identity (IndexedDB), registration, the push
// WebSocket and the inbox, calls (invites), rekeys, leaves and rejections — the flows of
// the reference SDK (client/src/api/session.rs), in the same order.

import {
  createIdentity, generatePrekeys, fingerprint, userHash, verifyBundle,
} from '../src/crypto/identity.js';
import * as proto from './proto.js';
import { RelayApi, ApiError } from './api.js';
import { load, save } from './store.js';
import { b64, fromB64, hex } from './util.js';

const PREKEY_BATCH = 100;
const PREKEY_THRESHOLD = 20;
/** Container lifetime (s), as the reference's default. */
const TTL_SECONDS = 86400;

/** A contact: username → {user_hash, fingerprint}. */

export class Account extends EventTarget {
  constructor(base, identity, record) {
    super();
    this.identity = identity;
    this.record = record;
    this.username = record.username;
    this.userHash = record.user_hash;
    this.deviceId = record.device_id;
    this.fingerprint = record.fingerprint;
    this.api = new RelayApi(base, `dev:${record.user_hash}:${record.device_id}`);
    this.clockOffsetMs = 0;
    this.invites = new Map(Object.entries(record.invites ?? {}));
    this.guard = proto.newGuards();
    this.ws = null;
    this.queue = Promise.resolve();
    this.closed = false;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * The account of this browser profile, if it registered.
   * @param {string} base the relay's URL (the page's origin)
   * @returns {Promise<Account|null>}
   */
  static async load(base) {
    const record = await load('account');
    const identity = await load('identity');
    if (!record || !identity || record.relay !== base) return null;
    return new Account(base, identity, record);
  }

  /**
   * Registers a new user with this browser as its device: identity made with WebCrypto
   * (private keys not extractable), user, device certificate and 100 signed prekeys
   * uploaded, everything kept in IndexedDB.
   * @param {string} base
   * @param {string} username
   * @returns {Promise<Account>}
   */
  static async register(base, username) {
    const anon = new RelayApi(base);
    const info = await anon.info();
    const salt = fromB64(info.username_salt);
    const hash = await userHash(salt, username);
    const now = await relayNow(anon);
    const identity = await createIdentity({ nowMs: now });
    const deviceId = hex(identity.deviceId);
    const record = {
      version: 1,
      relay: base,
      username,
      user_hash: hash,
      device_id: deviceId,
      fingerprint: await fingerprint(identity.userKey.publicKey),
      contacts: {},
      invites: {},
      calls: {},
    };
    const api = anon.withCredential(`dev:${hash}:${deviceId}`);
    try {
      await api.createUser(hash);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'conflict')) throw e;
      throw new Error(`the username ${username} is taken (registered from another device)`);
    }
    await api.registerDevice(hash, b64(identity.certificate));
    const account = new Account(base, identity, record);
    await account.uploadPrekeys(PREKEY_BATCH);
    await save('account', record);
    return account;
  }

  async persist() {
    this.record.invites = Object.fromEntries(this.invites);
    await save('identity', this.identity);
    await save('account', this.record);
  }

  /** @returns {number} the relay's master clock, estimated */
  now() {
    return Date.now() + this.clockOffsetMs;
  }

  /**
   * Generates and uploads `n` prekeys (the private halves are saved first).
   * @param {number} n
   * @returns {Promise<number>} the pool size
   */
  async uploadPrekeys(n) {
    const fresh = await generatePrekeys(this.identity, n);
    await save('identity', this.identity);
    const res = await this.api.uploadPrekeys(this.deviceId, fresh.map((p) => ({
      id: p.id, public_key: b64(p.publicKey), signature: b64(p.signature),
    })));
    return res.pool_size;
  }

  /** Measures the clock offset, opens the push WebSocket and reads the inbox. */
  async connect() {
    const before = Date.now();
    const relay = (await this.api.clock()).now_ms;
    this.clockOffsetMs = relay - Math.round((before + Date.now()) / 2);
    this.openPush();
    await this.inbox();
    const pool = (await this.api.poolSize(this.deviceId)).pool_size;
    if (pool < PREKEY_THRESHOLD) await this.uploadPrekeys(PREKEY_BATCH);
  }

  openPush() {
    if (this.closed) return;
    const ws = new WebSocket(this.api.pushUrl());
    this.ws = ws;
    ws.onmessage = (ev) => {
      let m;
      try {
        m = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.queue = this.queue.then(() => this.onPush(m)).catch((e) => this.emit('error', { message: String(e.message ?? e) }));
    };
    ws.onclose = () => {
      if (this.closed) return;
      // Reconnect, then fetch what arrived meanwhile.
      setTimeout(() => {
        this.openPush();
        this.queue = this.queue.then(() => this.inbox()).catch(() => {});
      }, 1000);
    };
  }

  async onPush(m) {
    if (!m || typeof m.type !== 'string') return;
    switch (m.type) {
      case 'container':
        await this.handleMessage(m);
        break;
      case 'prekeys_low':
        if (m.pool_size < PREKEY_THRESHOLD) await this.uploadPrekeys(PREKEY_BATCH);
        break;
      case 'meeting_ended':
        this.emit('meeting_ended', { meeting_id: m.meeting_id });
        break;
      case 'member':
        this.emit('member', { meeting_id: m.meeting_id, device_id: m.device_id, state: m.state });
        break;
      default:
        break;
    }
  }

  /** Fetches, opens and acknowledges every waiting container. */
  async inbox() {
    for (;;) {
      const batch = (await this.api.fetchMessages(50)).messages ?? [];
      for (const m of batch) await this.handleMessage(m);
      if (batch.length < 50) return;
    }
  }

  /**
   * Opens one stored/pushed container, applies the replay and epoch guards, persists the
   * consumed prekey, acknowledges it, and dispatches its payload as an event.
   * @param {{container_id: string, sender_device: string, container: string}} m
   */
  async handleMessage(m) {
    let opened = null;
    let error = null;
    try {
      const bytes = fromB64(m.container);
      opened = await proto.openContainer(this.identity, bytes, this.now(), this.guard);
      await save('identity', this.identity);
    } catch (e) {
      error = e;
    }
    try {
      await this.api.acknowledge(m.container_id);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 'not_found')) throw e;
    }
    if (error) {
      this.emit('refused', { container_id: m.container_id, code: error.code ?? 'error', message: String(error.message ?? error) });
      return;
    }
    await this.dispatch(opened);
  }

  async dispatch(o) {
    const p = o.payload;
    const senderDevice = hex(o.sender.deviceId);
    const senderFp = await fingerprint(o.sender.userKey);
    switch (p.type) {
      case 'invite': {
        const name = this.nameOfFingerprint(senderFp);
        const inv = {
          meeting_id: p.meeting_id,
          state: 'pending',
          initiator_device: senderDevice,
          initiator_fingerprint: senderFp,
          initiator_username: name,
          received_ms: this.now(),
          keys: proto.keysJson(p),
        };
        const prior = this.invites.get(p.meeting_id);
        if (prior && prior.state !== 'pending') return;
        this.invites.set(p.meeting_id, inv);
        await this.persist();
        this.emit('invite', { meeting_id: p.meeting_id, initiator_device: senderDevice });
        break;
      }
      case 'rekey': {
        const inv = this.invites.get(p.meeting_id);
        if (!inv || inv.initiator_device !== senderDevice) {
          this.emit('refused', { code: 'NotInitiator', message: 'a rekey not from the initiator' });
          return;
        }
        inv.keys = proto.keysJson(p);
        await this.persist();
        this.emit('rekey', { keys: inv.keys, switch_at_ms: p.switch_at_ms ?? null, sender_device: senderDevice });
        break;
      }
      case 'leave':
        this.emit('leave', { meeting_id: p.meeting_id, epoch: p.epoch, device_id: senderDevice });
        break;
      case 'reject':
        this.emit('reject', { meeting_id: p.meeting_id, device_id: senderDevice });
        this.emit('member', { meeting_id: p.meeting_id, device_id: senderDevice, state: 'rejected' });
        break;
      case 'text':
        this.emit('text', { text: p.text, device_id: senderDevice, fingerprint: senderFp });
        break;
      default:
        break;
    }
  }

  /**
   * The username of a contact with this fingerprint, if any.
   * @param {string} fp
   * @returns {string|null}
   */
  nameOfFingerprint(fp) {
    if (fp === this.fingerprint) return this.username;
    for (const [name, c] of Object.entries(this.record.contacts ?? {})) {
      if (c.user_fingerprint === fp) return name;
    }
    return null;
  }

  /**
   * Fetches and verifies a user's device bundles (each device's certificate and one
   * prekey, verified user key → app key → prekey signature); all devices must carry one
   * user key.
   * @param {string} hash user hash
   * @returns {Promise<{user_hash: string, devices: object[]}>}
   */
  async bundles(hash) {
    const raw = await this.api.fetchBundle(hash);
    if (raw.user_hash !== hash) throw new Error(`asked for the bundles of ${hash}, got ${raw.user_hash}`);
    const devices = [];
    for (const doc of raw.devices ?? []) {
      const v = await verifyBundle(JSON.stringify(doc));
      if (devices.length && hex(devices[0].device.userKey) !== hex(v.device.userKey)) {
        throw new Error(`the devices of ${hash} carry different user keys`);
      }
      if (devices.some((d) => hex(d.device.deviceId) === hex(v.device.deviceId))) {
        throw new Error('a device appears twice in a bundle');
      }
      devices.push(v);
    }
    return { user_hash: hash, devices };
  }

  async userHashOf(username) {
    const info = await this.api.info();
    return userHash(fromB64(info.username_salt), username);
  }

  /**
   * Calls users: fetches and verifies their bundles, draws a meeting id and key (epoch 0,
   * this device index 0, the others 1, 2, …), registers the meeting and its invited
   * members, posts one invite sealed to every device.
   * @param {string[]} usernames
   * @param {'video'|'audio'} [callType]
   * @returns {Promise<{keys: object, devices: string[], members: Map<string,string>}>}
   */
  async call(usernames, callType = 'video') {
    const users = [];
    for (const name of usernames) {
      const hash = await this.userHashOf(name);
      const b = await this.bundles(hash);
      if (b.devices.length === 0) throw new Error(`${name} has no registered device`);
      const fp = await fingerprint(b.devices[0].device.userKey);
      this.record.contacts[name.toLowerCase()] = { user_hash: hash, user_fingerprint: fp };
      users.push(b);
    }
    const { recipients, members } = proto.recipientsOf(users, this.deviceId);
    if (recipients.length === 0) throw new Error('nobody to send to: no device with a prekey left');
    const roster = [{ index: 0, device_id: this.deviceId, user_key: b64(this.identity.userKey.publicKey) }];
    recipients.forEach((r, i) => roster.push({
      index: i + 1, device_id: hex(r.device.deviceId), user_key: b64(r.device.userKey),
    }));
    const properties = JSON.stringify({ initiator: this.deviceId, created_ms: this.now() });
    const meetingId = await proto.newMeetingId(properties);
    const keys = { meeting_id: meetingId, epoch: 0, meeting_key: b64(proto.random(32)), roster, call_type: callType };
    await this.api.createMeeting(meetingId);
    for (const r of recipients) await this.api.setMember(meetingId, hex(r.device.deviceId), 'invited');
    const container = await proto.sealPayload(this.identity, { type: 'invite', ...keys }, recipients, this.now(), TTL_SECONDS);
    await this.api.postContainer(b64(container));
    proto.recordOwn(this.guard, keys);
    this.record.calls[meetingId] = { created_ms: this.now(), users: usernames, devices: recipients.map((r) => hex(r.device.deviceId)) };
    await this.persist();
    return { keys, devices: recipients.map((r) => hex(r.device.deviceId)), members };
  }

  /**
   * The initiator's rekey after `departed` left: epoch + 1, a fresh key, the roster
   * without it; sealed to the remaining devices with a coordinated switch time
   * (PROTOCOL §12.3).
   * @param {object} keys current meeting keys
   * @param {string} departed device id
   * @param {Map<string,string>} members device id → user hash
   * @returns {Promise<{keys: object, switchAtMs: number}|null>}
   */
  async rekey(keys, departed, members) {
    const roster = keys.roster.filter((r) => r.device_id !== departed);
    const others = roster.filter((r) => r.device_id !== this.deviceId);
    const next = { meeting_id: keys.meeting_id, epoch: keys.epoch + 1, meeting_key: b64(proto.random(32)), roster, call_type: keys.call_type };
    if (others.length === 0) {
      proto.recordOwn(this.guard, next);
      return { keys: next, switchAtMs: this.now() };
    }
    const hashes = [...new Set(others.map((r) => members.get(r.device_id)).filter(Boolean))];
    const users = [];
    for (const h of hashes) {
      const b = await this.bundles(h);
      b.devices = b.devices.filter((d) => others.some((r) => r.device_id === hex(d.device.deviceId)));
      users.push(b);
    }
    const { recipients } = proto.recipientsOf(users, this.deviceId);
    const switchAtMs = this.now() + Math.min(5000, 250 + 3 * recipients.length);
    const container = await proto.sealPayload(this.identity, { type: 'rekey', ...next, switch_at_ms: switchAtMs }, recipients, this.now(), TTL_SECONDS);
    await this.api.postContainer(b64(container));
    proto.recordOwn(this.guard, next);
    return { keys: next, switchAtMs };
  }

  /**
   * Leaves a meeting: a `leave` container to the initiator's device when its user is a
   * contact (else the relay's member event tells it), then `left` with the relay.
   * @param {string} meetingId
   * @param {number} epoch
   * @param {string} initiatorDevice
   */
  async leaveMeeting(meetingId, epoch, initiatorDevice) {
    const inv = this.invites.get(meetingId);
    const contact = inv && Object.values(this.record.contacts).find((c) => c.user_fingerprint === inv.initiator_fingerprint);
    if (contact && initiatorDevice !== this.deviceId) {
      try {
        const b = await this.bundles(contact.user_hash);
        b.devices = b.devices.filter((d) => hex(d.device.deviceId) === initiatorDevice);
        const { recipients } = proto.recipientsOf([b], this.deviceId);
        if (recipients.length) {
          const c = await proto.sealPayload(this.identity, { type: 'leave', meeting_id: meetingId, epoch }, recipients, this.now(), TTL_SECONDS);
          await this.api.postContainer(b64(c));
        }
      } catch {
        // the relay's member event tells the initiator
      }
    }
    await this.api.setMember(meetingId, this.deviceId, 'left');
    await this.markInvite(meetingId, 'left');
  }

  /**
   * Declines an invitation (`rejected` with the relay).
   * @param {string} meetingId
   */
  async reject(meetingId) {
    await this.api.setMember(meetingId, this.deviceId, 'rejected');
    await this.markInvite(meetingId, 'rejected');
  }

  /**
   * @param {string} meetingId
   * @param {string} state pending | accepted | rejected | left
   */
  async markInvite(meetingId, state) {
    const inv = this.invites.get(meetingId);
    if (!inv) return;
    inv.state = state;
    await this.persist();
  }
}

/** The relay's clock, or ours when it does not answer. */
async function relayNow(api) {
  try {
    return (await api.clock()).now_ms;
  } catch {
    return Date.now();
  }
}
