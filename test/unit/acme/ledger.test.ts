/**
 * The failure ledger: the next attempt follows the backoff ladder (min doubling to max), a CA's
 * Retry-After wins when later, entries survive a restart (a new Ledger on the same storage), a
 * success clears the count, and a corrupt entry reads as empty (flagged).
 */
import t from 'tap';
import { Ledger, ladderDelay } from '../../../src/acme/ledger.js';
import { FileStorage } from '../../../src/storage/file.js';
import { testDir } from '../../../test-support/wait.js';

const BACKOFF = { min: 60_000, max: 86_400_000 };

t.test('ladderDelay: 1m doubling to a 1-day cap', async (t) => {
  const expected = [0, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_840_000, 7_680_000, 15_360_000, 30_720_000, 61_440_000, 86_400_000, 86_400_000];
  expected.forEach((ms, n) => t.equal(ladderDelay(n, BACKOFF), ms, `${n} failures → ${ms}ms`));
  t.equal(ladderDelay(500, BACKOFF), 86_400_000, 'no overflow');
});

t.test('N failures → next attempt on the ladder, also after a restart; Retry-After wins when later', async (t) => {
  const storage = new FileStorage(testDir(t));
  let now = Date.parse('2026-01-01T00:00:00Z');
  const clock = () => now;
  const before = new Ledger(storage, 'acme/ca', BACKOFF, clock);
  for (let n = 1; n <= 3; n++) {
    const e = await before.failure('a.test', `boom ${n}`);
    t.equal(e.consecutive_failures, n);
    t.equal(Date.parse(e.next_attempt_at!) - now, ladderDelay(n, BACKOFF), `after ${n}: ${ladderDelay(n, BACKOFF)}ms`);
    now += 1000;
  }
  // "restart": a new Ledger reads what the old one wrote and continues the ladder.
  const after = new Ledger(storage, 'acme/ca', BACKOFF, clock);
  const read = await after.get('a.test');
  t.equal(read.consecutive_failures, 3, 'persisted across restarts');
  t.equal(read.last_error, 'boom 3');
  const fourth = await after.failure('a.test', 'rate limited', 3_600_000);
  t.equal(Date.parse(fourth.next_attempt_at!) - now, 3_600_000, 'Retry-After (1h) beats the ladder (8m)');
  const fifth = await after.failure('a.test', 'again', 1000);
  t.equal(Date.parse(fifth.next_attempt_at!) - now, ladderDelay(5, BACKOFF), 'a shorter Retry-After does not shorten the ladder');
  t.equal(fifth.history.length, 5);
  const ok = await after.success('a.test');
  t.equal(ok.consecutive_failures, 0);
  t.equal(ok.next_attempt_at, null);
  t.ok(ok.last_success_at);
});

t.test('a corrupt entry reads as empty and is flagged', async (t) => {
  const storage = new FileStorage(testDir(t));
  await storage.write('acme/ca/ledger/b.test.json', '{"consecutive_fail');
  const e = await new Ledger(storage, 'acme/ca', BACKOFF).get('b.test');
  t.equal(e.consecutive_failures, 0);
  t.equal(e.corrupt, true);
});
