/**
 * Readiness means ready (issue 24): with app-backed routes, /readyz and the "portico ready" line wait
 * until every such route has a worker in its pool, so the first request after "ready" is served (it
 * used to get 503 PORTICO_ERR_NO_UPSTREAM: a failed request behind a Kubernetes Service on every
 * rollout); bounded by the start timeout, after which (or once the app failed) portico is ready with a
 * warning; a SIGTERM while waiting stops at once. Also here: `${PORT}` and `${PORTICO_WORKER_INDEX}` in an
 * app's command and env are each worker's own, and app lines are logged at the level they start with.
 */
import { join } from 'node:path';
import t from 'tap';
import { ROOT, freePort, proxyConfig, request, spawnPortico, startProxy, waitUntil } from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { writeFile } from 'node:fs/promises';
import { testDir } from '../../test-support/wait.js';

const APP = join(ROOT, 'test-support', 'upstream-app.mjs');
const q = JSON.stringify;

async function appConfig(o: { workers: number; env: Record<string, string>; command?: string[]; extra?: string }): Promise<string> {
  const env = Object.entries(o.env).map(([k, v]) => `${k} = ${q(v)}`).join(', ');
  return proxyConfig([], { log: 'access = false' }) + [
    '[[apps]]',
    'name = "web"',
    `command = [${(o.command ?? [process.execPath, APP]).map((a) => q(a)).join(', ')}]`,
    `workers = ${o.workers}`,
    `port = ${await freePort()}`,
    'memory = "128MiB"',
    `env = { ${env} }`,
    'restart_backoff = "50ms..200ms"',
    o.extra ?? '',
    '[[routes]]',
    'name = "web"',
    'hosts = ["app.test"]',
    'app = "web"',
    'tls = "self-signed"',
    'health = { path = "/health", interval = "100ms", timeout = "1s" }',
    '',
  ].join('\n');
}

t.test('/readyz and "portico ready" wait for the app workers: every request after ready is served; ${PORT} and the level of app lines', async (t) => {
  const dir = testDir(t);
  const path = join(dir, 'config.toml');
  await writeFile(path, await appConfig({
    workers: 2,
    command: [process.execPath, APP, '--port', '${PORT}'],
    env: { START_DELAY_MS: '1500', NAME: 'w${PORTICO_WORKER_INDEX}-${PORT}', STDERR_LINES: 'INFO:     Started server process|WARNING:  odd request|a plain line' },
  }));
  const s = spawnPortico(['run', '--config', path]);
  t.teardown(() => {
    if (s.child.exitCode === null) s.child.kill('SIGKILL');
  });
  await s.waitFor((l) => l.msg === 'listening' && l.listener === 'admin');
  const admin = s.portOf('admin');
  const seen: number[] = [];
  while (!s.logs.some((l) => l.msg === 'portico ready')) {
    seen.push((await httpRequest({ port: admin, path: '/readyz' })).status);
    await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(seen.includes(503), `/readyz said 503 while the workers started (${seen.length} polls)`);
  t.equal((await httpRequest({ port: admin, path: '/readyz' })).status, 200, '/readyz 200 once ready');
  const replies = await Promise.all(Array.from({ length: 20 }, () => request({ port: s.portOf('https'), servername: 'app.test' })));
  t.strictSame(replies.map((r) => r.status), Array(20).fill(200), 'every request right after "portico ready" is served');

  // ${PORT} in the argv and ${PORTICO_WORKER_INDEX}-${PORT} in env are the worker's own values
  for (const r of replies) {
    const [, index, port] = /^w(\d)-(\d+)$/.exec(String(r.headers['x-upstream'])) ?? [];
    t.ok(index === '0' || index === '1', `worker index ${index}`);
    t.equal(String(r.headers['x-argv-port']), port, 'the argv ${PORT} is the port the worker was given');
  }
  // ready needs one worker per route; the second joins the pool soon after, with its own values too
  await waitUntil(async () => /^w1-\d+$/.test(String((await request({ port: s.portOf('https'), servername: 'app.test' })).headers['x-upstream'])), 10_000, 'worker 1 answers');

  // stderr lines: the level they start with, else info; always with their stream
  const line = (msg: string) => s.logs.find((l) => l.msg === msg && l.component === 'supervisor');
  t.match(line('INFO:     Started server process'), { level: 'info', stream: 'stderr', app: 'web', worker: Number });
  t.match(line('WARNING:  odd request'), { level: 'warn', stream: 'stderr' });
  t.match(line('a plain line'), { level: 'info', stream: 'stderr' });
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0);
});

t.test('start timeout: a worker that never gets ready → ready anyway, with a warning naming the route', async (t) => {
  const toml = await appConfig({ workers: 1, env: { START_DELAY_MS: '600000' } });
  const p = await startProxy(testDir(t), toml, { supervisorTuning: { readyTimeoutMs: 800 } });
  t.teardown(() => p.close());
  await waitUntil(() => p.logs.some((l) => l.msg === 'portico ready'), 5000, 'the ready line');
  t.match(p.logs.find((l) => String(l.msg).startsWith('ready, but')), { level: 'warn', routes: ['web'] });
  t.equal((await httpRequest({ port: p.adminPort, path: '/readyz' })).status, 200);
});

t.test('a failed app does not hold readiness for the whole start timeout', async (t) => {
  const toml = await appConfig({ workers: 1, env: { EXIT_CODE: '3' }, extra: 'crash_loop = "1 in 60s"' });
  const p = await startProxy(testDir(t), toml, { supervisorTuning: { readyTimeoutMs: 60_000 } });
  t.teardown(() => p.close());
  await waitUntil(() => p.logs.some((l) => l.msg === 'portico ready'), 5000, 'the ready line');
  const warning = p.logs.find((l) => String(l.msg).startsWith('ready, but'));
  t.match(warning, { routes: ['web'] });
  t.ok(Number(warning?.waited_ms) < 60_000, `ready once the app failed (after ${warning?.waited_ms} ms), not at the timeout`);
});

t.test('SIGTERM while waiting for the workers: stops at once with exit 0, never says ready', async (t) => {
  const dir = testDir(t);
  const path = join(dir, 'config.toml');
  await writeFile(path, await appConfig({ workers: 1, env: { START_DELAY_MS: '600000' } }));
  const s = spawnPortico(['run', '--config', path]);
  t.teardown(() => {
    if (s.child.exitCode === null) s.child.kill('SIGKILL');
  });
  await s.waitFor((l) => l.msg === 'listening' && l.listener === 'admin');
  await waitUntil(() => s.logs.some((l) => l.msg === 'worker started'), 10_000, 'worker started');
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0);
  t.notOk(s.logs.some((l) => l.msg === 'portico ready'));
});
