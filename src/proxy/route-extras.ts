/**
 * RouteExtras: what a route does besides proxying (issue 29): its rate limit, its redirect, the
 * codings it compresses with, and its header rules (`[routes.headers]`, `hsts`). Built once per
 * route and snapshot; a route with none of them has `extras = null`, so the request path of a plain
 * route pays one null check per phase and nothing else.
 *
 * Header rules never touch the fields portico owns (the config refuses them, see
 * config/validate-features.ts): request rules apply to the outgoing list after the forwarding pass;
 * response rules to the upstream's response (removals with the hop-by-hop strip, in the same copy)
 * and, `set` and `hsts`, to portico's own answers on the route (429, 502, 503…) too.
 */
import { offeredCodings, type Coding } from './compress.js';
import { forwardedClient, clientKey, retryAfterSeconds, type RateLimiter, type TrustCheck } from './rate-limit.js';
import type { SnapshotHeaderRules, SnapshotRoute } from './snapshot.js';

/** RequestRules are a route's request header rules, ready to apply. */
export interface RequestRules {
  /** lower-case names removed (the removed ones and the set ones: a set replaces) */
  readonly drop: ReadonlySet<string>;
  /** flat name, value list appended */
  readonly add: readonly string[];
}

/** ResponseRules are a route's response header rules with its HSTS value. */
export interface ResponseRules {
  /** names removed from the upstream's response (null: none) */
  readonly drop: readonly string[] | null;
  /** name → value set on every response (the upstream's value replaced), HSTS included */
  readonly set: ReadonlyArray<readonly [string, string]>;
}

/** Redirect is a redirect route's answer. */
export interface Redirect {
  readonly status: number;
  /** the target; with `keepPath`, without a trailing "/" (the request's path starts with one) */
  readonly base: string;
  readonly keepPath: boolean;
}

/** RouteExtras are the features of one route (see the file comment). */
export interface RouteExtras {
  readonly limiter: RateLimiter | null;
  readonly redirect: Redirect | null;
  /** codings this Node can produce, in the route's order (null: no compression) */
  readonly codings: readonly Coding[] | null;
  readonly request: RequestRules | null;
  readonly response: ResponseRules | null;
}

/** buildExtras provisions a snapshot route's extras; null when it uses none. `limiter` is the route's, shared across snapshots. */
export function buildExtras(r: SnapshotRoute, limiter: RateLimiter | null): RouteExtras | null {
  const codings = offeredCodings(r.compress);
  const request = requestRules(r.headers.request);
  const response = responseRules(r.headers.response, r.hsts);
  const redirect = r.redirect === null ? null : redirectOf(r.redirect.to, r.redirect.status, r.redirect.keep_path);
  if (limiter === null && redirect === null && codings === null && request === null && response === null) return null;
  return { limiter, redirect, codings, request, response };
}

/** redirectOf prepares a redirect answer from its target URL. */
export function redirectOf(to: string, status: number, keepPath: boolean): Redirect {
  return { status, keepPath, base: keepPath && to.endsWith('/') ? to.slice(0, -1) : to };
}

function requestRules(r: SnapshotHeaderRules): RequestRules | null {
  if (r.set.length === 0 && r.remove.length === 0) return null;
  return { drop: new Set([...r.remove, ...r.set.map(([k]) => k)]), add: r.set.flat() };
}

function responseRules(r: SnapshotHeaderRules, hsts: string | null): ResponseRules | null {
  const set: Array<readonly [string, string]> = r.set.map(([k, v]) => [k, v] as const);
  if (hsts !== null) set.push(['strict-transport-security', hsts]);
  if (set.length === 0 && r.remove.length === 0) return null;
  return { drop: r.remove.length > 0 ? r.remove : null, set };
}

/** applyRequestRules returns the outgoing header list with the route's request rules applied. */
export function applyRequestRules(headers: readonly string[], rules: RequestRules): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (!rules.drop.has(name.toLowerCase())) out.push(name, headers[i + 1]!);
  }
  for (const v of rules.add) out.push(v);
  return out;
}

/** setResponseFields sets the route's response fields (HSTS included) on a response header object. */
export function setResponseFields(h: Record<string, string | string[] | undefined>, rules: ResponseRules): void {
  for (const [k, v] of rules.set) h[k] = v;
}

/** PLAIN_PATH: a path and query that can go into a Location field as they are. */
const PLAIN_PATH = /^[\x21-\x7e]*$/;

/** redirectLocation is the Location of a redirect route's answer to `path` (origin-form path and query). */
export function redirectLocation(r: Redirect, path: string): string {
  if (!r.keepPath) return r.base;
  return r.base + (PLAIN_PATH.test(path) ? path : path.replace(/[^\x21-\x7e]/g, escapeChar));
}

/** escapeChar percent-encodes one character of a request target that may not appear in a header value. */
function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  if (code <= 0xff) return `%${code.toString(16).toUpperCase().padStart(2, '0')}`;
  try {
    return encodeURIComponent(c);
  } catch {
    return '';
  }
}

/** FeatureAnswer is what a route's features answer instead of proxying. */
export interface FeatureAnswer {
  readonly status: number;
  /** the access line's `error` (null: none, a redirect is no error) */
  readonly reason: string | null;
  readonly fields: Record<string, string>;
  /** a redirect's Location (null: a plain answer) */
  readonly location: string | null;
}

/**
 * featureAnswer: 429 when the route's rate limit is over for the request's client (the address
 * portico trusts: the peer, or what trusted proxies forwarded in X-Forwarded-For), with Retry-After;
 * a redirect route's redirect; else null (the request goes upstream).
 */
export function featureAnswer(x: RouteExtras, path: string, peer: string, xff: string | string[] | undefined, trust: TrustCheck): FeatureAnswer | null {
  if (x.limiter !== null) {
    const wait = x.limiter.take(clientKey(xff === undefined ? peer : forwardedClient(peer, xff, trust)));
    if (wait > 0) return { status: 429, reason: 'rate limited', fields: { 'retry-after': retryAfterSeconds(wait) }, location: null };
  }
  const r = x.redirect;
  return r === null ? null : { status: r.status, reason: null, fields: {}, location: redirectLocation(r, path) };
}
