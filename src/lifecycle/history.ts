/**
 * History: the last 15 minutes at 5 s resolution behind the dashboard (`GET /status/history.json`,
 * DESIGN §5), kept in the control plane. Every step it reads what portico already counts — the
 * cumulative request and handshake counters of every serving process (this one, and the data-plane
 * workers over IPC), the supervisor's last CPU/RSS sample of each app worker, the last reload — and
 * turns the differences into rates and latency quantiles. Upstream health is kept as the list of
 * transitions, with their reasons, that the health registry reports.
 *
 * The request path pays nothing for it: it only adds plain numbers that existed before (metrics.ts)
 * and one `started` per request; all the work is here, once per step, off the request path.
 *
 * Memory is fixed: every series is a ring of `window / step` (180) float64 values, ~1.5 KiB; a route
 * has 7 series, an app worker 2, an app 1 more, TLS 2, portico itself 2. Health keeps at most
 * MAX_CHANGES transitions per upstream, reloads the last MAX_RELOADS.
 */
import { DURATION_BUCKETS, type Counters, type RouteCounters } from '../metrics.js';
import type { HealthChange } from '../health/registry.js';
import type { AppStatus } from '../supervisor/apps.js';
import type { ReloadResult } from './reload.js';
import { addInto, quantile, Timeline } from './series.js';

/** HISTORY_STEP_MS and HISTORY_WINDOW_MS: one sample every 5 s, 15 minutes kept. */
export const HISTORY_STEP_MS = 5000;
export const HISTORY_WINDOW_MS = 15 * 60_000;
/** transitions kept per upstream (the oldest go first; the one before the window tells the state at its start) */
const MAX_CHANGES = 50;
const MAX_RELOADS = 20;

/** HistorySources are what the history reads every step. */
export interface HistorySources {
  /** cumulative counters of every serving process (this one first, then the data-plane workers) */
  counters(): Promise<Counters[]>;
  /** the supervised apps with their workers' last CPU/RSS sample */
  apps(): readonly AppStatus[];
  /** the last reload, or null */
  lastReload(): ReloadResult | null;
  /** the routes configured now (others age out of the window) */
  routes(): readonly string[];
}

/** HistoryOptions tune the history (tests: a fake clock, a short step). */
export interface HistoryOptions {
  stepMs?: number;
  windowMs?: number;
  now?: () => number;
}

/** RouteTotals are a route's requests answered since portico started, by status class (1xx is in `requests` only). */
export interface RouteTotals {
  requests: number;
  r2xx: number;
  r3xx: number;
  r4xx: number;
  r5xx: number;
}

/** UpstreamChanges is one upstream's transitions in the window (the first may be older: the state at the window's start). */
export interface UpstreamChanges {
  route: string;
  url: string;
  changes: Array<{ at: number; from: string; to: string; reason: string }>;
}

/** HistoryDocument is `/status/history.json`. Every series lines up with `times`; null = no value. */
export interface HistoryDocument {
  step_ms: number;
  window_ms: number;
  /** epoch ms of each sample, oldest first */
  times: number[];
  /** per route (name "" = requests that matched no route): per second, latency quantiles in ms, in flight */
  routes: Array<{ name: string } & Record<'rps' | 'r4xx' | 'r5xx' | 'p50_ms' | 'p95_ms' | 'p99_ms' | 'in_flight', Array<number | null>>>;
  /** TLS handshakes per second on the https listener: full (certificate signature) and resumed (a ticket) */
  tls: { full: Array<number | null>; resumed: Array<number | null> };
  /** portico's own processes (control plane + data-plane workers): CPU % of one core, RSS bytes */
  portico: { cpu_percent: Array<number | null>; rss_bytes: Array<number | null> };
  /** per app: each worker's CPU % and RSS against the app's memory limit, restarts so far */
  apps: Array<{ name: string; memory_limit_bytes: number; restarts: Array<number | null>; workers: Array<{ index: number; cpu_percent: Array<number | null>; rss_bytes: Array<number | null> }> }>;
  upstreams: UpstreamChanges[];
  /** the last reloads, oldest first */
  reloads: ReloadResult[];
  /** what the history holds: series kept and their bytes (float64 rings) */
  memory: { series: number; bytes: number };
}

/** History samples the control plane's counters into fixed rings. */
export class History {
  readonly stepMs: number;
  readonly windowMs: number;
  private readonly timeline: Timeline;
  private readonly now: () => number;
  /** the last counters seen of each process (by pid): rates are differences to them */
  private previous = new Map<number, Counters>();
  private lastAt: number;
  private readonly health = new Map<string, UpstreamChanges>();
  private readonly reloads: ReloadResult[] = [];
  private readonly limits = new Map<string, number>();
  /** requests answered per route and TLS handshakes since portico started, as of the last sample */
  private readonly routeTotals = new Map<string, RouteTotals>();
  private readonly tlsTotals = { full: 0, resumed: 0 };
  private timer: NodeJS.Timeout | null = null;
  private busy = false;

  constructor(
    private readonly sources: HistorySources,
    o: HistoryOptions = {},
  ) {
    this.stepMs = o.stepMs ?? HISTORY_STEP_MS;
    this.windowMs = o.windowMs ?? HISTORY_WINDOW_MS;
    this.now = o.now ?? Date.now;
    this.timeline = new Timeline(Math.ceil(this.windowMs / this.stepMs));
    this.lastAt = this.now();
  }

  /** start samples every step (unref'd); errors never escape the timer. */
  start(onError: (err: unknown) => void): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => {
      this.sample().catch(onError);
    }, this.stepMs);
    this.timer.unref();
  }

  /** stop ends the sampling (shutdown). */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** sample takes one step now (a step still running makes this one a no-op). */
  async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const counters = await this.sources.counters();
      const at = this.now();
      const seconds = Math.max(0.001, (at - this.lastAt) / 1000);
      this.lastAt = at;
      const sample = new Map<string, Record<string, number>>();
      this.traffic(counters, seconds, sample);
      this.appSample(sample);
      this.timeline.push(at, sample);
      this.reloaded(this.sources.lastReload());
      this.prune(at);
    } finally {
      this.busy = false;
    }
  }

  /** traffic turns the processes' counters into per-route, TLS and portico rates for one sample. */
  private traffic(all: Counters[], seconds: number, sample: Map<string, Record<string, number>>): void {
    const routes = new Map<string, { count: number; classes: number[]; buckets: Float64Array; inFlight: number }>();
    const tls = { full: 0, resumed: 0 };
    let cpuUs = 0;
    let rss = 0;
    const next = new Map<number, Counters>();
    for (const c of all) {
      next.set(c.pid, c);
      const prev = this.previous.get(c.pid);
      const before = new Map((prev?.routes ?? []).map((r) => [r.route, r]));
      for (const r of c.routes) {
        let acc = routes.get(r.route);
        if (acc === undefined) routes.set(r.route, (acc = { count: 0, classes: [0, 0, 0, 0, 0], buckets: new Float64Array(DURATION_BUCKETS.length + 1), inFlight: 0 }));
        const d = routeDelta(r, before.get(r.route));
        this.addTotals(r.route, d);
        acc.count += d.count;
        addInto(acc.classes, d.classes);
        addInto(acc.buckets, d.buckets);
        acc.inFlight += Math.max(0, r.started - r.count);
      }
      tls.full += delta(c.tls.full, prev?.tls.full);
      tls.resumed += delta(c.tls.resumed, prev?.tls.resumed);
      if (prev !== undefined) cpuUs += delta(c.cpu_us, prev.cpu_us);
      rss += c.rss;
    }
    this.previous = next;
    this.tlsTotals.full += tls.full;
    this.tlsTotals.resumed += tls.resumed;
    const configured = new Set(this.sources.routes());
    for (const [name, r] of routes) {
      // the no-route counter only once something matched no route; a route no longer configured ages out
      if (name === '' ? r.count === 0 && !this.timeline.has('route:') : !configured.has(name)) continue;
      const ms = (q: number) => quantile(DURATION_BUCKETS, r.buckets, q) * 1000;
      sample.set(`route:${name}`, {
        rps: r.count / seconds,
        r4xx: r.classes[3]! / seconds,
        r5xx: r.classes[4]! / seconds,
        p50_ms: ms(0.5),
        p95_ms: ms(0.95),
        p99_ms: ms(0.99),
        in_flight: r.inFlight,
      });
    }
    sample.set('tls', { full: tls.full / seconds, resumed: tls.resumed / seconds });
    sample.set('portico', { cpu_percent: (cpuUs / 1e6 / seconds) * 100, rss_bytes: rss });
  }

  /** appSample adds each app worker's last CPU/RSS sample (by worker index: a replacement continues its slot's line). */
  private appSample(sample: Map<string, Record<string, number>>): void {
    for (const app of this.sources.apps()) {
      const values: Record<string, number> = { restarts: app.workers.reduce((n, w) => n + w.restarts, 0) };
      // during a replacement two processes share an index: the later one (the new worker) is shown
      for (const w of app.workers) {
        if (w.pid === null) continue;
        values[`cpu:${w.index}`] = w.cpu_percent;
        values[`rss:${w.index}`] = w.rss_bytes;
      }
      this.limits.set(app.name, app.memory.per_worker);
      sample.set(`app:${app.name}`, values);
    }
  }

  private addTotals(route: string, d: { count: number; classes: number[] }): void {
    let t = this.routeTotals.get(route);
    if (t === undefined) this.routeTotals.set(route, (t = { requests: 0, r2xx: 0, r3xx: 0, r4xx: 0, r5xx: 0 }));
    t.requests += d.count;
    t.r2xx += d.classes[1]!;
    t.r3xx += d.classes[2]!;
    t.r4xx += d.classes[3]!;
    t.r5xx += d.classes[4]!;
  }

  /** totals are a route's requests since portico started (every process summed), as of the last sample (≤ one step old). */
  totals(route: string): RouteTotals {
    return { ...(this.routeTotals.get(route) ?? { requests: 0, r2xx: 0, r3xx: 0, r4xx: 0, r5xx: 0 }) };
  }

  /** handshakes are the TLS handshakes since portico started, as of the last sample. */
  handshakes(): { full: number; resumed: number } {
    return { ...this.tlsTotals };
  }

  /** transition records a health change (HealthRegistry's onTransition). */
  transition(c: HealthChange): void {
    const key = `${c.route}\u0000${c.upstream}`;
    let u = this.health.get(key);
    if (u === undefined) this.health.set(key, (u = { route: c.route, url: c.upstream, changes: [] }));
    u.changes.push({ at: c.at, from: c.from, to: c.to, reason: c.reason });
    if (u.changes.length > MAX_CHANGES) u.changes.shift();
  }

  private reloaded(r: ReloadResult | null): void {
    if (r === null || this.reloads.at(-1) === r) return;
    this.reloads.push(r);
    if (this.reloads.length > MAX_RELOADS) this.reloads.shift();
  }

  /** prune drops transitions older than the window, keeping the last one before it (the state at its start). */
  private prune(now: number): void {
    const start = now - this.windowMs;
    for (const [key, u] of this.health) {
      while (u.changes.length > 1 && u.changes[1]!.at <= start) u.changes.shift();
      if (u.changes.length === 1 && u.changes[0]!.at <= start - this.windowMs) this.health.delete(key);
    }
  }

  /** toJSON is `/status/history.json`. */
  toJSON(): HistoryDocument {
    const t = this.timeline;
    const groups = t.groupNames();
    const named = (prefix: string) => groups.filter((g) => g.startsWith(prefix)).map((g) => ({ name: g.slice(prefix.length), series: t.series(g)! }));
    const empty = () => t.times.toArray().map(() => null);
    const pick = (s: Record<string, Array<number | null>> | null, k: string) => s?.[k] ?? empty();
    const tls = t.series('tls');
    const self = t.series('portico', 0);
    return {
      step_ms: this.stepMs,
      window_ms: this.windowMs,
      times: t.times.toArray(0) as number[],
      routes: named('route:').map(({ name, series: s }) => ({
        name,
        rps: pick(s, 'rps'),
        r4xx: pick(s, 'r4xx'),
        r5xx: pick(s, 'r5xx'),
        p50_ms: pick(s, 'p50_ms'),
        p95_ms: pick(s, 'p95_ms'),
        p99_ms: pick(s, 'p99_ms'),
        in_flight: pick(s, 'in_flight'),
      })),
      tls: { full: pick(tls, 'full'), resumed: pick(tls, 'resumed') },
      portico: { cpu_percent: pick(t.series('portico'), 'cpu_percent'), rss_bytes: pick(self, 'rss_bytes') },
      apps: named('app:').map(({ name, series: s }) => ({
        name,
        memory_limit_bytes: this.limits.get(name) ?? 0,
        restarts: pick(s, 'restarts'),
        workers: workerIndexes(s).map((index) => ({ index, cpu_percent: pick(s, `cpu:${index}`), rss_bytes: pick(s, `rss:${index}`) })),
      })),
      upstreams: [...this.health.values()].map((u) => ({ ...u, changes: [...u.changes] })),
      reloads: [...this.reloads],
      memory: { series: t.seriesCount() + 1, bytes: (t.seriesCount() + 1) * t.capacity * 8 },
    };
  }
}

/** routeDelta is what a route counted since the previous sample of the same process (all of it when the process is new). */
function routeDelta(r: RouteCounters, prev: RouteCounters | undefined): { count: number; classes: number[]; buckets: number[] } {
  if (prev === undefined || prev.count > r.count) return r;
  return { count: r.count - prev.count, classes: r.classes.map((n, i) => n - prev.classes[i]!), buckets: r.buckets.map((n, i) => n - prev.buckets[i]!) };
}

/** delta is a counter's increase since `prev` (a counter that went down started over: all of it). */
function delta(now: number, prev: number | undefined): number {
  return prev === undefined || prev > now ? now : now - prev;
}

/** workerIndexes lists the worker indexes that have series in an app's group, in order. */
function workerIndexes(s: Record<string, unknown>): number[] {
  return [...new Set(Object.keys(s).filter((k) => k.startsWith('cpu:') || k.startsWith('rss:')).map((k) => Number(k.slice(4))))].sort((a, b) => a - b);
}
