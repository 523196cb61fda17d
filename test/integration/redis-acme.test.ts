/**
 * RedisStorage (issue 25) under the ACME manager and on-demand TLS of issue 27, against a real
 * redis-server and a fake issuer (the CA is not what is tested here):
 *
 * - a lease lost while held aborts the lock's `signal`, as a file lock's does when taken over
 *   (another owner, or Redis hung longer than the lease), and the ACME manager stops the order it
 *   guarded: no failure recorded, ordered again under the lock once it is free;
 * - a lock whose caller stopped waiting during the settle time of a fresh epoch is not handed out;
 * - an on-demand name approved while Redis is away (it cannot be recorded in storage) is still
 *   maintained: ordered when Redis is back, and recorded then;
 * - portico with on-demand TLS starts and stops while Redis is away (the names remembered are listed
 *   from the local cache; it used to end silently before "portico ready": a failed list, then a
 *   close of the Redis client that never returned).
 */
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { OrderLimiter } from '../../src/acme/limiter.js';
import { AcmeManager, storagePrefix } from '../../src/acme/manager.js';
import { OnDemand } from '../../src/acme/on-demand.js';
import { Metrics } from '../../src/metrics.js';
import { RedisStorage, SETTLE_MS } from '../../src/storage/redis-storage.js';
import { safeSegment } from '../../src/storage/storage.js';
import { captureLogger, FakeIssuer, makeCA, proxyConfig, spawnPortico, startBackend, startRedis, testDir, waitUntil } from '../../test-support/index.js';

const redis = await startRedis();
t.teardown(() => redis.close());

const FAST = { timeoutMs: 500, pollMs: 200, leaseMs: 1000, backoff: { min: 20, max: 200 } };
const DIRECTORY = 'https://ca.test/directory';
const PREFIX = storagePrefix(DIRECTORY);

async function open(t: { teardown(fn: () => unknown): void }, cacheDir: string, events: ConstructorParameters<typeof RedisStorage>[0]['events'] = {}): Promise<RedisStorage> {
  const s = new RedisStorage({ url: redis.url, cacheDir, ...FAST, events });
  s.start();
  t.teardown(() => s.close());
  await waitUntil(() => s.connected, 5000, 'redis storage in step');
  return s;
}

t.test('a fresh epoch: a lock whose caller stopped waiting during the settle time is not handed out', async (t) => {
  const s = await open(t, testDir(t));
  const epoch = s.status().epoch!;
  t.ok(Number(epoch.split(':')[1]) > Date.now() - SETTLE_MS, 'the epoch began just now (a new Redis)');
  await t.rejects(s.lock('ticket', { signal: AbortSignal.timeout(300) }), /timeout|aborted/i, 'rejected with the signal');
  t.equal(await redis.cli('GET', 'portico:lock:ticket'), '', 'and released');
  // the epoch's settle time is over for the tests below (closed first: a storage seeing the epoch
  // change would sync, writing into its cache — this test's directory, removed as the test ends)
  await s.close();
  await redis.cli('SET', 'portico:meta:epoch', epoch.replace(/:\d+$/, ':0'));
});

t.test('a lost lease aborts the lock\'s signal: another owner, or Redis hung longer than the lease', async (t) => {
  const lost: string[] = [];
  const s = await open(t, testDir(t), { leaseLost: (name) => lost.push(name) });
  const a = await s.lock('stolen');
  t.ok(a.signal, 'a lease has a signal');
  t.notOk(a.signal!.aborted);
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(a.signal!.aborted, 'renewed: still held past its lease');
  await redis.cli('SET', 'portico:lock:stolen', 'someone-else', 'XX', 'PX', '5000');
  await waitUntil(() => a.signal!.aborted, 3000, 'signal aborted after another owner took it');
  t.match(String((a.signal!.reason as Error).message), /another replica holds it/);
  t.same(lost, ['stolen']);
  await a.release();
  t.equal(await redis.cli('GET', 'portico:lock:stolen'), 'someone-else', 'the release left the other owner\'s lease alone');

  const b = await s.lock('hung');
  const frozen = redis.freeze(2500);
  await waitUntil(() => b.signal!.aborted, 4000, 'signal aborted while Redis hangs past the lease');
  t.match(String((b.signal!.reason as Error).message), /not renewed for 1000ms/);
  await frozen;
  await waitUntil(() => s.connected, 5000, 'back in step');
  await b.release();
});

t.test('an order whose lease is lost stops (no failure recorded) and is made again under the lock', async (t) => {
  const s = await open(t, testDir(t));
  const ca = await makeCA();
  let first = true;
  const issuer = new FakeIssuer((req) => {
    if (!first) return ca.issue(req.names);
    first = false;
    // the first order runs until its signal says stop
    return new Promise((_, reject) => req.signal!.addEventListener('abort', () => reject(req.signal!.reason as Error), { once: true }));
  });
  const { log, lines } = captureLogger();
  const installs: string[] = [];
  const m = new AcmeManager({
    hosts: ['lost.test'], acme: { directory: DIRECTORY, challenges: ['http-01'], renew_before: { fraction: 1 / 3 }, backoff: { min: 100, max: 400 } },
    storage: s, issuer: async () => issuer, limiter: new OrderLimiter({ perWindow: 1000 }), install: (h) => installs.push(h),
    log, metrics: new Metrics(), lockOptions: { pollMs: 20 }, checkIntervalMs: 50,
  });
  await m.load();
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  m.start(ac.signal);
  await waitUntil(() => issuer.calls.length === 1, 5000, 'ordering');
  const key = `portico:lock:${safeSegment(`order-${PREFIX}-lost.test`)}`;
  await redis.cli('SET', key, 'another-replica', 'XX', 'PX', '1500');
  await waitUntil(() => issuer.calls[0]!.signal!.aborted, 3000, 'the order was told to stop');
  await waitUntil(() => lines.some((l) => l.msg === 'the order lock was lost while ordering: this order stops before finalize; the next check looks at storage again'), 2000, 'logged');
  t.equal(issuer.calls.length, 1, 'not ordered again while the other holder has the lock');
  t.equal(m.status()[0]!.attempts, 0, 'no failure recorded');
  t.notOk(lines.some((l) => l.msg === 'certificate order failed'), 'not logged as a failed order');
  // the other holder's lease runs out: ordered again, once
  await waitUntil(() => installs.includes('lost.test'), 10_000, 'ordered again and served');
  t.equal(issuer.calls.length, 2);
  t.equal(m.status()[0]!.state, 'valid');
});

t.test('an on-demand name approved while Redis is away is maintained: ordered when it is back, then recorded', async (t) => {
  const s = await open(t, testDir(t));
  const ask = http.createServer((req, res) => res.writeHead(new URL(req.url ?? '/', 'http://x').searchParams.get('domain') === 'od.example.com' ? 200 : 404).end());
  await new Promise<void>((r) => ask.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => ask.close(() => r())));
  const ca = await makeCA();
  const issuer = new FakeIssuer((req) => ca.issue(req.names));
  const { log, lines } = captureLogger();
  const metrics = new Metrics();
  const od = new OnDemand({ storage: s, log, metrics });
  od.configure({ ask: `http://127.0.0.1:${(ask.address() as AddressInfo).port}/ask`, rate: { count: 10, window: 60_000 } });
  const installs: string[] = [];
  const m = new AcmeManager({
    hosts: [], acme: { directory: DIRECTORY, challenges: ['http-01'], renew_before: { fraction: 1 / 3 }, backoff: { min: 100, max: 400 } },
    storage: s, issuer: async () => issuer, limiter: new OrderLimiter({ perWindow: 1000 }), install: (h) => installs.push(h),
    log, metrics, lockOptions: { pollMs: 20 }, checkIntervalMs: 50, onDemand: { hosts: [], gate: od.gate(PREFIX) },
  });
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  m.start(ac.signal);
  await redis.stop();
  await waitUntil(() => !s.connected, 5000, 'redis away');
  const got = od.certificate('od.example.com', m); // waits for the order (the lock waits for Redis)
  await waitUntil(() => lines.some((l) => l.msg === 'on-demand name not recorded in storage yet (maintained now; recorded at a later check)'), 5000, 'not recorded');
  t.equal(issuer.calls.length, 0, 'no order without Redis (its lock waits)');
  await redis.start(); // empty: a new epoch, whose settle time the lock waits out
  const pems = await got;
  t.ok(pems?.cert.includes('BEGIN CERTIFICATE'), 'the handshake got its certificate');
  t.equal(issuer.calls.length, 1, 'ordered once Redis was back');
  t.ok(installs.includes('od.example.com'));
  await waitUntil(async () => (await redis.cli('EXISTS', `portico:${PREFIX}/on-demand/od.example.com.json`)) === '1', 5000, 'recorded in storage');
});

t.test('portico with on-demand TLS starts and stops while Redis is away', async (t) => {
  const backend = await startBackend('any');
  t.teardown(() => backend.close());
  await redis.stop();
  const dir = testDir(t);
  const acme = ['enabled = true', 'directory = "https://127.0.0.1:9/dir"', '[acme.on_demand]', 'ask = "http://127.0.0.1:9/ask"'].join('\n');
  await writeFile(join(dir, 'config.toml'), proxyConfig([{ hosts: ['*'], upstreams: [backend.origin], tls: 'acme' }], { redis: redis.url, acme }));
  const p = spawnPortico(['run', '--config', join(dir, 'config.toml')]);
  t.teardown(() => {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  });
  await p.waitFor((l) => l.msg === 'portico ready', 15_000);
  t.ok(p.logs.some((l) => l.msg === 'starting without redis: serving what the local cache holds (self-signed where it holds nothing)'));
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0);
  t.ok(p.logs.some((l) => l.msg === 'stopped'), 'the shutdown ran to its end');
  await redis.start();
});
