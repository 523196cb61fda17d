#!/usr/bin/env node
// bench/hostile.mjs: the hostile-client bench of issue 23, run by bench/hostile.sh (`npm run bench:hostile`).
//
// Starts two recording upstreams (in this process, so a client's cancel and the upstream's view of the
// abort are on one clock), runs portico from dist/ as a child process (pinned to PROXY_CPUS with taskset
// when available) with both upstreams on one route (passive max_fails = 3 in 10s, health checks on), and
// for SECONDS runs at once:
//   normal        keep-alive HTTPS GETs (h1, NORMAL_CONC at a time) and h2 GETs on one session, each checked
//                 (200 and the exact body): every failure counts;
//   h2_cancel     h2 streams to a slow upstream (300-800 ms) cancelled (RST_STREAM CANCEL) 20-250 ms in;
//   h2_goaway     h2 sessions closed (GOAWAY + close, or plain TCP close) with a stream open;
//   h1_close      HTTP/1.1 clients that close mid-request (before the answer, or mid-body);
//   pipeline      3-10 pipelined GETs (16 KiB-1 MiB) read slowly, a third of them abandoned mid-way;
//   slowloris     request heads dribbled a byte every 100 ms (cut by portico's header timeout);
//   malformed     request-smuggling and framing payloads on fresh TLS connections;
//   rapid_reset   h2 HEADERS+RST_STREAM bursts past server.http2.max_resets (GOAWAY ENHANCE_YOUR_CALM).
// Every SAMPLE seconds: portico's RSS (/proc), ejections (admin /metrics), in-flight requests. At the end,
// for every request a client cancelled (h2 RST/GOAWAY/close, h1 close), the delay until the upstream saw
// its abort (p50/p95/p99/max; a cancel whose upstream request was never aborted counts as "never").
//
// Env: PORTICO_CLI (dist/cli.js), SECONDS=600, SAMPLE=5, OUT (directory for summary.json, samples.csv,
//      portico.log), NORMAL_CONC=4, PROXY_CPUS=0 (taskset; "" = no pinning), SEED.
// Prints the summary JSON on stdout; exit code 0 (the verdict is in the summary).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const CLI = process.env.PORTICO_CLI || path.join(ROOT, 'dist', 'cli.js');
const SECONDS = Number(process.env.SECONDS || 600);
const SAMPLE = Number(process.env.SAMPLE || 5);
const OUT = process.env.OUT || fs.mkdtempSync('/tmp/portico-hostile-');
const NORMAL_CONC = Number(process.env.NORMAL_CONC || 4);
const PROXY_CPUS = process.env.PROXY_CPUS ?? '0';
let seed = Number(process.env.SEED || Date.now()) >>> 0;
const rnd = () => { // mulberry32
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const between = (a, b) => a + Math.floor(rnd() * (b - a + 1));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
fs.mkdirSync(OUT, { recursive: true });

// ─── recording upstreams ────────────────────────────────────────────────────────────────────────
const seen = new Map(); // url → { at, abortedAt, finishedAt }
function bodyFor(url, size) {
  let h = 2166136261;
  for (let i = 0; i < url.length; i++) h = Math.imul(h ^ url.charCodeAt(i), 16777619) >>> 0;
  const p = Buffer.alloc(26);
  for (let i = 0; i < 26; i++) p[i] = 97 + ((h + i) % 26);
  return Buffer.alloc(size, p);
}
async function upstream(name) {
  const server = http.createServer((req, res) => {
    const rec = { at: performance.now(), abortedAt: null, finishedAt: null };
    if (!String(req.headers['user-agent'] || '').startsWith('portico-health/')) seen.set(req.url, rec);
    res.on('finish', () => (rec.finishedAt = performance.now()));
    res.on('close', () => { if (rec.finishedAt === null && rec.abortedAt === null) rec.abortedAt = performance.now(); });
    req.on('error', () => {});
    const q = new URLSearchParams(req.url.split('?')[1] || '');
    const size = Number(q.get('size') || 13);
    const delay = Number(q.get('delay') || 0);
    const trickle = Number(q.get('trickle') || 0);
    req.resume();
    req.on('end', () => setTimeout(() => {
      if (res.destroyed) return;
      const body = size === 13 ? Buffer.from('Hello, world\n') : bodyFor(req.url, size);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size, 'x-upstream': name });
      if (!trickle) return void res.end(body);
      let off = 0;
      const step = () => { if (res.destroyed) return; if (off >= size) return void res.end(); res.write(body.subarray(off, (off += 8192))); setTimeout(step, trickle); };
      step();
    }, delay));
  });
  server.keepAliveTimeout = 10_000;
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

// ─── portico ───────────────────────────────────────────────────────────────────────────────────
async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const p = s.address().port;
  await new Promise((r) => s.close(r));
  return p;
}
const counts = { access: 0, status: {}, assertion: 0, errors: 0 };
async function startPortico(origins) {
  // portico's own directory (generated certificates and keys) stays out of the results
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'portico-hostile-'));
  fs.mkdirSync(path.join(dir, 'certs'), { recursive: true });
  const ports = { https: await freePort(), admin: await freePort() };
  fs.writeFileSync(path.join(dir, 'config.toml'), [
    '[server]', `https = "127.0.0.1:${ports.https}"`, 'http = ""', 'shutdown_grace = "2s"',
    '[server.http2]', 'max_resets = "100 in 10s"',
    '[server.timeouts]', 'header = "5s"', 'body = "5s"',
    '[tls]', 'dir = "certs"', '[storage]', 'dir = "state"',
    '[admin]', `listen = "127.0.0.1:${ports.admin}"`, '[log]', 'format = "json"', '',
    '[[routes]]', 'hosts = ["localhost"]', `upstreams = [${origins.map((o) => JSON.stringify(o)).join(', ')}]`,
    'health = { interval = "1s", timeout = "1s" }', 'passive = { max_fails = 3, fail_window = "10s" }', '',
  ].join('\n'));
  fs.copyFileSync(path.join(dir, 'config.toml'), path.join(OUT, 'config.toml'));
  let cmd = process.execPath;
  let args = [CLI, 'run', '--config', path.join(dir, 'config.toml')];
  if (PROXY_CPUS !== '') {
    try { execFileSync('taskset', ['-V'], { stdio: 'ignore' }); args = ['-c', PROXY_CPUS, cmd, ...args]; cmd = 'taskset'; } catch { /* no taskset: unpinned */ }
  }
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = fs.createWriteStream(path.join(OUT, 'portico.log'));
  let partial = '';
  let ready;
  const readyP = new Promise((r) => (ready = r));
  child.stdout.on('data', (c) => {
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop();
    for (const l of lines) {
      if (/ERR_ASSERTION|AssertionError/.test(l)) { counts.assertion++; log.write(l + '\n'); }
      if (l.includes('"msg":"request"')) {
        counts.access++;
        const st = /"status":(\d+)/.exec(l)?.[1];
        counts.status[st] = (counts.status[st] || 0) + 1;
        if ((st === '502' || st === '503' || st === '504') && counts.errors++ < 200) log.write(l + '\n'); // the first 200 only
      } else if (!l.includes('"msg":"client error"')) log.write(l + '\n');
      if (l.includes('"msg":"portico ready"')) ready();
    }
  });
  child.stderr.on('data', (c) => log.write(c));
  await Promise.race([readyP, sleep(20_000).then(() => { throw new Error('portico did not start: see portico.log'); })]);
  return { child, ports, pid: child.pid };
}
function rssMiB(pid) {
  try {
    // taskset execs node: the pid is portico's own
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch { return null; }
}
function adminGet(port, p) {
  return new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port, path: p, timeout: 3000 }, (res) => {
      let b = '';
      res.on('data', (c) => (b += c));
      res.on('end', () => resolve(b));
    }).on('error', () => resolve(''));
  });
}
const metricSum = (text, name) => text.split('\n').filter((l) => l.startsWith(name)).reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

// ─── clients ───────────────────────────────────────────────────────────────────────────────────
const stats = {};
const stat = (k) => (stats[k] ??= { n: 0, ok: 0, failed: 0, samples: [] });
const fail = (k, msg) => { const s = stat(k); s.failed++; if (s.samples.length < 10) s.samples.push(msg); };
const cancels = []; // { url, at }
let uid = 0;
const url = (kind, q = '') => `/${kind}/${++uid}${q ? `?${q}` : ''}`;
let PORT;
let stop = false;

const tlsConnect = (alpn = ['http/1.1']) => new Promise((resolve, reject) => {
  const s = tls.connect({ host: '127.0.0.1', port: PORT, servername: 'localhost', ALPNProtocols: alpn, rejectUnauthorized: false }, () => resolve(s));
  s.once('error', reject);
});

async function normalH1() {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
  while (!stop) {
    const u = rnd() < 0.8 ? url('normal') : url('normal', `size=${between(1, 256) * 1024}`);
    const size = Number(new URLSearchParams(u.split('?')[1] || '').get('size') || 13);
    await new Promise((resolve) => {
      const req = https.request({ host: '127.0.0.1', port: PORT, path: u, servername: 'localhost', agent, headers: { host: 'localhost' }, timeout: 15_000 }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const b = Buffer.concat(chunks);
          stat('normal').n++;
          const want = size === 13 ? Buffer.from('Hello, world\n') : bodyFor(u, size);
          if (res.statusCode === 200 && b.equals(want)) stat('normal').ok++;
          else fail('normal', `h1 ${u}: ${res.statusCode}, ${b.length} bytes`);
          resolve();
        });
        res.on('error', (e) => { stat('normal').n++; fail('normal', `h1 ${u}: ${e.message}`); resolve(); });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => { stat('normal').n++; fail('normal', `h1 ${u}: ${e.message}`); resolve(); });
      req.end();
    });
    await sleep(between(0, 5));
  }
  agent.destroy();
}

async function normalH2() {
  let session = null;
  while (!stop) {
    if (session === null || session.destroyed || session.closed) {
      session = http2.connect(`https://localhost:${PORT}`, { host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
      session.on('error', () => {});
    }
    const u = url('normal-h2');
    await new Promise((resolve) => {
      const st = session.request({ ':path': u });
      let status = 0;
      const chunks = [];
      const timer = setTimeout(() => st.close(http2.constants.NGHTTP2_CANCEL), 15_000);
      st.on('response', (h) => (status = Number(h[':status'])));
      st.on('data', (c) => chunks.push(c));
      st.on('close', () => {
        clearTimeout(timer);
        stat('normal').n++;
        if (status === 200 && Buffer.concat(chunks).toString() === 'Hello, world\n') stat('normal').ok++;
        else fail('normal', `h2 ${u}: ${status} rst=${st.rstCode}`);
        resolve();
      });
      st.on('error', () => {});
      st.end();
    });
    await sleep(between(0, 5));
  }
  session?.close();
}

async function h2Cancel() {
  while (!stop) {
    const session = http2.connect(`https://localhost:${PORT}`, { host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
    session.on('error', () => {});
    for (let i = 0; i < 10 && !stop; i++) {
      const u = url('h2-cancel', `delay=${between(300, 800)}`);
      const st = session.request({ ':path': u });
      st.on('error', () => {});
      st.resume();
      st.end();
      await sleep(between(20, 250));
      cancels.push({ url: u, at: performance.now(), kind: 'h2 RST_STREAM' });
      st.close(http2.constants.NGHTTP2_CANCEL);
      stat('h2_cancel').n++;
    }
    session.close();
  }
}

async function h2Goaway() {
  while (!stop) {
    let sock = null;
    const session = http2.connect(`https://localhost:${PORT}`, {
      createConnection: () => (sock = tls.connect({ host: '127.0.0.1', port: PORT, servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false })),
    });
    session.on('error', () => {});
    const u = url('h2-goaway', `delay=${between(500, 1500)}`);
    const st = session.request({ ':path': u });
    st.on('error', () => {});
    st.end();
    await sleep(between(100, 300));
    const tcp = rnd() < 0.5;
    cancels.push({ url: u, at: performance.now(), kind: tcp ? 'h2 TCP close' : 'h2 GOAWAY + close' });
    if (tcp) sock.destroy(); else session.destroy(new Error('bye'), http2.constants.NGHTTP2_CANCEL);
    stat('h2_goaway').n++;
    await sleep(between(50, 200));
  }
}

async function h1Close() {
  while (!stop) {
    try {
      const s = await tlsConnect();
      s.on('error', () => {});
      const midBody = rnd() < 0.5;
      const u = midBody ? url('h1-close', 'size=4194304&trickle=20') : url('h1-close', `delay=${between(300, 1000)}`);
      s.write(`GET ${u} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
      s.resume();
      await sleep(between(100, 300));
      cancels.push({ url: u, at: performance.now(), kind: 'h1 close' });
      s.destroy();
      stat('h1_close').n++;
    } catch (e) { fail('h1_close', e.message); }
    await sleep(between(20, 100));
  }
}

async function pipeline() {
  while (!stop) {
    try {
      const s = await tlsConnect();
      s.on('error', () => {});
      const n = between(3, 10);
      const urls = Array.from({ length: n }, () => url('pipe', `size=${[16384, 65536, 262144, 1048576][between(0, 3)]}`));
      s.write(urls.map((u) => `GET ${u} HTTP/1.1\r\nHost: localhost\r\n\r\n`).join(''));
      const abandon = rnd() < 0.33;
      const total = urls.reduce((t, u) => t + Number(u.split('size=')[1]), 0);
      let got = 0;
      s.pause();
      const deadline = performance.now() + 30_000;
      while (!s.destroyed && got < total && performance.now() < deadline && !stop) {
        const c = s.read();
        if (c) got += c.length; else await sleep(5);
        if (abandon && got > total / 3) break;
      }
      stat('pipeline').n++;
      if (abandon) {
        for (const u of urls) cancels.push({ url: u, at: performance.now(), kind: 'pipelined close', optional: true });
      } else if (got < total && !stop) fail('pipeline', `${n} pipelined: got ${got} of >${total} bytes`); // (the end of the run cuts readers short)
      else stat('pipeline').ok++;
      s.destroy();
    } catch (e) { fail('pipeline', e.message); }
  }
}

async function slowloris() {
  const head = 'GET /slowloris HTTP/1.1\r\nHost: localhost\r\nX-Pad: ' + 'x'.repeat(100) + '\r\n\r\n';
  while (!stop) {
    try {
      const s = await tlsConnect();
      s.on('error', () => {});
      s.resume();
      stat('slowloris').n++;
      for (let i = 0; i < head.length && !s.destroyed && !stop; i++) { s.write(head[i]); await sleep(100); }
      s.destroy();
    } catch (e) { fail('slowloris', e.message); }
  }
}

const MALFORMED = [
  'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG',
  'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n',
  'GET /\x00 HTTP/1.1\r\nHost: localhost\r\n\r\n',
  'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF\r\nx\r\n0\r\n\r\n',
  'GET http://evil.example/ HTTP/1.1\r\nHost: localhost\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n',
  'GARBAGE\r\n\r\n',
  `GET /${'x'.repeat(20000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`,
];
async function malformed() {
  while (!stop) {
    try {
      const s = await tlsConnect();
      s.on('error', () => {});
      s.resume();
      s.write(MALFORMED[between(0, MALFORMED.length - 1)]);
      stat('malformed').n++;
      await Promise.race([new Promise((r) => s.once('close', r)), sleep(2000)]);
      s.destroy();
    } catch (e) { fail('malformed', e.message); }
    await sleep(between(10, 50));
  }
}

// raw h2 frames for rapid reset
const frame = (type, flags, stream, payload = Buffer.alloc(0)) => {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3); h[3] = type; h[4] = flags; h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
};
const hpackLit = (fields) => Buffer.concat(fields.flatMap(([k, v]) => [Buffer.from([0, k.length]), Buffer.from(k), Buffer.from([v.length]), Buffer.from(v)]));
async function rapidReset() {
  while (!stop) {
    try {
      const s = await tlsConnect(['h2']);
      s.on('error', () => {});
      s.resume();
      const pairs = [];
      for (let i = 0; i < 300; i++) {
        const id = 1 + 2 * i;
        pairs.push(frame(1, 5, id, hpackLit([[':method', 'GET'], [':scheme', 'https'], [':authority', 'localhost'], [':path', `/rr/${++uid}?delay=500`]])));
        pairs.push(frame(3, 0, id, Buffer.from([0, 0, 0, 8])));
      }
      s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), frame(4, 0, 0), ...pairs]));
      stat('rapid_reset').n++;
      await Promise.race([new Promise((r) => s.once('close', r)), sleep(5000)]);
      s.destroy();
    } catch (e) { fail('rapid_reset', e.message); }
    await sleep(5000);
  }
}

// ─── run ───────────────────────────────────────────────────────────────────────────────────────
const pct = (xs, p) => (xs.length === 0 ? null : xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]);
const main = async () => {
  const ups = [await upstream('a'), await upstream('b')];
  const p = await startPortico(ups.map((u) => u.origin));
  PORT = p.ports.https;
  const samples = [];
  const t0 = performance.now();
  const sample = async () => {
    const m = await adminGet(p.ports.admin, '/metrics');
    const st = await adminGet(p.ports.admin, '/status.json');
    let inFlight = null;
    let down = null;
    try {
      const doc = JSON.parse(st);
      inFlight = doc.portico.in_flight;
      down = doc.routes.flatMap((r) => r.upstreams).filter((u) => u.state !== 'up').length;
    } catch { /* portico gone */ }
    samples.push({ t: Math.round((performance.now() - t0) / 1000), rss_mib: rssMiB(p.pid), ejections: metricSum(m, 'portico_upstream_ejections_total'), in_flight: inFlight, upstreams_down: down, normal_ok: stat('normal').ok, normal_failed: stat('normal').failed });
  };
  await sample();
  const workers = [
    ...Array.from({ length: NORMAL_CONC }, normalH1), normalH2(),
    h2Cancel(), h2Cancel(), h2Goaway(), h1Close(), pipeline(), pipeline(), slowloris(), slowloris(), malformed(), rapidReset(),
  ];
  const sampler = setInterval(() => void sample(), SAMPLE * 1000);
  await sleep(SECONDS * 1000);
  stop = true;
  clearInterval(sampler);
  await Promise.race([Promise.all(workers), sleep(35_000)]);
  await sleep(3000); // the last cancels' upstream aborts land
  await sample();
  const alive = p.child.exitCode === null;
  p.child.kill('SIGTERM');
  await Promise.race([new Promise((r) => p.child.once('exit', r)), sleep(10_000)]);
  for (const u of ups) { u.server.closeAllConnections(); u.server.close(); }

  // cancel → upstream abort delays
  const delays = [];
  const never = [];
  // the upstream finished its answer after the cancel and before portico's abort could reach it (the
  // abort then closes an idle connection the upstream no longer watches): the abort came later than
  // finishedAt - cancel. Within 1 s that proves nothing late; past 1 s portico missed the deadline.
  let finishedFirst = 0;
  for (const c of cancels) {
    const r = seen.get(c.url);
    if (!r) continue; // never reached the upstream: nothing to abort
    if (r.finishedAt !== null && r.finishedAt <= c.at + 1) continue; // done before the cancel
    if (r.abortedAt !== null) delays.push(Math.max(0, r.abortedAt - c.at));
    else if (r.finishedAt !== null && r.finishedAt - c.at < 1000) finishedFirst++;
    else if (!c.optional || r.finishedAt === null) never.push(`${c.kind} ${c.url}${r.finishedAt === null ? '' : ` (upstream finished ${Math.round(r.finishedAt - c.at)} ms after the cancel)`}`);
  }
  delays.sort((a, b) => a - b);
  const rss = samples.map((s) => s.rss_mib).filter((x) => x !== null);
  const half = rss.slice(Math.floor(rss.length / 2));
  const slope = half.length > 1 ? (half.at(-1) - half[0]) / (((half.length - 1) * SAMPLE) / 60) : 0;
  const summary = {
    seconds: SECONDS, seed: process.env.SEED || null, portico_alive_at_end: alive,
    normal: { requests: stat('normal').n, ok: stat('normal').ok, failed: stat('normal').failed, samples: stat('normal').samples },
    ejections: samples.at(-1)?.ejections ?? null,
    upstreams_down_samples: samples.filter((s) => s.upstreams_down > 0).length,
    in_flight_end: samples.at(-1)?.in_flight ?? null,
    access_statuses: counts.status, engine_assertions: counts.assertion,
    hostile: Object.fromEntries(Object.entries(stats).filter(([k]) => k !== 'normal').map(([k, v]) => [k, { n: v.n, failed: v.failed, samples: v.samples.slice(0, 3) }])),
    cancels: { total: cancels.length, measured: delays.length, never_aborted: never.length, never_samples: never.slice(0, 10), upstream_finished_first: finishedFirst,
      p50_ms: pct(delays, 50), p95_ms: pct(delays, 95), p99_ms: pct(delays, 99), max_ms: delays.at(-1) ?? null, over_1s: delays.filter((d) => d > 1000).length },
    rss_mib: { first: rss[0] ?? null, min: Math.min(...rss), max: Math.max(...rss), last: rss.at(-1) ?? null, slope_second_half_mib_per_min: Math.round(slope * 100) / 100 },
  };
  fs.writeFileSync(path.join(OUT, 'summary.json'), JSON.stringify(summary, null, 2));
  fs.writeFileSync(path.join(OUT, 'samples.csv'), ['t_s,rss_mib,ejections,in_flight,upstreams_down,normal_ok,normal_failed', ...samples.map((s) => [s.t, s.rss_mib?.toFixed(1), s.ejections, s.in_flight, s.upstreams_down, s.normal_ok, s.normal_failed].join(','))].join('\n') + '\n');
  process.stdout.write(JSON.stringify(summary) + '\n');
  process.exit(0);
};
main().catch((e) => { console.error(e); process.exit(1); });
