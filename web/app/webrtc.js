// The meeting's WebRTC transport (docs/PROTOCOL.md §13.2–13.4): one RTCPeerConnection to
// the relay, our audio and video sent (SFrame-encrypted by the E2EE transforms), the data
// channel `conclave` for the relay's renegotiation offers and meeting events.

import { hex, hmacSha256, fromB64 } from './util.js';

const OFFER_LABEL = new TextEncoder().encode('conclave-v1 webrtc-offer');

/** Simulcast layers of our video, lowest first (the relay's streams 1, 2, 3). */
export const SIMULCAST = [
  { rid: 'l0', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'l1', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'l2', scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
];

/**
 * The `Authorization: Ticket …` header of §13.2 for `body`.
 * @param {object} ticket the join ticket
 * @param {string} body the request body (the SDP offer, or '' for DELETE)
 * @returns {Promise<string>}
 */
export async function ticketAuthorization(ticket, body) {
  const key = fromB64(ticket.session.key);
  const bodyBytes = new TextEncoder().encode(body);
  const msg = new Uint8Array(OFFER_LABEL.length + bodyBytes.length);
  msg.set(OFFER_LABEL, 0);
  msg.set(bodyBytes, OFFER_LABEL.length);
  const proof = hex(await hmacSha256(key, msg));
  const s = ticket.session;
  // `device_id` is the ticket holder's device; the ticket JSON may not repeat it.
  return `Ticket ${ticket.device_id}.${s.id}.${s.expires_ms}.${ticket.media.worker}.${proof}`;
}

function waitForIce(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === 'complete') {
        pc.removeEventListener('icegatheringstatechange', done);
        resolve();
      }
    };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, ms);
  });
}

/**
 * One participant's WebRTC session with the relay.
 * Events (as `CustomEvent`s with `detail`): `welcome` {source_id}, `tracks` {tracks},
 * `track` {mid, kind, track}, `active_speaker` {source_id}, `source_gone` {source_id},
 * `closed` {reason}, `state` {state}.
 */
export class MediaSession extends EventTarget {
  /**
   * @param {object} opts
   * @param {import('./api.js').RelayApi} opts.api
   * @param {object} opts.ticket the join ticket, with `device_id` added
   * @param {MediaStream} opts.stream camera and microphone
   * @param {import('./e2ee.js').E2ee} opts.e2ee the encoded-frame transforms
   * @param {boolean} [opts.simulcast]
   */
  constructor({ api, ticket, stream, e2ee, simulcast = true }) {
    super();
    this.api = api;
    this.ticket = ticket;
    this.stream = stream;
    this.e2ee = e2ee;
    this.simulcast = simulcast;
    this.pc = null;
    this.dc = null;
    this.location = null;
    this.sourceId = null;
    this.tracks = new Map(); // mid -> {source_id, kind}
    this.chain = Promise.resolve();
    this.audioSender = null;
    this.videoSender = null;
    /** @type {number|null|undefined} the highest layer asked of the relay (null: no video) */
    this.maxLayer = undefined;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Builds the peer connection, posts the offer and applies the answer. */
  async start() {
    const pc = new RTCPeerConnection(this.e2ee.peerConnectionConfig());
    this.pc = pc;
    pc.onconnectionstatechange = () => this.emit('state', { state: pc.connectionState });
    pc.ontrack = (ev) => {
      const mid = ev.transceiver.mid;
      this.e2ee.attachReceiver(ev.receiver, ev.track.kind, mid);
      this.emit('track', { mid, kind: ev.track.kind, track: ev.track });
    };
    const dc = pc.createDataChannel('conclave', { ordered: true });
    this.dc = dc;
    dc.onmessage = (ev) => this.onMessage(ev.data);
    dc.onopen = () => {
      if (this.maxLayer !== undefined) this.send({ type: 'layer', max_layer: this.maxLayer });
    };

    const audio = this.stream.getAudioTracks()[0];
    const video = this.stream.getVideoTracks()[0];
    const at = pc.addTransceiver(audio ?? 'audio', { direction: 'sendonly', streams: [this.stream] });
    this.e2ee.attachSender(at.sender, 'audio');
    this.audioSender = at.sender;
    const vinit = { direction: 'sendonly', streams: [this.stream] };
    if (this.simulcast) vinit.sendEncodings = SIMULCAST.map((e) => ({ ...e }));
    const vt = pc.addTransceiver(video ?? 'video', vinit);
    this.e2ee.attachSender(vt.sender, 'video');
    this.videoSender = vt.sender;
    preferCodec(at, 'audio/opus');
    preferCodec(vt, 'video/VP8');

    await pc.setLocalDescription(await pc.createOffer());
    await waitForIce(pc, 2000);
    const sdp = pc.localDescription.sdp;
    const auth = await ticketAuthorization(this.ticket, sdp);
    const path = this.ticket.webrtc?.offer_path ?? `/v1/meetings/${this.ticket.meeting_id}/webrtc`;
    const answer = await this.api.postOffer(path, sdp, auth);
    this.location = answer.location;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
  }

  onMessage(data) {
    if (typeof data !== 'string' || data.length > 65536) return;
    let m;
    try {
      m = JSON.parse(data);
    } catch {
      return;
    }
    if (!m || typeof m.type !== 'string') return;
    switch (m.type) {
      case 'welcome':
        this.sourceId = m.source_id;
        this.emit('welcome', { source_id: m.source_id });
        break;
      case 'offer':
        this.chain = this.chain.then(() => this.answerOffer(m.sdp)).catch((e) => {
          this.emit('error', { error: e });
        });
        break;
      case 'tracks':
        if (Array.isArray(m.tracks)) {
          // The full list, sent with every offer: m-lines not in it carry nobody now.
          this.tracks = new Map(m.tracks.map((t) => [String(t.mid), { source_id: t.source_id, kind: t.kind }]));
          this.emit('tracks', { tracks: m.tracks });
        }
        break;
      case 'active_speaker':
      case 'source_gone':
      case 'epoch_behind':
      case 'closed':
        this.emit(m.type, m);
        break;
      default:
        break; // unknown types are ignored (§13.4)
    }
  }

  async answerOffer(sdp) {
    const pc = this.pc;
    if (!pc || typeof sdp !== 'string') return;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    this.send({ type: 'answer', sdp: pc.localDescription.sdp });
  }

  /** @param {object} msg a data channel message */
  send(msg) {
    if (this.dc && this.dc.readyState === 'open') this.dc.send(JSON.stringify(msg));
  }

  /**
   * Asks the relay for video up to simulcast layer `layer` of every publisher (0–2; null:
   * no video at all), now or as soon as the data channel opens (§13.4).
   * @param {number|null} layer
   */
  setMaxLayer(layer) {
    if (layer === this.maxLayer) return;
    this.maxLayer = layer;
    this.send({ type: 'layer', max_layer: layer });
  }

  /**
   * Mutes or unmutes the microphone (the sender keeps running; silence is sent).
   * @param {boolean} muted
   */
  setMuted(muted) {
    for (const t of this.stream.getAudioTracks()) t.enabled = !muted;
  }

  /** Leaves: tells the relay, deletes the WHIP resource and closes the connection. */
  async close() {
    try {
      this.send({ type: 'leave' });
      if (this.location) {
        await this.api.deleteSession(this.location, await ticketAuthorization(this.ticket, ''));
      }
    } catch {
      // best effort: the control plane's `left` closes the session anyway
    } finally {
      if (this.pc) this.pc.close();
      this.pc = null;
    }
  }

  /**
   * Inbound RTP statistics per mid.
   * @returns {Promise<object[]>} [{mid, kind, source_id, packetsReceived, framesDecoded, totalSamplesReceived, audioLevel, totalAudioEnergy, bytesReceived}]
   */
  async inboundStats() {
    if (!this.pc) return [];
    const out = [];
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      const info = this.tracks.get(String(s.mid)) ?? {};
      out.push({
        mid: s.mid,
        kind: s.kind,
        source_id: info.source_id ?? null,
        packetsReceived: s.packetsReceived ?? 0,
        bytesReceived: s.bytesReceived ?? 0,
        framesDecoded: s.framesDecoded ?? 0,
        framesReceived: s.framesReceived ?? 0,
        frameWidth: s.frameWidth ?? 0,
        totalSamplesReceived: s.totalSamplesReceived ?? 0,
        audioLevel: s.audioLevel ?? 0,
        totalAudioEnergy: s.totalAudioEnergy ?? 0,
      });
    });
    return out;
  }

  /** @returns {Promise<object[]>} outbound RTP statistics (one per simulcast layer) */
  async outboundStats() {
    if (!this.pc) return [];
    const out = [];
    (await this.pc.getStats()).forEach((s) => {
      if (s.type !== 'outbound-rtp') return;
      out.push({
        kind: s.kind,
        rid: s.rid ?? null,
        packetsSent: s.packetsSent ?? 0,
        framesEncoded: s.framesEncoded ?? 0,
        frameWidth: s.frameWidth ?? 0,
      });
    });
    return out;
  }
}

function preferCodec(transceiver, mime) {
  if (typeof RTCRtpSender.getCapabilities !== 'function' || !transceiver.setCodecPreferences) return;
  const caps = RTCRtpSender.getCapabilities(mime.split('/')[0]);
  if (!caps) return;
  const want = caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime.toLowerCase());
  const rtx = caps.codecs.filter((c) => c.mimeType.toLowerCase().endsWith('/rtx'));
  if (want.length === 0) return;
  try {
    transceiver.setCodecPreferences([...want, ...rtx]);
  } catch {
    // keep the browser's default order
  }
}
