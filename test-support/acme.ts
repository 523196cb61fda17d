/** Helpers for the ACME tests: portico configs pointed at a pebble, waiting on log lines, reading certificates. */
import { X509Certificate } from 'node:crypto';
import type { Pebble } from './pebble.js';
import { proxyConfig, type RouteSpec } from './proxy.js';

/** acmeSection renders `[acme]` for a pebble (its TLS trusted through ca_bundle). */
export function acmeSection(
  pebble: Pebble,
  o: { challenges?: string[]; backoff?: string; renewBefore?: string; directory?: string; caBundle?: string; email?: string; extra?: string } = {},
): string {
  return [
    'enabled = true',
    `directory = ${JSON.stringify(o.directory ?? pebble.directoryUrl)}`,
    `email = ${JSON.stringify(o.email ?? 'ops@portico.test')}`,
    `ca_bundle = ${JSON.stringify(o.caBundle ?? pebble.tlsCaFile)}`,
    `challenges = ${JSON.stringify(o.challenges ?? ['http-01'])}`,
    `backoff = ${JSON.stringify(o.backoff ?? '200ms..2s')}`,
    o.renewBefore ? `renew_before = ${JSON.stringify(o.renewBefore)}` : '',
    // extra [acme] keys, then any sub-table ([acme.on_demand])
    o.extra ?? '',
  ].join('\n');
}

/** acmeConfig is a whole portico config listening where pebble validates. */
export function acmeConfig(pebble: Pebble, routes: RouteSpec[], o: Parameters<typeof acmeSection>[1] & { storage?: string; log?: string; server?: string } = {}): string {
  return proxyConfig(routes, {
    server: o.server,
    https: `127.0.0.1:${pebble.tlsPort}`,
    http: `127.0.0.1:${pebble.httpPort}`,
    acme: acmeSection(pebble, o),
    storage: o.storage,
    log: o.log,
  });
}

/** TEST_TUNING: quick lock polling and challenge polling for in-process portico. */
export const TEST_TUNING = { lockOptions: { pollMs: 50, heartbeatMs: 200, staleMs: 2000 }, pollMin: 100, pollMax: 500, limiter: { perWindow: 100 } };

type Line = Record<string, unknown>;

/** waitForLog resolves with the first line (from index `from`) matching, polling the array. */
export async function waitForLog(logs: Line[], pred: (l: Line) => boolean, ms = 30_000, from = 0): Promise<Line> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = logs.slice(from).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) {
      const tail = logs.slice(-15).map((l) => JSON.stringify(l)).join('\n');
      throw new Error(`no matching log line within ${ms}ms; last lines:\n${tail}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** obtained matches the manager's "certificate obtained" line for a host. */
export const obtained = (host: string) => (l: Line) => l.msg === 'certificate obtained' && l.host === host;
/** ordering matches "ordering certificate" for a host (any host when omitted). */
export const ordering = (host?: string) => (l: Line) => l.msg === 'ordering certificate' && (host === undefined || l.host === host);

/** serialOf is a PEM certificate's serial in Node's peer-certificate form (upper-case hex). */
export const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber.toUpperCase();
