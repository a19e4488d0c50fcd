// One meeting in this browser: the camera and microphone, the WebRTC session with the
// relay, the E2EE transforms and their keys (invite, then the initiator's rekeys), the
// participant tiles, mute and leave.

import { E2ee } from './e2ee.js';
import { MediaSession } from './webrtc.js';
import { fromB64, b64, rosterCode, sha256, hex } from './util.js';

/**
 * The simulcast layer asked of the relay for a grid of `n` remote tiles: the full layer for
 * one or two, the middle one up to four, the lowest beyond.
 * @param {number} n
 * @returns {number}
 */
export function layerForGrid(n) {
  if (n <= 2) return 2;
  if (n <= 4) return 1;
  return 0;
}

/** Video capture asked of the camera (the fake device of tests honours it). */
const VIDEO = { width: { ideal: 640 }, height: { ideal: 360 }, frameRate: { ideal: 15 } };

/**
 * Corrupts a meeting key (test hook `?test_wrong_key=1`): this page then derives wrong
 * SFrame keys and can open nobody's frames, nor can anybody open its frames.
 * @param {string} keyB64
 * @returns {string}
 */
export function corruptKey(keyB64) {
  const k = fromB64(keyB64, 32);
  k[0] ^= 0x01;
  return b64(k);
}

export class Room extends EventTarget {
  /**
   * @param {object} o
   * @param {import('./account.js').Account} o.account
   * @param {object} o.keys the invite's meeting keys (payload JSON members)
   * @param {string} o.initiatorDevice hex device id of the initiator
   * @param {boolean} o.isInitiator
   * @param {Map<string,string>} [o.members] initiator only: device id → user hash
   * @param {boolean} [o.wrongKey] test hook: use a corrupted meeting key
   * @param {string|null} [o.transform] test hook: 'legacy' forces createEncodedStreams()
   * @param {HTMLElement} o.tilesEl the grid
   */
  constructor(o) {
    super();
    this.account = o.account;
    this.meetingId = o.keys.meeting_id;
    this.keys = o.keys;
    this.initiatorDevice = o.initiatorDevice;
    this.isInitiator = o.isInitiator;
    this.members = o.members ?? new Map();
    this.wrongKey = Boolean(o.wrongKey);
    this.transform = o.transform ?? null;
    this.tilesEl = o.tilesEl;
    this.e2ee = null;
    this.session = null;
    this.stream = null;
    this.midTracks = new Map(); // mid -> MediaStreamTrack
    this.tiles = new Map(); // source_id -> {el, video, audio}
    this.labels = new Map(); // user key hex -> label
    this.code = '';
    this.closed = false;
    this.departed = new Set(); // devices the initiator has rekeyed away
    this.rekeying = Promise.resolve();
    this.timer = null;
    this.lastStats = null;
    /** @type {number|null|undefined} a layer chosen by hand (undefined: by the grid) */
    this.layerChoice = undefined;
    this.onVisibility = () => this.chooseLayer();
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Starts media: keys into the transforms, camera, join ticket, offer. */
  async start() {
    this.e2ee = new E2ee(this.transform);
    await this.installKeys(this.keys, null);
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: VIDEO });
    this.emit('local', { stream: this.stream });
    const ticket = await this.account.api.join(this.meetingId);
    ticket.device_id = this.account.deviceId;
    const s = new MediaSession({ api: this.account.api, ticket, stream: this.stream, e2ee: this.e2ee });
    this.session = s;
    s.addEventListener('track', (e) => {
      this.midTracks.set(String(e.detail.mid), e.detail.track);
      this.renderTiles();
    });
    s.addEventListener('tracks', () => this.renderTiles());
    s.addEventListener('source_gone', (e) => this.dropSource(e.detail.source_id));
    s.addEventListener('active_speaker', (e) => this.highlight(e.detail.source_id));
    s.addEventListener('closed', (e) => this.emit('closed', { reason: e.detail.reason }));
    s.addEventListener('state', (e) => this.emit('state', e.detail));
    s.addEventListener('error', (e) => this.emit('error', e.detail));
    this.chooseLayer();
    document.addEventListener('visibilitychange', this.onVisibility);
    await s.start();
    this.timer = setInterval(() => this.refresh().catch(() => {}), 500);
  }

  /**
   * Installs an epoch's keys in the transforms.
   * @param {object} keys meeting keys (payload JSON members)
   * @param {number|null} switchAtMs master-clock switch time of a rekey
   */
  async installKeys(keys, switchAtMs) {
    this.keys = keys;
    const meetingKey = this.wrongKey ? corruptKey(keys.meeting_key) : keys.meeting_key;
    const switchLocal = switchAtMs == null ? null : switchAtMs - this.account.clockOffsetMs;
    this.e2ee.setKeys({
      meeting_id: keys.meeting_id,
      epoch: keys.epoch,
      meeting_key: meetingKey,
      roster: keys.roster,
      call_type: keys.call_type,
      device_id: this.account.deviceId,
      switch_at_local_ms: switchLocal,
    });
    this.code = await rosterCode(keys.roster.map((r) => fromB64(r.user_key, 65)));
    for (const r of keys.roster) await this.labelOf(r.user_key);
    this.emit('keys', { epoch: keys.epoch, code: this.code, roster: keys.roster });
  }

  /**
   * A label for a user key: the username if this account knows it, else the first digits
   * of its fingerprint.
   * @param {string} userKeyB64
   * @returns {Promise<string>}
   */
  async labelOf(userKeyB64) {
    const known = this.labels.get(userKeyB64);
    if (known) return known;
    const fp = hex(await sha256(fromB64(userKeyB64, 65)));
    const name = this.account.nameOfFingerprint(fp);
    const label = name ?? fp.slice(0, 12);
    this.labels.set(userKeyB64, label);
    return label;
  }

  rosterEntry(index) {
    return this.keys.roster.find((r) => r.index === index) ?? null;
  }

  /** Tiles: one per remote source listed in the relay's `tracks` message. */
  renderTiles() {
    if (!this.session) return;
    const bySource = new Map();
    for (const [mid, info] of this.session.tracks) {
      const track = this.midTracks.get(mid);
      if (info.source_id == null) continue;
      const entry = bySource.get(info.source_id) ?? { mids: [] };
      entry.mids.push(mid);
      if (track && info.kind === 'video') entry.video = track;
      if (track && info.kind === 'audio') entry.audio = track;
      bySource.set(info.source_id, entry);
    }
    for (const [sourceId, tile] of this.tiles) {
      if (!bySource.has(sourceId)) {
        tile.el.remove();
        this.tiles.delete(sourceId);
      }
    }
    for (const [sourceId, entry] of bySource) {
      let tile = this.tiles.get(sourceId);
      if (!tile) {
        const el = document.createElement('div');
        el.className = 'tile remote';
        el.dataset.sourceId = String(sourceId);
        const video = document.createElement('video');
        video.autoplay = true;
        video.playsInline = true;
        video.muted = true;
        const audio = document.createElement('audio');
        audio.autoplay = true;
        const label = document.createElement('span');
        label.className = 'label';
        label.textContent = `source ${sourceId}`;
        const counters = document.createElement('span');
        counters.className = 'counters';
        el.append(video, audio, label, counters);
        this.tilesEl.append(el);
        tile = { el, video, audio, label, counters, videoTrack: null, audioTrack: null };
        this.tiles.set(sourceId, tile);
      }
      tile.mids = entry.mids;
      if (entry.video && tile.videoTrack !== entry.video) {
        tile.videoTrack = entry.video;
        tile.video.srcObject = new MediaStream([entry.video]);
        tile.video.play().catch(() => {});
      }
      if (entry.audio && tile.audioTrack !== entry.audio) {
        tile.audioTrack = entry.audio;
        tile.audio.srcObject = new MediaStream([entry.audio]);
        tile.audio.play().catch(() => {});
      }
    }
    this.chooseLayer();
  }

  dropSource(sourceId) {
    const tile = this.tiles.get(sourceId);
    if (tile) {
      tile.el.remove();
      this.tiles.delete(sourceId);
    }
    this.chooseLayer();
  }

  /**
   * Which video the relay sends us: none while the page is hidden, else the layer chosen by
   * hand, else the one that suits the grid ({@link layerForGrid}).
   */
  chooseLayer() {
    if (!this.session) return;
    let layer = this.layerChoice;
    if (layer === undefined) layer = layerForGrid(this.tiles.size);
    if (document.visibilityState === 'hidden') layer = null;
    this.session.setMaxLayer(layer);
  }

  /**
   * Chooses the video layer by hand (0–2, null: no video) or, with undefined, by the grid.
   * @param {number|null|undefined} layer
   */
  preferLayer(layer) {
    this.layerChoice = layer;
    this.chooseLayer();
  }

  highlight(sourceId) {
    for (const [id, tile] of this.tiles) tile.el.classList.toggle('speaking', id === sourceId);
    this.activeSpeaker = sourceId;
  }

  /** Updates labels and counters of the tiles from the transforms' counters. */
  async refresh() {
    if (!this.e2ee || this.closed) return;
    const stats = await this.e2ee.stats();
    if (!stats) return;
    this.lastStats = stats;
    for (const tile of this.tiles.values()) {
      let index = null;
      let claimed = null;
      let decrypted = 0;
      let failed = 0;
      for (const mid of tile.mids ?? []) {
        const m = stats.mids?.[mid];
        if (!m) continue;
        if (m.sender_index != null) index = m.sender_index;
        if (m.claimed_index != null) claimed = m.claimed_index;
        decrypted += m.decrypted;
        failed += Object.values(m.failures).reduce((a, b) => a + b, 0);
      }
      if (index != null) {
        const r = this.rosterEntry(index);
        if (r) {
          tile.label.textContent = await this.labelOf(r.user_key);
          tile.el.dataset.deviceId = r.device_id;
        }
        tile.el.dataset.senderIndex = String(index);
      } else if (failed > 0) {
        // Nothing of this source opens: its frames' clear KID is unauthenticated, so say so.
        tile.label.textContent = `cannot decrypt${claimed != null ? ` (claims #${claimed})` : ''}`;
      }
      tile.el.dataset.decrypted = String(decrypted);
      tile.el.dataset.failures = String(failed);
      tile.counters.textContent = `✓${decrypted} ✗${failed}`;
      tile.el.classList.toggle('failing', failed > 0 && decrypted === 0);
    }
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    if (this.session) this.session.setMuted(muted);
  }

  /**
   * Everything tests read: transform counters, inbound RTP per mid (with source and sender
   * index), outbound RTP, our source id, the epoch and the roster code.
   * @returns {Promise<object>}
   */
  async stats() {
    const e2ee = this.e2ee ? await this.e2ee.stats() : null;
    const inbound = this.session ? await this.session.inboundStats() : [];
    for (const s of inbound) s.sender_index = e2ee?.mids?.[s.mid]?.sender_index ?? null;
    return {
      meeting_id: this.meetingId,
      source_id: this.session?.sourceId ?? null,
      epoch: this.keys.epoch,
      roster: this.keys.roster.map((r) => ({ index: r.index, device_id: r.device_id })),
      roster_code: this.code,
      active_speaker: this.activeSpeaker ?? null,
      transform: this.e2ee?.mode ?? null,
      max_layer: this.session?.maxLayer ?? null,
      e2ee,
      inbound,
      outbound: this.session ? await this.session.outboundStats() : [],
    };
  }

  /**
   * A rekey for this meeting arrived (already opened and checked by the account).
   * @param {object} keys the rekey's meeting keys
   * @param {number|null} switchAtMs
   */
  async onRekey(keys, switchAtMs) {
    if (!keys.roster.some((r) => r.device_id === this.account.deviceId)) {
      this.emit('removed', {});
      await this.close(false);
      return;
    }
    await this.installKeys(keys, switchAtMs);
  }

  /**
   * The initiator learnt that `deviceId` left (leave container or member event): next
   * epoch without it, sealed to the remaining devices (PROTOCOL §12.3), once per device.
   * @param {string} deviceId
   */
  onDeparture(deviceId) {
    if (!this.isInitiator || this.closed) return;
    if (this.departed.has(deviceId)) return;
    if (!this.keys.roster.some((r) => r.device_id === deviceId)) return;
    this.departed.add(deviceId);
    this.rekeying = this.rekeying.then(async () => {
      const next = await this.account.rekey(this.keys, deviceId, this.members);
      if (next) await this.installKeys(next.keys, next.switchAtMs);
    }).catch((e) => this.emit('error', { error: e }));
  }

  /**
   * Leaves the meeting: a member tells the initiator (leave container) and records `left`;
   * the initiator ends the meeting. Then media stops.
   * @param {boolean} [tell] false when the relay already closed us
   */
  async close(tell = true) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    document.removeEventListener('visibilitychange', this.onVisibility);
    if (tell) {
      try {
        if (this.isInitiator) await this.account.api.endMeeting(this.meetingId);
        else await this.account.leaveMeeting(this.meetingId, this.keys.epoch, this.initiatorDevice);
      } catch (e) {
        this.emit('error', { error: e });
      }
    }
    if (this.session) await this.session.close();
    if (this.stream) for (const t of this.stream.getTracks()) t.stop();
    if (this.e2ee) this.e2ee.close();
    for (const tile of this.tiles.values()) tile.el.remove();
    this.tiles.clear();
    this.emit('left', {});
  }
}
