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
import { parseAddress, parseRange, parseRate, parseRenewBefore } from './grammar.js';
import type {
  AcmeChallenge, AcmeConfig, AcmeEabConfig, AcmeOnDemandConfig, AdminConfig, Address, CertificateFileConfig, Config, ConfigProblem,
  Http2Config, LimitsConfig, LogConfig, LogLevel, RouteConfig, ServerConfig, TimeoutsConfig, TlsConfig, TlsMinVersion,
} from './types.js';
import { KEYS } from './keys.js';
import {
  Ctx, join, q, table, get, orElse, opt, req, str, parsed, address, cidr, optionalAddress, timeout, grace, size,
  integer, bool, port, oneOf, filePath, nonEmptyString, list, tableList, type Table, type Reader, clash, formatAddress, urlOf,
} from './readers.js';
import { argv, readSupervisor, checkAppListeners, readApps, checkRouteApps } from './validate-apps.js';
import { readRoutes } from './validate-routes.js';

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

const rate = parsed(parseRate, 'a rate "N in D" (like "10 in 1m")');

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
    proxy_protocol: opt(t, 'proxy_protocol', p, ctx, list(cidr, { unique: true }), d.proxy_protocol),
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
  const url = urlOf(s, p, ctx, `${q(s)} is not a URL`);
  if (url === undefined) return undefined;
  return url.protocol === 'https:' ? s : ctx.report(p, `${q(s)} must be an https:// URL`);
};

/** "" (none) or a `redis://` / `rediss://` URL (credentials usually from `${ENV}`; the database as its path). */
const redisUrl: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined || s === '') return s;
  const url = urlOf(s, p, ctx, 'is not a URL (like "redis://:${REDIS_PASSWORD}@10.0.0.5:6379/0" or "rediss://…")');
  if (url === undefined) return undefined;
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return ctx.report(p, `must be a redis:// or rediss:// URL, not ${url.protocol}//…`);
  if (url.hostname === '') return ctx.report(p, 'names no host');
  if (!/^\/?(\d{1,2})?$/.test(url.pathname)) return ctx.report(p, `the path must be a database number (like "/0"), not ${q(url.pathname)}`);
  return s;
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

const challenge = oneOf<AcmeChallenge>(['http-01', 'tls-alpn-01', 'dns-01']);
const renewBefore = parsed(parseRenewBefore, 'a fraction of the lifetime (like "1/3") or a duration before expiry (like "30d")');
const backoffRange = parsed(parseRange, 'a range of durations "MIN..MAX" (like "1m..1d")');

/** "" or an http(s):// URL without a query (the on-demand ask endpoint; portico adds `?domain=NAME`). */
const askUrl: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined || s === '') return s;
  const url = urlOf(s, p, ctx, `${q(s)} is not a URL`);
  if (url === undefined) return undefined;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return ctx.report(p, `${q(s)} must be an http:// or https:// URL`);
  return url.search === '' && url.hash === '' ? s : ctx.report(p, `${q(s)} must not have a query or fragment (portico adds ?domain=NAME)`);
};

/** An ACME profile name (draft-ietf-acme-profiles): "" or a token like "shortlived". */
const profileName: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined || s === '') return s;
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(s) ? s : ctx.report(p, `${q(s)} is not a profile name (letters, digits, ".", "_", "-")`);
};

/** A DNS resolver: an IP address, with an optional port (`"10.0.0.2"`, `"127.0.0.1:8053"`, `"[::1]:53"`), as `ip:port`. */
const resolver: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  if (isIP(s) !== 0) return isIP(s) === 6 ? `[${s}]:53` : `${s}:53`;
  const a = parseAddress(s);
  if (a === null || isIP(a.host) === 0 || a.port === 0) return ctx.report(p, `${q(s)} is not a resolver address (an IP address with an optional port, like "10.0.0.2" or "127.0.0.1:8053")`);
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
};

function readOnDemand(v: unknown, p: string, ctx: Ctx): AcmeOnDemandConfig {
  const t = table(v, p, KEYS.on_demand, ctx);
  const d = DEFAULTS.acme.on_demand;
  return { ask: opt(t, 'ask', p, ctx, askUrl, d.ask), rate: opt(t, 'rate', p, ctx, rate, d.rate) };
}

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
    profile: opt(t, 'profile', p, ctx, profileName, d.profile),
    dns_hook: opt(t, 'dns_hook', p, ctx, argv(false), d.dns_hook),
    dns_hook_timeout: opt(t, 'dns_hook_timeout', p, ctx, timeout, d.dns_hook_timeout),
    dns_resolvers: opt(t, 'dns_resolvers', p, ctx, list(resolver, { unique: true }), d.dns_resolvers),
    dns_propagation_timeout: opt(t, 'dns_propagation_timeout', p, ctx, timeout, d.dns_propagation_timeout),
    order_rate: opt(t, 'order_rate', p, ctx, rate, d.order_rate),
    order_concurrency: opt(t, 'order_concurrency', p, ctx, integer(1, 100), d.order_concurrency),
    eab: eab === undefined ? null : readEab(table(eab, join(p, 'eab'), KEYS.eab, ctx), join(p, 'eab'), ctx),
    on_demand: readOnDemand(get(t, 'on_demand'), join(p, 'on_demand'), ctx),
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

// ─── cross-section checks ─────────────────────────────────────────────────────

/** server.https, server.http and admin.listen must not bind the same address. */
function checkListeners(server: ServerConfig, admin: AdminConfig, ctx: Ctx): void {
  const listeners: [string, Address | null][] = [['server.https', server.https], ['server.http', server.http], ['admin.listen', admin.listen]];
  listeners.forEach(([path, a], i) => {
    const other = listeners.slice(0, i).find(([, b]) => a !== null && b !== null && clash(a, b));
    if (a !== null && other !== undefined) ctx.report(path, `${formatAddress(a)} clashes with ${other[0]} (same port)`);
  });
}

/**
 * ACME needs: `tls = "acme"` routes need `acme.enabled`; wildcards need the dns-01 hook; "dns-01" in
 * `challenges` needs the hook too; http-01 needs the `server.http` listener; an on-demand route
 * (`hosts = ["*"]` with `tls = "acme"`) needs `[acme.on_demand] ask`, and `ask` needs ACME on.
 */
function checkAcme(acme: AcmeConfig, server: ServerConfig, routes: RouteConfig[], ctx: Ctx): void {
  const hook = acme.dns_hook.length > 0;
  routes.forEach((r, i) => {
    if (r.tls !== 'acme') return;
    if (!acme.enabled) ctx.report(`routes[${i}].tls`, '"acme" needs [acme] enabled = true');
    r.hosts.forEach((h, j) => {
      if (h.startsWith('*.') && !hook) {
        ctx.report(`routes[${i}].hosts[${j}]`, `${q(h)}: wildcard certificates need the DNS-01 challenge: set acme.dns_hook (docs/operations.md, "DNS-01 and wildcards"), or use a certificate file (tls = "file")`);
      } else if (h === '*' && acme.on_demand.ask === '') {
        ctx.report(`routes[${i}].hosts[${j}]`, '"*" with tls = "acme" is on-demand TLS: it needs [acme.on_demand] ask (the endpoint that approves each name)');
      }
    });
  });
  if (acme.challenges.includes('dns-01') && !hook) ctx.report('acme.challenges', 'dns-01 needs acme.dns_hook (the program that sets the TXT record)');
  if (acme.on_demand.ask !== '' && !acme.enabled) ctx.report('acme.on_demand.ask', 'on-demand TLS needs [acme] enabled = true');
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
  const storage = {
    dir: opt(storageTable, 'dir', 'storage', ctx, filePath, DEFAULTS.storage.dir),
    redis: opt(storageTable, 'redis', 'storage', ctx, redisUrl, DEFAULTS.storage.redis),
  };
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
