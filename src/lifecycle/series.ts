/**
 * Fixed-size time series for the dashboard's history (lifecycle/history.ts): rings of float64 that
 * never grow, one time axis shared by every series, and the quantile of a duration histogram.
 * Pure: no timers, no I/O.
 */

/** Ring keeps the last `capacity` numbers (NaN = no value), oldest first when read. */
export class Ring {
  private readonly values: Float64Array;
  private head = 0;
  private size = 0;

  constructor(readonly capacity: number) {
    this.values = new Float64Array(capacity);
  }

  /** push appends a value, dropping the oldest when full. */
  push(v: number): void {
    this.values[this.head] = v;
    this.head = (this.head + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** length is how many values are kept (≤ capacity). */
  get length(): number {
    return this.size;
  }

  /** at is the i-th oldest value (0 = oldest kept). */
  at(i: number): number {
    return this.values[(this.head - this.size + i + this.capacity) % this.capacity]!;
  }

  /** last is the newest value (NaN when empty). */
  last(): number {
    return this.size === 0 ? NaN : this.at(this.size - 1);
  }

  /** empty: no value in the ring is a number. */
  empty(): boolean {
    for (let i = 0; i < this.size; i++) if (!Number.isNaN(this.at(i))) return false;
    return true;
  }

  /** toArray lists the values oldest first, NaN as null (JSON). */
  toArray(digits = 3): Array<number | null> {
    const f = 10 ** digits;
    const out: Array<number | null> = [];
    for (let i = 0; i < this.size; i++) {
      const v = this.at(i);
      out.push(Number.isNaN(v) ? null : Math.round(v * f) / f);
    }
    return out;
  }
}

/** A sample: per group (a route, an app…), its series' values at one time. */
export type Sample = ReadonlyMap<string, Readonly<Record<string, number>>>;

/**
 * Timeline is a time axis and groups of series sampled together: every push appends one time and
 * one value to every series (NaN where the sample has none), so all arrays line up with `times`. A
 * series (or group) first seen later is filled with NaN before it; one left with no value in the
 * whole window is dropped. Memory: (1 + number of series) × capacity × 8 bytes, plus the maps.
 */
export class Timeline {
  readonly times: Ring;
  private readonly groups = new Map<string, Map<string, Ring>>();

  constructor(readonly capacity: number) {
    this.times = new Ring(capacity);
  }

  /** push appends one sample taken at `t` (epoch ms). */
  push(t: number, sample: Sample): void {
    this.times.push(t);
    for (const [name, values] of sample) {
      let g = this.groups.get(name);
      if (g === undefined) this.groups.set(name, (g = new Map()));
      for (const key of Object.keys(values)) if (!g.has(key)) g.set(key, this.blank());
    }
    for (const [name, g] of this.groups) {
      const values = sample.get(name);
      for (const [key, ring] of g) {
        ring.push(values?.[key] ?? NaN);
        if (ring.empty()) g.delete(key);
      }
      if (g.size === 0) this.groups.delete(name);
    }
  }

  /** blank is a ring for a new series: NaN for every earlier time (the current push comes next). */
  private blank(): Ring {
    const r = new Ring(this.capacity);
    for (let i = 0; i < this.times.length - 1; i++) r.push(NaN);
    return r;
  }

  /** has: the group has a series with a value in the window. */
  has(group: string): boolean {
    return this.groups.has(group);
  }

  /** groupNames lists the groups that have a value in the window. */
  groupNames(): string[] {
    return [...this.groups.keys()];
  }

  /** series returns one group's series (oldest first, null = no value), or null when it has none. */
  series(group: string, digits?: number): Record<string, Array<number | null>> | null {
    const g = this.groups.get(group);
    if (g === undefined) return null;
    return Object.fromEntries([...g].map(([k, r]) => [k, r.toArray(digits)]));
  }

  /** last is a series' newest value (NaN when unknown). */
  last(group: string, key: string): number {
    return this.groups.get(group)?.get(key)?.last() ?? NaN;
  }

  /** seriesCount is how many series are kept (memory: (1 + seriesCount) × capacity × 8 bytes). */
  seriesCount(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.size;
    return n;
  }
}

/**
 * quantile estimates the q-quantile (0..1) of a histogram given as per-bucket counts (not cumulative)
 * for `bounds` and then one for +Inf: linear inside the bucket the rank falls in (as Prometheus'
 * histogram_quantile), the highest finite bound when it falls in +Inf, NaN when the histogram is empty.
 */
export function quantile(bounds: readonly number[], counts: ArrayLike<number>, q: number): number {
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (total <= 0) return NaN;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (c > 0 && below + c >= rank) {
      if (i >= bounds.length) return bounds[bounds.length - 1]!;
      const lo = i === 0 ? 0 : bounds[i - 1]!;
      return lo + (bounds[i]! - lo) * Math.max(0, (rank - below) / c);
    }
    below += c;
  }
  return bounds[bounds.length - 1]!;
}

/** addInto adds `b` to `a` element by element (merging histograms of several processes). */
export function addInto(a: Float64Array | number[], b: ArrayLike<number>): void {
  for (let i = 0; i < a.length && i < b.length; i++) a[i]! += b[i]!;
}
