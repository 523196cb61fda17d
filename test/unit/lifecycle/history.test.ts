// The dashboard's history (lifecycle/history.ts) with a fake clock and fake processes: rates are the
// differences of every process's counters over the real time between samples, summed over processes
// (data-plane workers), quantiles come from the merged histograms, a replaced process counts from zero,
// and health changes, reloads and app workers are kept within the window.
import t from 'tap';
import { DURATION_BUCKETS, Metrics, type Counters } from '../../../src/metrics.js';
import { History, type HistorySources } from '../../../src/lifecycle/history.js';
import type { AppStatus } from '../../../src/supervisor/apps.js';
import type { ReloadResult } from '../../../src/lifecycle/reload.js';

/** fake gives a history over processes the test drives (real Metrics objects), a clock and apps. */
function fake(step = 1000, windowMs = 10_000) {
  let clock = 1_000_000;
  const processes = new Map<number, Metrics>();
  let apps: AppStatus[] = [];
  let reload: ReloadResult | null = null;
  let routes = ['web', 'api'];
  const counters = (pid: number, m: Metrics): Counters => ({ ...m.counters(), pid });
  const sources: HistorySources = {
    counters: async () => [...processes].map(([pid, m]) => counters(pid, m)),
    apps: () => apps,
    lastReload: () => reload,
    routes: () => routes,
  };
  const history = new History(sources, { stepMs: step, windowMs, now: () => clock });
  return {
    history,
    processes,
    advance: (ms: number) => (clock += ms),
    now: () => clock,
    setApps: (a: AppStatus[]) => (apps = a),
    setReload: (r: ReloadResult) => (reload = r),
    setRoutes: (r: string[]) => (routes = r),
  };
}

/** serve counts n requests of `seconds` with `status` on a route of a process. */
function serve(m: Metrics, route: string, n: number, status = 200, seconds = 0.002): void {
  const r = m.forRoute(route);
  for (let i = 0; i < n; i++) {
    r.started++;
    m.observe(r, status, seconds);
  }
}

t.test('rates: per second over the time that really passed, summed over the processes', async (t) => {
  const f = fake();
  const a = new Metrics();
  const b = new Metrics();
  f.processes.set(11, a);
  f.processes.set(12, b);
  // the data plane resolves every configured route when it applies a snapshot
  for (const m of [a, b]) for (const r of ['web', 'api']) m.forRoute(r);
  f.advance(1000);
  await f.history.sample();
  serve(a, 'web', 30);
  serve(b, 'web', 20, 200, 0.2);
  serve(b, 'web', 5, 503);
  serve(a, 'web', 4, 404);
  serve(a, 'api', 8);
  f.advance(2000); // a late sample: rates use the 2 s that passed
  await f.history.sample();
  const doc = f.history.toJSON();
  const web = doc.routes.find((r) => r.name === 'web')!;
  t.same(web.rps, [0, 29.5], '(30 + 20 + 5 + 4) / 2 s');
  t.same(web.r5xx, [0, 2.5]);
  t.same(web.r4xx, [0, 2]);
  t.ok(web.p50_ms[1]! > 1 && web.p50_ms[1]! <= 5, `p50 ${web.p50_ms[1]} ms: most requests took 2 ms`);
  t.ok(web.p99_ms[1]! > 100 && web.p99_ms[1]! <= 250, `p99 ${web.p99_ms[1]} ms: the 0.2 s ones`);
  t.equal(doc.routes.find((r) => r.name === 'api')!.rps[1], 4);
  t.same(f.history.totals('web'), { requests: 59, r2xx: 50, r3xx: 0, r4xx: 4, r5xx: 5 }, 'totals of both processes');
  t.same(doc.times, [1_001_000, 1_003_000]);
  t.equal(doc.step_ms, 1000);
});

t.test('in flight: requests started and not answered, in every process', async (t) => {
  const f = fake();
  const a = new Metrics();
  const b = new Metrics();
  f.processes.set(1, a);
  f.processes.set(2, b);
  a.forRoute('web').started += 3;
  b.forRoute('web').started += 2;
  serve(b, 'web', 1);
  f.advance(1000);
  await f.history.sample();
  t.same(f.history.toJSON().routes.find((r) => r.name === 'web')!.in_flight, [5]);
});

t.test('a replaced process counts from zero; a vanished one is forgotten', async (t) => {
  const f = fake();
  const a = new Metrics();
  f.processes.set(1, a);
  serve(a, 'web', 100);
  f.advance(1000);
  await f.history.sample();
  // process 1 dies after 10 more; its replacement (pid 3) serves 7
  f.processes.delete(1);
  const c = new Metrics();
  f.processes.set(3, c);
  serve(c, 'web', 7);
  f.advance(1000);
  await f.history.sample();
  t.same(f.history.toJSON().routes.find((r) => r.name === 'web')!.rps, [100, 7]);
  t.equal(f.history.totals('web').requests, 107);
});

t.test('TLS handshakes and portico\'s own CPU and memory', async (t) => {
  const f = fake();
  const a = new Metrics();
  f.processes.set(1, a);
  f.advance(1000);
  await f.history.sample();
  for (let i = 0; i < 6; i++) a.tlsHandshake(false);
  for (let i = 0; i < 4; i++) a.tlsHandshake(true);
  f.advance(2000);
  await f.history.sample();
  const doc = f.history.toJSON();
  t.same(doc.tls.full, [0, 3]);
  t.same(doc.tls.resumed, [0, 2]);
  t.same(f.history.handshakes(), { full: 6, resumed: 4 });
  t.ok(doc.portico.rss_bytes[1]! > 10 * 2 ** 20, 'RSS of the process');
  t.ok(doc.portico.cpu_percent[1]! >= 0, 'CPU %');
});

t.test('routes no longer configured age out; "no route" appears once something matched none', async (t) => {
  const f = fake(1000, 3000);
  const a = new Metrics();
  f.processes.set(1, a);
  a.forRoute('');
  serve(a, 'web', 1);
  f.advance(1000);
  await f.history.sample();
  t.same(f.history.toJSON().routes.map((r) => r.name), ['web'], 'no "" series while nothing matched no route');
  serve(a, '', 2, 404);
  f.setRoutes(['api']);
  f.advance(1000);
  await f.history.sample();
  t.same(f.history.toJSON().routes.map((r) => r.name).sort(), ['', 'web'], 'web still has values in the window');
  for (let i = 0; i < 3; i++) {
    f.advance(1000);
    await f.history.sample();
  }
  t.same(f.history.toJSON().routes.map((r) => r.name), [''], 'web left the window');
});

t.test('health changes keep their reasons; the one before the window tells the state at its start', async (t) => {
  const f = fake(1000, 10_000);
  f.processes.set(1, new Metrics());
  const at = f.now();
  f.history.transition({ route: 'web', upstream: 'http://a', from: 'up', to: 'down', reason: '3 failed probes', at });
  f.history.transition({ route: 'web', upstream: 'http://a', from: 'down', to: 'up', reason: '2 passing probes', at: at + 4000 });
  f.advance(5000);
  await f.history.sample();
  t.match(f.history.toJSON().upstreams, [{ route: 'web', url: 'http://a', changes: [{ to: 'down', reason: '3 failed probes' }, { to: 'up' }] }]);
  f.advance(12_000);
  await f.history.sample();
  t.match(f.history.toJSON().upstreams[0]!.changes, [{ to: 'up', reason: '2 passing probes' }], 'only the last change before the window is kept');
  f.advance(20_000);
  await f.history.sample();
  t.same(f.history.toJSON().upstreams, [], 'forgotten two windows later');
});

t.test('app workers: CPU and RSS by worker index, the memory limit, restarts; reloads listed once', async (t) => {
  const f = fake();
  f.processes.set(1, new Metrics());
  const worker = (index: number, pid: number | null, restarts = 0) => ({ index, pid, port: 3000 + index, state: 'running' as const, uptime_s: 1, restarts, rss_bytes: 50e6 + index, cpu_percent: 10 + index, last_exit: null });
  const app = (workers: ReturnType<typeof worker>[]): AppStatus => ({ name: 'shop', state: 'running', error: null, command: ['x'], pre_start: { hash: '', state: 'none', at: null }, workers, memory: { per_worker: 64e6, rss_total: 0 } });
  f.setApps([app([worker(0, 100), worker(1, 101)])]);
  const reload: ReloadResult = { at: new Date().toISOString(), result: 'failure', version: 1, problems: ['routes[0].hosts: required'], listeners: [] };
  f.setReload(reload);
  f.advance(1000);
  await f.history.sample();
  // worker 1 was restarted: a new pid in the same slot continues the line; a stopped one has no value
  f.setApps([app([worker(0, null), worker(1, 102, 1)])]);
  f.advance(1000);
  await f.history.sample();
  const doc = f.history.toJSON();
  t.match(doc.apps, [{ name: 'shop', memory_limit_bytes: 64e6, restarts: [0, 1], workers: [{ index: 0, cpu_percent: [10, null], rss_bytes: [50e6, null] }, { index: 1, cpu_percent: [11, 11] }] }]);
  t.equal(doc.reloads.length, 1, 'the same reload seen twice is listed once');
  t.equal(doc.reloads[0]!.problems[0], 'routes[0].hosts: required');
  t.same(doc.memory, { series: 1 + doc.routes.length * 7 + 2 + 2 + 5, bytes: doc.memory.series * 10 * 8 }, 'rings of window/step float64 values');
});

t.test('a sample still waiting for the processes makes the next one a no-op', async (t) => {
  let release!: () => void;
  const slow: HistorySources = {
    counters: () => new Promise((resolve) => (release = () => resolve([]))),
    apps: () => [],
    lastReload: () => null,
    routes: () => [],
  };
  const h = new History(slow, { stepMs: 1000 });
  const first = h.sample();
  await h.sample();
  release();
  await first;
  t.equal(h.toJSON().times.length, 1, 'one sample taken');
  t.equal(DURATION_BUCKETS.length + 1, 14);
});
