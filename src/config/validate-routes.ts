/**
 * `[[routes]]`: hosts, prefixes, upstreams or app, certificates source, retries, active and passive
 * health, and the checks across routes (unique names, a host + prefix served once).
 */

import { DEFAULTS } from './defaults.js';
import type { HealthConfig, PassiveConfig, RouteConfig } from './types.js';
import { KEYS } from './keys.js';
import {
  Ctx, join, q, table, get, orElse, opt, req, host, timeout, size, integer, bool, nonEmptyString, indexedList, list,
  tableList, upstream, pathPrefix, statusRange, probePath, failStatuses, routeTls, type Table, type Indexed,
} from './readers.js';
import { hasRedirect, readFeatures } from './validate-features.js';

// ─── routes ───────────────────────────────────────────────────────────────────

/** A route as read, plus what the cross-route checks need. */
export interface RouteDraft {
  index: number;
  /** Whether `name` was given (a default name repeats only when host + prefix repeat too). */
  named: boolean;
  hosts: Indexed<string>[];
  route: RouteConfig;
}

export const hostList = indexedList(host, { nonEmpty: true, unique: true });
export const upstreamList = list(upstream, { nonEmpty: true, unique: true });

export function readRoute(t: Table, p: string, ctx: Ctx, index: number, maxBody: number): RouteDraft {
  const d = DEFAULTS.route;
  const name = orElse<string | null>(t, 'name', p, ctx, nonEmptyString, null);
  const hosts = req(t, 'hosts', p, ctx, hostList, []);
  const path_prefix = opt(t, 'path_prefix', p, ctx, pathPrefix, d.path_prefix);
  const route: RouteConfig = {
    name: name ?? `${hosts[0]?.[1] ?? ''}${path_prefix}`,
    hosts: hosts.map(([, h]) => h),
    path_prefix,
    ...readTarget(t, p, ctx),
    tls: opt(t, 'tls', p, ctx, routeTls, d.tls),
    ...readFeatures(t, p, ctx),
    max_body_bytes: orElse(t, 'max_body_bytes', p, ctx, size, maxBody),
    retries: opt(t, 'retries', p, ctx, integer(0, 10), d.retries),
    health: readHealth(get(t, 'health'), join(p, 'health'), ctx),
    passive: readPassive(get(t, 'passive'), join(p, 'passive'), ctx),
  };
  return { index, named: name !== null, hosts, route };
}

/**
 * A route's target: exactly one of `upstreams` (a list of origins), `app` (an [[apps]] name,
 * whose workers are the upstreams: `upstreams` is then []) and `redirect` (no upstreams at all).
 * Whether the app exists is checked once all apps are read (checkRouteApps).
 */
export function readTarget(t: Table, p: string, ctx: Ctx): Pick<RouteConfig, 'upstreams' | 'app'> {
  const hasUpstreams = get(t, 'upstreams') !== undefined;
  const hasApp = get(t, 'app') !== undefined;
  if (hasRedirect(t)) {
    for (const k of ['upstreams', 'app']) {
      if (get(t, k) !== undefined) ctx.report(join(p, k), 'cannot be combined with redirect: a redirect route answers every request itself');
    }
    return { upstreams: [], app: null };
  }
  if (hasUpstreams && hasApp) {
    ctx.report(join(p, 'app'), 'cannot be combined with upstreams: a route balances to either its upstreams or the workers of one [[apps]] entry');
  } else if (!hasUpstreams && !hasApp) {
    ctx.report(join(p, 'upstreams'), 'is required (or app = "NAME" to balance to the workers of an [[apps]] entry, or redirect = "https://…" to answer with a redirect)');
  }
  return {
    upstreams: orElse(t, 'upstreams', p, ctx, upstreamList, []),
    app: orElse<string | null>(t, 'app', p, ctx, nonEmptyString, DEFAULTS.route.app),
  };
}

export function readHealth(v: unknown, p: string, ctx: Ctx): HealthConfig {
  const t = table(v, p, KEYS.health, ctx);
  const d = DEFAULTS.route.health;
  return {
    enabled: opt(t, 'enabled', p, ctx, bool, d.enabled),
    path: opt(t, 'path', p, ctx, probePath, d.path),
    interval: opt(t, 'interval', p, ctx, timeout, d.interval),
    timeout: opt(t, 'timeout', p, ctx, timeout, d.timeout),
    healthy_threshold: opt(t, 'healthy_threshold', p, ctx, integer(1, 1000), d.healthy_threshold),
    unhealthy_threshold: opt(t, 'unhealthy_threshold', p, ctx, integer(1, 1000), d.unhealthy_threshold),
    expect_status: opt(t, 'expect_status', p, ctx, statusRange, d.expect_status),
  };
}

export function readPassive(v: unknown, p: string, ctx: Ctx): PassiveConfig {
  const t = table(v, p, KEYS.passive, ctx);
  const d = DEFAULTS.route.passive;
  return {
    max_fails: opt(t, 'max_fails', p, ctx, integer(0, 1000), d.max_fails),
    fail_window: opt(t, 'fail_window', p, ctx, timeout, d.fail_window),
    eject_for: opt(t, 'eject_for', p, ctx, timeout, d.eject_for),
    fail_statuses: opt(t, 'fail_statuses', p, ctx, failStatuses, d.fail_statuses),
  };
}

/** Route names are metric labels: each must be unique. */
export function checkRouteNames(drafts: RouteDraft[], ctx: Ctx): void {
  const seen = new Map<string, RouteDraft>();
  for (const d of drafts) {
    const first = seen.get(d.route.name);
    if (first === undefined) seen.set(d.route.name, d);
    // Two default names only collide when first host + prefix do, which checkRouteHosts reports.
    else if (d.named || first.named) {
      ctx.report(`routes[${d.index}].name`, `duplicate route name ${q(d.route.name)} (also routes[${first.index}])`);
    }
  }
}

/** Each host + path_prefix pair may be routed by one route only. */
export function checkRouteHosts(drafts: RouteDraft[], ctx: Ctx): void {
  const seen = new Map<string, RouteDraft>();
  for (const d of drafts) {
    for (const [i, h] of d.hosts) {
      const key = `${h} ${d.route.path_prefix}`;
      const first = seen.get(key);
      if (first === undefined) {
        seen.set(key, d);
        continue;
      }
      ctx.report(`routes[${d.index}].hosts[${i}]`,
        `${q(h)} with path_prefix ${q(d.route.path_prefix)} in route ${q(d.route.name)} is already routed by route ${q(first.route.name)} (routes[${first.index}])`);
    }
  }
}

export function readRoutes(v: unknown, ctx: Ctx, maxBody: number): RouteConfig[] {
  const read = tableList(KEYS.route, '[[routes]]', (t, p, c, i) => readRoute(t, p, c, i, maxBody));
  const drafts = v === undefined ? [] : (read(v, 'routes', ctx) ?? []);
  checkRouteNames(drafts, ctx);
  checkRouteHosts(drafts, ctx);
  return drafts.map((d) => d.route);
}

