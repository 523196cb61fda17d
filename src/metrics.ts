/**
 * Prometheus metrics (prom-client lives behind this file). Names are contract (DESIGN §5).
 * One Metrics object per process, shared by every runtime, so counters survive reloads.
 * The request path touches no prom-client object (issue 14: a labelled child's inc()/observe()
 * validates and hashes its labels on every call, ~0.9 µs per request): `observe` adds to plain
 * per-route numbers, and the two request metrics read them when scraped.
 */
import client from 'prom-client';

/** DURATION_BUCKETS are portico_request_duration_seconds' upper bounds (seconds). */
export const DURATION_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** StatusCount is one (route, status) request count and what the last scrape reported of it. */
interface StatusCount {
  n: number;
  reported: number;
}

/** RouteMetrics are one route's request counts and duration histogram, resolved once per route. */
export interface RouteMetrics {
  route: string;
  /** requests that matched the route so far (in flight = started - count) */
  started: number;
  /** status code → count, filled lazily */
  readonly byStatus: Map<number, StatusCount>;
  /** per-bucket counts (not cumulative) for DURATION_BUCKETS, then one for +Inf */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
  /** retries counter child (rare: a prom-client child is fine) */
  retries: { inc(): void };
  /** requests refused by the route's rate limit (429), counter child */
  rateLimited: { inc(): void };
}

/** RouteCounters are one route's cumulative counts as `Metrics.counters()` gives them (plain JSON: they cross IPC). */
export interface RouteCounters {
  route: string;
  /** requests that matched the route */
  started: number;
  /** requests answered (in flight = started - count) */
  count: number;
  /** answered by status class: [1xx, 2xx, 3xx, 4xx, 5xx] */
  classes: number[];
  /** per-bucket counts (not cumulative) for DURATION_BUCKETS, then +Inf */
  buckets: number[];
}

/** Counters are one process's cumulative counts, read every few seconds by the dashboard's history. */
export interface Counters {
  pid: number;
  routes: RouteCounters[];
  /** TLS handshakes completed on the https listener */
  tls: { full: number; resumed: number };
  /** this process's CPU time (user + system, µs) and resident memory (bytes) */
  cpu_us: number;
  rss: number;
}

type Value = { labels: Record<string, string | number>; value: number; metricName?: string };

/**
 * RouteHistogram exports every route's duration histogram in prom-client's shape (registered with
 * the registry like any metric; the same text as a prom-client Histogram with labelNames ['route']).
 */
class RouteHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames = ['route'];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly routes: ReadonlyMap<string, RouteMetrics>,
  ) {}

  get(): { name: string; help: string; type: string; aggregator: string; values: Value[] } {
    const values: Value[] = [];
    const bucket = `${this.name}_bucket`;
    for (const m of this.routes.values()) {
      if (m.count === 0) continue;
      let acc = 0;
      for (let i = 0; i < DURATION_BUCKETS.length; i++) {
        acc += m.buckets[i]!;
        values.push({ labels: { le: DURATION_BUCKETS[i]!, route: m.route }, value: acc, metricName: bucket });
      }
      values.push({ labels: { le: '+Inf', route: m.route }, value: m.count, metricName: bucket });
      values.push({ labels: { route: m.route }, value: m.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { route: m.route }, value: m.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    for (const m of this.routes.values()) {
      m.buckets.fill(0);
      m.sum = 0;
      m.count = 0;
    }
  }
}

/** Metrics holds the registry and every metric portico exports. */
export class Metrics {
  readonly registry = new client.Registry();
  private readonly routeCache = new Map<string, RouteMetrics>();
  readonly requests: client.Counter<'route' | 'status'>;
  /** TLS handshakes completed on the https listener so far (plain numbers; the counter reads them when scraped) */
  readonly handshakes = { full: 0, resumed: 0 };
  readonly tlsHandshakes: client.Counter<'resumed'>;
  private readonly duration: RouteHistogram;
  readonly certNotAfter = new client.Gauge({
    name: 'portico_cert_not_after_seconds',
    help: 'Expiry (unix seconds) of the certificate served for a name.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly certRenewalFailing = new client.Gauge({
    name: 'portico_cert_renewal_failing',
    help: '1 while obtaining or renewing the certificate for a name is failing, else 0.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  readonly acmeFailures = new client.Counter({
    name: 'portico_acme_failures_total',
    help: 'Failed ACME orders and renewals (each failed attempt counts once).',
    registers: [this.registry],
  });
  readonly onDemand = new client.Counter({
    name: 'portico_acme_on_demand_total',
    help: 'On-demand TLS decisions for unlisted names: approved, refused (by the ask endpoint), ask_failed, busy (too many at once), rate_limited (on_demand.rate).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly configReloads = new client.Counter({
    name: 'portico_config_reloads_total',
    help: 'Configuration reloads by result (success | failure).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly upstreamHealthy = new client.Gauge({
    name: 'portico_upstream_healthy',
    help: 'Whether an upstream is in its route\'s pool (1) or out of it (0).',
    labelNames: ['route', 'upstream'] as const,
    registers: [this.registry],
  });
  readonly upstreamEjections = new client.Counter({
    name: 'portico_upstream_ejections_total',
    help: 'Upstreams taken out of a route\'s pool by passive health (failures in real traffic).',
    labelNames: ['route', 'upstream'] as const,
    registers: [this.registry],
  });
  readonly upstreamRetries = new client.Counter({
    name: 'portico_upstream_retries_total',
    help: 'Extra upstream attempts made under the retry rule, by route.',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly rateLimited = new client.Counter({
    name: 'portico_rate_limited_total',
    help: 'Requests a route\'s rate_limit refused (429), by route.',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly appRestarts = new client.Counter({
    name: 'portico_app_worker_restarts_total',
    help: 'App workers started again (after an exit, a rolling restart or a memory recycle), by app.',
    labelNames: ['app'] as const,
    registers: [this.registry],
  });
  readonly appRss = new client.Gauge({
    name: 'portico_app_worker_rss_bytes',
    help: 'Resident memory of an app worker and everything it started (its process group).',
    labelNames: ['app', 'worker'] as const,
    registers: [this.registry],
  });
  readonly appCpu = new client.Counter({
    name: 'portico_app_worker_cpu_seconds_total',
    help: 'CPU time used by an app worker and everything it started (its process group).',
    labelNames: ['app', 'worker'] as const,
    registers: [this.registry],
  });
  readonly redisUp = new client.Gauge({
    name: 'portico_redis_up',
    help: '1 while the Redis of storage.redis answers and this replica is in step with it, else 0 (serving from the local cache). Only with storage.redis.',
    labelNames: ['url'] as const,
    registers: [this.registry],
  });
  readonly redisLastSync = new client.Gauge({
    name: 'portico_redis_last_sync_seconds',
    help: 'When (unix seconds) this replica was last confirmed in step with the Redis of storage.redis.',
    labelNames: ['url'] as const,
    registers: [this.registry],
  });
  readonly appFailed = new client.Gauge({
    name: 'portico_app_failed',
    help: '1 while an app is failed (crash loop or failed pre-start step): portico no longer restarts it.',
    labelNames: ['app'] as const,
    registers: [this.registry],
  });

  constructor() {
    const routes = this.routeCache;
    this.requests = new client.Counter({
      name: 'portico_requests_total',
      help: 'Requests answered, by route and status code (route "" = no route matched).',
      labelNames: ['route', 'status'] as const,
      registers: [this.registry],
      // at scrape: add what each (route, status) counted since the last scrape
      collect() {
        for (const m of routes.values()) {
          for (const [status, c] of m.byStatus) {
            if (c.n === c.reported) continue;
            this.inc({ route: m.route, status: String(status) }, c.n - c.reported);
            c.reported = c.n;
          }
        }
      },
    });
    const handshakes = this.handshakes;
    const reported = { full: 0, resumed: 0 };
    this.tlsHandshakes = new client.Counter({
      name: 'portico_tls_handshakes_total',
      help: 'TLS handshakes completed on the https listener, by whether a session was resumed (true: a ticket, no certificate signature).',
      labelNames: ['resumed'] as const,
      registers: [this.registry],
      collect() {
        this.inc({ resumed: 'false' }, handshakes.full - reported.full);
        this.inc({ resumed: 'true' }, handshakes.resumed - reported.resumed);
        reported.full = handshakes.full;
        reported.resumed = handshakes.resumed;
      },
    });
    this.duration = new RouteHistogram('portico_request_duration_seconds', 'Time from request received to response finished, by route.', routes);
    this.registry.registerMetric(this.duration as unknown as client.Metric);
    // portico_process_* (CPU, memory, fds) and portico_nodejs_* (event loop, heap, GC); until issue 26
    // the prefix was `portico_process_`, which made them portico_process_process_* and portico_process_nodejs_*
    client.collectDefaultMetrics({ register: this.registry, prefix: 'portico_' });
  }

  /** forRoute returns the cached per-route metrics (created on first use). */
  forRoute(route: string): RouteMetrics {
    let m = this.routeCache.get(route);
    if (m === undefined) {
      m = { route, started: 0, byStatus: new Map(), buckets: new Float64Array(DURATION_BUCKETS.length + 1), sum: 0, count: 0, retries: this.upstreamRetries.labels(route), rateLimited: this.rateLimited.labels(route) };
      this.routeCache.set(route, m);
    }
    return m;
  }

  /** observe records one finished request: plain additions, read by the metrics when scraped. */
  observe(m: RouteMetrics, status: number, seconds: number): void {
    const c = m.byStatus.get(status);
    if (c === undefined) m.byStatus.set(status, { n: 1, reported: 0 });
    else c.n++;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    m.buckets[i]!++;
    m.sum += seconds;
    m.count++;
  }

  /** tlsHandshake counts one completed TLS handshake (once per connection; no prom-client object touched). */
  tlsHandshake(resumed: boolean): void {
    if (resumed) this.handshakes.resumed++;
    else this.handshakes.full++;
  }

  /** counters is this process's cumulative counts, compact (the history samples them; data-plane workers send them over IPC). */
  counters(): Counters {
    const routes: RouteCounters[] = [];
    for (const m of this.routeCache.values()) {
      const classes = [0, 0, 0, 0, 0];
      for (const [status, c] of m.byStatus) {
        const k = Math.floor(status / 100) - 1;
        if (k >= 0 && k < 5) classes[k]! += c.n;
      }
      routes.push({ route: m.route, started: m.started, count: m.count, classes, buckets: Array.from(m.buckets) });
    }
    const cpu = process.cpuUsage();
    return { pid: process.pid, routes, tls: { ...this.handshakes }, cpu_us: cpu.user + cpu.system, rss: process.memoryUsage.rss() };
  }

  /** the data-plane workers' registries (as JSON), summed into this process's on /metrics */
  private peers: (() => Promise<unknown[]>) | null = null;

  /** setPeers adds other processes' metrics (the data-plane workers) to `text()`. */
  setPeers(peers: () => Promise<unknown[]>): void {
    this.peers = peers;
  }

  /** text renders the Prometheus exposition format (this process's metrics plus the workers', summed per series). */
  async text(): Promise<string> {
    if (this.peers === null) return this.registry.metrics();
    const all = [await this.registry.getMetricsAsJSON(), ...(await this.peers())] as Parameters<typeof client.AggregatorRegistry.aggregate>[0];
    return client.AggregatorRegistry.aggregate(all).metrics();
  }

  /** contentType is the exposition format's media type. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
