/**
 * Locks in a shared directory (file storage): `<name>.lock` is created exclusively (O_EXCL) and holds
 * its owner; the holder touches it every heartbeat; a lock not touched for `staleMs` (its holder
 * crashed or hangs) is removed by the next process that wants it. This is how two portico processes
 * sharing a storage volume order a certificate once (DESIGN §6; CertMagic's file locks work the
 * same way). Taking over a stale lock has a small race (two waiters may both remove it); callers
 * check again after taking a lock, which makes that harmless.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lock, LockOptions } from './storage.js';

/** LOCK_DEFAULTS are the production timings (heartbeat well inside the stale window). */
export const LOCK_DEFAULTS = { heartbeatMs: 5000, staleMs: 30_000, pollMs: 500 } as const;

/** LockEvents lets the caller log takeovers without this module importing the logger. */
export interface LockEvents {
  staleRemoved?(path: string, ageMs: number): void;
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

/** removeIfStale deletes the lock file when its last heartbeat is older than staleMs. */
async function removeIfStale(path: string, staleMs: number, events: LockEvents): Promise<void> {
  let age: number;
  try {
    age = Date.now() - (await stat(path)).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (age <= staleMs) return;
  try {
    await unlink(path);
    events.staleRemoved?.(path, age);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** acquireFileLock waits until it holds the lock file at `path` (see the file comment). */
export async function acquireFileLock(path: string, opts: LockOptions = {}, events: LockEvents = {}): Promise<Lock> {
  const heartbeatMs = opts.heartbeatMs ?? LOCK_DEFAULTS.heartbeatMs;
  const staleMs = opts.staleMs ?? LOCK_DEFAULTS.staleMs;
  const pollMs = opts.pollMs ?? LOCK_DEFAULTS.pollMs;
  const owner = newOwner();
  for (;;) {
    opts.signal?.throwIfAborted();
    if (await tryCreate(path, owner)) return heldLock(path, owner, heartbeatMs);
    await removeIfStale(path, staleMs, events);
    await sleep(pollMs * (0.5 + Math.random()), undefined, { signal: opts.signal }).catch((err: unknown) => {
      opts.signal?.throwIfAborted(); // reject with the signal's reason, not a generic AbortError
      throw err;
    });
  }
}

/** heldLock keeps the lock file fresh until release; release removes it only while it is still ours. */
function heldLock(path: string, owner: string, heartbeatMs: number): Lock {
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => {
      // gone (taken over as stale): the holder's re-check after locking keeps the work correct
    });
  }, heartbeatMs);
  timer.unref();
  let released = false;
  return {
    owner,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      try {
        const text = await readFile(path, 'utf8');
        if ((JSON.parse(text) as { owner?: string }).owner === owner) await unlink(path);
      } catch {
        // already gone or unreadable: nothing of ours to remove
      }
    },
  };
}
