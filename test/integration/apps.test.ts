/**
 * App workers (issue 15) with real child processes: pre-start exactly once, then the workers; a
 * SIGKILLed worker replaced under load with no failed request; a crash loop stops the restarts; a
 * failing pre-start leaves the app down while other routes serve; a worker over its memory budget is
 * recycled; a rolling restart under load replaces every pid; no worker (nor its child) survives
 * portico's SIGTERM or SIGKILL.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import {
  ROOT, failures, freePort, proxyConfig, request, runLoad, spawnPortico, startBackend, startProxy, waitUntil, type ProxyHandle,
} from '../../test-support/index.js';
import { httpRequest, runCli } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const APP = join(ROOT, 'test-support', 'upstream-app.mjs');
const PRE = join(ROOT, 'test-support', 'pre-start.mjs');
const q = JSON.stringify;

interface AppSpec {
  name?: string;
  workers?: number;
  env?: Record<string, string>;
  pre_start?: string[];
  memory?: string;
  extra?: string;
  port?: number;
}

/** appToml renders an [[apps]] table running test-support/upstream-app.mjs on a free port range. */
async function appToml(o: AppSpec): Promise<string> {
  const port = o.port ?? (await freePort());
  const env = Object.entries(o.env ?? {}).map(([k, v]) => `${k} = ${q(v)}`).join(', ');
  return [
    '[[apps]]',
    `name = ${q(o.name ?? 'web')}`,
    `command = [${q(process.execPath)}, ${q(APP)}]`,
    `workers = ${o.workers ?? 1}`,
    `port = ${port}`,
    `memory = ${q(o.memory ?? '256MiB')}`,
    `env = { ${env} }`,
    `pre_start = [${(o.pre_start ?? []).map((a) => q(a)).join(', ')}]`,
    'restart_backoff = "50ms..200ms"',
    o.extra ?? '',
    '',
  ].join('\n');
}

const appRoute = (app = 'web', host = 'app.test') =>
  `[[routes]]\nname = ${q(app)}\nhosts = [${q(host)}]\napp = ${q(app)}\ntls = "self-signed"\nhealth = { path = "/health", interval = "100ms", timeout = "1s" }\n`;

type AppStatus = { name: string; state: string; error: string | null; pre_start: { state: string }; workers: Array<{ index: number; pid: number | null; port: number; state: string; restarts: number }> };

async function appStatus(p: ProxyHandle, name = 'web'): Promise<AppStatus | undefined> {
  const doc = JSON.parse((await httpRequest({ port: p.adminPort, path: '/status.json' })).body) as { apps: AppStatus[] };
  return doc.apps.find((a) => a.name === name);
}

/** startWithApps runs portico in-process with the given extra TOML (apps + routes). */
async function startWithApps(t: Test, toml: string, opts: { sampleMs?: number } = {}): Promise<ProxyHandle> {
  const p = await startProxy(testDir(t), proxyConfig([], { log: 'access = false' }) + toml, { supervisorTuning: { sampleMs: opts.sampleMs ?? 5000, readyTimeoutMs: 20_000 } });
  t.teardown(() => p.close());
  return p;
}

const running = (s: AppStatus | undefined, n: number) => s !== undefined && s.workers.filter((w) => w.state === 'running').length === n;
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.test('3 workers start after the pre-start step (run once); a SIGKILLed worker is replaced under load with 0 failed requests', async (t) => {
  const log = join(testDir(t), 'pre-start.log');
  const p = await startWithApps(t, (await appToml({ workers: 3, pre_start: [process.execPath, PRE], env: { PRESTART_LOG: log } })) + appRoute());
  await waitUntil(async () => running(await appStatus(p), 3), 20_000, '3 workers running');
  t.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1, 'pre-start ran once');
  const startedAfter = p.logs.findIndex((l) => l.msg === 'worker started');
  const preDone = p.logs.findIndex((l) => l.msg === 'pre-start step succeeded');
  t.ok(preDone !== -1 && preDone < startedAfter, 'no worker started before the pre-start step succeeded');
  await waitUntil(async () => (await appStatus(p))!.workers.length === 3, 5000);
  const seen = new Set<string>();
  for (let i = 0; i < 9; i++) seen.add((await request({ port: p.port, servername: 'app.test' })).headers['x-upstream'] as string);
  t.same([...seen].sort(), ['worker-0', 'worker-1', 'worker-2'], 'balanced over the 3 workers');

  const victim = (await appStatus(p))!.workers[1]!.pid!;
  const outcomes = await runLoad({
    port: p.port, servername: 'app.test', total: 1500, concurrency: 6,
    before: (i) => {
      if (i === 300) process.kill(victim, 'SIGKILL');
    },
  });
  t.same(failures(outcomes), [], '0 failed client requests');
  await waitUntil(async () => running(await appStatus(p), 3), 20_000, 'replaced');
  const s = (await appStatus(p))!;
  t.notOk(s.workers.some((w) => w.pid === victim), 'the killed worker was replaced');
  t.equal(s.workers.find((w) => w.index === 1)!.restarts, 1);
  t.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1, 'the pre-start step did not run again');
  t.match((await httpRequest({ port: p.adminPort, path: '/metrics' })).body, /portico_app_worker_restarts_total\{app="web"\} 1/);
  const doc = JSON.parse((await httpRequest({ port: p.adminPort, path: '/status.json' })).body);
  t.match(doc.apps_memory, { planned_bytes: 3 * 256 * 1024 * 1024, budget_bytes: Number, memory_total_source: String });
  t.match(doc.apps[0].workers[0], { pid: Number, port: Number, state: 'running', uptime_s: Number, restarts: Number, rss_bytes: Number, cpu_percent: Number });
});

t.test('an app that exits at once stops being restarted after crash_loop and is marked failed', async (t) => {
  const p = await startWithApps(t, (await appToml({ workers: 2, env: { EXIT_CODE: '3' }, extra: 'crash_loop = "4 in 30s"' })) + appRoute());
  await waitUntil(async () => (await appStatus(p))?.state === 'failed', 20_000, 'failed');
  const s = (await appStatus(p))!;
  t.match(s.error, /^crash loop: 5 exits within 30000ms \(limit 4\); last: exited with code 3/);
  t.match(p.logs.find((l) => String(l.msg).startsWith('app failed')), { level: 'error', app: 'web' });
  const starts = p.logs.filter((l) => l.msg === 'worker started').length;
  await new Promise((r) => setTimeout(r, 600));
  t.equal(p.logs.filter((l) => l.msg === 'worker started').length, starts, 'no more restarts');
  t.match((await httpRequest({ port: p.adminPort, path: '/metrics' })).body, /portico_app_failed\{app="web"\} 1/);
  const r = await request({ port: p.port, servername: 'app.test' });
  t.equal(r.status, 503, 'its route answers 503');
});

t.test('a failing pre-start step: no worker starts, the error is visible, other routes still serve', async (t) => {
  const other = await startBackend('other');
  t.teardown(() => other.close());
  const log = join(testDir(t), 'pre.log');
  const toml = (await appToml({ workers: 2, pre_start: [process.execPath, PRE], env: { PRESTART_LOG: log, PRESTART_EXIT: '7' } })) + appRoute() +
    `[[routes]]\nname = "other"\nhosts = ["other.test"]\nupstreams = [${q(other.origin)}]\ntls = "self-signed"\nhealth = { enabled = false }\n`;
  const p = await startWithApps(t, toml);
  await waitUntil(async () => (await appStatus(p))?.state === 'failed', 20_000, 'failed');
  const s = (await appStatus(p))!;
  t.match(s, { state: 'failed', pre_start: { state: 'failed' }, error: /pre-start step .* failed: exited with code 7/ });
  t.equal(s.workers.length, 0, 'no worker started');
  t.notOk(p.logs.some((l) => l.msg === 'worker started'));
  t.equal((await request({ port: p.port, servername: 'other.test' })).status, 200, 'other routes serve');
  t.equal((await request({ port: p.port, servername: 'app.test' })).status, 503);
  const check = await runCli(['check', '--config', p.configPath]);
  t.match(check.stdout, /pre_start .*FAILED for this definition at .*exited with code 7/, '`portico check` shows the failure');
});

t.test('a worker over its memory budget is recycled with no failed requests', async (t) => {
  const p = await startWithApps(t, (await appToml({ workers: 2, memory: '120MiB' })) + appRoute(), { sampleMs: 100 });
  await waitUntil(async () => running(await appStatus(p), 2), 20_000, 'running');
  const before = (await appStatus(p))!.workers.map((w) => w.pid);
  // allocate on whichever worker answers, until one of them is over budget
  await request({ port: p.port, servername: 'app.test', path: '/alloc?mb=200' });
  const outcomes = await runLoad({ port: p.port, servername: 'app.test', total: 100_000, concurrency: 4, gap: 5, until: () => p.logs.some((l) => l.msg === 'worker over its memory budget: recycling it') && p.logs.some((l) => l.msg === 'stopping worker') });
  t.same(failures(outcomes), [], '0 failed requests while recycling');
  await waitUntil(async () => running(await appStatus(p), 2), 20_000, 'two running again');
  const after = (await appStatus(p))!.workers.map((w) => w.pid);
  t.equal(after.filter((pid) => before.includes(pid)).length, 1, 'exactly the bloated worker was replaced');
  t.match(p.logs.find((l) => l.msg === 'worker over its memory budget: recycling it'), { memory: 120 * 1024 * 1024 });
});

t.test('a rolling restart of 3 workers under load: 0 failed requests, every pid replaced', async (t) => {
  const p = await startWithApps(t, (await appToml({ workers: 3 })) + appRoute());
  await waitUntil(async () => running(await appStatus(p), 3), 20_000, 'running');
  const before = (await appStatus(p))!.workers.map((w) => w.pid);
  let done = false;
  const load = runLoad({ port: p.port, servername: 'app.test', total: 1_000_000, concurrency: 4, until: () => done });
  const r = await httpRequest({ port: p.adminPort, path: '/apps/web/restart', method: 'POST' });
  done = true;
  t.equal(r.status, 200, r.body);
  const outcomes = await load;
  t.ok(outcomes.length > 50, `load ran during the restart (${outcomes.length} requests)`);
  t.same(failures(outcomes), [], '0 failed requests');
  const after = (await appStatus(p))!.workers.map((w) => w.pid);
  t.equal(after.length, 3);
  t.equal(after.filter((pid) => before.includes(pid)).length, 0, 'all pids replaced');
  for (const pid of before) t.notOk(alive(pid!), `old worker ${pid} stopped`);
  const missing = await httpRequest({ port: p.adminPort, path: '/apps/nope/restart', method: 'POST' });
  t.equal(missing.status, 404);
});

t.test('no worker nor its child survives portico: SIGTERM stops them, and so does SIGKILL', async (t) => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    const dir = join(testDir(t), signal);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    const configPath = join(dir, 'config.toml');
    writeFileSync(configPath, proxyConfig([]) + (await appToml({ workers: 2, env: { GRANDCHILD: '1' } })) + appRoute());
    const s = spawnPortico(['run', '--config', configPath]);
    t.teardown(() => {
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    });
    await s.waitFor((l) => l.msg === 'portico ready');
    await waitUntil(() => s.logs.filter((l) => l.msg === 'worker ready').length === 2, 20_000, 'workers ready');
    const pids = s.logs.filter((l) => l.msg === 'worker started').map((l) => Number(l.worker_pid));
    const grandchildren = s.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('grandchild ')).map((l) => Number(String(l.msg).split(' ')[1]));
    t.equal(grandchildren.length, 2, 'each worker started a child');
    s.child.kill(signal);
    const code = await s.exited;
    if (signal === 'SIGTERM') t.equal(code, 0, 'exit 0 after SIGTERM');
    await waitUntil(() => [...pids, ...grandchildren].every((pid) => !alive(pid)), 10_000, `all gone after ${signal}`).catch(() => undefined);
    t.same([...pids, ...grandchildren].filter(alive), [], `no worker or child left after ${signal}`);
  }
});

t.test('reloads: an unchanged app keeps its workers; a changed env rolls them under load; more workers are added', async (t) => {
  const log = join(testDir(t), 'pre.log');
  const port = await freePort();
  const config = async (v: string, workers = 2) =>
    proxyConfig([], { log: 'access = false' }) + (await appToml({ port, workers, pre_start: [process.execPath, PRE], env: { PRESTART_LOG: log, V: v } })) + appRoute();
  const p = await startWithApps(t, '');
  await p.writeConfig(await config('1'));
  t.match(await p.portico.reload(), { result: 'success' });
  await waitUntil(async () => running(await appStatus(p), 2), 20_000, 'running');
  const pids0 = (await appStatus(p))!.workers.map((w) => w.pid);

  await p.writeConfig(await config('1'));
  t.match(await p.portico.reload(), { result: 'success' });
  t.same((await appStatus(p))!.workers.map((w) => w.pid), pids0, 'an unchanged app keeps its workers');
  t.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1, 'and its pre-start step does not run again');

  let done = false;
  const load = runLoad({ port: p.port, servername: 'app.test', total: 1_000_000, concurrency: 4, until: () => done });
  await p.writeConfig(await config('2'));
  t.match(await p.portico.reload(), { result: 'success' });
  await waitUntil(async () => {
    const s = await appStatus(p);
    return running(s, 2) && s!.workers.every((w) => !pids0.includes(w.pid));
  }, 30_000, 'rolled');
  done = true;
  t.same(failures(await load), [], '0 failed requests during the rolling restart');
  t.equal(readFileSync(log, 'utf8').trim().split('\n').length, 2, 'a changed definition runs its pre-start step again');

  await p.writeConfig(await config('2', 3));
  t.match(await p.portico.reload(), { result: 'success' });
  await waitUntil(async () => running(await appStatus(p), 3), 20_000, 'scaled to 3');
  const scaled = (await appStatus(p))!;
  t.equal(scaled.workers.length, 3, 'a third worker was added');
  t.ok(scaled.workers.every((w) => w.state === 'running'), 'all three running');
});

t.test('two porticos sharing the storage run the pre-start step once', async (t) => {
  const root = testDir(t);
  const log = join(root, 'pre.log');
  const storage = join(root, 'shared-state');
  const mk = async (dir: string) => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    // the same definition on both (same command, env and cwd), as replicas of one config would have
    const toml = (proxyConfig([], { log: 'access = false' }) + (await appToml({ pre_start: [process.execPath, PRE], env: { PRESTART_LOG: log, PRESTART_SLEEP_MS: '400' }, extra: `cwd = ${q(root)}` })) + appRoute())
      .replace('dir = "state"', `dir = ${q(storage)}`);
    return startProxy(dir, toml, { supervisorTuning: { readyTimeoutMs: 20_000 } });
  };
  const [a, b] = await Promise.all([mk(join(root, 'a')), mk(join(root, 'b'))]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await waitUntil(async () => running(await appStatus(a), 1) && running(await appStatus(b), 1), 20_000, 'both running');
  t.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1, 'ran on one of them only');
  const ran = [a, b].filter((p) => p.logs.some((l) => l.msg === 'pre-start step succeeded'));
  t.equal(ran.length, 1);
});

t.test('concurrent restarts queue up: every worker replaced, no slot lost or doubled, no process left behind (children ignoring SIGTERM included)', async (t) => {
  const p = await startWithApps(t, (await appToml({ workers: 2, env: { GRANDCHILD: 'stubborn' } })) + appRoute());
  await waitUntil(async () => running(await appStatus(p), 2), 20_000, 'running');
  const grandchildren = () => p.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('grandchild ')).map((l) => Number(String(l.msg).split(' ')[1]));
  const started = () => p.logs.filter((l) => l.msg === 'worker started').map((l) => Number(l.worker_pid));
  const results = await Promise.all([1, 2, 3].map(() => httpRequest({ port: p.adminPort, path: '/apps/web/restart', method: 'POST' })));
  t.same(results.map((r) => r.status), [200, 200, 200], 'three restarts, one after the other');
  const s = (await appStatus(p))!;
  t.same(s.workers.map((w) => w.index).sort(), [0, 1], 'two slots, indexes 0 and 1');
  t.ok(running(s, 2));
  const live = new Set(s.workers.map((w) => w.pid));
  t.equal(started().length, 8, '2 first workers + 3 × 2 replacements');
  await waitUntil(() => started().filter((pid) => !live.has(pid)).every((pid) => !alive(pid)), 10_000, 'old workers gone').catch(() => undefined);
  t.same(started().filter((pid) => !live.has(pid) && alive(pid)), [], 'every replaced worker stopped');
  const gc = grandchildren();
  t.equal(gc.length, 8);
  await waitUntil(() => gc.slice(0, 6).every((pid) => !alive(pid)), 10_000, 'old children gone').catch(() => undefined);
  t.same(gc.slice(0, 6).filter(alive), [], 'children of replaced workers are gone even though they ignore SIGTERM');
});
