/**
 * Validation and normalisation of a parsed config.toml table into a Config (DESIGN §4).
 *
 * Every key is read through a small Reader that either returns the normalised value or reports a
 * problem at the key's path and returns undefined; the caller then falls back to the default, so
 * one bad value never causes a second, derived problem and every problem is reported in one pass.
 * Built-in defaults (defaults.ts) go through the same readers as file values.
 */

import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { DEFAULTS } from './defaults.js';
import {
  editDistance, expandEnv, parseAddress, parseCidr, parseDuration, parseHost, parseRange, parseRate, parseRenewBefore, parseSize,
  parseStatusRange, parseUpstream, WORKER_VARS,
} from './grammar.js';
import type {
  AcmeChallenge, AcmeConfig, AcmeEabConfig, AdminConfig, Address, AppConfig, CertificateFileConfig, Config, ConfigProblem, HealthConfig,
  Http2Config, LimitsConfig, LogConfig, LogLevel, PassiveConfig, RouteConfig, RouteTls, ServerConfig, SupervisorConfig, TimeoutsConfig, TlsConfig,
  TlsMinVersion,
} from './types.js';

type Table = Record<string, unknown>;

/** Reads one value at `path`: the normalised value, or undefined after reporting a problem. */
type Reader<T> = (v: unknown, path: string, ctx: Ctx) => T | undefined;

/** A list item with its index in the file (for error paths after invalid items were dropped). */
type Indexed<T> = [index: number, value: T];

/** The keys each table accepts in this version. Anything else (including keys of later versions) is unknown. */
const KEYS = {
  root: ['server', 'tls', 'storage', 'acme', 'admin', 'log', 'supervisor', 'apps', 'routes'],
  server: ['https', 'http', 'public_https_port', 'workers', 'trusted_proxies', 'shutdown_grace', 'shutdown_delay', 'timeouts', 'limits', 'http2'],
  timeouts: ['header', 'body', 'idle', 'send', 'upstream_connect', 'upstream_response', 'upstream_idle'],
  limits: ['max_header_bytes', 'max_body_bytes'],
  http2: ['enabled', 'max_concurrent_streams', 'max_resets'],
  tls: ['min_version', 'dir', 'self_signed', 'ticket_key_rotation', 'certificates'],
  certificate: ['cert', 'key'],
  storage: ['dir'],
  acme: ['enabled', 'directory', 'email', 'ca_bundle', 'challenges', 'renew_before', 'backoff', 'eab'],
  eab: ['kid', 'hmac_key'],
  admin: ['listen', 'write_from'],
  log: ['level', 'format', 'access'],
  supervisor: ['memory_total', 'memory_reserve'],
  app: ['name', 'command', 'cwd', 'env', 'workers', 'port', 'memory', 'pre_start', 'pre_start_timeout', 'restart_backoff', 'crash_loop'],
  route: ['name', 'hosts', 'path_prefix', 'upstreams', 'app', 'tls', 'max_body_bytes', 'retries', 'health', 'passive'],
  health: ['enabled', 'path', 'interval', 'timeout', 'healthy_threshold', 'unhealthy_threshold', 'expect_status'],
  passive: ['max_fails', 'fail_window', 'eject_for', 'fail_statuses'],
} as const;

/** Intervals and timeouts below this are refused (DESIGN §4). */
const MIN_TIMEOUT_MS = 10;
/** setTimeout's ceiling: Node fires larger delays after 1ms (with a warning), so refuse them. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Collects problems and carries what readers need (env for `${NAME}`, baseDir for paths). */
class Ctx {
  readonly problems: ConfigProblem[] = [];

  constructor(readonly baseDir: string, readonly env: NodeJS.ProcessEnv) {}

  /** Records a problem; returns undefined so a Reader can `return ctx.report(...)`. */
  report(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }
}

// ─── paths, types, tables ─────────────────────────────────────────────────────

/** Appends a key to a path (`server` + `https`); keys that are not bare TOML keys are quoted. */
function join(path: string, key: string): string {
  const k = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return path === '' ? k : `${path}.${k}`;
}

function q(v: unknown): string {
  return JSON.stringify(v);
}

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** The TOML type of a value, with its article, for "must be X, not Y" messages. */
function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date-time';
  if (isTable(v)) return 'a table';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a float';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v === 'string' ? 'a string' : typeof v;
}

function wrongType(ctx: Ctx, path: string, want: string, v: unknown): undefined {
  return ctx.report(path, `must be ${want}, not ${typeName(v)}`);
}

/** The known key within edit distance 2 of `key` (and closer than its own length), if any. */
function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestDistance && d < k.length) [best, bestDistance] = [k, d];
  }
  return best;
}

/**
 * Checks that v is a table (absent = empty) and reports each key not in `known`.
 * Returns the table, or an empty one after reporting a wrong type.
 */
function table(v: unknown, path: string, known: readonly string[], ctx: Ctx): Table {
  if (v === undefined) return {};
  if (!isTable(v)) return wrongType(ctx, path, 'a table', v) ?? {};
  for (const key of Object.keys(v)) {
    if (known.includes(key)) continue;
    const hint = suggest(key, known);
    ctx.report(join(path, key), hint === undefined ? 'unknown key' : `unknown key, did you mean ${q(hint)}?`);
  }
  return v;
}

function get(t: Table, key: string): unknown {
  return Object.hasOwn(t, key) ? t[key] : undefined;
}

// ─── fields: absent, invalid, default ─────────────────────────────────────────

/** Reads an optional key whose default is already normalised: absent or invalid → `fallback`. */
function orElse<T>(t: Table, key: string, path: string, ctx: Ctx, read: Reader<T>, fallback: T): T {
  const v = get(t, key);
  if (v === undefined) return fallback;
  const r = read(v, join(path, key), ctx);
  return r === undefined ? fallback : r;
}

/** Reads an optional key whose default is a raw DEFAULTS value, normalised by the same reader. */
function opt<T>(t: Table, key: string, path: string, ctx: Ctx, read: Reader<T>, raw: unknown): T {
  const p = join(path, key);
  const v = get(t, key);
  const r = v === undefined ? undefined : read(v, p, ctx);
  if (r !== undefined) return r;
  const d = read(raw, p, ctx);
  if (d === undefined) throw new Error(`portico bug: the built-in default of ${p} (${q(raw)}) is invalid`);
  return d;
}

/** Reads a required key: absent → "is required" and `fallback` (only used while problems exist). */
function req<T>(t: Table, key: string, path: string, ctx: Ctx, read: Reader<T>, fallback: T): T {
  if (get(t, key) === undefined) ctx.report(join(path, key), 'is required');
  return orElse(t, key, path, ctx, read, fallback);
}

// ─── readers ──────────────────────────────────────────────────────────────────

/**
 * A string with `${NAME}` replaced from the environment; each unset name is a problem. `keep`: names
 * left as written (an app's WORKER_VARS, filled in per worker).
 */
function envString(keep?: ReadonlySet<string>): Reader<string> {
  return (v, p, ctx) => {
    if (typeof v !== 'string') return wrongType(ctx, p, 'a string', v);
    const { value, missing } = expandEnv(v, ctx.env, keep);
    for (const name of missing) ctx.report(p, `environment variable ${name} is not set`);
    return missing.length > 0 ? undefined : value;
  };
}

const str = envString();
/** An [[apps]] command argument or env value: `${PORT}` and `${PORTICO_WORKER_INDEX}` are the worker's. */
const workerStr = envString(WORKER_VARS);

/**
 * A string turned into T by a grammar function; null from it is reported as `"x" is not <what>`,
 * a non-string as `must be <want>, not <type>`.
 */
function parsed<T>(parse: (s: string) => T | null, what: string, want = 'a string'): Reader<T> {
  return (v, p, ctx) => {
    if (typeof v !== 'string') return wrongType(ctx, p, want, v);
    const s = str(v, p, ctx);
    if (s === undefined) return undefined;
    const r = parse(s);
    return r === null ? ctx.report(p, `${q(s)} is not ${what}`) : r;
  };
}

const ADDRESS = 'a host:port address';
const ADDRESS_TYPE = 'a "host:port" string';
const address = parsed(parseAddress, ADDRESS, ADDRESS_TYPE);
const cidr = parsed(parseCidr, 'a CIDR (like "10.0.0.0/8", "::1/128") or IP address');
const host = parsed(parseHost, 'a valid host (a DNS name, "*.example.com", or an IP address)');

/** An address, or null for `""` (listener disabled). */
const optionalAddress: Reader<Address | null> = (v, p, ctx) => {
  if (typeof v !== 'string') return wrongType(ctx, p, ADDRESS_TYPE, v);
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  if (s === '') return null;
  return parseAddress(s) ?? ctx.report(p, `${q(s)} is not ${ADDRESS}`);
};

/** A duration in ms, at least `min` and at most what setTimeout can honour. */
function duration(min: number): Reader<number> {
  const read = parsed(parseDuration, 'a duration (like "500ms", "10s", "5m")', 'a duration string (like "10s")');
  return (v, p, ctx) => {
    const ms = read(v, p, ctx);
    if (ms === undefined) return undefined;
    if (ms < min) return ctx.report(p, `must be at least ${min}ms`);
    return ms <= MAX_TIMER_MS ? ms : ctx.report(p, `must be at most ${MAX_TIMER_MS}ms (about 24.8d)`);
  };
}

const timeout = duration(MIN_TIMEOUT_MS);
const grace = duration(0);

/** A positive size in bytes: `"16KiB"`-style string or an integer. */
const size: Reader<number> = (v, p, ctx) => {
  if (typeof v !== 'number' && typeof v !== 'string') return wrongType(ctx, p, 'a size string (like "16KiB") or an integer', v);
  const s = typeof v === 'string' ? str(v, p, ctx) : v;
  if (s === undefined) return undefined;
  const n = parseSize(s);
  if (n === null) return ctx.report(p, `${q(s)} is not a size (like "512B", "16KiB", "10MiB")`);
  return n > 0 ? n : ctx.report(p, 'must be positive');
};

/** An integer in [min, max]. */
function integer(min: number, max: number): Reader<number> {
  return (v, p, ctx) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return wrongType(ctx, p, 'an integer', v);
    return v >= min && v <= max ? v : ctx.report(p, `must be an integer ${min}..${max}, not ${v}`);
  };
}

const bool: Reader<boolean> = (v, p, ctx) => (typeof v === 'boolean' ? v : wrongType(ctx, p, 'a boolean', v));

const port: Reader<number> = (v, p, ctx) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) return wrongType(ctx, p, 'an integer', v);
  return v >= 1 && v <= 65535 ? v : ctx.report(p, `must be a port number 1..65535, not ${v}`);
};

/** One of a fixed set of strings; `special` gives a dedicated message for some refused values. */
function oneOf<T extends string>(values: readonly T[], special: Readonly<Record<string, string>> = {}): Reader<T> {
  return (v, p, ctx) => {
    const s = str(v, p, ctx);
    if (s === undefined) return undefined;
    if ((values as readonly string[]).includes(s)) return s as T;
    if (Object.hasOwn(special, s)) return ctx.report(p, special[s]!);
    return ctx.report(p, `must be one of ${values.map(q).join(', ')}, not ${q(s)}`);
  };
}

/** A non-empty path, made absolute against the config file's directory. */
const filePath: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  return s === '' ? ctx.report(p, 'must not be empty') : resolve(ctx.baseDir, s);
};

function nonEmpty(read: Reader<string>): Reader<string> {
  return (v, p, ctx) => {
    const s = read(v, p, ctx);
    return s === '' ? ctx.report(p, 'must not be empty') : s;
  };
}

const nonEmptyString = nonEmpty(str);

/** An array of `item`s, keeping the valid ones with their indexes; `unique` reports repeats. */
function indexedList<T>(item: Reader<T>, opts: { nonEmpty?: boolean; unique?: boolean } = {}): Reader<Indexed<T>[]> {
  return (v, p, ctx) => {
    if (!Array.isArray(v)) return wrongType(ctx, p, 'an array', v);
    if (opts.nonEmpty === true && v.length === 0) return ctx.report(p, 'must not be empty');
    const out: Indexed<T>[] = [];
    v.forEach((x: unknown, i) => {
      const r = item(x, `${p}[${i}]`, ctx);
      if (r !== undefined) out.push([i, r]);
    });
    return opts.unique === true ? dropRepeats(out, p, ctx) : out;
  };
}

/** Reports and drops items equal to an earlier one (`upstreams[2]: duplicate "…" (same as upstreams[0])`). */
function dropRepeats<T>(items: Indexed<T>[], p: string, ctx: Ctx): Indexed<T>[] {
  const first = new Map<string, number>();
  const name = p.slice(p.lastIndexOf('.') + 1);
  return items.filter(([i, v]) => {
    const key = String(v);
    const j = first.get(key);
    if (j === undefined) first.set(key, i);
    else ctx.report(`${p}[${i}]`, `duplicate ${q(v)} (same as ${name}[${j}])`);
    return j === undefined;
  });
}

function list<T>(item: Reader<T>, opts: { nonEmpty?: boolean; unique?: boolean } = {}): Reader<T[]> {
  const read = indexedList(item, opts);
  return (v, p, ctx) => read(v, p, ctx)?.map(([, x]) => x);
}

/** An array of tables (`[[name]]`); entries that are not tables are reported and skipped. */
function tableList<T>(known: readonly string[], syntax: string, item: (t: Table, p: string, ctx: Ctx, i: number) => T): Reader<T[]> {
  return (v, p, ctx) => {
    if (!Array.isArray(v)) return wrongType(ctx, p, `an array of tables (${syntax})`, v);
    const out: T[] = [];
    v.forEach((x: unknown, i) => {
      const ip = `${p}[${i}]`;
      if (isTable(x)) out.push(item(table(x, ip, known, ctx), ip, ctx, i));
      else wrongType(ctx, ip, 'a table', x);
    });
    return out;
  };
}

const upstream: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  const r = parseUpstream(s);
  return 'origin' in r ? r.origin : ctx.report(p, r.error);
};

const pathPrefix: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  if (!s.startsWith('/')) return ctx.report(p, `must start with "/", not ${q(s)}`);
  return /[?#\s]/.test(s) ? ctx.report(p, 'must not contain "?", "#" or whitespace') : s;
};

const statusRange = parsed(parseStatusRange, 'a status range (like "2xx", "200" or "200-399")');

/** A probe path: starts with "/", may carry a query. */
const probePath: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  if (!s.startsWith('/')) return ctx.report(p, `must start with "/", not ${q(s)}`);
  return /[#\s]/.test(s) ? ctx.report(p, 'must not contain "#" or whitespace') : s;
};

const failStatuses = list(integer(400, 599), { unique: true });

const routeTls = oneOf<RouteTls>(['auto', 'file', 'acme', 'self-signed']);

// ─── sections ─────────────────────────────────────────────────────────────────

function readTimeouts(v: unknown, p: string, ctx: Ctx): TimeoutsConfig {
  const t = table(v, p, KEYS.timeouts, ctx);
  const d = DEFAULTS.server.timeouts;
  const ms = (k: keyof TimeoutsConfig): number => opt(t, k, p, ctx, timeout, d[k]);
  return {
    header: ms('header'), body: ms('body'), idle: ms('idle'), send: ms('send'),
    upstream_connect: ms('upstream_connect'), upstream_response: ms('upstream_response'), upstream_idle: ms('upstream_idle'),
  };
}

function readLimits(v: unknown, p: string, ctx: Ctx): LimitsConfig {
  const t = table(v, p, KEYS.limits, ctx);
  const d = DEFAULTS.server.limits;
  return {
    max_header_bytes: opt(t, 'max_header_bytes', p, ctx, size, d.max_header_bytes),
    max_body_bytes: opt(t, 'max_body_bytes', p, ctx, size, d.max_body_bytes),
  };
}

/** `server.workers`: 1..64 data-plane processes, or "auto" = one per core (os.availableParallelism()). */
const dataPlaneWorkers: Reader<number> = (v, p, ctx) => {
  if (v === 'auto') return Math.min(64, availableParallelism());
  if (typeof v === 'string') return ctx.report(p, `${q(v)} is not a number of workers: use 1..64 or "auto"`);
  return integer(1, 64)(v, p, ctx);
};

const rate = parsed(parseRate, 'a rate "N in D" (like "200 in 10s")');

/** A rate "N in D" whose count is at most 10000 (each h2 connection keeps a ring of that many timestamps). */
const resetRate: Reader<{ count: number; window: number }> = (v, p, ctx) => {
  const r = rate(v, p, ctx);
  if (r === undefined) return undefined;
  return r.count <= 10_000 ? r : ctx.report(p, `the count must be at most 10000, not ${r.count}`);
};

function readHttp2(v: unknown, p: string, ctx: Ctx): Http2Config {
  const t = table(v, p, KEYS.http2, ctx);
  const d = DEFAULTS.server.http2;
  return {
    enabled: opt(t, 'enabled', p, ctx, bool, d.enabled),
    max_concurrent_streams: opt(t, 'max_concurrent_streams', p, ctx, integer(1, 10_000), d.max_concurrent_streams),
    max_resets: opt(t, 'max_resets', p, ctx, resetRate, d.max_resets),
  };
}

/** PUBLIC_PORT_ENV names the variable that, when set, is the default of server.public_https_port (the image sets 443). */
export const PUBLIC_PORT_ENV = 'PORTICO_PUBLIC_HTTPS_PORT';

/** envPublicPort reads PUBLIC_PORT_ENV (unset or "" → undefined; anything but a port is a problem). */
function envPublicPort(ctx: Ctx): number | undefined {
  const v = ctx.env[PUBLIC_PORT_ENV];
  if (v === undefined || v === '') return undefined;
  const n = /^\d{1,5}$/.test(v) ? Number(v) : 0;
  if (n >= 1 && n <= 65535) return n;
  return ctx.report('server.public_https_port', `environment variable ${PUBLIC_PORT_ENV} (its default) is ${q(v)}, not a port number 1..65535`);
}

function readServer(v: unknown, ctx: Ctx): ServerConfig {
  const p = 'server';
  const t = table(v, p, KEYS.server, ctx);
  const d = DEFAULTS.server;
  const https = opt(t, 'https', p, ctx, address, d.https);
  return {
    https,
    http: opt(t, 'http', p, ctx, optionalAddress, d.http),
    public_https_port: orElse(t, 'public_https_port', p, ctx, port, (get(t, 'public_https_port') === undefined ? envPublicPort(ctx) : undefined) ?? https.port),
    workers: opt(t, 'workers', p, ctx, dataPlaneWorkers, d.workers),
    trusted_proxies: opt(t, 'trusted_proxies', p, ctx, list(cidr), d.trusted_proxies),
    shutdown_grace: opt(t, 'shutdown_grace', p, ctx, grace, d.shutdown_grace),
    shutdown_delay: opt(t, 'shutdown_delay', p, ctx, grace, d.shutdown_delay),
    timeouts: readTimeouts(get(t, 'timeouts'), join(p, 'timeouts'), ctx),
    limits: readLimits(get(t, 'limits'), join(p, 'limits'), ctx),
    http2: readHttp2(get(t, 'http2'), join(p, 'http2'), ctx),
  };
}

function readCertificate(t: Table, p: string, ctx: Ctx): CertificateFileConfig {
  return { cert: req(t, 'cert', p, ctx, filePath, ''), key: req(t, 'key', p, ctx, filePath, '') };
}

function readTls(v: unknown, ctx: Ctx): TlsConfig {
  const p = 'tls';
  const t = table(v, p, KEYS.tls, ctx);
  const d = DEFAULTS.tls;
  return {
    min_version: opt(t, 'min_version', p, ctx, oneOf<TlsMinVersion>(['TLSv1.2', 'TLSv1.3']), d.min_version),
    dir: opt(t, 'dir', p, ctx, filePath, d.dir),
    self_signed: opt(t, 'self_signed', p, ctx, bool, d.self_signed),
    ticket_key_rotation: opt(t, 'ticket_key_rotation', p, ctx, timeout, d.ticket_key_rotation),
    certificates: opt(t, 'certificates', p, ctx, tableList(KEYS.certificate, '[[tls.certificates]]', readCertificate), d.certificates),
  };
}

/** An https:// URL (the ACME directory). */
const httpsUrl: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return ctx.report(p, `${q(s)} is not a URL`);
  }
  return url.protocol === 'https:' ? s : ctx.report(p, `${q(s)} must be an https:// URL`);
};

/** "" or something shaped like an e-mail address. */
const email: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined || s === '') return s;
  return /^[^\s@]+@[^\s@]+$/.test(s) ? s : ctx.report(p, `${q(s)} is not an e-mail address`);
};

/** "" (none) or a path made absolute. */
const optionalPath: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined || s === '') return s;
  return resolve(ctx.baseDir, s);
};

const challenge = oneOf<AcmeChallenge>(['http-01', 'tls-alpn-01'], {
  'dns-01': 'dns-01 is not supported (portico answers http-01 and tls-alpn-01)',
});
const renewBefore = parsed(parseRenewBefore, 'a fraction of the lifetime (like "1/3") or a duration before expiry (like "30d")');
const backoffRange = parsed(parseRange, 'a range of durations "MIN..MAX" (like "1m..1d")');

function readEab(t: Table, p: string, ctx: Ctx): AcmeEabConfig {
  return { kid: req(t, 'kid', p, ctx, nonEmptyString, ''), hmac_key: req(t, 'hmac_key', p, ctx, nonEmptyString, '') };
}

function readAcme(v: unknown, ctx: Ctx): AcmeConfig {
  const p = 'acme';
  const t = table(v, p, KEYS.acme, ctx);
  const d = DEFAULTS.acme;
  const eab = get(t, 'eab');
  return {
    enabled: opt(t, 'enabled', p, ctx, bool, d.enabled),
    directory: opt(t, 'directory', p, ctx, httpsUrl, d.directory),
    email: opt(t, 'email', p, ctx, email, d.email),
    ca_bundle: opt(t, 'ca_bundle', p, ctx, optionalPath, d.ca_bundle),
    challenges: opt(t, 'challenges', p, ctx, list(challenge, { nonEmpty: true, unique: true }), d.challenges),
    renew_before: opt(t, 'renew_before', p, ctx, renewBefore, d.renew_before),
    backoff: opt(t, 'backoff', p, ctx, backoffRange, d.backoff),
    eab: eab === undefined ? null : readEab(table(eab, join(p, 'eab'), KEYS.eab, ctx), join(p, 'eab'), ctx),
  };
}

function readAdmin(v: unknown, ctx: Ctx): AdminConfig {
  const t = table(v, 'admin', KEYS.admin, ctx);
  const d = DEFAULTS.admin;
  return {
    listen: opt(t, 'listen', 'admin', ctx, optionalAddress, d.listen),
    write_from: opt(t, 'write_from', 'admin', ctx, list(cidr), d.write_from),
  };
}

function readLog(v: unknown, ctx: Ctx): LogConfig {
  const t = table(v, 'log', KEYS.log, ctx);
  const d = DEFAULTS.log;
  return {
    level: opt(t, 'level', 'log', ctx, oneOf<LogLevel>(['trace', 'debug', 'info', 'warn', 'error']), d.level),
    format: opt(t, 'format', 'log', ctx, oneOf(['json', 'pretty', 'auto'] as const), d.format),
    access: opt(t, 'access', 'log', ctx, bool, d.access),
  };
}

// ─── supervisor and apps ──────────────────────────────────────────────────────

/** `"auto"` or a positive size. */
const memoryTotal: Reader<number | 'auto'> = (v, p, ctx) => {
  if (typeof v !== 'number' && typeof v !== 'string') return wrongType(ctx, p, '"auto" or a size string (like "2GiB")', v);
  const s = typeof v === 'string' ? str(v, p, ctx) : v;
  if (s === undefined) return undefined;
  if (s === 'auto') return 'auto';
  const n = parseSize(s);
  if (n === null) return ctx.report(p, `${q(s)} is not "auto" or a size (like "2GiB", "512MiB")`);
  return n > 0 ? n : ctx.report(p, 'must be positive');
};

function readSupervisor(v: unknown, ctx: Ctx): SupervisorConfig {
  const p = 'supervisor';
  const t = table(v, p, KEYS.supervisor, ctx);
  const d = DEFAULTS.supervisor;
  return {
    memory_total: opt(t, 'memory_total', p, ctx, memoryTotal, d.memory_total),
    memory_reserve: opt(t, 'memory_reserve', p, ctx, size, d.memory_reserve),
  };
}

/** App names appear in URLs (`/apps/NAME/restart`), metric labels and log fields. */
const APP_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

const appName: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  return APP_NAME.test(s) ? s : ctx.report(p, `${q(s)} is not an app name (1..64 letters, digits, "_" or "-", starting with a letter or digit)`);
};

/** An argv: a non-empty array of non-empty strings (`nonEmpty: false` allows [] for "none"). */
function argv(atLeastOne: boolean, item = nonEmptyString): Reader<string[]> {
  return list(item, { nonEmpty: atLeastOne });
}

/**
 * A table of environment variables: names without "=" (or NUL), string values with `${NAME}` expanded
 * (except WORKER_VARS, which each worker fills in).
 */
const envTable: Reader<Record<string, string>> = (v, p, ctx) => {
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

const appBackoff = parsed(parseRange, 'a range of durations "MIN..MAX" (like "1s..30s")');

/** A backoff range whose MAX setTimeout can honour. */
const restartBackoff: Reader<{ min: number; max: number }> = (v, p, ctx) => {
  const r = appBackoff(v, p, ctx);
  if (r === undefined) return undefined;
  return r.max <= MAX_TIMER_MS ? r : ctx.report(p, `MAX must be at most ${MAX_TIMER_MS}ms (about 24.8d)`);
};

const crashLoop = parsed(parseRate, 'a rate "N in D" (like "5 in 60s")');

/** An app as read, plus what the cross-app checks need. */
interface AppDraft {
  index: number;
  /** `name` as written when it was a string (valid or not), so a route naming it is not reported twice. */
  givenName: string | undefined;
  /** false when `port` was missing or invalid (the range checks then skip this app). */
  portOk: boolean;
  app: AppConfig;
}

function readApp(t: Table, p: string, ctx: Ctx, index: number): AppDraft {
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
function lastPort(a: AppConfig): number {
  return a.port + 2 * a.workers - 1;
}

/** App names are unique (routes and `/apps/NAME/restart` refer to them). */
function checkAppNames(drafts: AppDraft[], ctx: Ctx): void {
  const seen = new Map<string, number>();
  for (const d of drafts) {
    if (d.app.name === '') continue;
    const first = seen.get(d.app.name);
    if (first === undefined) seen.set(d.app.name, d.index);
    else ctx.report(`apps[${d.index}].name`, `duplicate app name ${q(d.app.name)} (also apps[${first}])`);
  }
}

/** Each app's port range fits below 65536 and overlaps no other app's range. */
function checkAppPorts(drafts: AppDraft[], ctx: Ctx): void {
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
const LOOPBACK_CLASH = new Set(['127.0.0.1', '0.0.0.0', '::']);

/** No app port range contains the port of a listener bound where workers bind (127.0.0.1). */
function checkAppListeners(drafts: AppDraft[], server: ServerConfig, admin: AdminConfig, ctx: Ctx): void {
  const listeners: [string, Address | null][] = [['server.https', server.https], ['server.http', server.http], ['admin.listen', admin.listen]];
  for (const d of drafts.filter((x) => x.portOk && lastPort(x.app) <= 65535)) {
    const a = d.app;
    for (const [path, l] of listeners) {
      if (l === null || l.port === 0 || !LOOPBACK_CLASH.has(l.host) || l.port < a.port || l.port > lastPort(a)) continue;
      ctx.report(`apps[${d.index}].port`, `ports ${a.port}..${lastPort(a)} include the port of ${path} (${formatAddress(l)}); workers bind 127.0.0.1 on [port, port + 2×workers)`);
    }
  }
}

function readApps(v: unknown, ctx: Ctx): AppDraft[] {
  if (v === undefined) return [];
  const drafts = tableList(KEYS.app, '[[apps]]', readApp)(v, 'apps', ctx) ?? [];
  checkAppNames(drafts, ctx);
  checkAppPorts(drafts, ctx);
  return drafts;
}

/** A route's `app` names an [[apps]] entry (a name that was itself refused is reported there only). */
function checkRouteApps(routes: RouteConfig[], apps: AppDraft[], ctx: Ctx): void {
  const names = [...new Set(apps.map((a) => a.app.name).filter((n) => n !== ''))];
  routes.forEach((r, i) => {
    if (r.app === null || names.includes(r.app) || apps.some((a) => a.givenName === r.app)) return;
    const hint = suggest(r.app, names);
    const known = names.length === 0 ? 'there are none' : `known: ${names.map(q).join(', ')}`;
    ctx.report(`routes[${i}].app`, `no [[apps]] entry is named ${q(r.app)} (${hint === undefined ? known : `did you mean ${q(hint)}?`})`);
  });
}

// ─── routes ───────────────────────────────────────────────────────────────────

/** A route as read, plus what the cross-route checks need. */
interface RouteDraft {
  index: number;
  /** Whether `name` was given (a default name repeats only when host + prefix repeat too). */
  named: boolean;
  hosts: Indexed<string>[];
  route: RouteConfig;
}

const hostList = indexedList(host, { nonEmpty: true, unique: true });
const upstreamList = list(upstream, { nonEmpty: true, unique: true });

function readRoute(t: Table, p: string, ctx: Ctx, index: number, maxBody: number): RouteDraft {
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
    max_body_bytes: orElse(t, 'max_body_bytes', p, ctx, size, maxBody),
    retries: opt(t, 'retries', p, ctx, integer(0, 10), d.retries),
    health: readHealth(get(t, 'health'), join(p, 'health'), ctx),
    passive: readPassive(get(t, 'passive'), join(p, 'passive'), ctx),
  };
  return { index, named: name !== null, hosts, route };
}

/**
 * A route's target: exactly one of `upstreams` (a list of origins) and `app` (an [[apps]] name,
 * whose workers are the upstreams: `upstreams` is then []). Whether the app exists is checked
 * once all apps are read (checkRouteApps).
 */
function readTarget(t: Table, p: string, ctx: Ctx): Pick<RouteConfig, 'upstreams' | 'app'> {
  const hasUpstreams = get(t, 'upstreams') !== undefined;
  const hasApp = get(t, 'app') !== undefined;
  if (hasUpstreams && hasApp) {
    ctx.report(join(p, 'app'), 'cannot be combined with upstreams: a route balances to either its upstreams or the workers of one [[apps]] entry');
  } else if (!hasUpstreams && !hasApp) {
    ctx.report(join(p, 'upstreams'), 'is required (or app = "NAME" to balance to the workers of an [[apps]] entry)');
  }
  return {
    upstreams: orElse(t, 'upstreams', p, ctx, upstreamList, []),
    app: orElse<string | null>(t, 'app', p, ctx, nonEmptyString, DEFAULTS.route.app),
  };
}

function readHealth(v: unknown, p: string, ctx: Ctx): HealthConfig {
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

function readPassive(v: unknown, p: string, ctx: Ctx): PassiveConfig {
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
function checkRouteNames(drafts: RouteDraft[], ctx: Ctx): void {
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
function checkRouteHosts(drafts: RouteDraft[], ctx: Ctx): void {
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

function readRoutes(v: unknown, ctx: Ctx, maxBody: number): RouteConfig[] {
  const read = tableList(KEYS.route, '[[routes]]', (t, p, c, i) => readRoute(t, p, c, i, maxBody));
  const drafts = v === undefined ? [] : (read(v, 'routes', ctx) ?? []);
  checkRouteNames(drafts, ctx);
  checkRouteHosts(drafts, ctx);
  return drafts.map((d) => d.route);
}

// ─── cross-section checks ─────────────────────────────────────────────────────

/** Whether two listeners would fight over one socket (port 0 = "any free port" never does). */
function clash(a: Address, b: Address): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  if (a.host === b.host || a.host === '::' || b.host === '::') return true;
  return (a.host === '0.0.0.0' && !b.host.includes(':')) || (b.host === '0.0.0.0' && !a.host.includes(':'));
}

function formatAddress(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

/** server.https, server.http and admin.listen must not bind the same address. */
function checkListeners(server: ServerConfig, admin: AdminConfig, ctx: Ctx): void {
  const listeners: [string, Address | null][] = [['server.https', server.https], ['server.http', server.http], ['admin.listen', admin.listen]];
  listeners.forEach(([path, a], i) => {
    const other = listeners.slice(0, i).find(([, b]) => a !== null && b !== null && clash(a, b));
    if (a !== null && other !== undefined) ctx.report(path, `${formatAddress(a)} clashes with ${other[0]} (same port)`);
  });
}

/**
 * ACME needs: `tls = "acme"` routes need `acme.enabled` and DNS names (wildcards need DNS-01, which
 * portico does not do); http-01 needs the `server.http` listener.
 */
function checkAcme(acme: AcmeConfig, server: ServerConfig, routes: RouteConfig[], ctx: Ctx): void {
  routes.forEach((r, i) => {
    if (r.tls !== 'acme') return;
    if (!acme.enabled) ctx.report(`routes[${i}].tls`, '"acme" needs [acme] enabled = true');
    r.hosts.forEach((h, j) => {
      if (h.startsWith('*.')) {
        ctx.report(`routes[${i}].hosts[${j}]`, `${q(h)}: wildcard certificates need the DNS-01 challenge, which portico does not support; use a certificate file (tls = "file") for wildcards`);
      } else if (isIP(h) !== 0) {
        ctx.report(`routes[${i}].hosts[${j}]`, `${q(h)}: ACME certificates are for DNS names, not IP addresses; use tls = "auto" for this route`);
      }
    });
  });
  if (acme.enabled && server.http === null && acme.challenges.includes('http-01')) {
    ctx.report('acme.challenges', 'http-01 needs the server.http listener (server.http = ""): enable it or set challenges = ["tls-alpn-01"]');
  }
}

/** Options for validateConfig. */
export interface ValidateOptions {
  /** Goes into `Config.source`. */
  source: string;
  /** Relative paths resolve against this directory. */
  baseDir: string;
  /** Values for `${NAME}` references. */
  env: NodeJS.ProcessEnv;
}

/**
 * validateConfig normalises a parsed TOML table into a Config and lists every problem found.
 * The config is only meaningful when `problems` is empty; it is not frozen (parseConfig freezes).
 */
export function validateConfig(raw: Table, opts: ValidateOptions): { config: Config; problems: ConfigProblem[] } {
  const ctx = new Ctx(opts.baseDir, opts.env);
  const root = table(raw, '', KEYS.root, ctx);
  const server = readServer(get(root, 'server'), ctx);
  const tls = readTls(get(root, 'tls'), ctx);
  const storageTable = table(get(root, 'storage'), 'storage', KEYS.storage, ctx);
  const storage = { dir: opt(storageTable, 'dir', 'storage', ctx, filePath, DEFAULTS.storage.dir) };
  const acme = readAcme(get(root, 'acme'), ctx);
  const admin = readAdmin(get(root, 'admin'), ctx);
  const log = readLog(get(root, 'log'), ctx);
  const supervisor = readSupervisor(get(root, 'supervisor'), ctx);
  const apps = readApps(get(root, 'apps'), ctx);
  const routes = readRoutes(get(root, 'routes'), ctx, server.limits.max_body_bytes);
  checkListeners(server, admin, ctx);
  checkAppListeners(apps, server, admin, ctx);
  checkRouteApps(routes, apps, ctx);
  checkAcme(acme, server, routes, ctx);
  const config = { source: opts.source, server, tls, storage, acme, admin, log, supervisor, apps: apps.map((a) => a.app), routes };
  return { config, problems: ctx.problems };
}
