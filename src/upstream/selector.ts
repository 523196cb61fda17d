/**
 * Upstream selection (leaf: no I/O). A Selector picks one upstream from a route's candidates by its
 * policy (`balance`): round-robin, least requests, or the power of two random choices. Candidates
 * out of the pool (health: down, or a trial already taken) are skipped; the upstream a retry just
 * failed on (`avoid`) is picked only when no other is available.
 *
 * The load policies read each candidate's in-flight count (`load.n`), which the data plane keeps:
 * +1 when a request is dispatched to the upstream, −1 when its response ended or failed. The count is
 * per origin, shared by every route of the process using that origin, and per process: with
 * `server.workers > 1` each data-plane process sees only the requests it sent itself.
 */

/** Candidate is what a selector needs to know about an upstream. */
export interface Candidate {
  /** false while the upstream is out of the pool */
  readonly available: boolean;
}

/** Load is an upstream's in-flight request count (one cell per origin, kept by the data plane). */
export interface Load {
  n: number;
}

/** LoadedCandidate is a candidate with its in-flight count, for the load policies. */
export interface LoadedCandidate extends Candidate {
  readonly load: Load;
}

/** Selector picks an upstream, or null when none is available. */
export interface Selector<T extends Candidate> {
  /** `avoid` (the upstream a retry just failed on) is picked only when no other is available */
  select(pool: readonly T[], avoid?: T | null): T | null;
}

/** Policy names a selection policy (a route's `balance`). */
export type Policy = 'round_robin' | 'least_requests' | 'p2c';

/** RoundRobin cycles through the pool, skipping unavailable entries. One instance per route. */
export class RoundRobin<T extends Candidate> implements Selector<T> {
  private next = 0;

  /** select returns the next available upstream after the previous pick (other than `avoid` if possible), or null. */
  select(pool: readonly T[], avoid: T | null = null): T | null {
    const n = pool.length;
    for (let i = 0; i < n; i++) {
      const idx = (this.next + i) % n;
      const c = pool[idx]!;
      if (c.available && c !== avoid) {
        this.next = (idx + 1) % n;
        return c;
      }
    }
    return avoid !== null && avoid.available ? avoid : null;
  }
}

/**
 * LeastRequests picks the available upstream with the fewest requests in flight; ties go in turn
 * (the scan starts one further each time), so equal upstreams share the load evenly and an idle pool
 * is round-robin. Like Caddy's `least_conn`, nginx `least_conn`, HAProxy `leastconn`.
 */
export class LeastRequests<T extends LoadedCandidate> implements Selector<T> {
  private next = 0;

  select(pool: readonly T[], avoid: T | null = null): T | null {
    const n = pool.length;
    let best: T | null = null;
    let bestIdx = 0;
    for (let i = 0; i < n; i++) {
      const idx = (this.next + i) % n;
      const c = pool[idx]!;
      if (!c.available || c === avoid) continue;
      if (best === null || c.load.n < best.load.n) {
        best = c;
        bestIdx = idx;
      }
    }
    if (best === null) return avoid !== null && avoid.available ? avoid : null;
    this.next = (bestIdx + 1) % n;
    return best;
  }
}

/**
 * PowerOfTwo ("p2c") draws two different available upstreams at random and takes the one with fewer
 * requests in flight (the first drawn on a tie): nearly as good as least requests at avoiding a
 * busy upstream, without a scan of the pool and without every process herding to the same idle
 * upstream (Mitzenmacher; Traefik's and Envoy's default). `random` is injectable for tests.
 */
export class PowerOfTwo<T extends LoadedCandidate> implements Selector<T> {
  constructor(private readonly random: () => number = Math.random) {}

  select(pool: readonly T[], avoid: T | null = null): T | null {
    const n = pool.length;
    // count the eligible ones; the common case (all available) draws from the pool directly
    let eligible = 0;
    for (let i = 0; i < n; i++) {
      const c = pool[i]!;
      if (c.available && c !== avoid) eligible++;
    }
    if (eligible === 0) return avoid !== null && avoid.available ? avoid : null;
    if (eligible === 1) return this.nth(pool, avoid, 0);
    const a = Math.floor(this.random() * eligible);
    let b = Math.floor(this.random() * (eligible - 1));
    if (b >= a) b++;
    const ca = this.nth(pool, avoid, a)!;
    const cb = this.nth(pool, avoid, b)!;
    return cb.load.n < ca.load.n ? cb : ca;
  }

  /** nth returns the k-th (0-based) eligible candidate of the pool. */
  private nth(pool: readonly T[], avoid: T | null, k: number): T | null {
    for (let i = 0; i < pool.length; i++) {
      const c = pool[i]!;
      if (!c.available || c === avoid) continue;
      if (k-- === 0) return c;
    }
    return null;
  }
}

/** selectorFor makes a route's selector for its policy (one per route and snapshot). */
export function selectorFor<T extends LoadedCandidate>(policy: Policy, random?: () => number): Selector<T> {
  if (policy === 'least_requests') return new LeastRequests<T>();
  if (policy === 'p2c') return new PowerOfTwo<T>(random);
  return new RoundRobin<T>();
}
