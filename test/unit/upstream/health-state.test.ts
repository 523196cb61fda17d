// The per-(route, upstream) health state machine, driven with hand-made probe results and times.
import t from 'tap';
import type { HealthConfig, PassiveConfig } from '../../../src/config/types.js';
import { HealthState, rangeText, type ProbeResult } from '../../../src/upstream/health-state.js';

const health = (o: Partial<HealthConfig> = {}): HealthConfig => ({
  enabled: true, path: '/', interval: 1000, timeout: 500, healthy_threshold: 2, unhealthy_threshold: 3, expect_status: [200, 299], ...o,
});
const passive = (o: Partial<PassiveConfig> = {}): PassiveConfig => ({ max_fails: 3, fail_window: 10_000, eject_for: 30_000, fail_statuses: [], ...o });
const ok = (at = 0, status = 200, latency = 5): ProbeResult => ({ at, latency_ms: latency, status, error: null });
const refused = (at = 0): ProbeResult => ({ at, latency_ms: 1, status: null, error: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1' });

t.test('exactly unhealthy_threshold failed probes drop, exactly healthy_threshold passes restore', async (t) => {
  const s = new HealthState({ health: health(), passive: passive() });
  t.equal(s.probe(ok(0, 503)), null, '1st failure: still up');
  t.equal(s.probe(refused(1)), null, '2nd failure: still up');
  const down = s.probe(ok(2, 500));
  t.match(down, { from: 'up', to: 'down', reason: /^3 failed probes, last: status 500 \(expected 2xx\)/ });
  t.equal(s.state, 'down');
  t.equal(s.probe(ok(3)), null, '1 pass: still down');
  t.equal(s.probe(ok(4, 503)), null, 'a failure resets the passes');
  t.equal(s.probe(ok(5)), null);
  t.match(s.probe(ok(6)), { from: 'down', to: 'up', reason: '2 passing probes' });
  t.equal(s.reason, null);
  t.equal(s.probe(ok(7, 404)), null, 'a pass resets the failures: 1 of 3 again');
  t.equal(s.fails, 1);
});

t.test('judge: status range, the route\'s own timeout, transport errors', async (t) => {
  const s = new HealthState({ health: health({ expect_status: [200, 399], timeout: 100 }), passive: passive() });
  t.same(s.judge(ok(0, 302)), { ok: true, detail: 'status 302' });
  t.same(s.judge(ok(0, 404)), { ok: false, detail: 'status 404 (expected 200-399)' });
  t.same(s.judge(ok(0, 200, 150)), { ok: false, detail: 'no response headers within 100ms' }, 'slower than this route allows');
  t.match(s.judge(refused()), { ok: false, detail: /ECONNREFUSED/ });
  t.equal(rangeText(200, 200), '200');
  t.equal(rangeText(500, 599), '5xx');
});

t.test('passive: max_fails within fail_window eject; older failures and those before recovery do not count', async (t) => {
  const s = new HealthState({ health: health(), passive: passive({ max_fails: 3, fail_window: 1000 }) });
  t.equal(s.failure([0, 500], 'status 503', 500), null, '2 of 3');
  t.equal(s.failure([0, 500, 1600], 'status 503', 1600), null, 'the first fell out of the window');
  t.match(s.failure([0, 500, 1600, 1700, 1800], 'reset', 1800), { to: 'down', reason: /^3 failures within 1000ms, last: reset/ });
  t.equal(s.ejectedUntil, null, 'with checks on, probes restore it (eject_for unused)');
  t.equal(s.probe(ok(1900)), null);
  t.match(s.probe(ok(2000)), { to: 'up' });
  t.equal(s.failure([0, 500, 1600, 1700, 1800, 2100], 'reset', 2100), null, 'failures before the recovery no longer count');
  const off = new HealthState({ health: health(), passive: passive({ max_fails: 0 }) });
  t.equal(off.failure([1, 2, 3, 4, 5], 'reset', 5), null, 'max_fails = 0: passive ejection off');
});

t.test('checks off: ejected for eject_for, then one trial request decides', async (t) => {
  const s = new HealthState({ health: health({ enabled: false }), passive: passive({ max_fails: 1, eject_for: 5000 }) });
  t.match(s.failure([100], 'status 503', 100), { to: 'down' });
  t.equal(s.ejectedUntil, 5100);
  t.equal(s.tick(5099), null, 'not yet');
  t.match(s.tick(5100), { from: 'down', to: 'trial' });
  t.match(s.failure([100, 6000], 'ECONNREFUSED', 6000), { from: 'trial', to: 'down', reason: /^trial request failed: ECONNREFUSED/ });
  t.equal(s.ejectedUntil, 11_000, 'ejected again for eject_for');
  t.match(s.tick(11_000), { to: 'trial' });
  t.match(s.trialPassed(11_500), { from: 'trial', to: 'up', reason: 'trial request succeeded' });
  t.equal(s.trialPassed(11_600), null, 'only from trial');
});

t.test('reconfigure hands a down upstream to the new policy', async (t) => {
  const s = new HealthState({ health: health({ unhealthy_threshold: 1 }), passive: passive() });
  s.probe(refused(0));
  t.equal(s.state, 'down');
  s.reconfigure({ health: health({ enabled: false }), passive: passive({ eject_for: 100 }) }, 1000);
  t.equal(s.ejectedUntil, 1100, 'checks turned off: a trial after eject_for, not down forever');
  t.match(s.tick(1100), { to: 'trial' });
  s.reconfigure({ health: health(), passive: passive() }, 1200);
  t.equal(s.state, 'down', 'checks turned on: probes decide');
  t.equal(s.ejectedUntil, null);
});
