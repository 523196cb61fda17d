/**
 * Upstream selection (leaf: no I/O). A Selector picks one upstream from a route's candidates;
 * round-robin is the policy. Candidates out of the pool (health: down, or a trial already taken) are skipped.
 */

/** Candidate is what a selector needs to know about an upstream. */
export interface Candidate {
  /** false while the upstream is out of the pool */
  readonly available: boolean;
}

/** Selector picks an upstream, or null when none is available. */
export interface Selector<T extends Candidate> {
  /** `avoid` (the upstream a retry just failed on) is picked only when no other is available */
  select(pool: readonly T[], avoid?: T | null): T | null;
}

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
