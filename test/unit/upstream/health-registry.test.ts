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
    balance: 'round_robin', compress: [], hsts: null, rate_limit: null, redirect: null, redirect_status: 308, redirect_keep_path: true,
    headers: { request: { set: {}, remove: [] }, response: { set: {}, remove: [] } },
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


/** FakeTimers: the probers' clock, driven by the test (`run` fires the due timers in order). */
class FakeTimers {
  at = 0;
  readonly pending = new Map<number, { fn: () => void; due: number; ms: number }>();
  private next = 1;
  readonly delays: number[] = [];
  now = (): number => this.at;
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = this.next++;
    this.pending.set(id, { fn, due: this.at + ms, ms });
    this.delays.push(ms);
    return id;
  };
  clearTimeout = (h: unknown): void => void this.pending.delete(h as number);
  /** fire the earliest timer (time jumps to it), then let the probe's promise settle */
  async fire(): Promise<void> {
    const [id, e] = [...this.pending].sort((a, b) => a[1].due - b[1].due)[0]!;
    this.pending.delete(id);
    this.at = e.due;
    e.fn();
    for (let i = 0; i < 5; i++) await Promise.resolve();
  }
}

t.test('routes sharing an address and path share one prober at the shortest interval; each route applies its own thresholds', async (t) => {
  const status = { code: 200 };
  const calls: string[] = [];
  const probe: ProbeFn = async (origin, path) => {
    calls.push(origin + path);
    return { at: timers.at, latency_ms: 1, status: status.code, error: null };
  };
  const timers = new FakeTimers();
  const updates: HealthUpdate[] = [];
  const reg = new HealthRegistry({ log: pino({ level: 'silent' }), metrics: new Metrics(), onChange: (u) => updates.push(u), probe, timers, clock: { now: () => timers.at } });
  t.teardown(() => reg.close());
  const strict = route('strict', { unhealthy_threshold: 1 });
  const lenient = route('lenient', { unhealthy_threshold: 1000, interval: 1000 });
  reg.acquire([strict, lenient]);
  t.equal(timers.pending.size, 1, 'one prober for the shared address and path (two routes)');
  t.ok(timers.delays[0]! < 20, 'the first probe is jittered within one (the shortest) interval');
  for (let i = 0; i < 5; i++) await timers.fire();
  t.equal(calls.length, 5, 'one probe per firing');
  t.same(timers.delays.slice(1), [20, 20, 20, 20, 20], 'each next probe one shortest interval (20 ms) after the last started, not 1000');
  t.equal(timers.pending.size, 1, 'never two probes pending');
  status.code = 503;
  await timers.fire();
  t.equal(reg.stateOf('strict', U), 'down', 'one failed probe drops it for the strict route');
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
