/**
 * statusDocument: the data behind /status.json and /status (DESIGN §5), and what `check` prints.
 */
import type { AddressInfo } from 'node:net';
import type { UpstreamStatus } from '../health/registry.js';
import type { AcmeHostStatus } from '../acme/manager.js';
import type { Runtime } from './runtime.js';

/** StatusInput is what the status document is made from. */
export interface StatusInput {
  version: string;
  startedAt: Date;
  ready: boolean;
  runtime: Runtime | null;
  snapshotVersion: number;
  addresses: { https: AddressInfo; http: AddressInfo | null; admin: AddressInfo | null } | undefined;
  inFlight: number;
  websockets: number;
  lastReload: unknown;
  /** the data-plane workers (null: this process serves, server.workers = 1) */
  dataPlane?: { sharing: string; workers: unknown[] } | null;
  /** a route's upstream URLs (an app route's are its live workers) */
  upstreamsOf?: (r: { upstreams: string[]; app: string | null }) => string[];
  /** supervised apps (empty without [[apps]]) */
  apps?: unknown[];
  /** the apps' memory against the budget (null without [[apps]]) */
  appsMemory?: unknown;
  /** a route's requests since start, and the TLS handshakes (the history's totals, as of its last sample) */
  traffic?: { route(name: string): unknown; handshakes(): unknown };
  /** health of one upstream of a route */
  upstream(route: string, url: string): UpstreamStatus;
  /** where managed state lives: `{kind: 'file', dir}`, or Redis with its connection, last sync and lock holders */
  storage?: unknown;
}

const addr = (a: AddressInfo | null | undefined): string | null =>
  a ? (a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`) : null;

/**
 * certificates lists every routed host's certificate: source, issuer, not_after, and for ACME hosts
 * also next_renewal, last_error, attempts (consecutive failures) and renewal_failing (DESIGN §5).
 */
function certificates(runtime: Runtime | null): Array<Record<string, unknown>> {
  const acme = new Map((runtime?.acmeStatus() ?? []).map((a) => [a.host, a]));
  const acmeRow = (a: AcmeHostStatus) => ({
    host: a.host, source: 'acme', path: null, state: a.state, issuer: a.issuer ?? 'portico (self-signed until issued)',
    directory: a.directory, serial: a.serial, not_after: a.not_after, next_renewal: a.next_renewal,
    next_attempt: a.next_attempt, attempts: a.attempts, last_error: a.last_error, renewal_failing: a.renewal_failing, ari_window: a.ari_window,
    ...(a.on_demand ? { on_demand: true } : {}),
  });
  const planned = (runtime?.certPlan.hosts ?? []).map((h) => {
    const a = acme.get(h.host);
    if (a !== undefined) return acmeRow(a);
    return {
      host: h.host,
      source: h.source,
      path: h.path ?? null,
      issuer: h.issuer ?? (h.source === 'self-signed' ? 'portico (self-signed)' : h.source === 'default' || h.source === 'on-demand' ? 'portico default (unlisted names)' : null),
      not_after: h.notAfter?.toISOString() ?? null,
    };
  });
  // names obtained on demand (no route lists them)
  const listed = new Set(planned.map((c) => c.host));
  return [...planned, ...[...acme.values()].filter((a) => !listed.has(a.host)).map(acmeRow)];
}

/** statusDocument renders the current state as plain JSON-able data. */
export function statusDocument(s: StatusInput): Record<string, unknown> {
  const config = s.runtime?.config;
  return {
    portico: { version: s.version, pid: process.pid, started_at: s.startedAt.toISOString(), uptime_s: Math.round((Date.now() - s.startedAt.getTime()) / 1000), ready: s.ready, snapshot_version: s.snapshotVersion, in_flight: s.inFlight, websockets: s.websockets, config: config?.source ?? null, tls_handshakes: s.traffic?.handshakes() ?? null },
    listeners: { https: addr(s.addresses?.https), http: addr(s.addresses?.http), admin: addr(s.addresses?.admin) },
    data_plane: s.dataPlane ?? { sharing: 'none', workers: [] },
    routes: (config?.routes ?? []).map((r) => {
      const upstreams = (s.upstreamsOf?.(r) ?? r.upstreams).map((u) => s.upstream(r.name, u));
      return {
        name: r.name,
        hosts: r.hosts,
        path_prefix: r.path_prefix,
        app: r.app,
        upstreams,
        healthy_upstreams: upstreams.filter((u) => u.healthy).length,
        requests: s.traffic?.route(r.name) ?? null,
        max_body_bytes: r.max_body_bytes,
        retries: r.retries,
        balance: r.balance,
        compress: r.compress,
        hsts: r.hsts,
        rate_limit: r.rate_limit,
        redirect: r.redirect === null ? null : { to: r.redirect, status: r.redirect_status, keep_path: r.redirect_keep_path },
        headers: r.headers,
        health_checks: r.health.enabled ? { path: r.health.path, interval_ms: r.health.interval, timeout_ms: r.health.timeout } : null,
      };
    }),
    certificates: certificates(s.runtime),
    apps: s.apps ?? [],
    apps_memory: s.appsMemory ?? null,
    storage: s.storage ?? null,
    last_reload: s.lastReload,
  };
}
