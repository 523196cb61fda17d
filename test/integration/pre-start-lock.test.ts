/**
 * The pre-start step (migrations) under a lock that is lost while the step runs — a Redis lease
 * another replica took over after this one missed its renewals (a real redis-server): the step is
 * stopped (two replicas must never migrate at once), nothing is recorded as failed, and the lock is
 * waited for again: the step runs again once it is free, or not at all when the replica that took it
 * over ran it meanwhile; a lock lost three times fails the step.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { definitionHash, runPreStart } from '../../src/supervisor/pre-start.js';
import type { AppSpec } from '../../src/supervisor/spec.js';
import { RedisStorage } from '../../src/storage/redis-storage.js';
import { captureLogger, startRedis, testDir, waitUntil } from '../../test-support/index.js';

const redis = await startRedis();
t.teardown(() => redis.close());
// an epoch that began long ago: no settle time (locks are held back for a while in a fresh one)
await redis.cli('SET', 'portico:meta:epoch', 'pre-start-test:0');

// the first run of the step hangs (a long migration) until it is stopped; later runs succeed at once
// (with STEP_HANG, every run hangs)
const STEP = `
const fs = require('node:fs');
process.on('SIGTERM', () => { fs.appendFileSync(process.env.STEP_LOG, 'stopped ' + process.pid + '\\n'); process.exit(143); });
fs.appendFileSync(process.env.STEP_LOG, 'ran ' + process.pid + '\\n');
const runs = fs.readFileSync(process.env.STEP_LOG, 'utf8').trim().split('\\n').length;
if (runs === 1 || process.env.STEP_HANG) setInterval(() => undefined, 1000); else process.exit(0);
`;

function app(dir: string): AppSpec {
  mkdirSync(dir, { recursive: true });
  return {
    name: 'web', command: ['true'], cwd: dir, env: { STEP_LOG: join(dir, 'step.log') }, workers: 1, port: 0, memory: 0,
    pre_start: [process.execPath, '-e', STEP], pre_start_timeout: 30_000,
    restart_backoff: { min: 100, max: 1000 }, crash_loop: { count: 5, window: 60_000 },
  };
}

async function open(t: { teardown(fn: () => unknown): void }, cacheDir: string): Promise<RedisStorage> {
  const s = new RedisStorage({ url: redis.url, cacheDir, timeoutMs: 500, pollMs: 200, leaseMs: 1000, backoff: { min: 20, max: 200 } });
  s.start();
  t.teardown(() => s.close());
  await waitUntil(() => s.connected, 5000, 'redis storage in step');
  return s;
}

const steps = (dir: string): string[] => (existsSync(join(dir, 'step.log')) ? readFileSync(join(dir, 'step.log'), 'utf8').trim().split('\n') : []);

t.test('a lost lock stops the step; it runs again once the lock is free, and succeeds', async (t) => {
  const dir = testDir(t);
  const s = await open(t, join(dir, 'cache'));
  const { log, lines } = captureLogger();
  const spec = app(dir);
  const result = runPreStart(spec, { storage: s, log, env: { ...process.env, ...spec.env }, watcher: null, signal: new AbortController().signal, killGrace: 2000 });
  await waitUntil(() => steps(dir).length === 1, 5000, 'the step started');
  const key = (await redis.cli('KEYS', 'portico:lock:*')).split('\n').find((k) => k.includes('pre-start'));
  t.ok(key, `the step's lock is a lease in Redis (${key})`);
  await redis.cli('SET', key!, 'another-replica', 'XX', 'PX', '1500'); // taken over by another replica
  await waitUntil(() => steps(dir).some((l) => l.startsWith('stopped')), 5000, 'the step was stopped');
  const warned = (): Record<string, unknown> | undefined => lines.find((l) => l.msg === 'pre-start step stopped: its lock was lost (another replica may be running it); waiting for the lock again');
  await waitUntil(() => warned() !== undefined, 5000, 'logged');
  t.match(warned(), { level: 'warn', err: /another replica holds it/ }, 'logged as a warning, with the reason');
  const r = await result;
  t.match(r, { ran: true, hash: definitionHash(spec) }, 'ran again once the other holder\'s lease ran out, and succeeded');
  t.equal(steps(dir).filter((l) => l.startsWith('ran')).length, 2, 'two runs: the stopped one and the one that succeeded');
  t.notOk(await s.read(`apps/web/pre-start-${definitionHash(spec)}.failed`), 'no failure recorded');
  t.ok(await s.read(`apps/web/pre-start-${definitionHash(spec)}.done`), 'done');
  t.equal(await redis.cli('GET', key!), '', 'the lock is released');
});

t.test('a lost lock stops the step; the replica that took it over ran it: not run again here', async (t) => {
  const dir = testDir(t);
  const s = await open(t, join(dir, 'cache'));
  const { log } = captureLogger();
  const spec = app(dir);
  const result = runPreStart(spec, { storage: s, log, env: { ...process.env, ...spec.env }, watcher: null, signal: new AbortController().signal, killGrace: 2000 });
  await waitUntil(() => steps(dir).length === 1, 5000, 'the step started');
  const key = (await redis.cli('KEYS', 'portico:lock:*')).split('\n').find((k) => k.includes('pre-start'))!;
  await redis.cli('SET', key, 'another-replica', 'XX', 'PX', '1500');
  await waitUntil(() => steps(dir).some((l) => l.startsWith('stopped')), 5000, 'the step was stopped');
  // the other replica finishes the step and records it while it holds the lock
  await s.write(`apps/web/pre-start-${definitionHash(spec)}.done`, '2026-12-06T00:00:00.000Z\n');
  const r = await result;
  t.same(r, { ran: false, hash: definitionHash(spec), at: '2026-12-06T00:00:00.000Z' }, 'found done by the other replica');
  t.equal(steps(dir).filter((l) => l.startsWith('ran')).length, 1, 'not run again');
});

t.test('a lock lost again and again: after three stops the step fails, recorded for check', async (t) => {
  const dir = testDir(t);
  const s = await open(t, join(dir, 'cache'));
  const { log } = captureLogger();
  const base = app(dir);
  const spec = { ...base, env: { ...base.env, STEP_HANG: '1' } };
  const result = runPreStart(spec, { storage: s, log, env: { ...process.env, ...spec.env }, watcher: null, signal: new AbortController().signal, killGrace: 2000 });
  const failed = result.then(() => null, (err: Error) => err);
  for (let run = 1; run <= 3; run++) {
    await waitUntil(() => steps(dir).filter((l) => l.startsWith('ran')).length === run, 10_000, `run ${run} started`);
    const key = (await redis.cli('KEYS', 'portico:lock:*')).split('\n').find((k) => k.includes('pre-start'))!;
    await redis.cli('SET', key, 'another-replica', 'XX', 'PX', '1000');
    await waitUntil(() => steps(dir).filter((l) => l.startsWith('stopped')).length === run, 5000, `run ${run} stopped`);
  }
  const err = await failed;
  t.match(err, { message: /pre-start step .* failed: stopped 3 times, its storage lock lost each time/ }, 'the app fails, saying why');
  t.equal(steps(dir).filter((l) => l.startsWith('ran')).length, 3, 'not run a fourth time');
  t.match(String(await s.read(`apps/web/pre-start-${definitionHash(spec)}.failed`)), /stopped 3 times/, 'recorded for `portico check`');
});
