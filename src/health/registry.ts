/**
 * HealthRegistry: the control plane's upstream health (DESIGN §1, §4): every (route, upstream) pair's
 * verdict (upstream/health-state.ts), the probers (prober.ts) and the passive failure records. Process-wide and keyed by
 * upstream address, so health outlives runtime swaps: a runtime `acquire`s its routes when it starts
 * and `release`s them when it retires; an upstream still used by the new runtime keeps its state.
 *
 * Sharing rule: routes that use the same upstream address and health path share one prober, run at
 * the shortest of their intervals with the longest of their timeouts; every route judges each result
 * with its own expect_status, timeout and thresholds. Passive failures are recorded once per address
 * (whichever route saw them) and every route using the address applies its own max_fails /
 * fail_window to that record. So one route may drop an upstream that another still keeps.
 *
 * Decisions leave through `onChange` (the control plane turns them into snapshot updates) and one log
 * line per transition. Background work stops through `close()`; nothing here can throw into a timer.
 */
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { HealthUpdate, PassiveReport } from '../proxy/snapshot.js';
import { HealthState, type HealthPolicy, type HealthSettings, type PassiveSettings, type ProbeResult, type Transition, type UpstreamState } from '../upstream/health-state.js';
import { httpProbe, type ProbeFn } from './probe.js';
import { Prober, REAL_TIMERS, type ProberOwner, type Timers } from './prober.js';

export type { ProbeFn } from './probe.js';

/** HealthRoute is a route as the registry judges its upstreams: name, upstream URLs and its health settings. */
export interface HealthRoute {
  readonly name: string;
  readonly upstreams: readonly string[];
  readonly health: HealthSettings;
  readonly passive: PassiveSettings;
}

/** UpstreamStatus is one upstream of a route on /status.json. */
export interface UpstreamStatus {
  url: string;
  healthy: boolean;
  state: UpstreamState;
  reason: string | null;
  checks: boolean;
  last_check: { at: string; ok: boolean; status: number | null; latency_ms: number; error: string | null } | null;
  consecutive_passes: number;
  consecutive_fails: number;
  recent_failures: number;
  ejected_until: string | null;
}

/** HealthChange is one transition of a (route, upstream) pair, with its reason (the dashboard's history). */
export interface HealthChange extends Transition {
  route: string;
  upstream: string;
  /** epoch ms */
  at: number;
}

/** Clock is injected so tests can drive time; `now` is epoch ms. */
export interface Clock {
  now(): number;
}

/** HealthOptions are the registry's collaborators. */
export interface HealthOptions {
  log: Logger;
  metrics: Metrics;
  onChange: (u: HealthUpdate) => void;
  /** every transition with its reason (optional: the dashboard's history) */
  onTransition?: (c: HealthChange) => void;
  clock?: Clock;
  /** the probers' timers (tests drive them); default: real, unref'd */
  timers?: Timers;
  /** probe function (tests may replace it); default: GET over a fresh connection */
  probe?: ProbeFn;
}

/** At most this many passive failure times are kept per upstream address. */
const MAX_FAILURE_TIMES = 1000;

/** Member is one (route, upstream) pair, reference-counted across runtimes. */
export interface Member {
  readonly route: string;
  readonly url: string;
  readonly state: HealthState;
  refs: number;
  prober: Prober<Member> | null;
  trialTimer: NodeJS.Timeout | null;
}

/** Record is what is shared per upstream address: passive failure times. */
interface FailureRecord {
  failures: number[];
  refs: number;
}

/** HealthRegistry owns every upstream's health in the process. */
export class HealthRegistry implements ProberOwner<Member> {
  readonly log: Logger;
  readonly probeFn: ProbeFn;
  readonly timers: Timers;
  private readonly metrics: Metrics;
  private readonly onChange: (u: HealthUpdate) => void;
  private readonly onTransition: ((c: HealthChange) => void) | null;
  private readonly clock: Clock;
  private readonly members = new Map<string, Member>();
  private readonly records = new Map<string, FailureRecord>();
  private readonly probers = new Map<string, Prober<Member>>();
  private readonly upWaiters = new Set<{ url: string; resolve: () => void }>();
  private closed = false;

  constructor(opts: HealthOptions) {
    this.log = opts.log.child({ component: 'health' });
    this.metrics = opts.metrics;
    this.onChange = opts.onChange;
    this.onTransition = opts.onTransition ?? null;
    this.clock = opts.clock ?? Date;
    this.probeFn = opts.probe ?? httpProbe;
    this.timers = opts.timers ?? REAL_TIMERS;
  }

  /** acquire registers a starting runtime's routes (state of unchanged pairs is kept; policy updated). */
  acquire(routes: readonly HealthRoute[]): void {
    for (const r of routes) for (const url of r.upstreams) this.acquireMember(r, url, false);
  }

  /**
   * acquireMember registers one (route, upstream) pair; `joining` (a new app worker) starts it out of
   * the pool until its first passing probe.
   */
  acquireMember(r: HealthRoute, url: string, joining: boolean): void {
    if (this.closed) return;
    const policy: HealthPolicy = { health: r.health, passive: r.passive };
    const k = memberKey(r.name, url);
    let m = this.members.get(k);
    if (m === undefined) {
      m = { route: r.name, url, state: new HealthState(policy, joining), refs: 0, prober: null, trialTimer: null };
      this.members.set(k, m);
      this.recordOf(url).refs++;
      this.metrics.upstreamHealthy.labels(r.name, url).set(joining ? 0 : 1);
    } else {
      m.state.reconfigure(policy, this.clock.now());
      this.armTrial(m);
    }
    m.refs++;
    this.subscribe(m);
  }

  /** release drops a retiring runtime's references; pairs no runtime uses any more are forgotten. */
  release(routes: readonly HealthRoute[]): void {
    for (const r of routes) for (const url of r.upstreams) this.releaseMember(r.name, url);
  }

  /** releaseMember drops one reference to a (route, upstream) pair. */
  releaseMember(route: string, url: string): void {
    const k = memberKey(route, url);
    const m = this.members.get(k);
    if (m === undefined || --m.refs > 0) return;
    this.members.delete(k);
    this.unsubscribe(m);
    if (m.trialTimer !== null) clearTimeout(m.trialTimer);
    this.metrics.upstreamHealthy.remove(route, url);
    const rec = this.records.get(url);
    if (rec !== undefined && --rec.refs === 0) this.records.delete(url);
  }

  /** joined: a new worker at `url` accepts connections; pairs without probes join their pools. */
  joined(url: string): void {
    const now = this.clock.now();
    for (const m of this.members.values()) if (m.url === url && !m.state.policy.health.enabled) this.apply(m, m.state.joined(now));
  }

  /** waitUp resolves once some route has `url` in its pool (rejects when `signal` aborts). */
  waitUp(url: string, signal: AbortSignal): Promise<void> {
    for (const m of this.members.values()) if (m.url === url && m.state.state === 'up') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { url, resolve: () => done(resolve) };
      const done = (fn: () => void) => {
        this.upWaiters.delete(w);
        signal.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = () => done(() => reject(signal.reason as Error));
      if (signal.aborted) return onAbort();
      this.upWaiters.add(w);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** stateOf is a pair's current state ('up' for pairs not registered yet: static upstreams start in the pool). */
  stateOf(route: string, url: string): UpstreamState {
    return this.members.get(memberKey(route, url))?.state.state ?? 'up';
  }

  /** report applies what the data plane saw in real traffic. */
  report(r: PassiveReport): void {
    const m = this.members.get(memberKey(r.route, r.upstream));
    if (m === undefined) return;
    const now = this.clock.now();
    if (r.ok) {
      this.apply(m, m.state.trialPassed(now));
      return;
    }
    const rec = this.recordOf(r.upstream);
    rec.failures.push(now);
    if (rec.failures.length > MAX_FAILURE_TIMES) rec.failures.splice(0, rec.failures.length - MAX_FAILURE_TIMES);
    // every route using this address applies its own limits to the shared record
    for (const other of this.members.values()) {
      if (other.url !== r.upstream) continue;
      const t = other.state.failure(rec.failures, other === m ? r.detail : `${r.detail} (seen on route ${r.route})`, now);
      if (t !== null && t.to === 'down') this.metrics.upstreamEjections.labels(other.route, other.url).inc();
      this.apply(other, t);
    }
  }

  /** status is a pair's health for /status.json. */
  status(route: string, url: string): UpstreamStatus {
    const m = this.members.get(memberKey(route, url));
    const s = m?.state;
    const c = s?.lastCheck ?? null;
    const now = this.clock.now();
    const window = s?.policy.passive.fail_window ?? 0;
    const recent = this.records.get(url)?.failures.filter((t) => t > now - window).length ?? 0;
    return {
      url,
      healthy: (s?.state ?? 'up') === 'up',
      state: s?.state ?? 'up',
      reason: s?.reason ?? null,
      checks: s?.policy.health.enabled ?? false,
      last_check: c === null ? null : { at: new Date(c.at).toISOString(), ok: c.ok, status: c.status, latency_ms: c.latency_ms, error: c.error },
      consecutive_passes: s?.passes ?? 0,
      consecutive_fails: s?.fails ?? 0,
      recent_failures: recent,
      ejected_until: s?.ejectedUntil == null ? null : new Date(s.ejectedUntil).toISOString(),
    };
  }

  /** close stops every prober and timer (shutdown). */
  close(): void {
    this.closed = true;
    for (const p of this.probers.values()) p.stop();
    this.probers.clear();
    for (const m of this.members.values()) if (m.trialTimer !== null) clearTimeout(m.trialTimer);
  }

  /** probed is called by a Prober with a finished probe's result. */
  probed(p: Prober<Member>, r: ProbeResult): void {
    for (const m of p.members) this.apply(m, m.state.probe(r));
  }

  private recordOf(url: string): FailureRecord {
    let rec = this.records.get(url);
    if (rec === undefined) {
      rec = { failures: [], refs: 0 };
      this.records.set(url, rec);
    }
    return rec;
  }

  /** subscribe attaches a member to the prober of its (address, path), or detaches it when checks are off. */
  private subscribe(m: Member): void {
    const h = m.state.policy.health;
    const key = h.enabled ? `${m.url}${h.path}` : null;
    if (m.prober !== null && m.prober.key === key) {
      m.prober.intervalChanged();
      return;
    }
    this.unsubscribe(m);
    if (key === null) return;
    let p = this.probers.get(key);
    const fresh = p === undefined;
    if (p === undefined) {
      p = new Prober(key, m.url, h.path, this);
      this.probers.set(key, p);
    }
    p.members.add(m);
    m.prober = p;
    if (fresh) p.start();
    else p.intervalChanged();
  }

  private unsubscribe(m: Member): void {
    const p = m.prober;
    if (p === null) return;
    m.prober = null;
    p.members.delete(m);
    if (p.members.size === 0) {
      p.stop();
      this.probers.delete(p.key);
    }
  }

  /** apply publishes a transition: log line, gauge, data-plane update, trial timer. */
  private apply(m: Member, t: Transition | null): void {
    if (t === null) return;
    const s = m.state;
    const fields = { route: m.route, upstream: m.url, from: t.from, to: t.to, reason: t.reason, passes: s.passes, fails: s.fails };
    if (t.to === 'up') this.log.info(fields, 'upstream up');
    else if (t.to === 'down') this.log.warn(fields, 'upstream down');
    else this.log.info(fields, 'upstream on trial');
    this.metrics.upstreamHealthy.labels(m.route, m.url).set(t.to === 'up' ? 1 : 0);
    this.onChange({ route: m.route, upstream: m.url, state: t.to });
    this.onTransition?.({ route: m.route, upstream: m.url, from: t.from, to: t.to, reason: t.reason, at: this.clock.now() });
    if (t.to === 'up') for (const w of this.upWaiters) if (w.url === m.url) w.resolve();
    this.armTrial(m);
    if (t.to === 'down') this.warnIfRouteDown(m.route);
  }

  /**
   * armTrial (re)starts the timer that moves an ejected upstream (checks off) to trial, and, while on
   * trial, offers the trial again every eject_for in case a trial request never reported back.
   */
  private armTrial(m: Member): void {
    if (m.trialTimer !== null) clearTimeout(m.trialTimer);
    m.trialTimer = null;
    if (this.closed) return;
    const s = m.state;
    if (s.state === 'trial') {
      m.trialTimer = setTimeout(() => {
        m.trialTimer = null;
        if (s.state !== 'trial') return;
        this.log.debug({ route: m.route, upstream: m.url }, 'trial offered again (no verdict yet)');
        this.onChange({ route: m.route, upstream: m.url, state: 'trial' });
        this.armTrial(m);
      }, s.policy.passive.eject_for);
      m.trialTimer.unref();
      return;
    }
    const until = s.ejectedUntil;
    if (until === null) return;
    m.trialTimer = setTimeout(() => {
      m.trialTimer = null;
      const t = s.tick(this.clock.now());
      // a timer may fire a millisecond early (libuv's clock vs Date.now()): then wait the rest
      if (t === null) this.armTrial(m);
      else this.apply(m, t);
    }, Math.max(1, until - this.clock.now()));
    m.trialTimer.unref();
  }

  private warnIfRouteDown(route: string): void {
    for (const m of this.members.values()) if (m.route === route && m.state.state === 'up') return;
    this.log.error({ route, effect: 'requests get 503 until an upstream recovers; probing continues' }, 'route has no healthy upstream');
  }
}

function memberKey(route: string, url: string): string {
  return `${route}\u0000${url}`;
}

