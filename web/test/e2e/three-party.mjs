// End-to-end test of the browser client against the real relay: three browsers (alice,
// bob, carol), a native participant (dave, the `conclave` CLI sending VP8/Opus codec
// frames from fixture files) and a browser with a wrong meeting key (eve, test hook
// `?test_wrong_key=1`). Alice calls the others from the page; they accept.
//
// Asserts: every browser decodes every other browser's and dave's video and audio (carol
// through the createEncodedStreams() fallback); eve receives packets, decodes no frame and
// counts decrypt failures; when bob leaves, alice rekeys and carol and dave follow; alice's
// mute silences her at carol's; alice leaving ends the meeting; dave decrypted alice's,
// bob's and carol's frames. Saves a screenshot of alice's page and prints its path.
//
// Environment: CONCLAVE_BIN_DIR (default: ${CARGO_TARGET_DIR:-target}/debug of the
// workspace), CHROMIUM (default /usr/bin/chromium), CONCLAVE_E2E_OUT (default:
// ${CARGO_TARGET_DIR:-target}/browser-test).

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startDevServer } from './dev-server.mjs';

const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
const WEB = join(ROOT, 'web');
const TARGET = resolve(ROOT, process.env.CARGO_TARGET_DIR ?? 'target');
const BIN = resolve(process.env.CONCLAVE_BIN_DIR ?? join(TARGET, 'debug'));
const OUT = process.env.CONCLAVE_E2E_OUT ?? join(TARGET, 'browser-test');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const FIXTURES = join(WEB, 'test', 'fixtures');
/** The whole test must end well within 3 minutes. */
const TEST_BUDGET_MS = 170_000;
const DAVE_SECONDS = 40;

const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-device-for-media-stream=fps=30', '--use-fake-ui-for-media-stream',
  '--allow-loopback-in-peer-connection', '--autoplay-policy=no-user-gesture-required',
];

const RELAY_CONFIG = `web_root = ${JSON.stringify(WEB)}

[limits]
bundle_burst = 1000000
bundle_per_second = 1000000.0

[media]
bind = "127.0.0.1:0"
workers = 1
`;

const started = Date.now();
const children = [];
const cleanups = [];
let failed = false;

function log(...a) {
  console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s]`, ...a);
}

function check(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
  log(`ok: ${what}`);
}

async function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
    s.on('error', rej);
  });
}

async function waitTcp(port, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((res) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); res(true); });
      c.on('error', () => res(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, ms, every = 500) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(every);
  }
}

function run(cmd, args, opts = {}) {
  return new Promise((res, rej) => {
    execFile(cmd, args, { timeout: 60_000, ...opts }, (err, stdout, stderr) => {
      if (err) rej(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else res(stdout);
    });
  });
}

function jsonLines(text) {
  return text.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => {
    try { return JSON.parse(l); } catch { return null; }
  }).filter(Boolean);
}

function startProcess(name, cmd, args, opts) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.push(child);
  const p = { child, out: '', err: '', exited: null };
  child.stdout.on('data', (d) => { p.out += d; });
  child.stderr.on('data', (d) => { p.err += d; });
  p.exit = new Promise((r) => child.on('exit', (code, sig) => { p.exited = { code, sig }; r(p.exited); }));
  return p;
}

/** Console reports of the pages about content-security-policy violations. */
const cspViolations = [];

async function registerPage(browser, base, name, query = '') {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log(`${name} console.${m.type()}: ${m.text()}`);
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(`${name}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log(`${name} page error: ${e.message}`));
  await page.goto(`${base}/${query}`);
  await page.waitForFunction(() => window.conclave && window.conclave.phase() === 'unregistered', null, { timeout: 20_000 });
  await page.fill('#username', name);
  await page.click('#register');
  await page.waitForFunction(() => window.conclave.phase() === 'ready', null, { timeout: 60_000 });
  const account = await page.evaluate(() => window.conclave.account());
  log(`${name} registered: device ${account.device_id}`);
  return { name, context, page, account };
}

async function pageStats(p) {
  return p.page.evaluate(() => window.conclave.stats());
}

/** Inbound media of one sender index: video frames decoded, audio samples, packets. */
function inboundOf(stats, index) {
  const rows = stats.inbound.filter((s) => s.sender_index === index);
  const v = rows.filter((s) => s.kind === 'video');
  const a = rows.filter((s) => s.kind === 'audio');
  return {
    framesDecoded: v.reduce((x, s) => x + s.framesDecoded, 0),
    samples: a.reduce((x, s) => x + s.totalSamplesReceived, 0),
    energy: a.reduce((x, s) => x + s.totalAudioEnergy, 0),
    packets: rows.reduce((x, s) => x + s.packetsReceived, 0),
  };
}

async function main() {
  for (const f of [join(BIN, 'conclave-relay'), join(BIN, 'conclave'), CHROMIUM]) {
    if (!existsSync(f)) throw new Error(`${f} is missing (build the debug binaries: cargo build -p conclave-relay -p conclave-client)`);
  }
  await mkdir(OUT, { recursive: true });
  const tmp = await mkdtemp(join(os.tmpdir(), 'conclave-e2e-'));
  cleanups.push(() => rm(tmp, { recursive: true, force: true }));

  // --- the relay ---
  await writeFile(join(tmp, 'relay.toml'), RELAY_CONFIG);
  const port = await freePort();
  const relayUrl = `http://127.0.0.1:${port}`;
  const relay = startProcess('relay', join(BIN, 'conclave-relay'),
    ['--config', 'relay.toml', '--listen', `127.0.0.1:${port}`, '--media-bind', '127.0.0.1:0'],
    { cwd: tmp, env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } });
  cleanups.push(async () => {
    if (failed) log(`relay log:\n${relay.out}\n${relay.err}`.slice(-8000));
  });
  await waitTcp(port, 30_000);
  log(`relay on ${relayUrl}`);

  // The relay serves the client at `/`; a development front does it for relays that don't.
  let base = relayUrl;
  const index = await fetch(`${relayUrl}/`).then((r) => (r.ok ? r.text() : '')).catch(() => '');
  if (!index.includes('app/main.js')) {
    const front = await startDevServer(relayUrl);
    cleanups.push(() => front.close());
    base = front.url;
    log(`the relay does not serve the web client: using a front on ${base}`);
  }

  // --- dave, the native participant ---
  const daveDir = join(tmp, 'dave');
  await run(join(BIN, 'conclave'), ['register', '--relay', relayUrl, '--dir', daveDir, '--username', 'dave', '--json']);
  log('dave registered');

  // --- the browsers ---
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS, headless: true });
  cleanups.push(() => browser.close());
  const alice = await registerPage(browser, base, 'alice');
  const bob = await registerPage(browser, base, 'bob');
  // Carol's page uses the createEncodedStreams() fallback (test hook), the others
  // RTCRtpScriptTransform.
  const carol = await registerPage(browser, base, 'carol', '?test_transform=legacy');
  const eve = await registerPage(browser, base, 'eve', '?test_wrong_key=1');

  // --- alice calls ---
  await alice.page.fill('#call-users', 'bob, carol, dave, eve');
  await alice.page.click('#call');
  await alice.page.waitForFunction(() => window.conclave.phase() === 'joining' || window.conclave.phase() === 'in-meeting', null, { timeout: 30_000 });
  const meetingId = (await pageStats(alice)).meeting_id;
  log(`alice called: meeting ${meetingId}`);

  for (const p of [bob, carol, eve]) {
    const sel = `#invites li[data-meeting-id="${meetingId}"] button.accept`;
    await p.page.waitForSelector(sel, { timeout: 30_000 });
    await p.page.click(sel);
    log(`${p.name} accepted`);
  }

  // dave: fetch the invitation, then stay in the meeting with VP8 and Opus from files.
  const inbox = await run(join(BIN, 'conclave'), ['inbox', '--dir', daveDir, '--json']);
  check(inbox.includes(meetingId), 'dave (native) opened the invitation sealed by alice\'s browser');
  const dave = startProcess('dave', join(BIN, 'conclave'), [
    'accept', '--dir', daveDir, meetingId, '--json', '--duration', String(DAVE_SECONDS),
    '--media', `vp8:${join(FIXTURES, 'vp8.ivf')}`, '--media', `opus:${join(FIXTURES, 'opus.ogg')}`,
  ]);
  cleanups.push(async () => {
    if (failed) log(`dave output:\n${dave.out.slice(-4000)}\n${dave.err.slice(-4000)}`);
  });
  log('dave accepted');

  for (const p of [alice, bob, carol, eve]) {
    await p.page.waitForFunction(() => window.conclave.phase() === 'in-meeting', null, { timeout: 30_000 });
  }
  log('every page is connected');

  const modes = await Promise.all([alice, bob, carol, eve].map(async (p) => `${p.name} ${(await pageStats(p)).transform}`));
  check(modes.join(', ') === 'alice script, bob script, carol legacy, eve script', `encoded transforms: ${modes.join(', ')}`);

  // Sender indexes from alice's roster (alice 0, then bob, carol, dave, eve as called).
  const roster = (await pageStats(alice)).roster;
  const indexOf = (deviceId) => roster.find((r) => r.device_id === deviceId)?.index;
  const browsers = [alice, bob, carol];
  for (const p of [...browsers, eve]) p.index = indexOf(p.account.device_id);
  const daveIndex = roster.map((r) => r.index).find((i) => ![...browsers, eve].some((p) => p.index === i));
  check(roster.length === 5 && daveIndex != null, `the roster has 5 participants (dave is #${daveIndex})`);

  // --- media flows: every browser decodes every other browser and dave ---
  const first = new Map();
  for (const p of browsers) {
    const others = [...browsers.filter((q) => q !== p).map((q) => ({ name: q.name, index: q.index })), { name: 'dave', index: daveIndex }];
    const s1 = await waitFor(`${p.name} decoding video and audio of ${others.map((o) => o.name).join(', ')}`, async () => {
      const s = await pageStats(p);
      return others.every((o) => {
        const m = inboundOf(s, o.index);
        return m.framesDecoded > 0 && m.samples > 0;
      }) ? s : null;
    }, 60_000);
    first.set(p, s1);
  }
  // Every pair's decoded frames must grow; on a loaded machine a decoder may wait for a
  // key frame for a while, so allow up to 20 s before judging.
  const grown = async () => {
    for (const p of browsers) {
      const s2 = await pageStats(p);
      const others = [...browsers.filter((q) => q !== p), { index: daveIndex }];
      if (!others.every((o) => inboundOf(s2, o.index).framesDecoded > inboundOf(first.get(p), o.index).framesDecoded)) {
        return false;
      }
    }
    return true;
  };
  const until = Date.now() + 20_000;
  await sleep(2000);
  while (!(await grown()) && Date.now() < until) await sleep(500);
  for (const p of browsers) {
    const s2 = await pageStats(p);
    const others = [...browsers.filter((q) => q !== p), { name: 'dave', index: daveIndex }];
    for (const o of others) {
      const a = inboundOf(first.get(p), o.index);
      const b = inboundOf(s2, o.index);
      check(b.framesDecoded > a.framesDecoded, `${p.name} decodes ${o.name}'s video (frames ${a.framesDecoded} → ${b.framesDecoded})`);
      check(b.samples > 0, `${p.name} receives ${o.name}'s audio (${b.samples} samples)`);
    }
    const e = s2.e2ee.senders[eve.index];
    check(e && e.decrypted === 0, `${p.name} decrypts nothing of eve's (${e ? Object.entries(e.failures).map(([k, v]) => `${k} ${v}`).join(', ') : 'no frames'})`);
  }

  for (const p of browsers) {
    const s = await pageStats(p);
    const parts = Object.entries(s.e2ee.senders).map(([i, c]) => {
      const f = Object.entries(c.failures).map(([k, v]) => `${k} ${v}`).join(' ');
      return `#${i}: opened ${c.decrypted}${f ? `, dropped ${f}` : ''}`;
    });
    log(`${p.name} (#${p.index}) frames by sender: ${parts.join('; ')}`);
  }

  // --- eve: packets arrive, nothing opens, nothing is decoded ---
  const es = await pageStats(eve);
  const packets = es.inbound.reduce((x, s) => x + s.packetsReceived, 0);
  const decoded = es.inbound.filter((s) => s.kind === 'video').reduce((x, s) => x + s.framesDecoded, 0);
  const failures = Object.values(es.e2ee.mids).reduce((x, m) => x + Object.values(m.failures).reduce((a, b) => a + b, 0), 0);
  const opened = Object.values(es.e2ee.mids).reduce((x, m) => x + m.decrypted, 0);
  check(packets > 0, `eve receives packets (${packets})`);
  check(failures > 0 && opened === 0, `eve opens no frame and counts ${failures} decrypt failures`);
  check(decoded === 0, 'eve decodes no video frame');

  // --- the roster code is the same everywhere ---
  const codes = await Promise.all([...browsers, eve].map(async (p) => (await pageStats(p)).roster_code));
  check(new Set(codes).size === 1 && codes[0], `every page shows roster code ${codes[0]}`);

  // --- screenshot ---
  const shot = join(OUT, 'three-party.png');
  await alice.page.screenshot({ path: shot, fullPage: true });
  log(`screenshot: ${shot}`);

  // --- simulcast: carol's grid of four remote tiles asks the relay for the middle layer; she
  // takes the lowest by hand, then the grid's again. Each time alice's video at carol turns
  // into the layer alice sends at that width, and carol keeps decoding it. ---
  const carolLayer = (await pageStats(carol)).max_layer;
  check(carolLayer === 1, `carol's grid of four remote tiles asks for layer 1 (max_layer ${carolLayer})`);
  const aliceWidths = async () => {
    const out = (await pageStats(alice)).outbound.filter((o) => o.kind === 'video');
    return Object.fromEntries(out.map((o) => [o.rid, o.frameWidth]));
  };
  const carolSeesAlice = async () => {
    const v = (await pageStats(carol)).inbound.filter((x) => x.kind === 'video' && x.sender_index === alice.index);
    return { width: Math.max(0, ...v.map((x) => x.frameWidth)), frames: v.reduce((x, y) => x + y.framesDecoded, 0) };
  };
  for (const [choice, rid, what] of [[0, 'l0', 'the lowest layer, chosen by hand'], [undefined, 'l1', 'the grid\'s layer again']]) {
    await carol.page.evaluate((l) => window.conclave.preferLayer(l), choice);
    const at = await waitFor(`carol receiving alice's ${rid}`, async () => {
      const w = await aliceWidths();
      const seen = await carolSeesAlice();
      return w.l0 > 0 && w.l1 > w.l0 && seen.width === w[rid] ? seen : null;
    }, 20_000);
    const on = await waitFor(`carol decoding alice's ${rid}`, async () => {
      const seen = await carolSeesAlice();
      return seen.frames >= at.frames + 5 ? seen : null;
    }, 20_000);
    check(on.width === at.width, `carol gets ${what}: alice's ${rid} (${at.width} px wide), decoded on (frames ${at.frames} → ${on.frames})`);
  }

  // --- bob leaves: alice (the initiator) rekeys the others to epoch 1 without him ---
  await bob.page.click('#leave');
  await bob.page.waitForFunction(() => window.conclave.phase() === 'ready', null, { timeout: 20_000 });
  log('bob left');
  await waitFor('alice\'s rekey to epoch 1', async () => {
    const s = await pageStats(alice);
    return s.epoch === 1 && s.e2ee.send_epoch === 1 && !s.roster.some((r) => r.device_id === bob.account.device_id);
  }, 20_000);
  check(true, 'alice rekeyed to epoch 1 without bob');
  await waitFor('carol opening alice\'s epoch-1 frames', async () => {
    const s = await pageStats(carol);
    return s.epoch === 1 && Object.values(s.e2ee.mids).some((m) => m.sender_index === alice.index && m.epoch === 1 && m.decrypted > 0);
  }, 20_000);
  check(true, 'carol installed the rekey and opens alice\'s frames of epoch 1');
  const cs1 = inboundOf(await pageStats(carol), alice.index);
  await sleep(1500);
  const cs2 = inboundOf(await pageStats(carol), alice.index);
  check(cs2.framesDecoded > cs1.framesDecoded, `carol still decodes alice's video after the rekey (${cs1.framesDecoded} → ${cs2.framesDecoded})`);

  // --- alice mutes: carol hears silence from her (energy stops growing) ---
  const e0 = inboundOf(await pageStats(carol), alice.index).energy;
  await sleep(2000);
  const e1 = inboundOf(await pageStats(carol), alice.index).energy;
  await alice.page.click('#mute');
  await sleep(1000);
  const e2 = inboundOf(await pageStats(carol), alice.index).energy;
  await sleep(2000);
  const e3 = inboundOf(await pageStats(carol), alice.index).energy;
  check(e1 > e0 && e3 - e2 < (e1 - e0) / 20, `alice's mute silences her audio at carol's (energy +${(e1 - e0).toFixed(4)} before, +${(e3 - e2).toFixed(6)} muted)`);
  const outbound = await alice.page.evaluate(async () => (await window.conclave.stats()).outbound);
  log(`alice sends: ${outbound.map((o) => `${o.kind}${o.rid ? ` ${o.rid}` : ''} ${o.framesEncoded || o.packetsSent}`).join(', ')}`);

  // --- alice (the initiator) leaves: that ends the meeting for everyone ---
  await alice.page.click('#leave');
  for (const p of [alice, carol, eve]) {
    await p.page.waitForFunction(() => window.conclave.phase() === 'ready', null, { timeout: 15_000 });
  }
  check(true, 'alice left, which ended the meeting: every page is back home');

  // --- dave's own counters ---
  const final = await waitFor('dave\'s media_final', () => jsonLines(dave.out).find((e) => e.event === 'media_final'), (DAVE_SECONDS + 15) * 1000);
  for (const p of browsers) {
    const part = final.participants.find((x) => x.device_id === p.account.device_id);
    check(part && part.decrypted > 0, `dave decrypted ${part ? part.decrypted : 0} frames of ${p.name}`);
  }
  check(jsonLines(dave.out).some((e) => e.event === 'epoch_switched' && e.epoch === 1), 'dave followed the rekey to epoch 1');
  const davesEve = final.participants.find((x) => x.device_id === eve.account.device_id);
  check(!davesEve || davesEve.decrypted === 0, 'dave decrypts nothing of eve\'s');
  // The relay serves the page with a strict content security policy; the client needs
  // nothing it forbids.
  check(cspViolations.length === 0, `no page broke the content security policy${cspViolations.length ? `: ${cspViolations.join('; ')}` : ''}`);
  log(`passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

const budget = setTimeout(() => {
  console.error(`[e2e] the test exceeded ${TEST_BUDGET_MS / 1000} s`);
  failed = true;
  shutdown(1);
}, TEST_BUDGET_MS);

async function shutdown(code) {
  for (const c of cleanups.reverse()) {
    try { await c(); } catch { /* keep cleaning */ }
  }
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
  clearTimeout(budget);
  process.exit(code);
}

main().then(() => shutdown(0), (e) => {
  failed = true;
  console.error(`[e2e] FAILED: ${e.stack ?? e}`);
  shutdown(1);
});
