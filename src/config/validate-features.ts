/**
 * The proxy features of a `[[routes]]` entry (issue 29): `balance`, `compress`, `hsts`,
 * `rate_limit`, `redirect` (+ `redirect_status`, `redirect_keep_path`) and `[routes.headers]`.
 *
 * Header rules may not touch the fields portico owns (OWNED_REQUEST / OWNED_RESPONSE): the hop-by-hop
 * fields it never forwards, the forwarding fields it writes itself (from an untrusted peer they are
 * replaced; a rule re-adding one would let the config undo that), the framing fields, and the
 * fields another key owns (`hsts`, `compress`). The lists repeat proxy/passes.ts' HOP_BY_HOP and
 * FORWARDING (config/ imports nothing of the proxy); a unit test checks they cover those sets.
 */

import { DEFAULTS } from './defaults.js';
import { parseRate } from './grammar.js';
import { KEYS } from './keys.js';
import type { Balance, Coding, HeaderRules, HeadersConfig, RouteConfig } from './types.js';
import {
  Ctx, join, q, table, get, opt, str, bool, list, oneOf, parsed, isTable, wrongType, urlOf, type Reader, type Table,
} from './readers.js';

export const balance = oneOf<Balance>(['round_robin', 'least_requests', 'p2c']);

export const compress = list(oneOf<Coding>(['br', 'zstd', 'gzip'], { deflate: 'deflate is not offered (clients that take deflate take gzip too)', identity: 'identity needs no listing: it is what clients get when they accept none of these' }), { unique: true });

const HOP = 'a hop-by-hop field: portico never forwards it';
const FORWARDING = 'a forwarding field portico writes itself (see server.trusted_proxies)';

/** OWNED_REQUEST: request fields a rule may neither set nor remove, with the reason. */
export const OWNED_REQUEST: ReadonlyMap<string, string> = new Map([
  ...['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization', 'expect'].map((n): [string, string] => [n, HOP]),
  ...['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'forwarded'].map((n): [string, string] => [n, FORWARDING]),
  ['host', 'the Host the upstream sees is the one the route matched'],
  ['content-length', 'it frames the body'],
]);

/** OWNED_RESPONSE: response fields a rule may neither set nor remove, with the reason. */
export const OWNED_RESPONSE: ReadonlyMap<string, string> = new Map([
  ...['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate', 'proxy-authorization'].map((n): [string, string] => [n, HOP]),
  ['content-length', 'it frames the body'],
  ['content-encoding', 'it describes the body (compression is `compress`)'],
  ['strict-transport-security', 'use `hsts`'],
]);

/** TOKEN: an HTTP field name (RFC 9110 §5.1: a token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** FIELD_VALUE: printable ASCII, spaces and tabs inside, none at either end (RFC 9110 §5.5). */
const FIELD_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?$/;

/** fieldName reads a header name, lower-cased, refusing the ones `owned` lists. */
function fieldName(owned: ReadonlyMap<string, string>): Reader<string> {
  return (v, p, ctx) => {
    const s = str(v, p, ctx);
    if (s === undefined) return undefined;
    if (!TOKEN.test(s)) return ctx.report(p, `${q(s)} is not a header name (letters, digits and !#$%&'*+.^_\`|~-)`);
    const name = s.toLowerCase();
    const why = owned.get(name);
    return why === undefined ? name : ctx.report(p, `${q(s)} cannot be changed by a rule: ${why}`);
  };
}

/** fieldValue: printable ASCII (no CR, LF, NUL or other control characters), no space at either end. */
const fieldValue: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  return FIELD_VALUE.test(s) ? s : ctx.report(p, 'must be printable ASCII without control characters (no CR, LF, NUL) or spaces at either end');
};

function readRules(v: unknown, p: string, ctx: Ctx, owned: ReadonlyMap<string, string>): HeaderRules {
  const t = table(v, p, KEYS.header_rules, ctx);
  const name = fieldName(owned);
  const set: Record<string, string> = {};
  const setV = get(t, 'set');
  const sp = join(p, 'set');
  if (setV !== undefined && !isTable(setV)) wrongType(ctx, sp, 'a table of header names and values', setV);
  else if (setV !== undefined) {
    for (const [k, val] of Object.entries(setV)) {
      const kp = join(sp, k);
      const n = name(k, kp, ctx);
      const value = fieldValue(val, kp, ctx);
      if (n === undefined || value === undefined) continue;
      if (Object.hasOwn(set, n)) ctx.report(kp, `${q(k)} is set twice (header names are case-insensitive)`);
      else set[n] = value;
    }
  }
  const remove = opt(t, 'remove', p, ctx, list(name, { unique: true }), [] as string[]);
  remove.forEach((n) => {
    if (Object.hasOwn(set, n)) ctx.report(join(p, 'remove'), `${q(n)} is both set and removed`);
  });
  return { set, remove };
}

export function readHeaders(v: unknown, p: string, ctx: Ctx): HeadersConfig {
  const t = table(v, p, KEYS.headers, ctx);
  return {
    request: readRules(get(t, 'request'), join(p, 'request'), ctx, OWNED_REQUEST),
    response: readRules(get(t, 'response'), join(p, 'response'), ctx, OWNED_RESPONSE),
  };
}

/** HSTS_DIRECTIVE: `max-age=N`, `includeSubDomains`, `preload` (RFC 6797 §6.1; names case-insensitive). */
const HSTS_DIRECTIVE = /^(?:max-age=(?:\d{1,10}|"\d{1,10}")|includesubdomains|preload)$/i;

/** hsts: "" (none) or a Strict-Transport-Security value with max-age. */
export const hsts: Reader<string | null> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  if (s === '') return null;
  const parts = s.split(';').map((x) => x.trim());
  const bad = parts.find((x) => !HSTS_DIRECTIVE.test(x));
  if (bad !== undefined) return ctx.report(p, `${q(bad)} is not an HSTS directive (max-age=SECONDS, includeSubDomains, preload)`);
  const names = parts.map((x) => x.split('=')[0]!.toLowerCase());
  if (new Set(names).size !== names.length) return ctx.report(p, 'repeats a directive');
  return names.includes('max-age') ? parts.join('; ') : ctx.report(p, 'needs max-age=SECONDS (like "max-age=31536000; includeSubDomains")');
};

const rate = parsed(parseRate, 'a rate "N in D" (like "100 in 1s")');

/** rateLimit: "" (none) or "N in D". */
export const rateLimit: Reader<{ count: number; window: number } | null> = (v, p, ctx) => (v === '' ? null : rate(v, p, ctx));

/** redirectTarget: "" (none) or an absolute http(s) URL without userinfo or fragment, normalised (no trailing "/" on a bare origin). */
export const redirectTarget: Reader<string | null> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  if (s === '') return null;
  const url = urlOf(s, p, ctx, `${q(s)} is not a URL (like "https://www.example.com")`);
  if (url === undefined) return undefined;
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return ctx.report(p, `${q(s)} must be an https:// (or http://) URL`);
  if (url.username !== '' || url.password !== '' || url.hash !== '' || s.includes('#')) return ctx.report(p, `${q(s)} must not have a user, password or #fragment`);
  return url.pathname === '/' && url.search === '' ? url.origin : url.href;
};

const REDIRECT_STATUSES = [301, 302, 303, 307, 308];
export const redirectStatus: Reader<number> = (v, p, ctx) => {
  if (typeof v !== 'number' || !REDIRECT_STATUSES.includes(v)) return ctx.report(p, `must be one of ${REDIRECT_STATUSES.join(', ')}, not ${q(v)}`);
  return v;
};

/** RouteFeatures are the feature keys of one route as read. */
export type RouteFeatures = Pick<RouteConfig, 'balance' | 'compress' | 'hsts' | 'rate_limit' | 'redirect' | 'redirect_status' | 'redirect_keep_path' | 'headers'>;

/** readFeatures reads a route's feature keys; `redirect_*` without `redirect`, and a query kept with the path, are problems. */
export function readFeatures(t: Table, p: string, ctx: Ctx): RouteFeatures {
  const d = DEFAULTS.route;
  const redirect = opt(t, 'redirect', p, ctx, redirectTarget, d.redirect);
  const f: RouteFeatures = {
    balance: opt(t, 'balance', p, ctx, balance, d.balance),
    compress: opt(t, 'compress', p, ctx, compress, d.compress),
    hsts: opt(t, 'hsts', p, ctx, hsts, d.hsts),
    rate_limit: opt(t, 'rate_limit', p, ctx, rateLimit, d.rate_limit),
    redirect,
    redirect_status: opt(t, 'redirect_status', p, ctx, redirectStatus, d.redirect_status),
    redirect_keep_path: opt(t, 'redirect_keep_path', p, ctx, bool, d.redirect_keep_path),
    headers: readHeaders(get(t, 'headers'), join(p, 'headers'), ctx),
  };
  for (const k of ['redirect_status', 'redirect_keep_path'] as const) {
    if (redirect === null && get(t, k) !== undefined) ctx.report(join(p, k), 'has no effect without redirect');
  }
  if (redirect !== null && f.redirect_keep_path && new URL(redirect).search !== '') {
    ctx.report(join(p, 'redirect'), `${q(redirect)} has a query: with redirect_keep_path = true the request's path and query are appended (set redirect_keep_path = false to redirect to exactly this URL)`);
  }
  return f;
}

/** hasRedirect: the route's table sets a non-empty `redirect` (it then takes neither upstreams nor app). */
export function hasRedirect(t: Table): boolean {
  const v = get(t, 'redirect');
  return v !== undefined && v !== '';
}
