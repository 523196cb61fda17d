/**
 * Prometheus metrics (prom-client lives behind this file). Names are contract (DESIGN §5).
 * One Metrics object per process, shared by every runtime, so counters survive reloads.
 * The request path uses cached label children (`requestCounter`) so no label lookup or
 * string building happens per request beyond one Map probe.
 */
import client from 'prom-client';

/** RouteMetrics are the per-route children the request path touches, resolved once per route. */
export interface RouteMetrics {
  /** duration histogram child for this route */
  duration: { observe(value: number): void };
  /** status code → counter child, filled lazily */
  byStatus: Map<number, { inc(): void }>;
  /** retries counter child */
  retries: { inc(): void };
  route: string;
}

/** Metrics holds the registry and every metric portico exports. */
export class Metrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({
    name: 'portico_requests_total',
    help: 'Requests answered, by route and status code (route "" = no route matched).',
    labelNames: ['route', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new client.Histogram({
    name: 'portico_request_duration_seconds',
    help: 'Time from request received to response finished, by route.',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
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
  readonly appFailed = new client.Gauge({
    name: 'portico_app_failed',
    help: '1 while an app is failed (crash loop or failed pre-start step): portico no longer restarts it.',
    labelNames: ['app'] as const,
    registers: [this.registry],
  });
  private readonly routeCache = new Map<string, RouteMetrics>();

  constructor() {
    client.collectDefaultMetrics({ register: this.registry, prefix: 'portico_process_' });
  }

  /** forRoute returns the cached label children for a route (created on first use). */
  forRoute(route: string): RouteMetrics {
    let m = this.routeCache.get(route);
    if (m === undefined) {
      m = { route, duration: this.duration.labels(route), byStatus: new Map(), retries: this.upstreamRetries.labels(route) };
      this.routeCache.set(route, m);
    }
    return m;
  }

  /** observe records one finished request. */
  observe(m: RouteMetrics, status: number, seconds: number): void {
    let c = m.byStatus.get(status);
    if (c === undefined) {
      c = this.requests.labels(m.route, String(status));
      m.byStatus.set(status, c);
    }
    c.inc();
    m.duration.observe(seconds);
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
