#!/usr/bin/env node
// history-rss.mjs: what the dashboard's history costs in memory (issue 26). Two portico builds side by
// side, same config (4 routes to a local upstream), same light traffic (new and kept-alive connections,
// every route), for longer than the history's 15-minute window so its rings are full; RSS of each
// sampled every 5 s. Then, in this process, the history alone: a History with many routes and app
// workers filled to the window, its heap measured with gc().
//
//   node --expose-gc bench/history-rss.mjs BASE_CLI NEW_CLI [MINUTES]     (default 16)
//   e.g. node --expose-gc bench/history-rss.mjs /tmp/ab-26/dist/cli.js dist/cli.js
//
// Prints one Markdown table; everything on 127.0.0.1, stops by itself.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const [baseCli, newCli, minutes = '16'] = process.argv.slice(2);
if (!baseCli || !newCli) {
  console.error('usage: node --expose-gc bench/history-rss.mjs BASE_CLI NEW_CLI [MINUTES]');
  process.exit(2);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () => new Promise((ok) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); }); });
const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
const mib = (b) => (b / 2 ** 20).toFixed(1);

const upPort = await freePort();
const upstream = http.createServer((req, res) => res.end('ok\n')).listen(upPort, '127.0.0.1');
const ROUTES = ['a', 'b', 'c', 'd'];

async function start(name, cli) {
  const dir = mkdtempSync(join(tmpdir(), `portico-rss-${name}-`));
  mkdirSync(join(dir, 'state'), { mode: 0o700 });
  const [port, admin] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'config.toml'), `[server]\nhttps = "127.0.0.1:${port}"\nhttp = ""\n[tls]\ndir = "certs"\n[storage]\ndir = "state"\n[admin]\nlisten = "127.0.0.1:${admin}"\n[log]\nlevel = "warn"\naccess = false\n` +
    ROUTES.map((r) => `[[routes]]\nname = "${r}"\nhosts = ["${r}.test"]\nupstreams = ["http://127.0.0.1:${upPort}"]\ntls = "self-signed"\n`).join(''));
  const child = spawn(resolve(cli), ['run', '--config', join(dir, 'config.toml')], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => http.get({ host: '127.0.0.1', port: admin, path: '/readyz' }, (res) => { res.resume(); r(res.statusCode === 200); }).on('error', () => r(false)));
    if (ok) break;
    await sleep(100);
  }
  return { name, child, port, admin, rss: [] };
}

const targets = [await start('base', baseCli), await start('new', newCli)];
await sleep(2000);
const idle = targets.map((t) => rssOf(t.child.pid));
const keep = new https.Agent({ keepAlive: true, maxSockets: 4, rejectUnauthorized: false });
const fresh = new https.Agent({ keepAlive: false, rejectUnauthorized: false });
const load = setInterval(() => {
  for (const t of targets) for (const r of ROUTES) {
    const req = https.request({ host: '127.0.0.1', port: t.port, servername: `${r}.test`, headers: { host: `${r}.test` }, agent: Math.random() < 0.2 ? fresh : keep }, (res) => res.resume());
    req.on('error', () => {});
    req.end();
  }
}, 100);
const end = Date.now() + Number(minutes) * 60_000;
while (Date.now() < end) {
  await sleep(5000);
  for (const t of targets) t.rss.push(rssOf(t.child.pid));
}
clearInterval(load);
const history = await new Promise((r) => http.get({ host: '127.0.0.1', port: targets[1].admin, path: '/status/history.json' }, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => r(b)); }).on('error', () => r('')));
for (const t of targets) t.child.kill('SIGTERM');
upstream.close();

const lastMinute = targets.map((t) => median(t.rss.slice(-12)));
console.log(`| | base | new | new − base |\n|---|---|---|---|`);
console.log(`| RSS idle (2 s after start) | ${mib(idle[0])} MiB | ${mib(idle[1])} MiB | ${mib(idle[1] - idle[0])} MiB |`);
console.log(`| RSS, median of the last minute of ${minutes} min of traffic | ${mib(lastMinute[0])} MiB | ${mib(lastMinute[1])} MiB | ${mib(lastMinute[1] - lastMinute[0])} MiB |`);
console.log(`| RSS, peak | ${mib(Math.max(...targets[0].rss))} MiB | ${mib(Math.max(...targets[1].rss))} MiB | |`);
if (history) {
  const h = JSON.parse(history);
  console.log(`\nnew: /status/history.json ${history.length} bytes, ${h.times.length} samples, ${h.memory.series} series, rings ${h.memory.bytes} bytes`);
}

// the history alone, filled: many routes and app workers (dist/ of NEW_CLI)
if (typeof globalThis.gc === 'function') {
  const dist = resolve(newCli, '..');
  const { History } = await import(join(dist, 'lifecycle', 'history.js'));
  const { Metrics } = await import(join(dist, 'metrics.js'));
  for (const [routes, workers] of [[10, 10], [100, 50]]) {
    const m = new Metrics();
    const names = Array.from({ length: routes }, (_, i) => `route-${i}`);
    for (const n of names) m.forRoute(n);
    const apps = [{ name: 'app', state: 'running', error: null, command: [], pre_start: { hash: '', state: 'none', at: null }, memory: { per_worker: 1 << 28, rss_total: 0 },
      workers: Array.from({ length: workers }, (_, i) => ({ index: i, pid: 1000 + i, port: 3000 + i, state: 'running', uptime_s: 1, restarts: 0, rss_bytes: 5e7, cpu_percent: 3, last_exit: null })) }];
    let now = Date.now();
    const held = () => { const u = process.memoryUsage(); return u.heapUsed + u.arrayBuffers; };
    globalThis.gc();
    const before = held();
    const h = new History({ counters: async () => [m.counters()], apps: () => apps, lastReload: () => null, routes: () => names }, { now: () => now });
    for (let i = 0; i < 200; i++) {
      for (const n of names) { const r = m.forRoute(n); r.started += 10; for (let k = 0; k < 10; k++) m.observe(r, 200, 0.002 * (k + 1)); }
      for (let k = 0; k < 20; k++) h.transition({ route: names[k % routes], upstream: `http://u${k}`, from: 'up', to: 'down', reason: 'x'.repeat(80), at: now });
      now += 5000;
      await h.sample();
    }
    globalThis.gc();
    const used = held() - before;
    console.log(`history alone, full window: ${routes} routes, ${workers} app workers, 20 upstreams changing every step: heap + array buffers ${mib(used)} MiB (rings: ${h.toJSON().memory.series} series, ${mib(h.toJSON().memory.bytes)} MiB)`);
  }
}
process.exit(0);
