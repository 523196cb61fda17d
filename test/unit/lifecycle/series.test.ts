// The dashboard's fixed-size series (lifecycle/series.ts): rings that keep the last N values, a
// timeline whose series line up with its times, and the quantile of a merged duration histogram.
import t from 'tap';
import { DURATION_BUCKETS } from '../../../src/metrics.js';
import { addInto, quantile, Ring, Timeline } from '../../../src/lifecycle/series.js';

t.test('a ring keeps the last `capacity` values, oldest first', async (t) => {
  const r = new Ring(3);
  t.same(r.toArray(), []);
  t.ok(Number.isNaN(r.last()), 'empty: no last value');
  r.push(1);
  r.push(2);
  t.same(r.toArray(), [1, 2]);
  r.push(3);
  r.push(4);
  r.push(NaN);
  t.equal(r.length, 3, 'never more than its capacity');
  t.same(r.toArray(), [3, 4, null], 'oldest dropped; NaN is null');
  t.equal(r.at(0), 3);
  t.ok(Number.isNaN(r.last()));
  t.notOk(r.empty());
  r.push(NaN);
  r.push(NaN);
  t.ok(r.empty(), 'only NaN left');
  const q = new Ring(2);
  q.push(1.23456);
  t.same(q.toArray(2), [1.23], 'rounded for JSON');
});

t.test('a timeline lines every series up with its times; late series are padded, empty ones dropped', async (t) => {
  const tl = new Timeline(4);
  tl.push(1000, new Map([['route:a', { rps: 1, p99: 5 }]]));
  tl.push(2000, new Map<string, Record<string, number>>([['route:a', { rps: 2, p99: 6 }], ['route:b', { rps: 7 }]]));
  tl.push(3000, new Map([['route:b', { rps: 8 }]]));
  t.same(tl.times.toArray(0), [1000, 2000, 3000]);
  t.same(tl.series('route:a'), { rps: [1, 2, null], p99: [5, 6, null] }, 'a missing from the last sample: null');
  t.same(tl.series('route:b'), { rps: [null, 7, 8] }, 'b first seen at 2000: null before');
  t.equal(tl.seriesCount(), 3);
  t.ok(tl.has('route:a'));
  t.equal(tl.last('route:b', 'rps'), 8);
  // four more samples without a: its values leave the window and the group goes
  for (const at of [4000, 5000, 6000]) tl.push(at, new Map([['route:b', { rps: 1 }]]));
  t.equal(tl.series('route:a'), null, 'a group with no value in the window is dropped');
  t.notOk(tl.has('route:a'));
  t.same(tl.groupNames(), ['route:b']);
  t.same(tl.times.toArray(0), [3000, 4000, 5000, 6000], 'the window moves on');
  tl.push(7000, new Map([['route:c', { rps: 3 }]]));
  t.same(tl.series('route:c'), { rps: [null, null, null, 3] }, 'a new series is as long as the times');
});

/** histogram counts (per bucket, then +Inf) of a list of durations in seconds */
function histogram(seconds: number[]): Float64Array {
  const h = new Float64Array(DURATION_BUCKETS.length + 1);
  for (const s of seconds) {
    let i = 0;
    while (i < DURATION_BUCKETS.length && s > DURATION_BUCKETS[i]!) i++;
    h[i]!++;
  }
  return h;
}

/** exact is the sample quantile (nearest rank) of a list. */
function exact(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(q * s.length) - 1)]!;
}

/** bucketOf returns the [lower, upper] bounds of the bucket a duration falls in. */
function bucketOf(s: number): [number, number] {
  let i = 0;
  while (i < DURATION_BUCKETS.length && s > DURATION_BUCKETS[i]!) i++;
  return [i === 0 ? 0 : DURATION_BUCKETS[i - 1]!, DURATION_BUCKETS[Math.min(i, DURATION_BUCKETS.length - 1)]!];
}

t.test('quantile: within the bucket of the true quantile, linear inside it, NaN when empty', async (t) => {
  t.ok(Number.isNaN(quantile(DURATION_BUCKETS, histogram([]), 0.5)), 'no requests: no latency');
  // 100 requests of 2 ms: every quantile interpolates inside (1 ms, 5 ms]
  const h = histogram(Array(100).fill(0.002));
  t.equal(quantile(DURATION_BUCKETS, h, 0.5), 0.003, 'half-way through the bucket');
  t.equal(quantile(DURATION_BUCKETS, h, 1), 0.005, 'the top of the bucket');
  t.equal(quantile(DURATION_BUCKETS, histogram([50, 60]), 0.99), 30, 'beyond the last bound: the last bound');
  // a spread of latencies: the estimate lies in the bucket of the exact quantile
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const values = Array.from({ length: 5000 }, () => Math.exp(Math.log(0.01) + 2 * (rand() - 0.5)) * (rand() < 0.02 ? 20 : 1));
  for (const q of [0.5, 0.95, 0.99]) {
    const est = quantile(DURATION_BUCKETS, histogram(values), q);
    const [lo, hi] = bucketOf(exact(values, q));
    t.ok(est >= lo && est <= hi, `p${q * 100}: ${est.toFixed(4)} within [${lo}, ${hi}] (exact ${exact(values, q).toFixed(4)})`);
  }
});

t.test('percentile merge: summing the processes\' histograms gives the quantiles of all their requests', async (t) => {
  const a = [0.0004, 0.002, 0.003, 0.02, 0.02, 0.3];
  const b = [0.0008, 0.004, 0.04, 0.04, 0.08, 1.2, 2];
  const merged = new Float64Array(DURATION_BUCKETS.length + 1);
  addInto(merged, histogram(a));
  addInto(merged, histogram(b));
  t.same([...merged], [...histogram([...a, ...b])], 'bucket by bucket');
  for (const q of [0.5, 0.95, 0.99]) t.equal(quantile(DURATION_BUCKETS, merged, q), quantile(DURATION_BUCKETS, histogram([...a, ...b]), q), `p${q * 100}`);
  // one process alone would say something else: the merge matters
  t.not(quantile(DURATION_BUCKETS, histogram(a), 0.5), quantile(DURATION_BUCKETS, merged, 0.5));
});
