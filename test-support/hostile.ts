/**
 * What every hostile-client test checks afterwards (issue 23, DESIGN §8): portico's view of its
 * upstreams (`/status.json` states, `portico_upstream_ejections_total` from `/metrics` on the admin
 * port), its access-log lines, and that a fresh, ordinary request is still served.
 */
import type { AccessRecord } from '../src/proxy/access-log.js';
import type { Test } from 'tap';
import { request } from './client.js';
import { httpRequest } from './http.js';
import { waitUntil } from './wait.js';

/** UpstreamView is one upstream of one route as /status.json reports it. */
export interface UpstreamView {
  route: string;
  url: string;
  state: string;
  healthy: boolean;
  recent_failures: number;
}

/** upstreamStates reads every route's upstreams from the admin /status.json. */
export async function upstreamStates(adminPort: number): Promise<UpstreamView[]> {
  const r = await httpRequest({ port: adminPort, path: '/status.json' });
  const doc = JSON.parse(r.body) as { routes: Array<{ name: string; upstreams: Array<Omit<UpstreamView, 'route'>> }> };
  return doc.routes.flatMap((route) => route.upstreams.map((u) => ({ route: route.name, url: u.url, state: u.state, healthy: u.healthy, recent_failures: u.recent_failures })));
}

/** inFlight reads `portico.in_flight` from the admin /status.json. */
export async function inFlight(adminPort: number): Promise<number> {
  const r = await httpRequest({ port: adminPort, path: '/status.json' });
  return (JSON.parse(r.body) as { portico: { in_flight: number } }).portico.in_flight;
}

/** metricSum adds every sample of one metric family from the admin /metrics (0 when absent). */
export async function metricSum(adminPort: number, name: string): Promise<number> {
  const r = await httpRequest({ port: adminPort, path: '/metrics' });
  let sum = 0;
  for (const line of r.body.split('\n')) {
    if (line.startsWith('#')) continue;
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** ejections is the total of portico_upstream_ejections_total. */
export function ejections(adminPort: number): Promise<number> {
  return metricSum(adminPort, 'portico_upstream_ejections_total');
}

/** AccessLine is one access-log line (msg "request"). */
export type AccessLine = Omit<AccessRecord, 'method' | 'error'> & { method: string; error?: string; [k: string]: unknown };

/** accessLines returns the access-log lines among `logs`, optionally those for one path. */
export function accessLines(logs: Array<Record<string, unknown>>, path?: string): AccessLine[] {
  return logs.filter((l) => l.msg === 'request' && (path === undefined || l.path === path)) as unknown as AccessLine[];
}

/** assertionLines: log lines that carry an engine assertion (ERR_ASSERTION / AssertionError): a portico bug, never expected. */
export function assertionLines(logs: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return logs.filter((l) => /ERR_ASSERTION|AssertionError/.test(JSON.stringify(l)));
}

/**
 * assertRoutesIntact: the common verdict of a hostile case. No upstream was ejected
 * (portico_upstream_ejections_total is 0), no request is left in flight (`idle`, default true: admin
 * in_flight reaches 0 within 3 s), every upstream of every route is `up` in /status.json
 * with no recent passive failure, no engine assertion was logged, and a fresh ordinary request on a
 * new connection is answered 200 (`servername` names a routed host).
 */
export async function assertRoutesIntact(
  t: Test,
  p: { port: number; adminPort: number; logs: Array<Record<string, unknown>> },
  servername = 'localhost',
  path = '/fresh',
  opts: { idle?: boolean } = {},
): Promise<void> {
  if (opts.idle !== false) {
    // every request of the case has ended (a leaked exchange stays in flight forever)
    const idle = await waitUntil(async () => (await inFlight(p.adminPort)) === 0, 3000).then(() => true, () => false);
    t.ok(idle, `no request left in flight (admin in_flight = ${await inFlight(p.adminPort)})`);
  }
  t.equal(await ejections(p.adminPort), 0, 'no upstream was ejected (portico_upstream_ejections_total = 0)');
  const states = await upstreamStates(p.adminPort);
  const bad = states.filter((u) => u.state !== 'up' || u.recent_failures > 0);
  t.same(bad, [], 'every upstream is up in /status.json, with no recent passive failure');
  t.same(assertionLines(p.logs).map((l) => l.msg), [], 'no engine assertion (ERR_ASSERTION) in the logs');
  const r = await request({ port: p.port, servername, path });
  t.equal(r.status, 200, 'a fresh normal request afterwards is served 200');
}
