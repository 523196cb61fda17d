/**
 * Locks as leases in Redis (DESIGN §7; Redis's single-instance lock pattern): a lock is a key holding
 * its owner's token, created only if absent (`SET NX PX lease`), renewed by its holder every third of
 * the lease while held, and deleted only by its owner (compare-and-delete in one Lua script). A
 * holder that dies (SIGKILL, a lost machine) releases by expiry; a holder that cannot renew in time
 * (Redis away longer than the lease) or finds another owner loses it (`onLost`, and the lock's
 * `signal` aborts, as a file lock's does when taken over): callers check again after taking a lock,
 * and stop the work the lock guarded when its signal aborts, so the rare overlap is harmless. While
 * Redis is unreachable a waiter keeps waiting (polling with backoff, `onWaiting` once), it does not
 * fail: work that needs the fleet's lock waits for the fleet.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisLink } from './redis.js';
import { RedisUnavailableError } from './redis.js';
import type { Lock } from './storage.js';

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** LeaseOptions: lease time, renewal and polling (ms), cancellation, and what to tell the caller. */
export interface LeaseOptions {
  leaseMs: number;
  /** renewal period (default leaseMs / 3) */
  renewMs?: number;
  /** pause between attempts while someone holds it (default 500 ms, ±50 %) */
  pollMs?: number;
  signal?: AbortSignal;
  /** whether to try now (false: wait as if Redis were away) */
  ready?: () => Promise<boolean>;
  onLost?: () => void;
  onWaiting?: (reason: string) => void;
}

/** LeaseHolder is one held lock as /status.json shows it. */
export interface LeaseHolder {
  name: string;
  owner: string;
  /** ms left of its lease */
  ttl_ms: number;
}

/** newOwner is a unique holder token: pid, host and 8 random bytes. */
function newOwner(): string {
  return `${process.pid}@${hostname()}#${randomBytes(8).toString('hex')}`;
}

/** acquireLease waits until it holds the lease `key` (or the signal aborts: rejects with its reason). */
export async function acquireLease(link: RedisLink, key: string, o: LeaseOptions): Promise<Lock> {
  const owner = newOwner();
  const pollMs = o.pollMs ?? 500;
  let waitedForRedis = false;
  for (let down = 0; ; ) {
    o.signal?.throwIfAborted();
    let wait = pollMs * (0.5 + Math.random());
    try {
      if (o.ready !== undefined && !(await o.ready())) throw new RedisUnavailableError('redis not in step yet');
      if ((await link.call(['SET', key, owner, 'NX', 'PX', String(o.leaseMs)])) === 'OK') return held(link, key, owner, o);
      down = 0;
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      if (!waitedForRedis) o.onWaiting?.(err.message);
      waitedForRedis = true;
      wait = Math.min(5000, pollMs * 2 ** Math.min(++down, 10)) * (0.5 + Math.random());
    }
    await sleep(wait, undefined, { signal: o.signal }).catch((err: unknown) => {
      o.signal?.throwIfAborted();
      throw err;
    });
  }
}

/**
 * held renews the lease until release; release deletes it only while it is still ours. The lease is
 * lost — `signal` aborts, `onLost` is called, renewing stops — when a renewal finds another owner (or
 * none), or when no renewal succeeded for a whole lease (Redis away or hung: it has expired there, and
 * another replica may hold it now).
 */
function held(link: RedisLink, key: string, owner: string, o: LeaseOptions): Lock {
  let released = false;
  const lost = new AbortController();
  let renewedAt = Date.now();
  const lose = (why: string) => {
    if (released || lost.signal.aborted) return;
    clearInterval(timer);
    o.onLost?.();
    lost.abort(new Error(`lock lease ${key} lost: ${why}`));
  };
  const timer = setInterval(() => {
    const sent = Date.now();
    link.call(['EVAL', RENEW, '1', key, owner, String(o.leaseMs)]).then(
      (r) => {
        if (r === 0) lose('another replica holds it (or it expired)');
        else renewedAt = sent;
      },
      () => {
        // Redis away: try again next period (the lease lasts three), unless it has run out
        if (Date.now() - renewedAt >= o.leaseMs) lose(`not renewed for ${o.leaseMs}ms (redis away)`);
      },
    );
  }, o.renewMs ?? Math.max(10, Math.floor(o.leaseMs / 3)));
  timer.unref();
  return {
    owner,
    signal: lost.signal,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await link.call(['EVAL', RELEASE, '1', key, owner]).catch(() => undefined); // expires anyway
    },
  };
}

/** leaseHolders lists the held leases under a key prefix (SCAN; a few keys). */
export async function leaseHolders(link: RedisLink, prefix: string): Promise<LeaseHolder[]> {
  const out: LeaseHolder[] = [];
  let cursor = '0';
  do {
    const [next, keys] = (await link.call(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '500'])) as [string, string[]];
    cursor = next;
    for (const k of keys) {
      const [owner, ttl] = await Promise.all([link.call(['GET', k]), link.call(['PTTL', k])]);
      if (typeof owner === 'string' && typeof ttl === 'number' && ttl > 0) out.push({ name: k.slice(prefix.length), owner, ttl_ms: ttl });
    }
  } while (cursor !== '0');
  return out.sort((a, b) => a.name.localeCompare(b.name));
}
