// A development front for relays that do not serve the web client themselves: serves
// web/ as static files and passes every /v1 request (WebSocket upgrades included) to the
// relay. Usage: node test/e2e/dev-server.mjs RELAY_URL [PORT]  (prints its URL).

import http from 'node:http';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = fileURLToPath(new URL('../../', import.meta.url));
const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.png': 'image/png',
};

/**
 * Starts the front.
 * @param {string} relayUrl e.g. http://127.0.0.1:8443
 * @param {number} [port] 0 for any free port
 * @returns {Promise<{url: string, close: () => Promise<void>}>}
 */
export async function startDevServer(relayUrl, port = 0) {
  const relay = new URL(relayUrl);
  const server = http.createServer(async (req, res) => {
    if (req.url.startsWith('/v1/') || req.url === '/v1') {
      const up = http.request({
        host: relay.hostname, port: relay.port, method: req.method, path: req.url, headers: req.headers,
      }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on('error', () => { res.writeHead(502); res.end(); });
      req.pipe(up);
      return;
    }
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
    if (path.includes('..') || path.includes('node_modules') || path.startsWith('/test')) {
      res.writeHead(404);
      res.end();
      return;
    }
    const file = join(WEB, path === '/' ? 'index.html' : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  server.on('upgrade', (req, socket, head) => {
    const up = net.connect(Number(relay.port), relay.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head && head.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const s = await startDevServer(process.argv[2] ?? 'http://127.0.0.1:8443', Number(process.argv[3] ?? 0));
  console.log(s.url);
}
