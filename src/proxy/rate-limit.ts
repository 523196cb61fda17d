/**
 * Rate limits (`rate_limit = "N in D"`, issue 29): a token bucket per client address and route,
 * kept as GCRA (the generic cell rate algorithm, as in ATM policing and redis-cell): one number per
 * client, its "theoretical arrival time" (TAT). A request at `now` is allowed when TAT − now ≤
 * (N − 1) × T, where T = D / N is the time one token takes to come back; an allowed request moves
 * TAT to max(TAT, now) + T. That is exactly a bucket of N tokens refilled at N per D: a fresh client
 * may send N requests at once, then one every T. A client whose TAT is in the past has a full
 * bucket, the same as having no entry: such entries are dropped (idle eviction).
 *
 * Memory is bounded: at most `maxClients` entries per limiter (default 100 000, about 10 MiB). When
 * a new client would pass that, idle entries are dropped first, then the least recently seen ones
 * (they start again with a full bucket: under a flood of distinct addresses the limit errs on the
 * lenient side, never on refusing a client that did nothing). IPv6 clients are counted per /64 (one
 * host usually owns a whole /64 and can pick any address in it).
 *
 * Per process: with `server.workers = N` each data-plane process keeps its own buckets, and the
 * kernel spreads connections over them, so a client gets up to N × the limit when its connections
 * land on different processes (one keep-alive or h2 connection stays on one process).
 */
import { isIP } from 'node:net';

/** Verdict of one request: 0 when allowed, else the milliseconds until the next one would be. */
export type Wait = number;

/** RateLimiterOptions: the rate and, for tests, the clock and the memory bound. */
export interface RateLimiterOptions {
  count: number;
  /** ms */
  window: number;
  /** ms clock (default performance.now) */
  now?: () => number;
  /** most clients remembered (default 100 000) */
  maxClients?: number;
}

/** RateLimiter is one route's buckets. */
export class RateLimiter {
  /** client key → TAT (ms); Map order = least recently seen first */
  private readonly tat = new Map<string, number>();
  /** ms one token takes to come back */
  private readonly interval: number;
  /** how far TAT may run ahead of now: (count − 1) × interval */
  private readonly tolerance: number;
  private readonly now: () => number;
  private readonly max: number;
  /** sweep idle entries when the map reaches this size (doubles with the live set: amortised O(1)) */
  private nextSweep = 1024;

  constructor(o: RateLimiterOptions) {
    this.interval = o.window / o.count;
    this.tolerance = this.interval * (o.count - 1);
    this.now = o.now ?? performance.now.bind(performance);
    this.max = o.maxClients ?? 100_000;
  }

  /** take counts one request of `client`: 0 when allowed, else the ms until one would be (Retry-After). */
  take(client: string): Wait {
    const now = this.now();
    const tat = this.tat.get(client);
    const base = tat === undefined || tat < now ? now : tat;
    const ahead = base - now;
    if (ahead > this.tolerance) {
      // refused: the entry stays as it is (a refused request costs no token); seen now
      this.touch(client, tat!);
      return ahead - this.tolerance;
    }
    if (tat === undefined) this.insert(client, base + this.interval, now);
    else this.touch(client, base + this.interval);
    return 0;
  }

  /** size is the number of clients remembered (for tests and status). */
  get size(): number {
    return this.tat.size;
  }

  /** touch moves an entry to the end (most recently seen) with its new TAT. */
  private touch(client: string, tat: number): void {
    this.tat.delete(client);
    this.tat.set(client, tat);
  }

  private insert(client: string, tat: number, now: number): void {
    if (this.tat.size >= this.nextSweep || this.tat.size >= this.max) this.sweep(now);
    this.tat.set(client, tat);
  }

  /** sweep drops idle entries (full buckets), then the least recently seen ones while over 90 % of the bound. */
  private sweep(now: number): void {
    for (const [k, tat] of this.tat) if (tat <= now) this.tat.delete(k);
    if (this.tat.size >= this.max) {
      const keep = Math.floor(this.max * 0.9);
      for (const k of this.tat.keys()) {
        if (this.tat.size <= keep) break;
        this.tat.delete(k);
      }
    }
    this.nextSweep = Math.min(this.max, Math.max(1024, this.tat.size * 2));
  }
}

/** retryAfterSeconds turns a wait in ms into a Retry-After value (whole seconds, at least 1). */
export function retryAfterSeconds(ms: number): string {
  return String(Math.max(1, Math.ceil(ms / 1000)));
}

/**
 * clientKey is the bucket key of an address: IPv4 as is, IPv6 its /64 prefix (`2001:db8:1:2::/64`),
 * from any spelling (`2001:DB8:1:2:0:0:0:9`, `2001:db8:1:2::9`).
 */
export function clientKey(ip: string): string {
  if (!ip.includes(':')) return ip;
  // fast path: the first four groups written out in canonical form (RFC 5952, as sockets give them)
  let p = -1;
  for (let k = 0; k < 4; k++) if ((p = ip.indexOf(':', p + 1)) < 0) break;
  if (p > 0) {
    const head = ip.slice(0, p);
    if (CANONICAL_HEAD.test(head)) return `${head}::/64`;
  }
  const groups = expandIpv6(ip);
  return groups === null ? ip : `${groups.slice(0, 4).join(':')}::/64`;
}

/** CANONICAL_HEAD: four groups, lower-case hex without leading zeros (no "::" among them). */
const CANONICAL_HEAD = /^(?:(?:0|[1-9a-f][0-9a-f]{0,3}):){3}(?:0|[1-9a-f][0-9a-f]{0,3})$/;

/** expandIpv6 returns the 8 groups of an IPv6 address (lower-case, no leading zeros), or null. */
function expandIpv6(ip: string): string[] | null {
  let s = ip.toLowerCase();
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  if (s.includes('.')) {
    // an embedded IPv4 (`::ffff:1.2.3.4`) is the last two groups
    const colon = s.lastIndexOf(':');
    const b = s.slice(colon + 1).split('.').map(Number);
    if (b.length !== 4 || b.some((x) => !(x >= 0 && x <= 255))) return null;
    s = `${s.slice(0, colon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] === '' ? [] : halves[0]!.split(':');
  const rest = halves.length === 2 && halves[1] !== '' ? halves[1]!.split(':') : [];
  const known = head.length + rest.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return null;
  const groups = [...head, ...new Array<string>(8 - known).fill('0'), ...rest];
  return groups.every((g) => /^[0-9a-f]{1,4}$/.test(g)) ? groups.map((g) => parseInt(g, 16).toString(16)) : null;
}

/** TrustCheck says whether an address is a trusted proxy (`server.trusted_proxies`; the data plane). */
export interface TrustCheck {
  isTrusted(ip: string): boolean;
}

/**
 * forwardedClient is the client address portico trusts for a request: the peer itself, or, when the
 * peer is a trusted proxy (`server.trusted_proxies`) that sent X-Forwarded-For, the right-most
 * address in it that is not a trusted proxy (each proxy appends the address it saw, so everything
 * left of the first untrusted hop could have been written by the client). A malformed entry ends the
 * walk at the last trusted hop before it.
 */
export function forwardedClient(peer: string, xff: string | string[] | undefined, trust: TrustCheck): string {
  if (xff === undefined || !trust.isTrusted(peer)) return peer;
  const parts = (Array.isArray(xff) ? xff.join(',') : xff).split(',');
  let client = peer;
  for (let i = parts.length - 1; i >= 0; i--) {
    let ip = parts[i]!.trim();
    if (ip.startsWith('::ffff:') && ip.includes('.')) ip = ip.slice(7);
    if (isIP(ip) === 0) break;
    client = ip;
    if (!trust.isTrusted(ip)) break;
  }
  return client;
}
