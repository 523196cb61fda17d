/**
 * Stale-lock takeover (issue 27): many waiters finding the same stale lock at once must end with ONE
 * holder at a time. The old takeover (unlink, then create) let a second waiter unlink the lock the
 * first had just created, so both held it. Also: a holder that was taken over learns it (its lock's
 * signal aborts) instead of touching someone else's lock, and its release leaves the new lock alone.
 * A heartbeat that cannot read its file for another reason than its absence keeps the lock.
 */
import { mkdir, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { FileStorage } from '../../../src/storage/file.js';
import { testDir } from '../../../test-support/wait.js';

async function staleLock(dir: string, name: string): Promise<string> {
  await mkdir(join(dir, 'locks'), { recursive: true });
  const path = join(dir, 'locks', `${name}.lock`);
  await writeFile(path, JSON.stringify({ owner: 'crashed@elsewhere#0', pid: 1, host: 'elsewhere' }));
  const old = new Date(Date.now() - 60_000);
  await utimes(path, old, old);
  return path;
}

t.test('many waiters on one stale lock: never two holders at once', async (t) => {
  let overlaps = 0;
  for (let round = 0; round < 20; round++) {
    const dir = testDir(t);
    await staleLock(dir, 'order-x');
    const removed: string[] = [];
    const s = new FileStorage(dir, { staleRemoved: (p) => removed.push(p) });
    let holders = 0;
    let most = 0;
    await Promise.all(Array.from({ length: 16 }, async (_, i) => {
      await sleep(i % 4); // waiters arrive a little apart, as processes do
      const lock = await s.lock('order-x', { pollMs: 2, staleMs: 2000, heartbeatMs: 100 });
      holders++;
      most = Math.max(most, holders);
      await sleep(5);
      holders--;
      await lock.release();
    }));
    if (most > 1) overlaps++;
    if (removed.length !== 1) t.fail(`round ${round}: the stale lock was taken over ${removed.length} times`);
    const left = await readdir(join(dir, 'locks'));
    if (left.length > 0) t.fail(`round ${round}: left behind ${left.join(', ')}`);
  }
  t.equal(overlaps, 0, 'in 20 rounds of 16 waiters, never two holders at once');
});

t.test('a holder that was taken over learns it and does not remove the new lock', async (t) => {
  const dir = testDir(t);
  const s = new FileStorage(dir);
  const first = await s.lock('order-y', { heartbeatMs: 200, staleMs: 150 });
  const path = join(dir, 'locks', 'order-y.lock');
  // the holder "hangs": its file ages past staleMs, another process takes over
  const old = new Date(Date.now() - 10_000);
  await utimes(path, old, old);
  const second = await s.lock('order-y', { pollMs: 10, staleMs: 150, heartbeatMs: 30 });
  for (let i = 0; i < 100 && !first.signal?.aborted; i++) await sleep(20);
  t.ok(first.signal?.aborted, 'the old holder\'s signal aborted');
  await first.release();
  const owner = (JSON.parse(await readFile(path, 'utf8')) as { owner: string }).owner;
  t.equal(owner, second.owner, 'the new holder\'s lock is still there');
  await second.release();
  t.strictSame(await readdir(join(dir, 'locks')), [], 'released');
});

t.test('a lock held by a process of this machine that is gone is taken over at once', async (t) => {
  const dir = testDir(t);
  await mkdir(join(dir, 'locks'), { recursive: true });
  const path = join(dir, 'locks', 'order-z.lock');
  // fresh (just touched), but its pid does not exist here; and one of our own pid from an earlier incarnation
  for (const holder of [{ owner: 'gone', pid: 2 ** 22 - 1 }, { owner: `${process.pid}@earlier#0`, pid: process.pid }]) {
    await writeFile(path, JSON.stringify({ ...holder, host: hostname() }));
    const s = new FileStorage(dir);
    const started = Date.now();
    const lock = await s.lock('order-z', { pollMs: 10, staleMs: 60_000 });
    t.ok(Date.now() - started < 30_000, `pid ${holder.pid}: taken without waiting staleMs`);
    await lock.release();
  }
  // a live holder elsewhere on this machine (our parent) is waited for
  await writeFile(path, JSON.stringify({ owner: 'parent', pid: process.ppid, host: hostname() }));
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('gave up')), 300);
  await t.rejects(new FileStorage(dir).lock('order-z', { pollMs: 10, staleMs: 60_000, signal: ac.signal }), /gave up/, 'not taken from a live process');
});

t.test('a heartbeat whose read fails (not for absence) is no takeover: the holder keeps its lock', async (t) => {
  const dir = testDir(t);
  const s = new FileStorage(dir);
  const lock = await s.lock('pre-start', { heartbeatMs: 20, staleMs: 60_000 });
  const path = join(dir, 'locks', 'pre-start.lock');
  const mine = await readFile(path, 'utf8');
  // the file unreadable for a few heartbeats (EISDIR standing in for EIO/EMFILE), then back
  await rename(path, `${path}.kept`);
  await mkdir(path);
  await sleep(120);
  t.notOk(lock.signal?.aborted, 'not lost while its file could not be read');
  await rm(path, { recursive: true });
  await rename(`${path}.kept`, path);
  await sleep(60);
  t.notOk(lock.signal?.aborted, 'still held');
  t.equal(await readFile(path, 'utf8'), mine);
  await lock.release();
  // a file that is gone is a takeover
  const again = await s.lock('pre-start', { heartbeatMs: 20, staleMs: 60_000 });
  await rm(path);
  for (let i = 0; i < 50 && !again.signal?.aborted; i++) await sleep(10);
  t.ok(again.signal?.aborted, 'lost once its file is gone');
  await again.release();
});
