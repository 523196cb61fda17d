// Round-robin selection with a fake pool.
import t from 'tap';
import { RoundRobin } from '../../../src/upstream/selector.js';

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
