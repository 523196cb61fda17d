/**
 * statusDocument: the data behind /status.json and /status (DESIGN §5), and what `check` prints.
 */
import type { AddressInfo } from 'node:net';
import type { UpstreamStatus } from '../upstream/health.js';
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
  /** health of one upstream of a route */
  upstream(route: string, url: string): UpstreamStatus;
}

const addr = (a: AddressInfo | null | undefined): string | null =>
  a ? (a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`) : null;

/** statusDocument renders the current state as plain JSON-able data. */
export function statusDocument(s: StatusInput): Record<string, unknown> {
  const config = s.runtime?.config;
  return {
    portico: { version: s.version, pid: process.pid, started_at: s.startedAt.toISOString(), uptime_s: Math.round((Date.now() - s.startedAt.getTime()) / 1000), ready: s.ready, snapshot_version: s.snapshotVersion, in_flight: s.inFlight, websockets: s.websockets, config: config?.source ?? null },
    listeners: { https: addr(s.addresses?.https), http: addr(s.addresses?.http), admin: addr(s.addresses?.admin) },
    routes: (config?.routes ?? []).map((r) => ({
      name: r.name,
      hosts: r.hosts,
      path_prefix: r.path_prefix,
      upstreams: r.upstreams.map((u) => s.upstream(r.name, u)),
      healthy_upstreams: r.upstreams.filter((u) => s.upstream(r.name, u).healthy).length,
      max_body_bytes: r.max_body_bytes,
      retries: r.retries,
      health_checks: r.health.enabled ? { path: r.health.path, interval_ms: r.health.interval, timeout_ms: r.health.timeout } : null,
    })),
    certificates: (s.runtime?.certPlan.hosts ?? []).map((h) => ({
      host: h.host,
      source: h.source,
      path: h.path ?? null,
      issuer: h.issuer ?? (h.source === 'self-signed' ? 'portico (self-signed)' : null),
      not_after: h.notAfter?.toISOString() ?? null,
    })),
    last_reload: s.lastReload,
  };
}
