/**
 * Request passes: small, ordered steps over the incoming request and the OUTGOING header list.
 * The incoming message is never mutated (measured: doing so broke `Connection: close` handling).
 *
 * - `requestProblem`: requests that must get a 400 before anything else (malformed framing).
 * - `outgoingHeaders`: one loop over req.rawHeaders that strips hop-by-hop fields (RFC 9110 §7.6.1,
 *   plus the names listed in `Connection`) and replaces or appends the forwarding headers.
 * - `responseHeaders`: strips hop-by-hop fields from the upstream's response, in place.
 * - HTTP/2 requests (`h2RequestProblem`, `h2Authority`, `h1RawHeaders`): pseudo-headers instead
 *   of a request line and Host, cookies possibly split; turned into the HTTP/1.1 form before
 *   `outgoingHeaders`, so the upstream sees what an HTTP/1.1 client would have sent.
 */

/** HOP_BY_HOP are never forwarded, in either direction (RFC 9110 §7.6.1 + de-facto ones). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
  // Node answers `Expect: 100-continue` itself; forwarding it would make the upstream wait again.
  'expect',
]);

/** FORWARDING are the headers portico writes itself: replaced for an untrusted peer, appended to for a trusted one. */
export const FORWARDING: ReadonlySet<string> = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'forwarded']);

/**
 * SPOOFABLE are the other headers apps and frameworks read as "the client's address / scheme / URL" (CDN
 * and load-balancer conventions, IIS/Symfony URL overrides, Rack's scheme hints). From an untrusted peer
 * they are dropped (a client could claim any address or path with them, issue 23); from a trusted
 * proxy they pass unchanged.
 */
export const SPOOFABLE: ReadonlySet<string> = new Set([
  'true-client-ip',
  'x-client-ip',
  'cf-connecting-ip',
  'x-cluster-client-ip',
  'fastly-client-ip',
  'x-original-forwarded-for',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-forwarded-ssl',
  'x-forwarded-scheme',
  'front-end-https',
  'x-url-scheme',
  'x-original-url',
  'x-rewrite-url',
]);

/**
 * NEVER_LISTED are fields a `Connection` header cannot make hop-by-hop: `Connection: Host` would
 * otherwise send the upstream undici's own `host: 127.0.0.1:PORT` (issue 23), `Connection:
 * Content-Length` would change the body's framing.
 */
const NEVER_LISTED: ReadonlySet<string> = new Set(['host', 'content-length']);

/** connectionListed parses a Connection header value into lower-case field names. */
export function connectionListed(value: string | undefined): string[] | null {
  if (value === undefined || value === 'keep-alive' || value === 'close') return null; // the usual values, without split()
  const out: string[] = [];
  for (const part of value.split(',')) {
    const name = part.trim().toLowerCase();
    if (name !== '' && name !== 'close' && name !== 'keep-alive' && !NEVER_LISTED.has(name)) out.push(name);
  }
  return out.length > 0 ? out : null;
}

/** Kinds of request fields `outgoingHeaders` treats specially, looked up once per field (one Map lookup instead of one per set). */
const HOP = 1;
const FORWARD = 2;
const SPOOF = 3;
const KIND: ReadonlyMap<string, number> = new Map([
  ...[...HOP_BY_HOP].map((k): [string, number] => [k, HOP]),
  ...[...FORWARDING].map((k): [string, number] => [k, FORWARD]),
  ...[...SPOOFABLE].map((k): [string, number] => [k, SPOOF]),
]);

/** hopByHop: a lower-case field name that is not forwarded (always hop-by-hop, or named in that message's `Connection`). */
function hopByHop(name: string, listed: readonly string[] | null): boolean {
  return HOP_BY_HOP.has(name) || (listed !== null && listed.includes(name));
}

/** ForwardContext is what the forwarding pass needs to know about the client side. */
export interface ForwardContext {
  /** peer address (IPv4-mapped IPv6 already unwrapped) */
  clientIp: string;
  /** the peer is a configured trusted proxy: keep and append to its forwarding headers */
  trusted: boolean;
  /** the Host header as received (with port), or '' */
  host: string;
  /**
   * set for an absolute-form target (`GET http://a.test/x`): its authority replaces the client's
   * Host header, which the upstream must never see (RFC 9112 §3.2.2); `host` is then this value too
   */
  authority?: string | null;
  /** 'https' for the TLS listener */
  proto: string;
}

/** forwardedFor renders one RFC 7239 `for=` node (IPv6 quoted and bracketed). */
export function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

/**
 * outgoingHeaders builds the flat header list sent upstream from the client's raw header list:
 * hop-by-hop fields (and those the client named in `Connection`) are dropped; from an untrusted
 * peer the forwarding headers are replaced and the other spoofable ones dropped, from a trusted one
 * they are appended to (kept). `Host` is kept, unless an absolute-form target names the authority.
 */
export function outgoingHeaders(raw: readonly string[], ctx: ForwardContext): string[] {
  let listed: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length === 10 && k.toLowerCase() === 'connection') listed = mergeListed(listed, raw[i + 1]);
  }
  const authority = ctx.authority ?? null;
  const out: string[] = authority === null ? [] : ['host', authority];
  let xff: string | undefined;
  let xfp: string | undefined;
  let xfh: string | undefined;
  let xri: string | undefined;
  let fwd: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const k = name.toLowerCase();
    const kind = KIND.get(k);
    if (kind === undefined) {
      if ((listed !== null && listed.includes(k)) || (authority !== null && k === 'host')) continue;
      out.push(name, raw[i + 1]!);
    } else if (kind === FORWARD) {
      if (!ctx.trusted || (listed !== null && listed.includes(k))) continue;
      const v = raw[i + 1]!;
      if (k === 'x-forwarded-for') xff = xff === undefined ? v : `${xff}, ${v}`;
      else if (k === 'x-forwarded-proto') xfp ??= v;
      else if (k === 'x-forwarded-host') xfh ??= v;
      else if (k === 'x-real-ip') xri ??= v;
      else fwd = fwd === undefined ? v : `${fwd}, ${v}`;
    } else if (kind === SPOOF && ctx.trusted && !(listed !== null && listed.includes(k))) {
      out.push(name, raw[i + 1]!);
    }
  }
  const ip = ctx.clientIp;
  out.push(
    'x-forwarded-for', xff === undefined ? ip : `${xff}, ${ip}`,
    'x-forwarded-proto', xfp ?? ctx.proto,
    'x-forwarded-host', xfh ?? ctx.host,
    'x-real-ip', xri ?? ip,
  );
  const node = `for=${forwardedNode(ip)};proto=${ctx.proto}` + (ctx.host ? `;host="${quotedSafe(ctx.host)}"` : '');
  out.push('forwarded', fwd === undefined ? node : `${fwd}, ${node}`);
  return out;
}

/** quotedSafe drops `"` and `\\` (a Host value inside a quoted-string); most hosts have neither. */
function quotedSafe(v: string): string {
  return v.includes('"') || v.includes('\\') ? v.replace(/["\\]/g, '') : v;
}

function mergeListed(prev: string[] | null, value: string | undefined): string[] | null {
  const more = connectionListed(value);
  if (more === null) return prev;
  return prev === null ? more : prev.concat(more);
}

/**
 * responseHeaders returns an upstream response's header object without the hop-by-hop fields (and
 * the lower-case names in `drop`: a route's `headers.response.remove`). A copy, not `delete` in
 * place: deleting turns the object into a slow dictionary-mode one that writeHead then walks
 * (issue 14: responseHeaders was portico's costliest function in the keep-alive profile).
 */
export function responseHeaders(h: Record<string, string | string[] | undefined>, drop: readonly string[] | null = null): Record<string, string | string[] | undefined> {
  const c = h.connection;
  let listed = c === undefined ? null : connectionListed(Array.isArray(c) ? c.join(',') : c);
  if (drop !== null) listed = listed === null ? (drop as string[]) : listed.concat(drop);
  const out: Record<string, string | string[] | undefined> = {};
  for (const k in h) {
    if (hopByHop(k, listed)) continue;
    out[k] = h[k];
  }
  return out;
}

/** RequestHead is the part of an IncomingMessage the early checks read. */
export interface RequestHead {
  headers: Record<string, string | string[] | undefined>;
  rawHeaders?: readonly string[];
  url?: string;
  httpVersionMajor?: number;
}

/** RequestProblem is why a request is refused before routing, and the status it gets. */
export interface RequestProblem {
  readonly status: number;
  readonly reason: string;
}

const problem = (status: number, reason: string): RequestProblem => Object.freeze({ status, reason });
/** The early refusals (constants: the hot path allocates nothing for them). */
export const PROBLEMS = {
  trailer: problem(400, 'Trailer header without a chunked body'),
  target: problem(400, 'request target must be a path'),
  twoHosts: problem(400, 'more than one Host header'),
  coding: problem(501, 'transfer coding other than chunked'),
  h2Host: problem(400, 'Host header differs from :authority'),
  version: problem(505, 'HTTP version other than 1.x on an HTTP/1 connection'),
  host: problem(400, 'invalid Host'),
} as const;

/**
 * requestProblem returns why an HTTP/1.1 request must be refused before routing, or null:
 * - a request line with a version other than 1.x (`GET / HTTP/2.0` on an HTTP/1 connection: 505);
 * - a Transfer-Encoding other than exactly `chunked` (`gzip, chunked`: portico would drop the coding
 *   and pass a body the upstream cannot read; RFC 9112 §6.1 allows 501). Node's parser already
 *   refuses TE + Content-Length, repeated `chunked` and a TE that does not end in chunked;
 * - a `Trailer` header on a request without a chunked body (http-proxy #1647 crashed Node proxies with it);
 * - more than one Host field line (RFC 9112 §3.2: 400; Node keeps the first, so routing and the
 *   upstream could disagree on which one counts), or a Host that is not `host[:port]` (userinfo,
 *   a path, spaces, a port that is not digits: RFC 9112 §3.2 "invalid field value");
 * - a request target that is neither origin-form nor absolute-form.
 */
export function requestProblem(req: RequestHead): RequestProblem | null {
  if (req.httpVersionMajor !== undefined && req.httpVersionMajor !== 1) return PROBLEMS.version;
  const h = req.headers;
  const te = h['transfer-encoding'];
  if (te !== undefined && !(typeof te === 'string' && te.length === 7 && te.toLowerCase() === 'chunked')) return PROBLEMS.coding;
  if (h.trailer !== undefined && te === undefined) return PROBLEMS.trailer;
  const raw = req.rawHeaders;
  if (raw !== undefined && hostLines(raw) > 1) return PROBLEMS.twoHosts;
  const host = h.host;
  if (host !== undefined && !validHost(host as string)) return PROBLEMS.host;
  const url = req.url ?? '';
  if (url.charCodeAt(0) !== 47 /* / */ && !/^https?:\/\//i.test(url)) return PROBLEMS.target;
  return null;
}

/** REG_NAME marks the ASCII characters of a URI reg-name (RFC 3986 §3.2.2: unreserved, sub-delims, %). */
const REG_NAME = new Uint8Array(128);
for (const c of 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&\'()*+,;=%') REG_NAME[c.charCodeAt(0)] = 1;

/**
 * validHost: a Host (or :authority, or absolute-form authority) is a reg-name or a bracketed IPv6
 * literal, then an optional `:port` of digits (RFC 9110 §7.2). One pass, no allocation.
 */
export function validHost(v: string): boolean {
  const n = v.length;
  let i = 0;
  if (n === 0) return false;
  if (v.charCodeAt(0) === 91 /* [ */) {
    const end = v.indexOf(']');
    if (end < 2) return false;
    for (i = 1; i < end; i++) {
      const c = v.charCodeAt(i);
      if (!((c >= 48 && c <= 58) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) || c === 46)) return false;
    }
    i = end + 1;
  } else {
    for (; i < n; i++) {
      const c = v.charCodeAt(i);
      if (c === 58 /* : */) break;
      if (c > 127 || REG_NAME[c] === 0) return false;
    }
    if (i === 0) return false;
  }
  if (i === n) return true;
  if (v.charCodeAt(i) !== 58) return false;
  for (i++; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** hostLines counts the Host field lines of a raw header list. */
function hostLines(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    if (k.length === 4 && k.toLowerCase() === 'host') n++;
  }
  return n;
}

/** hostOf returns the lower-case host name of a Host header value, without port or brackets. */
export function hostOf(hostHeader: string | undefined): string {
  if (hostHeader === undefined || hostHeader === '') return '';
  let h = hostHeader;
  if (h.charCodeAt(0) === 91 /* [ */) return canonicalIpv6(h);
  const colon = h.indexOf(':');
  if (colon >= 0) h = h.slice(0, colon);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h.toLowerCase();
}

/** canonicalIpv6 turns `[2001:DB8::0:1]:443` into `2001:db8::1` (the form config hosts are stored in). */
function canonicalIpv6(bracketed: string): string {
  const end = bracketed.indexOf(']');
  const literal = end > 0 ? bracketed.slice(0, end + 1) : bracketed + ']';
  try {
    return new URL(`http://${literal}/`).hostname.slice(1, -1);
  } catch {
    return literal.slice(1, -1).toLowerCase();
  }
}

/** splitTarget turns an absolute-form target (`http://h/p?q`) into host and path; origin-form passes through. */
export function splitTarget(url: string): { host: string | null; path: string } {
  if (url.charCodeAt(0) === 47) return { host: null, path: url };
  const m = /^https?:\/\/([^/?#]*)([^#]*)/i.exec(url);
  if (m === null) return { host: null, path: url };
  const path = m[2] === '' ? '/' : m[2]!.charCodeAt(0) === 47 ? m[2]! : `/${m[2]}`;
  return { host: m[1]!, path };
}

/** unwrapIp turns `::ffff:1.2.3.4` into `1.2.3.4`. */
export function unwrapIp(ip: string | undefined): string {
  if (ip === undefined) return '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

// ─── HTTP/2 requests ──────────────────────────────────────────────────────────

/** h2Authority is an HTTP/2 request's host: `:authority`, else its Host header (RFC 9113 §8.3.1). */
export function h2Authority(headers: RequestHead['headers']): string | undefined {
  const a = headers[':authority'];
  return typeof a === 'string' ? a : (headers.host as string | undefined);
}

/**
 * h2RequestProblem is requestProblem for HTTP/2: the frame layer already rules out what the HTTP/1.1
 * checks are about (framing, Trailer without chunked), so: `:path` must be a path, and a Host header
 * must name the same authority as `:authority` (RFC 9113 §8.3.1).
 */
export function h2RequestProblem(req: RequestHead): RequestProblem | null {
  const a = req.headers[':authority'];
  const h = req.headers.host;
  if (typeof a === 'string' && typeof h === 'string' && a.toLowerCase() !== h.toLowerCase()) return PROBLEMS.h2Host;
  const authority = typeof a === 'string' ? a : h;
  if (typeof authority === 'string' && !validHost(authority)) return PROBLEMS.host;
  return req.url?.charCodeAt(0) === 47 /* / */ ? null : PROBLEMS.target;
}

/**
 * h1RawHeaders turns an HTTP/2 request's raw header list into the HTTP/1.1 form: pseudo-headers
 * dropped, `host` (from `:authority`) first unless the client sent a Host header, and the `cookie`
 * fields HTTP/2 may split joined into one with "; " (RFC 9113 §8.2.3). HTTP/2 names are lower-case.
 */
export function h1RawHeaders(raw: readonly string[]): string[] {
  const out: string[] = [];
  let authority: string | null = null;
  let host = false;
  let cookie: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i]!;
    const v = raw[i + 1]!;
    if (k.charCodeAt(0) === 58 /* : */) {
      if (k === ':authority') authority = v;
    } else if (k === 'cookie') {
      cookie = cookie === null ? v : `${cookie}; ${v}`;
    } else {
      if (k === 'host') host = true;
      out.push(k, v);
    }
  }
  if (cookie !== null) out.push('cookie', cookie);
  if (!host && authority !== null) out.unshift('host', authority);
  return out;
}
