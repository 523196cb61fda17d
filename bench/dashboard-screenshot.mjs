#!/usr/bin/env node
// dashboard-screenshot.mjs: the screenshot of a busy portico's /status in docs/ (issue 26).
//
//   npm run build && node bench/dashboard-screenshot.mjs [MINUTES]      (default 8; writes docs/dashboard.png)
//
// Starts the built portico (dist/cli.js) on free loopback ports with a scene: an app "shop" of two
// workers (portico supervises them; answers take 2-60 ms, a few are 404 or 500, one worker's memory
// grows towards its limit), a route "api" with a healthy upstream and one that refuses connections,
// a route "legacy" whose upstream goes away for a minute and comes back. Traffic runs the whole time
// (keep-alive and new connections, some to hosts no route serves). Along the way a worker is killed
// (the supervisor restarts it) and the config is reloaded. Then headless Chromium (Debian's, through
// playwright-core) takes the page at 1280 px wide, light and dark. Everything stays on 127.0.0.1 and
// stops by itself.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MINUTES = Number(process.argv[2] ?? 8);
const dir = mkdtempSync(join(tmpdir(), 'portico-shot-'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); }); });
const log = (msg) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

// the app portico supervises: log-normal latency around 10 ms, 3 % 404, 1 % 500; GET /grow keeps 4 MiB
writeFileSync(join(dir, 'shop.mjs'), `import http from 'node:http';
const kept = [];
http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('ok\\n');
  if (req.url === '/grow') { kept.push(Buffer.alloc(4 << 20, 1)); return res.end('grown\\n'); }
  const delay = Math.exp(Math.log(9) + 0.8 * (Math.random() + Math.random() + Math.random() - 1.5));
  setTimeout(() => {
    const r = Math.random();
    if (r < 0.01) { res.statusCode = 500; return res.end('oops\\n'); }
    if (r < 0.04) { res.statusCode = 404; return res.end('not here\\n'); }
    let x = 0; for (let i = 0; i < 30000; i++) x += Math.sqrt(i);
    res.end('hello ' + x + '\\n');
  }, delay);
}).listen(Number(process.env.PORT), '127.0.0.1');
`);

const [https_, admin, api, dead, legacy, shopPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
const upstream = (port, ms) => http.createServer((req, res) => setTimeout(() => res.end('ok\n'), ms + Math.random() * ms)).listen(port, '127.0.0.1');
const apiServer = upstream(api, 3);
let legacyServer = upstream(legacy, 20);

const config = (extra = '') => `[server]
https = "127.0.0.1:${https_}"
http = ""
[tls]
dir = "certs"
[storage]
dir = "state"
[admin]
listen = "127.0.0.1:${admin}"
[log]
level = "warn"
format = "json"
access = false
${extra}
[[routes]]
name = "shop"
hosts = ["shop.example.test", "www.example.test"]
app = "shop"
tls = "self-signed"
balance = "least_requests"
compress = ["br", "gzip"]
hsts = "max-age=31536000"
[routes.health]
path = "/healthz"
interval = "2s"
[[routes]]
name = "api"
hosts = ["api.example.test"]
upstreams = ["http://127.0.0.1:${api}", "http://127.0.0.1:${dead}"]
tls = "self-signed"
rate_limit = "200 in 1s"
[routes.health]
path = "/"
interval = "2s"
[[routes]]
name = "legacy"
hosts = ["legacy.example.test"]
upstreams = ["http://127.0.0.1:${legacy}"]
tls = "self-signed"
[routes.health]
path = "/"
interval = "2s"
[[routes]]
name = "old-domain"
hosts = ["old.example.test"]
redirect = "https://shop.example.test"
tls = "self-signed"
[[apps]]
name = "shop"
command = [${JSON.stringify(process.execPath)}, "shop.mjs"]
workers = 2
port = ${shopPort}
memory = "160MiB"
`;
writeFileSync(join(dir, 'config.toml'), config());
const portico = spawn(process.execPath, ['--max-semi-space-size=4', join(ROOT, 'dist', 'cli.js'), 'run', '--config', join(dir, 'config.toml')], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
const stopAll = () => { portico.kill('SIGTERM'); apiServer.close(); legacyServer.close(); };
process.on('exit', () => portico.kill('SIGKILL'));
const adminGet = (path) => new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port: admin, path }, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve(b)); }).on('error', reject));
for (let i = 0; ; i++) {
  try { if ((await adminGet('/readyz')).startsWith('ready')) break; } catch { /* not yet */ }
  if (i > 300) throw new Error('portico did not get ready');
  await sleep(100);
}
log(`portico ready: https 127.0.0.1:${https_}, admin http://127.0.0.1:${admin}/status; ${MINUTES} min of traffic`);

// traffic: about 60-150 requests/s in waves; 80 % keep-alive, the rest new connections (they resume
// their TLS session), a few to a host no route serves
const keep = new https.Agent({ keepAlive: true, maxSockets: 6, rejectUnauthorized: false });
const fresh = new https.Agent({ keepAlive: false, rejectUnauthorized: false });
const hosts = [['shop.example.test', 0.62], ['www.example.test', 0.08], ['api.example.test', 0.2], ['legacy.example.test', 0.07], ['nothing.example.test', 0.03]];
const pick = () => { let r = Math.random(); for (const [h, p] of hosts) if ((r -= p) < 0) return h; return hosts[0][0]; };
const one = (path = '/') => {
  const host = pick();
  const req = https.request({ host: '127.0.0.1', port: https_, servername: host === 'nothing.example.test' ? 'shop.example.test' : host, path, headers: { host }, agent: Math.random() < 0.8 ? keep : fresh }, (res) => res.resume());
  req.on('error', () => {});
  req.end();
};
const start = Date.now();
const end = start + MINUTES * 60_000;
const load = setInterval(() => {
  const t = (Date.now() - start) / 1000;
  const rate = 95 + 45 * Math.sin(t / 47) + 15 * Math.sin(t / 11);
  for (let i = 0; i < rate / 20; i++) one();
}, 50);

// the story: memory grows in one worker; legacy's upstream goes away and comes back; a worker is
// killed (restarted by the supervisor); the config is reloaded
const at = (fraction, what, fn) => setTimeout(() => { log(what); fn(); }, fraction * MINUTES * 60_000);
const grow = setInterval(() => { for (let i = 0; i < 2; i++) http.get({ host: '127.0.0.1', port: shopPort, path: '/grow' }, (r) => r.resume()).on('error', () => {}); }, (MINUTES * 60_000) / 22);
at(0.3, 'legacy upstream stops', () => legacyServer.close());
at(0.45, 'legacy upstream is back', () => (legacyServer = upstream(legacy, 20)));
at(0.6, 'kill app worker 1 (the supervisor restarts it)', async () => {
  const s = JSON.parse(await adminGet('/status.json'));
  const pid = s.apps[0].workers.find((w) => w.index === 1)?.pid;
  if (pid) process.kill(pid, 'SIGKILL');
});
at(0.75, 'reload (SIGHUP) with a longer shutdown_grace', () => {
  writeFileSync(join(dir, 'config.toml'), config().replace('[tls]', 'shutdown_grace = "20s"\n[tls]'));
  portico.kill('SIGHUP');
});
await sleep(end - Date.now());
clearInterval(grow);

log('screenshots');
const context = await chromium.launchPersistentContext(join(dir, 'chromium'), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--hide-scrollbars'],
  viewport: { width: 1280, height: 800 },
});
for (const [scheme, file] of [['light', 'dashboard.png'], ['dark', 'dashboard-dark.png']]) {
  const page = await context.newPage();
  await page.emulateMedia({ colorScheme: scheme });
  await page.goto(`http://127.0.0.1:${admin}/status`, { waitUntil: 'load' });
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(ROOT, 'docs', file), fullPage: true });
  log(`docs/${file}`);
}
await context.close();
clearInterval(load);
writeFileSync(join(dir, 'status.txt'), await adminGet('/status.json'));
stopAll();
log(`done (scene files in ${dir}); status.json: ${readFileSync(join(dir, 'status.txt'), 'utf8').length} bytes`);
process.exit(0);
