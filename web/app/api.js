// The relay's control API (docs/API.md) as seen from a browser: JSON over fetch, the push
// WebSocket, and the WHIP-style WebRTC signalling of docs/PROTOCOL.md §13.2.

/** An error answer of the relay: HTTP status plus the stable error code. */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status
   * @param {string} code the relay's error code (e.g. "conflict"), or "network"
   * @param {string} message human text
   */
  constructor(status, code, message) {
    super(`${code}: ${message}`);
    this.status = status;
    this.code = code;
  }
}

async function errorOf(res) {
  let code = `http_${res.status}`;
  let message = res.statusText;
  try {
    const body = await res.json();
    if (body && body.error && typeof body.error.code === 'string') {
      code = body.error.code;
      message = String(body.error.message ?? '');
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message);
}

/** A client of one relay, optionally authenticated as one principal. */
export class RelayApi {
  /**
   * @param {string} base the relay's base URL (the page's origin)
   * @param {string|null} credential bearer credential, e.g. `dev:<user_hash>:<device_id>`
   */
  constructor(base, credential = null) {
    this.base = base.replace(/\/$/, '');
    this.credential = credential;
  }

  /**
   * A client for the same relay with another credential.
   * @param {string} credential
   * @returns {RelayApi}
   */
  withCredential(credential) {
    return new RelayApi(this.base, credential);
  }

  async request(method, path, body, okStatuses = [200, 201, 204]) {
    const headers = {};
    if (this.credential) headers.Authorization = `Bearer ${this.credential}`;
    const init = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(this.base + path, init);
    } catch (e) {
      throw new ApiError(0, 'network', String(e && e.message ? e.message : e));
    }
    if (!okStatuses.includes(res.status)) throw await errorOf(res);
    if (res.status === 204) return null;
    const text = await res.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'bad_response', `${method} ${path}: not JSON`);
    }
  }

  /** @returns {Promise<{version:string, username_salt:string, retention_s:number, max_container_bytes:number}>} */
  info() { return this.request('GET', '/v1/info'); }
  /** @returns {Promise<{now_ms:number}>} */
  clock() { return this.request('GET', '/v1/clock'); }
  /** @param {string} userHash */
  createUser(userHash) { return this.request('POST', '/v1/users', { user_hash: userHash }); }
  /** @param {string} userHash @param {string} certificateB64 */
  registerDevice(userHash, certificateB64) {
    return this.request('POST', `/v1/users/${userHash}/devices`, { certificate: certificateB64 });
  }
  /** @param {string} userHash */
  listDevices(userHash) { return this.request('GET', `/v1/users/${userHash}/devices`); }
  /** @param {string} deviceId @param {{id:number, public_key:string, signature:string}[]} prekeys */
  uploadPrekeys(deviceId, prekeys) {
    return this.request('POST', `/v1/devices/${deviceId}/prekeys`, { prekeys });
  }
  /** @param {string} deviceId */
  poolSize(deviceId) { return this.request('GET', `/v1/devices/${deviceId}/prekeys`); }
  /** @param {string} userHash @returns {Promise<{user_hash:string, devices:object[]}>} */
  fetchBundle(userHash) { return this.request('GET', `/v1/users/${userHash}/bundle`); }
  /** @param {string} containerB64 */
  postContainer(containerB64) { return this.request('POST', '/v1/messages', { container: containerB64 }); }
  /** @param {number} limit */
  fetchMessages(limit = 50) { return this.request('GET', `/v1/messages?limit=${limit}`); }
  /** @param {string} containerId */
  acknowledge(containerId) { return this.request('DELETE', `/v1/messages/${containerId}`); }
  /** @param {string} meetingId */
  createMeeting(meetingId) { return this.request('POST', '/v1/meetings', { meeting_id: meetingId }); }
  /** @param {string} meetingId */
  meeting(meetingId) { return this.request('GET', `/v1/meetings/${meetingId}`); }
  /** @param {string} meetingId @param {string} deviceId @param {string} state */
  setMember(meetingId, deviceId, state) {
    return this.request('POST', `/v1/meetings/${meetingId}/members`, { device_id: deviceId, state });
  }
  /** @param {string} meetingId @returns {Promise<object>} the join ticket */
  join(meetingId) { return this.request('POST', `/v1/meetings/${meetingId}/join`); }
  /** @param {string} meetingId */
  endMeeting(meetingId) { return this.request('POST', `/v1/meetings/${meetingId}/end`); }

  /** @returns {string} the push WebSocket URL (credential in the query) */
  pushUrl() {
    const u = new URL(this.base + '/v1/push');
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.credential) u.searchParams.set('token', this.credential);
    return u.toString();
  }

  /**
   * Posts an SDP offer (PROTOCOL §13.2).
   * @param {string} path the ticket's offer path
   * @param {string} sdp the offer
   * @param {string} authorization the `Ticket …` header value
   * @returns {Promise<{sdp:string, location:string|null}>}
   */
  async postOffer(path, sdp, authorization) {
    let res;
    try {
      res = await fetch(this.base + path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: authorization },
        body: sdp,
      });
    } catch (e) {
      throw new ApiError(0, 'network', String(e && e.message ? e.message : e));
    }
    if (res.status !== 201 && res.status !== 200) throw await errorOf(res);
    return { sdp: await res.text(), location: res.headers.get('Location') };
  }

  /**
   * Ends a WebRTC session (DELETE on its Location).
   * @param {string} location
   * @param {string} authorization
   */
  async deleteSession(location, authorization) {
    const url = new URL(location, this.base + '/').toString();
    const res = await fetch(url, { method: 'DELETE', headers: { Authorization: authorization } });
    if (res.status !== 204 && res.status !== 200 && res.status !== 404) throw await errorOf(res);
  }
}
