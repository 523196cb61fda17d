/**
 * RedisStorage: Storage shared by replicas on many machines through one Redis (`storage.redis`,
 * DESIGN §7), with `storage.dir` as a local cache (a FileStorage).
 *
 * - Reads ask Redis; what it returns for a durable key (ACME account, certificates, ledger, pre-start
 *   markers, ticket keys: not challenge answers) is mirrored into the cache. While Redis is
 *   unreachable or not yet synced, reads (and lists of durable keys) come from the cache: a replica
 *   starts and serves while Redis is away.
 * - Writes and deletes go to Redis (they fail while it is away: callers keep the value in memory and
 *   retry, as with a failing disk) and then to the cache. Each one bumps a version counter and is
 *   published on a channel in the same Lua script, so every replica hears of it at once (`watch`);
 *   a slow poll of the counter covers missed messages.
 * - Locks are leases (lease.ts): owner token, TTL renewed while held, released only by the owner; a
 *   lost lease aborts the lock's `signal`.
 * - Sync on every (re)connection, before Redis is used again: an epoch key tells whether Redis is the
 *   one this cache mirrors; a new or emptied Redis gets the cache's durable keys back (SET-if-absent,
 *   a certificate and its key together: MSETNX), so a restarted-empty Redis is re-published from a
 *   replica's cache rather than every certificate being ordered again.
 */
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FileStorage } from './file.js';
import { acquireLease, leaseHolders, type LeaseHolder } from './lease.js';
import { RedisLink, RedisUnavailableError, redactUrl } from './redis.js';
import { checkKey, safeSegment, type ChangeListener, type Lock, type LockOptions, type Storage } from './storage.js';

/** KEY_PREFIX: every key portico writes starts with this (one Redis database may hold one fleet). */
export const KEY_PREFIX = 'portico:';
const EPOCH = `${KEY_PREFIX}meta:epoch`;
const VERSION = `${KEY_PREFIX}meta:version`;
const CHANNEL = `${KEY_PREFIX}changes`;
/** the cache's own record of the epoch it mirrors (a dot file: FileStorage.list never shows it) */
const CACHE_EPOCH = '.redis-epoch';

/**
 * SETTLE_MS: how long after an epoch began (a new or emptied Redis) a lock is held back before it is
 * handed out. The replicas that hold the fleet's state re-publish their caches when they reconnect
 * (backoff up to 5 s); until they have, a replica with an empty cache would find nothing under the
 * lock and order certificates that still exist (issue 25: "restarted empty: re-publish, not
 * re-order"). It costs a fleet's very first order this wait, nothing later.
 */
export const SETTLE_MS = 6000;

/** sleepUnless waits `ms`, or less when `signal` aborts. */
function sleepUnless(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    timer.unref();
    signal?.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** epochBorn reads when an epoch began from its value (`<hex>:<epoch ms>`; an older bare value: long ago). */
function epochBorn(epoch: string | null): number {
  const at = Number(epoch?.split(':')[1]);
  return Number.isFinite(at) ? at : 0;
}
/** DURABLE: key prefixes kept in the cache and re-published to an empty Redis (challenge answers are not) */
const DURABLE = ['acme/', 'apps/', 'tls/'];

const WRITE = `redis.call('SET', KEYS[1], ARGV[1]) redis.call('INCR', KEYS[2]) redis.call('PUBLISH', ARGV[2], ARGV[3]) return 1`;
const DELETE = `redis.call('DEL', KEYS[1]) redis.call('INCR', KEYS[2]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return 1`;

/** RedisStorageOptions: where, and timings (tests shorten them). */
export interface RedisStorageOptions {
  url: string;
  /** the local cache (storage.dir) */
  cacheDir: string;
  /** deadline per Redis call (default 2 s) */
  timeoutMs?: number;
  /** slow poll of the change counter and of the lock holders (default 10 s) */
  pollMs?: number;
  /** lease time of a lock (default 10 s; renewed every third of it) */
  leaseMs?: number;
  /** reconnect backoff (default 100 ms .. 5 s) */
  backoff?: { min: number; max: number };
  events?: RedisStorageEvents;
  /** look only (`portico check`): no epoch, no re-publishing, nothing written to the cache */
  readOnly?: boolean;
}

/** RedisStorageEvents lets the process log and count without this module importing its logger. */
export interface RedisStorageEvents {
  up?(info: { epoch: string; republished: number; took_ms: number }): void;
  down?(reason: string): void;
  syncFailed?(reason: string): void;
  leaseLost?(name: string): void;
  waitingForRedis?(lock: string, reason: string): void;
}

/** RedisStatus is the storage part of /status.json. */
export interface RedisStatus {
  kind: 'redis';
  url: string;
  cache_dir: string;
  connected: boolean;
  /** when `connected` last changed (ISO) */
  since: string;
  last_error: string | null;
  /** last time this replica was confirmed in step with Redis (sync or poll), ISO; null: never */
  last_sync: string | null;
  epoch: string | null;
  /** locks held in the fleet as of `locks_as_of` (this replica's marked `mine`) */
  locks: Array<LeaseHolder & { mine: boolean }>;
  locks_as_of: string | null;
}

const isDurable = (key: string): boolean => DURABLE.some((p) => key.startsWith(p));

/** RedisStorage implements Storage on Redis with a local cache (see the file comment). */
export class RedisStorage implements Storage {
  readonly link: RedisLink;
  private readonly cache: FileStorage;
  private readonly url: string;
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly listeners = new Set<ChangeListener>();
  private readonly held = new Set<string>();
  /** Redis answered and this cache is synced with it: reads may trust a null */
  private synced = false;
  private syncing: Promise<void> | null = null;
  private epoch: string | null = null;
  private seenVersion: string | null = null;
  private since = new Date();
  private lastError: string | null = null;
  private lastSync: Date | null = null;
  private locks: LeaseHolder[] = [];
  private locksAsOf: Date | null = null;
  private poller: NodeJS.Timeout | null = null;
  private closed = false;
  /** the connections are gone (close's link close returned): the cache is written no more */
  private shut = false;
  /** cache writes and deletes under way: close waits for them */
  private readonly cacheOps = new Set<Promise<unknown>>();

  constructor(private readonly o: RedisStorageOptions) {
    this.url = redactUrl(o.url);
    this.cache = new FileStorage(o.cacheDir);
    this.pollMs = o.pollMs ?? 10_000;
    this.leaseMs = o.leaseMs ?? 10_000;
    this.link = new RedisLink({
      url: o.url,
      timeoutMs: o.timeoutMs,
      backoff: o.backoff,
      onUp: () => void this.sync(),
      onDown: (reason) => this.markDown(reason),
      onResubscribed: () => this.emit(null),
    });
  }

  /** start connects (in the background: nothing waits for Redis), subscribes and starts the slow poll. */
  start(): void {
    this.link.connect();
    this.link.subscribe(CHANNEL, (key) => this.emit(key)).catch(() => undefined);
    this.poller = setInterval(() => void this.poll(), this.pollMs);
    this.poller.unref();
  }

  /**
   * close stops the poll and the connections (replies of calls sent are waited for, at most `waitMs`,
   * or the call deadline), then waits for the cache writes under way: once it returns, nothing writes
   * into `cacheDir` (a reply that comes later is not mirrored; the next start syncs).
   */
  async close(waitMs?: number): Promise<void> {
    this.closed = true;
    if (this.poller !== null) clearInterval(this.poller);
    await this.link.close(waitMs);
    this.shut = true;
    await Promise.allSettled([...this.cacheOps]);
  }

  /** toCache runs one cache write or delete unless closed, tracked for close (errors are the caller's). */
  private toCache(op: () => Promise<void>): Promise<void> {
    if (this.shut) return Promise.resolve();
    const p = op();
    this.cacheOps.add(p);
    void p.finally(() => this.cacheOps.delete(p)).catch(() => undefined);
    return p;
  }

  /** settleMs: how long after a fresh epoch began a lock is held back (SETTLE_MS), for callers that bound their wait. */
  get settleMs(): number {
    return SETTLE_MS;
  }

  /** connected: Redis answers and this replica is synced with it. */
  get connected(): boolean {
    return this.synced && this.link.isReady;
  }

  describe(key: string): string {
    return `${this.url.replace(/\/$/, '')} ${KEY_PREFIX}${checkKey(key)}`;
  }

  /** inStep: Redis may be trusted now; a sync under way (a reconnection) is waited for first. */
  private async inStep(): Promise<boolean> {
    if (!this.connected && this.syncing !== null) await this.syncing;
    return this.connected;
  }

  async read(key: string): Promise<Buffer | null> {
    checkKey(key);
    if (!(await this.inStep())) return isDurable(key) ? this.cache.read(key) : null;
    let value: Buffer | null;
    try {
      value = (await this.link.call(['GET', KEY_PREFIX + key], true)) as Buffer | null;
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      return isDurable(key) ? this.cache.read(key) : null;
    }
    if (isDurable(key) && this.o.readOnly !== true) await this.mirror(key, value);
    return value;
  }

  /** mirror keeps the cache equal to what Redis said (best effort: a failing disk must not fail a read). */
  private async mirror(key: string, value: Buffer | null): Promise<void> {
    try {
      const cached = await this.cache.read(key);
      if (value === null && cached !== null) await this.toCache(() => this.cache.delete(key));
      else if (value !== null && (cached === null || !cached.equals(value))) await this.toCache(() => this.cache.write(key, value));
    } catch {
      // the cache is only a fallback
    }
  }

  async write(key: string, data: string | Buffer): Promise<void> {
    checkKey(key);
    await this.link.call(['EVAL', WRITE, '2', KEY_PREFIX + key, VERSION, data, CHANNEL, key]);
    if (isDurable(key)) await this.toCache(() => this.cache.write(key, data)).catch(() => undefined);
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    await this.link.call(['EVAL', DELETE, '2', KEY_PREFIX + key, VERSION, CHANNEL, key]);
    if (isDurable(key)) await this.toCache(() => this.cache.delete(key)).catch(() => undefined);
  }

  /** list asks Redis; while it is away or not in step, durable keys are listed from the cache (as `read` does), others throw. */
  async list(prefix: string): Promise<string[]> {
    checkKey(prefix);
    const cached = isDurable(`${prefix}/`);
    if (cached && !(await this.inStep())) return this.cache.list(prefix);
    const out = new Set<string>();
    let cursor = '0';
    try {
      do {
        const [next, keys] = (await this.link.call(['SCAN', cursor, 'MATCH', `${KEY_PREFIX}${prefix}/*`, 'COUNT', '500'])) as [string, string[]];
        cursor = next;
        for (const k of keys) {
          const rest = k.slice(KEY_PREFIX.length + prefix.length + 1);
          if (rest !== '' && !rest.includes('/')) out.add(`${prefix}/${rest}`);
        }
      } while (cursor !== '0');
    } catch (err) {
      if (cached && err instanceof RedisUnavailableError) return this.cache.list(prefix);
      throw err;
    }
    return [...out].sort();
  }

  async lock(name: string, opts: LockOptions = {}): Promise<Lock> {
    const key = `${KEY_PREFIX}lock:${safeSegment(name)}`;
    const lock = await acquireLease(this.link, key, {
      // not before this replica is in step with Redis: what it reads under the lock must be the fleet's
      ready: () => this.inStep(),
      leaseMs: opts.staleMs ?? this.leaseMs,
      renewMs: opts.heartbeatMs,
      pollMs: opts.pollMs,
      signal: opts.signal,
      onLost: () => this.o.events?.leaseLost?.(name),
      onWaiting: (reason) => this.o.events?.waitingForRedis?.(name, reason),
    });
    // a fresh epoch: give the replicas that hold the fleet's state time to re-publish it first
    const settle = epochBorn(this.epoch) + SETTLE_MS - Date.now();
    if (settle > 0) await sleepUnless(settle, opts.signal);
    if (opts.signal?.aborted) {
      // the caller stopped waiting meanwhile: it must not get a lock it no longer expects
      await lock.release();
      opts.signal.throwIfAborted();
    }
    this.held.add(lock.owner);
    const release = lock.release.bind(lock);
    return { owner: lock.owner, signal: lock.signal, release: async () => (this.held.delete(lock.owner), release()) };
  }

  /** watch calls `fn` with each changed key (null: anything may have changed), until the returned function is called. */
  watch(fn: ChangeListener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(key: string | null): void {
    if (key !== null) {
      try {
        checkKey(key);
      } catch {
        return; // not one of ours
      }
    }
    for (const fn of this.listeners) {
      try {
        fn(key);
      } catch {
        // a listener's problem is its own
      }
    }
  }

  private markDown(reason: string): void {
    const was = this.synced;
    this.synced = false;
    this.lastError = reason;
    if (was) this.since = new Date();
    this.o.events?.down?.(reason);
  }

  /**
   * sync runs after every (re)connection: epoch check, re-publish the cache into a new or emptied
   * Redis, then Redis is trusted again and every listener re-reads (messages may have been missed).
   */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce().finally(() => (this.syncing = null));
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const started = Date.now();
    for (let attempt = 0; !this.closed && this.link.isReady; attempt++) {
      try {
        if (this.o.readOnly === true) {
          this.epoch = (await this.link.call(['GET', EPOCH])) as string | null;
          this.synced = true;
          return;
        }
        await this.link.call(['SET', EPOCH, `${randomBytes(8).toString('hex')}:${Date.now()}`, 'NX']);
        const epoch = String(await this.link.call(['GET', EPOCH]));
        const mine = (await this.cache.read(CACHE_EPOCH))?.toString() ?? null;
        if (this.closed) return; // nothing written to the cache after close
        const republished = mine === epoch ? 0 : await this.republish();
        if (this.closed) return; // (closed while re-publishing: the next start re-publishes, MSETNX)
        if (mine !== epoch) await this.toCache(() => this.cache.write(CACHE_EPOCH, epoch));
        this.epoch = epoch;
        this.seenVersion = String(await this.link.call(['GET', VERSION]));
        this.synced = true;
        this.since = new Date();
        this.lastError = null;
        this.lastSync = new Date();
        this.o.events?.up?.({ epoch, republished, took_ms: Date.now() - started });
        await this.refreshLocks();
        this.emit(null);
        return;
      } catch (err) {
        this.lastError = (err as Error).message;
        this.o.events?.syncFailed?.(this.lastError);
        await sleep(Math.min(5000, 200 * 2 ** attempt));
      }
    }
  }

  /** republish copies the cache's durable keys into Redis where absent (a key file with its certificate: together). */
  private async republish(): Promise<number> {
    const keys = (await walk(this.o.cacheDir)).filter(isDurable);
    const groups = new Map<string, string[]>();
    for (const k of keys) {
      const base = k.replace(/\.[^./]+$/, '');
      groups.set(base, [...(groups.get(base) ?? []), k]);
    }
    let n = 0;
    for (const group of groups.values()) {
      const args: Array<string | Buffer> = ['MSETNX'];
      for (const k of group) {
        const v = await this.cache.read(k);
        if (v !== null) args.push(KEY_PREFIX + k, v);
      }
      if (args.length > 1 && (await this.link.call(args)) === 1) n += group.length;
    }
    if (n > 0) await this.link.call(['INCR', VERSION]);
    return n;
  }

  /** poll: the slow fallback for missed change messages, and the lock holders for /status. */
  private async poll(): Promise<void> {
    if (!this.connected) return;
    try {
      const v = String(await this.link.call(['GET', VERSION]));
      const epoch = String(await this.link.call(['GET', EPOCH]));
      if (epoch !== this.epoch) {
        // Redis was emptied (FLUSHALL, a restart without persistence) without us seeing a reconnect
        this.synced = false;
        await this.sync();
        return;
      }
      if (v !== this.seenVersion) {
        this.seenVersion = v;
        this.emit(null);
      }
      this.lastSync = new Date();
      await this.refreshLocks();
    } catch {
      // the link reports being down; the next tick tries again
    }
  }

  private async refreshLocks(): Promise<void> {
    this.locks = await leaseHolders(this.link, `${KEY_PREFIX}lock:`);
    this.locksAsOf = new Date();
  }

  /** status is the storage part of /status.json. */
  status(): RedisStatus {
    return {
      kind: 'redis',
      url: this.url,
      cache_dir: this.o.cacheDir,
      connected: this.connected,
      since: this.since.toISOString(),
      last_error: this.lastError,
      last_sync: this.lastSync?.toISOString() ?? null,
      epoch: this.epoch,
      locks: this.locks.map((l) => ({ ...l, mine: this.held.has(l.owner) })),
      locks_as_of: this.locksAsOf?.toISOString() ?? null,
    };
  }
}

/** walk lists every file under dir as a storage key (dot files and directories skipped). */
async function walk(dir: string, root = dir): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p, root)));
    else if (e.isFile()) out.push(relative(root, p).split('\\').join('/'));
  }
  return out;
}
