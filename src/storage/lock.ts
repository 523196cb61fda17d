/**
 * Locks in a shared directory (file storage): `<name>.lock` is created exclusively (O_EXCL) and holds
 * its owner; the holder touches it every heartbeat; a lock not touched for `staleMs` (its holder
 * crashed or hangs) is taken over by the next process that wants it. This is how two portico
 * processes sharing a storage volume order a certificate once (DESIGN §6; CertMagic's file locks
 * work the same way).
 *
 * Taking over is serialised and verified (issue 27: unlink + create let two waiters both remove the
 * lock, the second one removing the lock the first had just created, so both held it): a waiter
 * that sees a stale lock first takes `<name>.lock.takeover` (O_EXCL), then checks again that the lock
 * is the same stale file (inode, age) and only then removes it; then it competes for the lock by
 * O_EXCL like everyone else. A lock whose holder is a process of this machine that is gone (its pid
 * does not exist) is stale at once. A holder checks on every heartbeat that the file is still its own; if
 * it is not (it hung longer than staleMs and was taken over), its lock's `signal` aborts. Release
 * removes the file by rename and verify: moved aside, removed if it is ours, else linked back.
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lock, LockOptions } from './storage.js';

/** LOCK_DEFAULTS are the production timings (heartbeat well inside the stale window). */
export const LOCK_DEFAULTS = { heartbeatMs: 5000, staleMs: 30_000, pollMs: 500 } as const;

/** LockEvents lets the caller log takeovers without this module importing the logger. */
export interface LockEvents {
  staleRemoved?(path: string, ageMs: number): void;
  /** a held lock turned out to be someone else's (this holder was taken over as stale) */
  lost?(path: string): void;
}

/** newOwner is a unique holder id: pid, host and 6 random bytes. */
function newOwner(): string {
  return `${process.pid}@${hostname()}#${randomBytes(6).toString('hex')}`;
}

/** tryCreate creates the lock file exclusively; false when it exists. */
async function tryCreate(path: string, owner: string): Promise<boolean> {
  let fh;
  try {
    fh = await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await fh.writeFile(JSON.stringify({ owner, pid: process.pid, host: hostname(), acquired_at: new Date().toISOString() }));
    await fh.sync();
  } finally {
    await fh.close();
  }
  return true;
}

/** ownerOf reads the owner recorded in a lock file (null: gone, unreadable or not ours to parse). */
async function ownerOf(path: string): Promise<string | null> {
  const o = await heartbeatOwner(path);
  return o === UNREADABLE ? null : o;
}

/** UNREADABLE: the lock file could not be read for another reason than its absence (EIO, EMFILE…). */
const UNREADABLE = Symbol('unreadable');

/**
 * heartbeatOwner is ownerOf for a holder's heartbeat: a file gone or holding another owner (or a
 * half-written one: a new holder writing it) is a takeover; a failed read is not (the next
 * heartbeat reads again) — a transient EMFILE must not stop what the lock guards.
 */
async function heartbeatOwner(path: string): Promise<string | null | typeof UNREADABLE> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : UNREADABLE;
  }
  try {
    return (JSON.parse(text) as { owner?: string }).owner ?? null;
  } catch {
    return null;
  }
}

/** aside is a unique name next to the lock file, for moving it out of the way. */
const aside = (path: string): string => `${path}.${randomBytes(6).toString('hex')}.moved`;

/** ageOf is how long ago a file was last touched (null: it does not exist). */
async function ageOf(path: string): Promise<{ age: number; ino: number; mtimeMs: number } | null> {
  try {
    const st = await stat(path);
    return { age: Date.now() - st.mtimeMs, ino: st.ino, mtimeMs: st.mtimeMs };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * removeVerified moves a file aside by rename and removes it when it is the very file seen (same
 * inode and mtime); otherwise it links it back. Used for a takeover mutex left by a crash.
 */
async function removeVerified(path: string, seen: { ino: number; mtimeMs: number }): Promise<boolean> {
  const moved = aside(path);
  try {
    await rename(path, moved);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  const got = await stat(moved);
  const same = got.ino === seen.ino && got.mtimeMs === seen.mtimeMs;
  if (!same) await link(moved, path).catch(() => undefined);
  await unlink(moved).catch(() => undefined);
  return same;
}

/** LIVE: the owners of the locks this process holds or is acquiring (a lock of our pid that is not here is a previous incarnation's). */
const LIVE = new Set<string>();

/** alive tells whether a process id exists on this machine. */
export function alive(pid: unknown): boolean {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * staleness: the lock file's inode and age when it is stale — not touched for staleMs, or held by a
 * process of this machine that is gone (a crashed portico restarting need not wait staleMs for its own
 * lock; a container restarted as the same pid is told apart by the owner id) — else null.
 */
async function staleness(path: string, staleMs: number): Promise<{ age: number; ino: number; mtimeMs: number } | null> {
  const a = await ageOf(path);
  if (a === null) return null;
  if (a.age > staleMs) return a;
  let holder: { owner?: unknown; pid?: unknown; host?: unknown };
  try {
    holder = JSON.parse(await readFile(path, 'utf8')) as typeof holder;
  } catch {
    return null; // being written, or not ours to judge
  }
  if (holder.host !== hostname()) return null;
  const gone = holder.pid === process.pid ? typeof holder.owner === 'string' && !LIVE.has(holder.owner) : !alive(holder.pid);
  return gone ? a : null;
}

/**
 * takeOverIfStale removes the lock file when it is stale (older than staleMs, or its holder is a gone
 * process of this machine; see the file comment): only the holder of `<lock>.takeover` (created with O_EXCL) may remove a stale lock, and
 * it checks again, holding it, that the file is still the stale one. The caller then competes for the
 * lock with O_EXCL. A takeover file older than staleMs (its holder crashed in those few
 * milliseconds) is removed by rename and verify.
 */
async function takeOverIfStale(path: string, staleMs: number, events: LockEvents): Promise<void> {
  const first = await staleness(path, staleMs);
  if (first === null) return;
  const mutex = `${path}.takeover`;
  if (!(await tryCreate(mutex, 'takeover'))) {
    const m = await ageOf(mutex);
    if (m !== null && m.age > staleMs) await removeVerified(mutex, m);
    return;
  }
  try {
    // nobody else removes the lock while we hold the mutex, and nobody can create it while it exists
    const now = await staleness(path, staleMs);
    if (now === null || now.ino !== first.ino) return;
    await unlink(path);
    events.staleRemoved?.(path, now.age);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  } finally {
    await unlink(mutex).catch(() => undefined);
  }
}

/** acquireFileLock waits until it holds the lock file at `path` (see the file comment). */
export async function acquireFileLock(path: string, opts: LockOptions = {}, events: LockEvents = {}): Promise<Lock> {
  const heartbeatMs = opts.heartbeatMs ?? LOCK_DEFAULTS.heartbeatMs;
  const staleMs = opts.staleMs ?? LOCK_DEFAULTS.staleMs;
  const pollMs = opts.pollMs ?? LOCK_DEFAULTS.pollMs;
  const owner = newOwner();
  LIVE.add(owner);
  try {
    for (;;) {
      opts.signal?.throwIfAborted();
      if (await tryCreate(path, owner)) return heldLock(path, owner, heartbeatMs, events);
      await takeOverIfStale(path, staleMs, events);
      await sleep(pollMs * (0.5 + Math.random()), undefined, { signal: opts.signal }).catch((err: unknown) => {
        opts.signal?.throwIfAborted(); // reject with the signal's reason, not a generic AbortError
        throw err;
      });
    }
  } catch (err) {
    LIVE.delete(owner);
    throw err;
  }
}

/**
 * heldLock keeps the lock file fresh until release. Each heartbeat first checks the file is still
 * ours (a holder that hung past staleMs may have been taken over: then `signal` aborts and the
 * heartbeat stops). Release removes the file only while it is ours, by rename and verify too.
 */
function heldLock(path: string, owner: string, heartbeatMs: number, events: LockEvents): Lock {
  const lost = new AbortController();
  const timer = setInterval(() => {
    void (async () => {
      const current = await heartbeatOwner(path);
      if (current === UNREADABLE) return;
      if (current !== owner) {
        if (released || lost.signal.aborted) return;
        clearInterval(timer);
        events.lost?.(path);
        lost.abort(new Error(`lock ${path} was taken over by another process (this holder missed its heartbeats)`));
        return;
      }
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined);
    })();
  }, heartbeatMs);
  timer.unref();
  let released = false;
  return {
    owner,
    signal: lost.signal,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      try {
        if ((await ownerOf(path)) !== owner) return;
        const moved = aside(path);
        try {
          await rename(path, moved);
        } catch {
          return; // already gone
        }
        if ((await ownerOf(moved)) !== owner) await link(moved, path).catch(() => undefined); // someone else's: put it back
        await unlink(moved).catch(() => undefined);
      } finally {
        LIVE.delete(owner); // only now: until the file is gone, it is a live holder's
      }
    },
  };
}
