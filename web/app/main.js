// The page: registration, calling, invitations, and the meeting view. State for tests is
// exposed on `window.conclave`.
//
// Test hooks (used by web/test/e2e; they change nothing else):
// `?test_wrong_key=1` makes this page use a corrupted meeting key after it accepts an
// invitation (nobody can open its frames and it can open nobody's: the test of
// undecryptable media); `?test_transform=legacy` uses createEncodedStreams() even where
// RTCRtpScriptTransform exists.

import { Account } from './account.js';
import { Room } from './room.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const wrongKey = params.get('test_wrong_key') === '1';
const transform = params.get('test_transform');

const state = {
  phase: 'loading',
  account: null,
  room: null,
  events: [],
  error: null,
};

function status(text, isError = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', isError);
  if (isError) state.error = text;
}

function show(view) {
  for (const v of ['register-view', 'home-view', 'meeting-view']) $(v).hidden = v !== view;
}

function setPhase(phase) {
  state.phase = phase;
  document.body.dataset.phase = phase;
}

function renderMe() {
  const a = state.account;
  if (!a) return;
  $('me').textContent = `${a.username} · device ${a.deviceId.slice(0, 8)} · fingerprint ${a.fingerprint.slice(0, 16)}`;
  $('me').dataset.state = 'registered';
}

function renderInvites() {
  const a = state.account;
  const list = $('invites');
  list.textContent = '';
  const invites = a ? [...a.invites.values()].sort((x, y) => y.received_ms - x.received_ms) : [];
  $('no-invites').hidden = invites.length > 0;
  for (const inv of invites) {
    const li = document.createElement('li');
    li.dataset.meetingId = inv.meeting_id;
    li.dataset.state = inv.state;
    const from = inv.initiator_username ?? `fingerprint ${inv.initiator_fingerprint.slice(0, 12)}`;
    const text = document.createElement('span');
    text.textContent = `${inv.keys.call_type} call from ${from} · ${inv.keys.roster.length} participants · ${inv.meeting_id.slice(0, 12)}`;
    li.append(text);
    if (inv.state === 'pending') {
      const accept = document.createElement('button');
      accept.className = 'accept';
      accept.textContent = 'Accept';
      accept.onclick = () => act(() => acceptInvite(inv.meeting_id));
      const reject = document.createElement('button');
      reject.className = 'reject';
      reject.textContent = 'Reject';
      reject.onclick = () => act(async () => {
        await a.reject(inv.meeting_id);
        renderInvites();
      });
      li.append(accept, reject);
    } else {
      const s = document.createElement('em');
      s.textContent = inv.state;
      li.append(s);
    }
    list.append(li);
  }
}

async function act(fn) {
  try {
    await fn();
  } catch (e) {
    console.error(e);
    status(e && e.message ? e.message : String(e), true);
  }
}

async function enterRoom(opts) {
  if (state.room) throw new Error('already in a meeting');
  show('meeting-view');
  setPhase('joining');
  $('meeting-id').textContent = opts.keys.meeting_id.slice(0, 16);
  const room = new Room({ ...opts, account: state.account, tilesEl: $('tiles'), transform });
  state.room = room;
  room.addEventListener('local', (e) => {
    $('self-video').srcObject = e.detail.stream;
  });
  room.addEventListener('keys', (e) => {
    $('roster-code').textContent = e.detail.code;
    $('meeting-epoch').textContent = `epoch ${e.detail.epoch}`;
  });
  room.addEventListener('state', (e) => {
    $('meeting-state').textContent = e.detail.state;
    $('meeting-state').dataset.state = e.detail.state;
    if (e.detail.state === 'connected') setPhase('in-meeting');
  });
  room.addEventListener('error', (e) => status(String(e.detail.error?.message ?? e.detail.error), true));
  room.addEventListener('closed', (e) => {
    status(`the relay closed the session (reason ${e.detail.reason})`);
    act(() => room.close(false));
  });
  room.addEventListener('removed', () => status('removed from the meeting'));
  room.addEventListener('left', () => {
    state.room = null;
    $('mute').setAttribute('aria-pressed', 'false');
    $('mute').textContent = 'Mute';
    show('home-view');
    setPhase('ready');
    renderInvites();
  });
  try {
    await room.start();
  } catch (e) {
    // Media could not start: leave properly (the initiator ends the meeting).
    await room.close(true).catch(() => {});
    throw e;
  }
}

async function acceptInvite(meetingId) {
  const a = state.account;
  const inv = a.invites.get(meetingId);
  if (!inv) throw new Error('no such invitation');
  await a.markInvite(meetingId, 'accepted');
  renderInvites();
  status('joining…');
  await enterRoom({
    keys: inv.keys,
    initiatorDevice: inv.initiator_device,
    isInitiator: false,
    wrongKey,
  });
  status('');
}

async function startCall(usernames) {
  const a = state.account;
  status(`calling ${usernames.join(', ')}…`);
  const call = await a.call(usernames);
  status(`invited ${call.devices.length} device(s)`);
  await enterRoom({
    keys: call.keys,
    initiatorDevice: a.deviceId,
    isInitiator: true,
    members: call.members,
  });
}

function onAccountEvent(ev) {
  state.events.push({ type: ev.type, ...ev.detail });
  if (state.events.length > 200) state.events.shift();
  const room = state.room;
  switch (ev.type) {
    case 'invite':
      renderInvites();
      status(`invitation to meeting ${ev.detail.meeting_id.slice(0, 12)}`);
      break;
    case 'rekey':
      if (room && room.meetingId === ev.detail.keys.meeting_id) {
        act(() => room.onRekey(ev.detail.keys, ev.detail.switch_at_ms ?? null));
      }
      break;
    case 'leave':
    case 'member':
      if (room && room.meetingId === ev.detail.meeting_id
          && (ev.type === 'leave' || ['left', 'removed', 'rejected'].includes(ev.detail.state))) {
        room.onDeparture(ev.detail.device_id);
      }
      break;
    case 'meeting_ended':
      if (room && room.meetingId === ev.detail.meeting_id) {
        status('the meeting ended');
        act(() => room.close(false));
      }
      break;
    case 'error':
      status(String(ev.detail.message), true);
      break;
    default:
      break;
  }
}

async function ready(account) {
  state.account = account;
  for (const t of ['invite', 'rekey', 'leave', 'member', 'meeting_ended', 'reject', 'text', 'error']) {
    account.addEventListener(t, onAccountEvent);
  }
  renderMe();
  renderInvites();
  show('home-view');
  setPhase('ready');
  await account.connect();
}

async function boot() {
  $('register-form').onsubmit = (e) => {
    e.preventDefault();
    const name = $('username').value.trim();
    if (!name) return;
    act(async () => {
      $('register').disabled = true;
      status('making keys and registering…');
      try {
        const account = await Account.register(location.origin, name);
        status(`registered ${account.username}`);
        await ready(account);
      } finally {
        $('register').disabled = false;
      }
    });
  };
  $('call-form').onsubmit = (e) => {
    e.preventDefault();
    const users = $('call-users').value.split(/[\s,]+/).filter(Boolean);
    if (users.length) act(() => startCall(users));
  };
  $('mute').onclick = () => {
    const muted = $('mute').getAttribute('aria-pressed') !== 'true';
    $('mute').setAttribute('aria-pressed', String(muted));
    $('mute').textContent = muted ? 'Unmute' : 'Mute';
    if (state.room) state.room.setMuted(muted);
  };
  $('leave').onclick = () => act(async () => {
    if (state.room) await state.room.close(true);
  });

  const account = await Account.load(location.origin);
  if (account) {
    await ready(account);
  } else {
    show('register-view');
    setPhase('unregistered');
  }
}

window.conclave = {
  /** @returns {string} loading | unregistered | ready | joining | in-meeting */
  phase: () => state.phase,
  account: () => state.account && {
    username: state.account.username,
    user_hash: state.account.userHash,
    device_id: state.account.deviceId,
    fingerprint: state.account.fingerprint,
  },
  invites: () => (state.account ? [...state.account.invites.values()].map((i) => ({
    meeting_id: i.meeting_id, state: i.state, initiator_device: i.initiator_device,
  })) : []),
  events: () => state.events.slice(),
  error: () => state.error,
  /** @returns {Promise<object|null>} the meeting's counters (see Room.stats) */
  stats: () => (state.room ? state.room.stats() : Promise.resolve(null)),
  /** Chooses the video layer by hand (0–2, null: none; undefined: by the grid). */
  preferLayer: (layer) => { if (state.room) state.room.preferLayer(layer); },
  wrongKey,
};

boot().catch((e) => {
  console.error(e);
  status(e && e.message ? e.message : String(e), true);
});
