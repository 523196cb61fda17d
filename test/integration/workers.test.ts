/**
 * `server.workers = N` (issue 14): a real portico process with data-plane worker processes, real
 * TLS, real signals. Snapshots, health decisions, certificates and session-ticket keys reach every
 * worker; a passive failure seen in a worker reaches the control plane; a worker that dies is
 * replaced and only its in-flight requests fail; TLS sessions resume on a worker that did not issue
 * them; /metrics sums the workers; SIGTERM drains every worker and exits 0.
 */
import { X509Certificate } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import {
  ROOT, failures, freePort, makeCA, proxyConfig, request, runLoad, sleep, spawnReady, startBackend, waitUntil, writePair, type Backend, type RouteSpec, type Spawned,
} from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { V8_FLAGS } from '../../src/node-flags.js';
import { testDir } from '../../test-support/wait.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Running extends Spawned {
  configPath: string;
  port: number;
  admin: number;
  status(): Promise<Json>;
}

async function spawn(t: Test, dir: string, toml: string): Promise<Running> {
  const s = await spawnReady(t, dir, toml);
  const admin = s.portOf('admin');
  return Object.assign(s, {
    port: s.portOf('https'),
    admin,
    status: async () => JSON.parse((await httpRequest({ port: admin, path: '/status.json' })).body) as Json,
  });
}

const route = (b: Backend, extra: Partial<RouteSpec> = {}): RouteSpec => ({ name: 'app', hosts: ['localhost'], upstreams: [b.origin], tls: 'self-signed', ...extra });
const workers = (st: Json): Json[] => st.data_plane.workers as Json[];

/** handshake opens a TLS connection (optionally resuming `session`), sends one request, and returns whether it resumed and the new session. */
function handshake(port: number, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    let next: Buffer | undefined;
    let reused = false;
    let body = '';
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, session, ALPNProtocols: ['http/1.1'] }, () => {
      reused = s.isSessionReused();
      s.write('GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n');
    });
    s.on('session', (b: Buffer) => (next = b));
    s.on('data', (c: Buffer) => (body += c.toString()));
    s.on('close', () => resolve({ reused, session: next, body }));
    s.on('error', reject);
  });
}

const get = (port: number) => request({ port, servername: 'localhost' });

t.test('workers serve, ack, sum their metrics, get replaced when killed under load, and resume sessions they did not issue', async (t) => {
  const dir = testDir(t);
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await spawn(t, dir, proxyConfig([route(a)], { server: 'workers = 2' }));

  const before = await p.status();
  t.equal(workers(before).length, 2, 'two data-plane workers');
  t.ok(['reuseport', 'shared'].includes(before.data_plane.sharing), `connections are spread (${before.data_plane.sharing})`);
  t.ok(workers(before).every((w) => w.up && w.version === before.portico.snapshot_version), 'every worker acked the snapshot');
  t.ok(workers(before).every((w) => w.pid !== before.portico.pid), 'workers are processes of their own');
  // portico's V8 flags (src/node-flags.ts) reach the forked workers even when the primary was started without them
  const argv = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  t.notOk(argv(before.portico.pid as number).includes(V8_FLAGS[0]!), 'the test started the primary without the flags');
  for (const w of workers(before)) t.same(V8_FLAGS.filter((f) => argv(w.pid as number).includes(f)), V8_FLAGS, `worker ${w.pid} runs with ${V8_FLAGS.join(' ')}`);

  for (let i = 0; i < 20; i++) t.equal((await get(p.port)).status, 200);
  // the workers' request counters are summed on the control plane's /metrics
  const metrics = (await httpRequest({ port: p.admin, path: '/metrics' })).body;
  t.match(metrics, /portico_requests_total\{route="app",status="200"\} 20\b/, '/metrics sums every worker');
  await waitUntil(async () => workers(await p.status()).reduce((n, w) => n + w.connections, 0) >= 20, 5000, 'stats pushed');

  // a session issued by worker X...
  const counts = workers(await p.status()).map((w) => w.connections);
  const first = await handshake(p.port);
  t.ok(first.session, 'got a session ticket');
  let issuer: Json | undefined;
  await waitUntil(async () => {
    issuer = workers(await p.status()).find((w, i) => w.connections > counts[i]);
    return issuer !== undefined;
  }, 5000, 'the issuing worker is known');

  // ...which dies under keep-alive load: only requests in flight on its connections fail
  let killedAt = 0;
  const load = await runLoad({
    port: p.port, servername: 'localhost', total: 1200, concurrency: 8,
    before: (i) => {
      if (i === 300) {
        process.kill(issuer!.pid, 'SIGKILL');
        killedAt = Date.now();
      }
    },
  });
  const failed = failures(load);
  t.ok(failed.length <= 8, `at most one failure per client connection (${failed.length}: ${[...new Set(failed.map((f) => f.error ?? f.status))].join(', ')})`);
  await p.waitFor((l) => l.msg === 'data-plane worker replaced', 15_000).catch((err: Error) => {
    t.comment(p.logs.filter((l) => l.component === 'cluster' || l.level === 'error'));
    throw err;
  });
  const after = await p.status();
  const slot = workers(after).find((w) => w.worker === issuer!.worker)!;
  t.not(slot.pid, issuer!.pid, 'the slot has a new process');
  t.equal(slot.restarts, 1);
  t.ok(slot.up);
  t.ok(killedAt > 0);

  // the issuer is gone, yet the session resumes: every worker has the control plane's ticket key
  for (let i = 0; i < 6; i++) {
    const h = await handshake(p.port, first.session);
    t.ok(h.reused, `resumed on a worker that did not issue the session (${i})`);
    t.match(h.body, /^HTTP\/1\.1 200/);
  }
  const fresh = await runLoad({ port: p.port, servername: 'localhost', total: 40, concurrency: 4, fresh: true });
  t.same(failures(fresh), [], 'after the replacement every request succeeds');
});

t.test('a reload reaches every worker (routes, certificates); server.workers needs a restart', async (t) => {
  const dir = testDir(t);
  const a = await startBackend('a');
  const b = await startBackend('b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const ca = await makeCA();
  const certs = join(dir, 'certs');
  const v1 = await ca.issue(['localhost']);
  const v2 = await ca.issue(['localhost']);
  const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;
  await writePair(certs, 'localhost', v1);
  const conf = (up: Backend, n = 2) => proxyConfig([route(up, { tls: 'file' })], { server: `workers = ${n}` });
  const p = await spawn(t, dir, conf(a));

  const serials = async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const s = tls.connect({ host: '127.0.0.1', port: p.port, servername: 'localhost', rejectUnauthorized: false });
      await new Promise<void>((r, j) => s.once('secureConnect', () => r()).once('error', j));
      seen.add(s.getPeerCertificate().serialNumber);
      s.destroy();
    }
    return [...seen];
  };
  t.same(await serials(), [serialOf(v1.leaf)]);

  await writePair(certs, 'localhost', v2);
  await writeFile(p.configPath, conf(b));
  const r = await httpRequest({ port: p.admin, path: '/reload', method: 'POST' });
  t.equal(r.status, 200, r.body);
  const result = JSON.parse(r.body) as Json;
  const st = await p.status();
  t.ok(workers(st).every((w) => w.version >= result.version), 'the reload answered after every worker acked its version');
  t.same(await serials(), [serialOf(v2.leaf)], 'every worker serves the new certificate');
  const load = await runLoad({ port: p.port, servername: 'localhost', total: 30, concurrency: 3, fresh: true });
  t.same(failures(load), []);
  t.same([...new Set(load.map((o) => o.upstream))], ['b'], 'every worker routes to the new upstream');
  // HTTP/2 settings come with the snapshot too: an h2 client is served by the workers
  const session = http2.connect(`https://127.0.0.1:${p.port}`, { servername: 'localhost', rejectUnauthorized: false });
  t.teardown(() => session.destroy());
  const h2 = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = session.request({ ':path': '/', ':authority': 'localhost' });
    let body = '';
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => resolve({ status, body }));
    req.on('error', reject);
    req.end();
  });
  t.same(h2, { status: 200, body: 'b\n' }, 'h2 through a data-plane worker');
  session.close();

  await writeFile(p.configPath, conf(b, 3));
  const refused = await httpRequest({ port: p.admin, path: '/reload', method: 'POST' });
  t.equal(refused.status, 422);
  t.match(refused.body, /server\.workers: changing this needs a restart/);
  t.equal(workers(await p.status()).length, 2);
});

t.test('a worker that does not apply a reload within 10 s is replaced, and the reload says so', async (t) => {
  const dir = testDir(t);
  const a = await startBackend('a');
  const b = await startBackend('b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const p = await spawn(t, dir, proxyConfig([route(a)], { server: 'workers = 2' }));
  const hung = workers(await p.status())[0]!;
  process.kill(hung.pid, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(hung.pid, 'SIGCONT');
    } catch {
      // already gone (replaced)
    }
  });
  await writeFile(p.configPath, proxyConfig([route(b)], { server: 'workers = 2' }));
  const r = await fetch(`http://127.0.0.1:${p.admin}/reload`, { method: 'POST' }); // takes the 10 s
  t.equal(r.status, 422, 'not every worker acked');
  t.match(await r.json(), { result: 'failure', problems: [new RegExp(`data-plane worker 1 \\(pid ${hung.pid}\\) did not apply version \\d+ within 10s; replaced`)] });
  await p.waitFor((l) => l.msg === 'data-plane worker replaced', 15_000);
  const st = await p.status();
  t.ok(workers(st).every((w) => w.pid !== hung.pid && w.up && w.version === st.portico.snapshot_version), 'the replacement runs the new config');
  const load = await runLoad({ port: p.port, servername: 'localhost', total: 20, concurrency: 2, fresh: true });
  t.same([...new Set(load.map((o) => o.upstream))], ['b'], 'every worker serves the reloaded routes');
});

t.test('the session-ticket key rotates in every worker', async (t) => {
  const dir = testDir(t);
  const a = await startBackend('a');
  t.teardown(() => a.close());
  // an RSA certificate: portico renews tickets (and keeps the previous key) only when it serves one
  mkdirSync(join(dir, 'certs'), { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
    '-keyout', join(dir, 'certs', 'localhost.key'), '-out', join(dir, 'certs', 'localhost.crt')], { stdio: 'ignore' });
  const p = await spawn(t, dir, proxyConfig([route(a, { tls: 'file' })], { server: 'workers = 2', tls: 'ticket_key_rotation = "2s"' }));
  const rotated = () => p.logs.filter((l) => l.msg === 'tls session-ticket key rotated').length;

  // right after a rotation (and its snapshot reached the workers), a session resumes on any worker
  await waitUntil(() => rotated() >= 1, 5000, 'first rotation');
  await sleep(300);
  const h = await handshake(p.port);
  for (let i = 0; i < 4; i++) t.ok((await handshake(p.port, h.session)).reused, `resumed (${i})`);
  // after the next rotation the ticket still resumes (the previous key is kept for that, issue 26);
  // after the one after, it no longer does (a full handshake, not a failure)
  const n = rotated();
  await waitUntil(() => rotated() > n, 5000, 'next rotation');
  await sleep(300);
  t.ok((await handshake(p.port, h.session)).reused, 'a ticket of the previous key resumes');
  await waitUntil(() => rotated() > n + 1, 5000, 'the rotation after');
  await sleep(300);
  const late = await handshake(p.port, h.session);
  t.notOk(late.reused, 'a ticket from two rotations ago is not accepted');
  t.match(late.body, /^HTTP\/1\.1 200/);
});

t.test('a passive failure seen in a worker ejects the upstream everywhere', async (t) => {
  const dir = testDir(t);
  const good = await startBackend('good');
  const bad = await startBackend('bad', (_req, res) => {
    res.writeHead(503, { 'x-upstream': 'bad' });
    res.end('down\n');
  });
  t.teardown(() => Promise.all([good.close(), bad.close()]));
  const p = await spawn(t, dir, proxyConfig([
    { name: 'app', hosts: ['localhost'], upstreams: [bad.origin, good.origin], tls: 'self-signed', retries: 0, passive: 'max_fails = 1, fail_statuses = [503], eject_for = "1h"' },
  ], { server: 'workers = 2' }));

  let saw503 = false;
  for (let i = 0; i < 6 && !saw503; i++) saw503 = (await get(p.port)).status === 503;
  t.ok(saw503, 'the failing upstream answered once');
  await waitUntil(async () => {
    const up = (await p.status()).routes[0].upstreams.find((u: Json) => u.url === bad.origin);
    return up.healthy === false;
  }, 5000, 'control plane ejected it');
  const seen = bad.requests.length;
  const load = await runLoad({ port: p.port, servername: 'localhost', total: 40, concurrency: 4, fresh: true });
  t.same(failures(load), [], 'no worker sends traffic to the ejected upstream');
  t.equal(bad.requests.length, seen);
});

t.test('[[apps]] behind data-plane workers: a rolling restart under load fails no request', async (t) => {
  const dir = testDir(t);
  const port = await freePort();
  const app = [
    '[[apps]]', 'name = "web"', `command = [${JSON.stringify(process.execPath)}, ${JSON.stringify(join(ROOT, 'test-support', 'upstream-app.mjs'))}]`,
    'workers = 2', `port = ${port}`, 'memory = "256MiB"', 'restart_backoff = "50ms..200ms"', '',
    '[[routes]]', 'name = "web"', 'hosts = ["localhost"]', 'app = "web"', 'tls = "self-signed"', 'health = { path = "/health", interval = "100ms", timeout = "1s" }', '',
  ].join('\n');
  const p = await spawn(t, dir, proxyConfig([], { server: 'workers = 2', log: 'access = false' }) + app);
  const running = async () => ((await p.status()).apps[0]?.workers ?? []).filter((w: Json) => w.state === 'running').map((w: Json) => w.pid as number);
  await waitUntil(async () => (await running()).length === 2, 20_000, 'app running');
  const before = await running();
  let done = false;
  const load = runLoad({ port: p.port, servername: 'localhost', total: 1_000_000, concurrency: 4, until: () => done });
  const r = await httpRequest({ port: p.admin, path: '/apps/web/restart', method: 'POST' });
  done = true;
  t.equal(r.status, 200, r.body);
  const outcomes = await load;
  t.ok(outcomes.length > 50, `load ran during the restart (${outcomes.length} requests)`);
  t.same(failures(outcomes), [], '0 failed requests');
  const after = await running();
  t.equal(after.filter((pid: number) => before.includes(pid)).length, 0, 'every app worker replaced');
});

t.test('WebSockets through the workers: echo, counted on /status.json, closed with 1001 on SIGTERM', async (t) => {
  const dir = testDir(t);
  const b = await startBackend('ws');
  const wss = new WebSocketServer({ server: b.server as http.Server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${m.toString()}`)));
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await b.close();
  });
  const p = await spawn(t, dir, proxyConfig([route(b)], { server: 'workers = 2' }));
  const sockets = await Promise.all(Array.from({ length: 6 }, () => new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${p.port}/`, { servername: 'localhost', headers: { host: 'localhost' }, rejectUnauthorized: false } as WebSocket.ClientOptions);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  })));
  for (const [i, ws] of sockets.entries()) {
    const reply = new Promise<string>((r) => ws.once('message', (m) => r(m.toString())));
    ws.send(`m${i}`);
    t.equal(await reply, `echo:m${i}`);
  }
  await waitUntil(async () => (await p.status()).portico.websockets === 6, 5000, 'the workers report 6 tunnels');
  const closes = sockets.map((ws) => new Promise<number>((r) => ws.once('close', (code) => r(code))));
  p.child.kill('SIGTERM');
  t.same(await Promise.all(closes), [1001, 1001, 1001, 1001, 1001, 1001], 'every tunnel closed with 1001 (going away)');
  t.equal(await p.exited, 0);
});

t.test('SIGTERM drains every worker: an in-flight request completes, the workers exit, exit code 0', async (t) => {
  const dir = testDir(t);
  const slow = await startBackend('slow', (_req, res) => setTimeout(() => res.end('slow\n'), 600));
  t.teardown(() => slow.close());
  const p = await spawn(t, dir, proxyConfig([route(slow)], { server: 'workers = 2' }));
  const pids = workers(await p.status()).map((w) => w.pid as number);
  const pending = get(p.port);
  await sleep(150);
  p.child.kill('SIGTERM');
  const r = await pending;
  t.equal(r.status, 200);
  t.equal(r.body, 'slow\n');
  t.equal(await p.exited, 0);
  for (const pid of pids) t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} exited`);
  t.ok(p.logs.filter((l) => l.msg === 'data-plane worker stopped').length === 2, 'both workers drained');
});
