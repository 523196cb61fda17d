// The selection policies with a fake pool: round-robin, least requests, p2c (in-flight counts set by
// hand, randomness injected).
import t from 'tap';
import { LeastRequests, PowerOfTwo, RoundRobin, selectorFor } from '../../../src/upstream/selector.js';

t.test('round-robin cycles and skips unavailable upstreams', async (t) => {
  const pool = [{ id: 'a', available: true }, { id: 'b', available: true }, { id: 'c', available: true }];
  const rr = new RoundRobin<(typeof pool)[number]>();
  t.same([1, 2, 3, 4].map(() => rr.select(pool)!.id), ['a', 'b', 'c', 'a']);
  pool[1]!.available = false;
  t.same([1, 2, 3].map(() => rr.select(pool)!.id), ['c', 'a', 'c']);
  for (const u of pool) u.available = false;
  t.equal(rr.select(pool), null, 'null when none is available');
  t.equal(new RoundRobin().select([]), null);
});

t.test('a retry avoids the upstream that just failed unless it is the only one available', async (t) => {
  const pool = [{ id: 'a', available: true }, { id: 'b', available: true }, { id: 'c', available: false }];
  const rr = new RoundRobin<(typeof pool)[number]>();
  const first = rr.select(pool)!;
  t.equal(first.id, 'a');
  t.equal(rr.select(pool, first)!.id, 'b', 'next one');
  t.equal(rr.select(pool, pool[1])!.id, 'a', 'wraps around, skipping the failed one and the unavailable one');
  pool[1]!.available = false;
  t.equal(rr.select(pool, pool[0])!.id, 'a', 'the only available upstream is tried again');
  pool[0]!.available = false;
  t.equal(rr.select(pool, pool[0]), null, 'an unavailable avoided upstream is not returned');
});

// ─── the load policies (issue 29): in-flight counts set by hand, randomness faked ───

const loaded = (...ns: number[]) => ns.map((n, i) => ({ id: 'abcdefgh'[i]!, available: true, load: { n } }));
type Up = ReturnType<typeof loaded>[number];

t.test('least_requests picks the upstream with the fewest requests in flight', async (t) => {
  const pool = loaded(3, 1, 2);
  const lr = new LeastRequests<Up>();
  t.equal(lr.select(pool)!.id, 'b');
  pool[1]!.load.n = 5;
  t.equal(lr.select(pool)!.id, 'c');
  pool[2]!.available = false;
  t.equal(lr.select(pool)!.id, 'a', 'an unavailable upstream is skipped however idle it is');
  for (const u of pool) u.available = false;
  t.equal(lr.select(pool), null, 'null when none is available');
  t.equal(new LeastRequests().select([]), null);
});

t.test('least_requests: ties go in turn, so an idle pool is round-robin', async (t) => {
  const pool = loaded(0, 0, 0);
  const lr = new LeastRequests<Up>();
  t.same([1, 2, 3, 4, 5, 6].map(() => lr.select(pool)!.id), ['a', 'b', 'c', 'a', 'b', 'c']);
  // a dispatch counts: picking and counting in a loop spreads requests evenly
  const counted = loaded(0, 0, 0);
  const picks = [1, 2, 3, 4, 5, 6].map(() => {
    const u = lr.select(counted)!;
    u.load.n++;
    return u.id;
  });
  t.same(picks.sort(), ['a', 'a', 'b', 'b', 'c', 'c'], 'each got two');
});

t.test('least_requests: a retry avoids the upstream that just failed, unless it is the only one', async (t) => {
  const pool = loaded(0, 4, 9);
  const lr = new LeastRequests<Up>();
  t.equal(lr.select(pool, pool[0])!.id, 'b', 'the idle one failed: the next least busy');
  pool[1]!.available = false;
  pool[2]!.available = false;
  t.equal(lr.select(pool, pool[0])!.id, 'a', 'the only available one is tried again');
  pool[0]!.available = false;
  t.equal(lr.select(pool, pool[0]), null);
});

/** seq returns the given random values in turn (each in [0, 1)). */
const seq = (...v: number[]) => {
  let i = 0;
  return () => v[i++ % v.length]!;
};

t.test('p2c draws two different upstreams and takes the less busy one (the first drawn on a tie)', async (t) => {
  const pool = loaded(5, 1, 3, 0);
  // eligible: a b c d; draws 0.0 → a (index 0), then 0.5 of the other 3 → index 1 → skipping a: c
  t.equal(new PowerOfTwo<Up>(seq(0.0, 0.5)).select(pool)!.id, 'c', 'a (5) vs c (3): c');
  // 0.99 → d (index 3); 0.0 → index 0 → a
  t.equal(new PowerOfTwo<Up>(seq(0.99, 0.0)).select(pool)!.id, 'd', 'd (0) vs a (5): d');
  // 0.3 → b (index 1); 0.4 of 3 → index 1 → not below 1, so index 2 → c
  t.equal(new PowerOfTwo<Up>(seq(0.3, 0.4)).select(pool)!.id, 'b', 'b (1) vs c (3): b');
  const tie = loaded(2, 2);
  t.equal(new PowerOfTwo<Up>(seq(0.9, 0.0)).select(tie)!.id, 'b', 'a tie goes to the first drawn');
  // the two draws are always different upstreams: with 2 eligible, every pair is (a, b) or (b, a)
  const p = new PowerOfTwo<Up>();
  const busy = loaded(0, 7);
  for (let i = 0; i < 200; i++) if (p.select(busy)!.id !== 'a') t.fail('p2c picked the busy one of two');
});

t.test('p2c skips unavailable upstreams and the avoided one; one eligible is taken without a draw', async (t) => {
  const pool = loaded(9, 0, 1);
  pool[1]!.available = false;
  t.equal(new PowerOfTwo<Up>(seq(0.0, 0.0)).select(pool)!.id, 'c', 'a (9) vs c (1), b being out');
  const never = () => {
    throw new Error('no draw expected');
  };
  t.equal(new PowerOfTwo<Up>(never).select(pool, pool[2])!.id, 'a', 'only a is eligible (b out, c avoided)');
  pool[0]!.available = false;
  t.equal(new PowerOfTwo<Up>(never).select(pool, pool[2])!.id, 'c', 'the avoided one when it is the only one');
  pool[2]!.available = false;
  t.equal(new PowerOfTwo<Up>(never).select(pool), null);
});

t.test('selectorFor makes the policy a route names', async (t) => {
  t.ok(selectorFor('round_robin') instanceof RoundRobin);
  t.ok(selectorFor('least_requests') instanceof LeastRequests);
  t.ok(selectorFor('p2c') instanceof PowerOfTwo);
});
