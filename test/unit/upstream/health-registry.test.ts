// HealthRegistry with an injected probe function: sharing rule, per-route thresholds, state across
// acquire/release (runtime swaps), transitions reaching onChange, timers stopped by close().
import t from 'tap';
import pino from 'pino';
import type { RouteConfig } from '../../../src/config/types.js';
import { Metrics } from '../../../src/metrics.js';
import { HealthRegistry, type ProbeFn } from '../../../src/health/registry.js';
import type { HealthUpdate } from '../../../src/proxy/snapshot.js';
import { waitUntil as until } from '../../../test-support/wait.js';

const U = 'http://127.0.0.1:4001';
function route(name: string, health: Partial<RouteConfig['health']> = {}, passive: Partial<RouteConfig['passive']> = {}): RouteConfig {
  return {
    name, hosts: [`${name}.test`], path_prefix: '/', upstreams: [U], app: null, tls: 'auto', max_body_bytes: 1, retries: 2,
    health: { enabled: true, path: '/health', interval: 20, timeout: 50, healthy_threshold: 1, unhealthy_threshold: 1, expect_status: [200, 299], ...health },
    passive: { max_fails: 3, fail_window: 10_000, eject_for: 30_000, fail_statuses: [], ...passive },
  };
}

function setup(status: { code: number }) {
  const calls: string[] = [];
  const probe: ProbeFn = async (origin, path) => {
    calls.push(origin + path);
    return { at: Date.now(), latency_ms: 1, status: status.code, error: null };
  };
  const updates: HealthUpdate[] = [];
  const reg = new HealthRegistry({ log: pino({ level: 'silent' }), metrics: new Metrics(), onChange: (u) => updates.push(u), probe });
  return { reg, calls, updates };
}


t.test('routes sharing an address and path share one prober; each route applies its own thresholds', async (t) => {
  const status = { code: 200 };
  const { reg, calls, updates } = setup(status);
  t.teardown(() => reg.close());
  const strict = route('strict', { unhealthy_threshold: 1 });
  const lenient = route('lenient', { unhealthy_threshold: 1000, interval: 1000 });
  reg.acquire([strict, lenient]);
  await until(() => calls.length >= 1);
  const start = Date.now();
  const n0 = calls.length;
  await new Promise((r) => setTimeout(r, 300));
  const rate = (calls.length - n0) / ((Date.now() - start) / 1000);
  // one prober at the shorter interval (20ms ≈ 50/s); two probers would double it, the longer interval alone gives 1/s
  t.ok(rate > 5 && rate < 80, `one shared prober at the shortest interval (${rate.toFixed(1)} probes/s)`);
  status.code = 503;
  await until(() => reg.stateOf('strict', U) === 'down');
  t.equal(reg.stateOf('lenient', U), 'up', 'the lenient route keeps it');
  t.same(updates.at(-1), { route: 'strict', upstream: U, state: 'down' });
  t.equal(reg.status('strict', U).healthy, false);
  t.match(reg.status('strict', U), { checks: true, last_check: { ok: false, status: 503 }, reason: /failed probe/ });
});

t.test('a passive failure seen on one route counts for every route using the address', async (t) => {
  const { reg } = setup({ code: 200 });
  t.teardown(() => reg.close());
  const a = route('a', { enabled: false }, { max_fails: 2 });
  const b = route('b', { enabled: false }, { max_fails: 3 });
  reg.acquire([a, b]);
  reg.report({ route: 'a', upstream: U, ok: false, detail: 'status 503' });
  reg.report({ route: 'b', upstream: U, ok: false, detail: 'status 503' });
  t.equal(reg.stateOf('a', U), 'down', 'a: 2 of 2');
  t.equal(reg.stateOf('b', U), 'up', 'b: 2 of 3');
  reg.report({ route: 'a', upstream: U, ok: false, detail: 'reset' });
  t.equal(reg.stateOf('b', U), 'down', 'b: 3 of 3, one of them seen on route a');
  t.match(reg.status('b', U).ejected_until, /^\d{4}-/, 'checks off: ejected until a time');
});

t.test('state survives a swap (acquire new, release old) and is forgotten when no runtime uses it', async (t) => {
  const status = { code: 503 };
  const { reg } = setup(status);
  t.teardown(() => reg.close());
  const v1 = [route('app')];
  reg.acquire(v1);
  await until(() => reg.stateOf('app', U) === 'down');
  const v2 = [route('app', { interval: 30 })];
  reg.acquire(v2);
  reg.release(v1);
  t.equal(reg.stateOf('app', U), 'down', 'still down after the swap, without waiting for a probe');
  reg.release(v2);
  t.equal(reg.stateOf('app', U), 'up', 'forgotten: a new route with this address starts in the pool');
});

t.test('checks off: an ejected upstream gets a trial after eject_for; the trial outcome decides', async (t) => {
  const { reg, updates } = setup({ code: 200 });
  t.teardown(() => reg.close());
  reg.acquire([route('app', { enabled: false }, { max_fails: 1, eject_for: 30 })]);
  reg.report({ route: 'app', upstream: U, ok: false, detail: 'ECONNREFUSED' });
  t.equal(reg.stateOf('app', U), 'down');
  await until(() => reg.stateOf('app', U) === 'trial');
  reg.report({ route: 'app', upstream: U, ok: true, detail: 'status 200' });
  t.equal(reg.stateOf('app', U), 'up');
  t.same(updates.map((u) => u.state), ['down', 'trial', 'up']);
});

t.test('close() stops probing', async (t) => {
  const { reg, calls } = setup({ code: 200 });
  reg.acquire([route('app')]);
  await until(() => calls.length >= 1);
  reg.close();
  const n = calls.length;
  await new Promise((r) => setTimeout(r, 80));
  t.ok(calls.length <= n + 1, 'no probes after close (one may have been in flight)');
});
