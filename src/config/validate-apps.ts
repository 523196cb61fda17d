/**
 * `[supervisor]` and `[[apps]]`: the app definitions and the checks across them (unique names,
 * non-overlapping port ranges, no clash with portico's own listeners, routes naming existing apps).
 */

import { DEFAULTS } from './defaults.js';
import { parseRange, parseRate, parseSize } from './grammar.js';
import type { AdminConfig, Address, AppConfig, RouteConfig, ServerConfig, SupervisorConfig } from './types.js';
import { KEYS } from './keys.js';
import {
  MAX_TIMER_MS, Ctx, join, q, isTable, wrongType, suggest, table, get, opt, req, str, workerStr, parsed, timeout, size,
  integer, port, filePath, nonEmpty, nonEmptyString, list, tableList, type Table, type Reader, formatAddress,
} from './readers.js';

// ─── supervisor and apps ──────────────────────────────────────────────────────

/** `"auto"` or a positive size. */
export const memoryTotal: Reader<number | 'auto'> = (v, p, ctx) => {
  if (typeof v !== 'number' && typeof v !== 'string') return wrongType(ctx, p, '"auto" or a size string (like "2GiB")', v);
  const s = typeof v === 'string' ? str(v, p, ctx) : v;
  if (s === undefined) return undefined;
  if (s === 'auto') return 'auto';
  const n = parseSize(s);
  if (n === null) return ctx.report(p, `${q(s)} is not "auto" or a size (like "2GiB", "512MiB")`);
  return n > 0 ? n : ctx.report(p, 'must be positive');
};

export function readSupervisor(v: unknown, ctx: Ctx): SupervisorConfig {
  const p = 'supervisor';
  const t = table(v, p, KEYS.supervisor, ctx);
  const d = DEFAULTS.supervisor;
  return {
    memory_total: opt(t, 'memory_total', p, ctx, memoryTotal, d.memory_total),
    memory_reserve: opt(t, 'memory_reserve', p, ctx, size, d.memory_reserve),
  };
}

/** App names appear in URLs (`/apps/NAME/restart`), metric labels and log fields. */
export const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

export const appName: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  return APP_NAME.test(s) ? s : ctx.report(p, `${q(s)} is not an app name (1..64 letters, digits, "_" or "-", starting with a letter or digit)`);
};

/** An argv: a non-empty array of non-empty strings (`nonEmpty: false` allows [] for "none"). */
export function argv(atLeastOne: boolean, item = nonEmptyString): Reader<string[]> {
  return list(item, { nonEmpty: atLeastOne });
}

/**
 * A table of environment variables: names without "=" (or NUL), string values with `${NAME}` expanded
 * (except WORKER_VARS, which each worker fills in).
 */
export const envTable: Reader<Record<string, string>> = (v, p, ctx) => {
  if (!isTable(v)) return wrongType(ctx, p, 'a table of strings (like { NODE_ENV = "production" })', v);
  const entries: [string, string][] = [];
  for (const [k, x] of Object.entries(v)) {
    const kp = join(p, k);
    // eslint-disable-next-line no-control-regex
    if (k === '' || /[=\x00]/.test(k)) ctx.report(kp, 'is not an environment variable name (empty or containing "=")');
    const value = workerStr(x, kp, ctx);
    if (value !== undefined) entries.push([k, value]);
  }
  // fromEntries defines own properties, so even a key named __proto__ stays plain data
  return Object.fromEntries(entries);
};

export const appBackoff = parsed(parseRange, 'a range of durations "MIN..MAX" (like "1s..30s")');

/** A backoff range whose MAX setTimeout can honour. */
export const restartBackoff: Reader<{ min: number; max: number }> = (v, p, ctx) => {
  const r = appBackoff(v, p, ctx);
  if (r === undefined) return undefined;
  return r.max <= MAX_TIMER_MS ? r : ctx.report(p, `MAX must be at most ${MAX_TIMER_MS}ms (about 24.8d)`);
};

export const crashLoop = parsed(parseRate, 'a rate "N in D" (like "5 in 60s")');

/** An app as read, plus what the cross-app checks need. */
export interface AppDraft {
  index: number;
  /** `name` as written when it was a string (valid or not), so a route naming it is not reported twice. */
  givenName: string | undefined;
  /** false when `port` was missing or invalid (the range checks then skip this app). */
  portOk: boolean;
  app: AppConfig;
}

export function readApp(t: Table, p: string, ctx: Ctx, index: number): AppDraft {
  const d = DEFAULTS.app;
  const rawName = get(t, 'name');
  const appPort = req<number | undefined>(t, 'port', p, ctx, port, undefined);
  const app: AppConfig = {
    name: req(t, 'name', p, ctx, appName, ''),
    command: req(t, 'command', p, ctx, argv(true, nonEmpty(workerStr)), []),
    cwd: opt(t, 'cwd', p, ctx, filePath, d.cwd),
    env: opt(t, 'env', p, ctx, envTable, d.env),
    workers: opt(t, 'workers', p, ctx, integer(1, 64), d.workers),
    port: appPort ?? 0,
    memory: opt(t, 'memory', p, ctx, size, d.memory),
    pre_start: opt(t, 'pre_start', p, ctx, argv(false), d.pre_start),
    pre_start_timeout: opt(t, 'pre_start_timeout', p, ctx, timeout, d.pre_start_timeout),
    restart_backoff: opt(t, 'restart_backoff', p, ctx, restartBackoff, d.restart_backoff),
    crash_loop: opt(t, 'crash_loop', p, ctx, crashLoop, d.crash_loop),
  };
  return { index, givenName: typeof rawName === 'string' ? rawName : undefined, portOk: appPort !== undefined, app };
}

/** The last port of an app's range [port, port + 2×workers). */
export function lastPort(a: AppConfig): number {
  return a.port + 2 * a.workers - 1;
}

/** App names are unique (routes and `/apps/NAME/restart` refer to them). */
export function checkAppNames(drafts: AppDraft[], ctx: Ctx): void {
  const seen = new Map<string, number>();
  for (const d of drafts) {
    if (d.app.name === '') continue;
    const first = seen.get(d.app.name);
    if (first === undefined) seen.set(d.app.name, d.index);
    else ctx.report(`apps[${d.index}].name`, `duplicate app name ${q(d.app.name)} (also apps[${first}])`);
  }
}

/** Each app's port range fits below 65536 and overlaps no other app's range. */
export function checkAppPorts(drafts: AppDraft[], ctx: Ctx): void {
  const ok: AppDraft[] = [];
  for (const d of drafts.filter((x) => x.portOk)) {
    const a = d.app;
    const p = `apps[${d.index}].port`;
    if (lastPort(a) > 65535) {
      ctx.report(p, `${a.workers} worker${a.workers === 1 ? '' : 's'} need ports ${a.port}..${lastPort(a)} ([port, port + 2×workers)), past 65535`);
      continue;
    }
    const other = ok.find((o) => o.app.port <= lastPort(a) && a.port <= lastPort(o.app));
    if (other === undefined) ok.push(d);
    else {
      ctx.report(p, `ports ${a.port}..${lastPort(a)} overlap ports ${other.app.port}..${lastPort(other.app)} of app ${q(other.app.name)} (apps[${other.index}]); each app uses [port, port + 2×workers)`);
    }
  }
}

/** Listener hosts that take a port on 127.0.0.1, where app workers listen. */
export const LOOPBACK_CLASH = new Set(['127.0.0.1', '0.0.0.0', '::']);

/** No app port range contains the port of a listener bound where workers bind (127.0.0.1). */
export function checkAppListeners(drafts: AppDraft[], server: ServerConfig, admin: AdminConfig, ctx: Ctx): void {
  const listeners: [string, Address | null][] = [['server.https', server.https], ['server.http', server.http], ['admin.listen', admin.listen]];
  for (const d of drafts.filter((x) => x.portOk && lastPort(x.app) <= 65535)) {
    const a = d.app;
    for (const [path, l] of listeners) {
      if (l === null || l.port === 0 || !LOOPBACK_CLASH.has(l.host) || l.port < a.port || l.port > lastPort(a)) continue;
      ctx.report(`apps[${d.index}].port`, `ports ${a.port}..${lastPort(a)} include the port of ${path} (${formatAddress(l)}); workers bind 127.0.0.1 on [port, port + 2×workers)`);
    }
  }
}

export function readApps(v: unknown, ctx: Ctx): AppDraft[] {
  if (v === undefined) return [];
  const drafts = tableList(KEYS.app, '[[apps]]', readApp)(v, 'apps', ctx) ?? [];
  checkAppNames(drafts, ctx);
  checkAppPorts(drafts, ctx);
  return drafts;
}

/** A route's `app` names an [[apps]] entry (a name that was itself refused is reported there only). */
export function checkRouteApps(routes: RouteConfig[], apps: AppDraft[], ctx: Ctx): void {
  const names = [...new Set(apps.map((a) => a.app.name).filter((n) => n !== ''))];
  routes.forEach((r, i) => {
    if (r.app === null || names.includes(r.app) || apps.some((a) => a.givenName === r.app)) return;
    const hint = suggest(r.app, names);
    const known = names.length === 0 ? 'there are none' : `known: ${names.map(q).join(', ')}`;
    ctx.report(`routes[${i}].app`, `no [[apps]] entry is named ${q(r.app)} (${hint === undefined ? known : `did you mean ${q(hint)}?`})`);
  });
}

