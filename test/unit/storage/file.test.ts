/**
 * FileStorage: atomic writes with 0600 files and 0700 directories, absent keys, key safety, and the
 * lock (exclusive, stale takeover, heartbeat keeps a held lock from looking stale).
 */
import { mkdir, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { FileStorage } from '../../../src/storage/file.js';
import { checkKey } from '../../../src/storage/storage.js';
import { testDir } from '../../../test-support/wait.js';

t.test('write/read/list/delete, modes, no temporary files left', async (t) => {
  const root = join(testDir(t), 'state');
  const s = new FileStorage(root);
  t.equal(await s.read('a/b.txt'), null, 'absent → null');
  t.strictSame(await s.list('a'), [], 'absent prefix → []');
  await s.write('a/b.txt', 'one');
  await s.write('a/b.txt', 'two');
  await s.write('a/c.key', Buffer.from('secret'));
  t.equal((await s.read('a/b.txt'))!.toString(), 'two');
  t.strictSame(await s.list('a'), ['a/b.txt', 'a/c.key']);
  t.strictSame((await readdir(join(root, 'a'))).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left behind');
  t.equal((await stat(join(root, 'a', 'c.key'))).mode & 0o777, 0o600, 'files 0600');
  t.equal((await stat(root)).mode & 0o777, 0o700, 'root 0700');
  t.equal((await stat(join(root, 'a'))).mode & 0o777, 0o700, 'directories 0700');
  await s.delete('a/b.txt');
  await s.delete('a/b.txt');
  t.equal(await s.read('a/b.txt'), null, 'deleted (twice is fine)');
  t.equal(s.describe('a/c.key'), join(root, 'a', 'c.key'));
});

t.test('keys cannot leave the storage', async (t) => {
  for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', '', 'a/./b', 'a b', 'a/\u0000']) {
    t.throws(() => checkKey(bad), JSON.stringify(bad));
  }
  t.equal(checkKey('challenges/http-01/abc_DEF-123'), 'challenges/http-01/abc_DEF-123');
  await t.rejects(new FileStorage(testDir(t)).read('../outside'));
});

t.test('lock: exclusive; the second holder gets it after release', async (t) => {
  const s = new FileStorage(testDir(t));
  const first = await s.lock('order-x', { pollMs: 20 });
  let second = false;
  const waiting = s.lock('order-x', { pollMs: 20 }).then((l) => ((second = true), l));
  await new Promise((r) => setTimeout(r, 200));
  t.equal(second, false, 'held: the second waits');
  await first.release();
  const l2 = await waiting;
  t.equal(second, true, 'released: the second holds it');
  t.not(l2.owner, first.owner);
  await l2.release();
});

t.test('lock: a stale lock (holder gone) is taken over and reported', async (t) => {
  const dir = testDir(t);
  const removed: string[] = [];
  const s = new FileStorage(dir, { staleRemoved: (path) => removed.push(path) });
  await mkdir(join(dir, 'locks'), { recursive: true });
  const path = join(dir, 'locks', 'order-y.lock');
  await writeFile(path, JSON.stringify({ owner: 'crashed' }));
  const old = new Date(Date.now() - 60_000);
  await utimes(path, old, old);
  const l = await s.lock('order-y', { pollMs: 20, staleMs: 1000 });
  t.strictSame(removed, [path], 'the stale lock was removed');
  await l.release();
});

t.test('lock: heartbeats keep a held lock fresh; an abort stops waiting', async (t) => {
  const s = new FileStorage(testDir(t));
  const held = await s.lock('order-z', { heartbeatMs: 50, staleMs: 300 });
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('gave up')), 800);
  await t.rejects(s.lock('order-z', { pollMs: 20, staleMs: 300, signal: ac.signal }), /gave up/, 'never taken over while the holder beats');
  await held.release();
});
