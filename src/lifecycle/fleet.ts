/**
 * The process's storage (DESIGN §6, §7): `storage.dir` alone (FileStorage), or, with `storage.redis`,
 * Redis shared by every replica with the directory as a local cache (RedisStorage). For a fleet this
 * also keeps the TLS session-ticket key the same on every replica (TicketKeySync), reports Redis's
 * state (log lines, `portico_redis_up`, /status.json `storage`), and closes the connections at
 * shutdown. Nothing here is on the request path: the data plane only ever sees snapshots.
 */
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { FileStorage } from '../storage/file.js';
import type { RedisStatus, RedisStorage, RedisStorageEvents } from '../storage/redis-storage.js';
import { safeSegment, type Storage } from '../storage/storage.js';
import { newTicketKey } from '../tls/ticket-keys.js';

/** FleetTuning: shorter timings for tests (ms). */
export interface FleetTuning {
  timeoutMs?: number;
  pollMs?: number;
  leaseMs?: number;
  backoff?: { min: number; max: number };
}

/** StorageStatus is /status.json's `storage`. */
export type StorageStatus = { kind: 'file'; dir: string } | RedisStatus;

/** OpenedStorage is the process's storage and, with Redis, the fleet around it. */
export interface OpenedStorage {
  storage: Storage;
  fleet: Fleet | null;
}

/**
 * openStorage creates the storage a config names (Redis connects in the background: nothing waits for
 * it). The Redis client is loaded only for a fleet: one machine does not pay for it.
 */
export async function openStorage(config: Config, log: Logger, metrics: Metrics, tuning: FleetTuning = {}): Promise<OpenedStorage> {
  const slog = log.child({ component: 'storage' });
  if (config.storage.redis === '') {
    const storage = new FileStorage(config.storage.dir, {
      staleRemoved: (path, ageMs) => slog.warn({ path, age_ms: Math.round(ageMs) }, 'removed a stale storage lock (its holder stopped)'),
    });
    return { storage, fleet: null };
  }
  const { RedisStorage } = await import('../storage/redis-storage.js');
  const fleet = new Fleet((events) => new RedisStorage({ url: config.storage.redis, cacheDir: config.storage.dir, ...tuning, events }), slog, metrics);
  return { storage: fleet.storage, fleet };
}

/** TicketKeyTarget is what TicketKeySync sets the key on (the snapshot publisher). */
export interface TicketKeyTarget {
  /** use this key from now on on every data plane ('' or the same key: nothing) */
  useTicketKey(base64: string): void;
  /** the rotation period now (tls.ticket_key_rotation, reloadable) */
  rotationMs(): number;
}

/** Fleet is a Redis-backed storage with its background work. */
export class Fleet {
  readonly storage: RedisStorage;
  private tickets: TicketKeySync | null = null;

  constructor(open: (events: RedisStorageEvents) => RedisStorage, private readonly log: Logger, metrics: Metrics) {
    let url = '';
    this.storage = open({
      up: (info) => {
        metrics.redisUp.labels(url).set(1);
        metrics.redisLastSync.labels(url).set(Math.floor(Date.now() / 1000));
        log.info({ redis: url, ...info }, info.republished > 0 ? 'redis in step (re-published the local cache into an empty redis)' : 'redis in step');
      },
      down: (reason) => {
        metrics.redisUp.labels(url).set(0);
        log.warn({ redis: url, err: reason }, 'redis unreachable: serving from the local cache, retrying');
      },
      syncFailed: (reason) => log.warn({ redis: url, err: reason }, 'redis sync failed; retrying'),
      leaseLost: (name) => log.warn({ redis: url, lock: name }, 'storage lock lease lost (redis away longer than the lease)'),
      waitingForRedis: (lock, reason) => log.warn({ redis: url, lock, err: reason }, 'waiting for redis to take a storage lock'),
    });
    url = this.storage.status().url;
    metrics.redisUp.labels(url).set(0);
  }

  /** connect starts connecting to Redis and resolves once in step with it, or after `waitMs` (then the cache serves). */
  async connect(waitMs: number): Promise<void> {
    this.storage.start();
    const end = Date.now() + waitMs;
    while (!this.storage.connected && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    if (!this.storage.connected) this.log.warn({ redis: this.storage.status().url, waited_ms: waitMs }, 'starting without redis: serving what the local cache holds (self-signed where it holds nothing)');
  }

  /** shareTicketKeys keeps the fleet's session-ticket key on the publisher. */
  shareTicketKeys(target: TicketKeyTarget): void {
    this.tickets = new TicketKeySync(this.storage, target, this.log, Date.now, 5000, this.storage.settleMs);
    this.tickets.start();
  }

  /** status is /status.json's `storage`. */
  status(): RedisStatus {
    return this.storage.status();
  }

  /** close stops the ticket-key timer and the Redis connections (waiting at most `waitMs` for replies). */
  async close(waitMs?: number): Promise<void> {
    this.tickets?.stop();
    await this.storage.close(waitMs);
  }
}

/** TICKET_PREFIX: where the fleet's session-ticket keys live, one per rotation slot. */
const TICKET_PREFIX = 'tls/ticket-keys';

/**
 * TicketKeySync: every replica uses the same TLS session-ticket key, so a session resumes on any of
 * them (DESIGN §7). Time is cut in slots of `tls.ticket_key_rotation`; the key of a slot is stored
 * once (the first replica to need it writes it under a lock, the others read it) and every replica
 * switches at the slot's start. Without Redis a replica rotates a key of its own and tries again
 * every few seconds, so it rejoins the fleet's key when Redis is back.
 */
export class TicketKeySync {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private unwatch: (() => void) | null = null;
  private current: { slot: string; shared: boolean } | null = null;

  constructor(
    private readonly storage: Storage,
    private readonly target: TicketKeyTarget,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly retryMs = 5000,
    /** how long the storage may hold a lock back on top (a fresh Redis epoch: RedisStorage.settleMs) */
    private readonly settleMs = 0,
  ) {}

  start(): void {
    this.unwatch = this.storage.watch?.((key) => {
      if (key === null || key.startsWith(`${TICKET_PREFIX}/`)) void this.refresh();
    }) ?? null;
    void this.refresh();
  }

  stop(): void {
    this.stopped = true;
    this.unwatch?.();
    if (this.timer !== null) clearTimeout(this.timer);
  }

  private slot(): { name: string; endsAt: number } {
    const rotation = this.target.rotationMs();
    const n = Math.floor(this.now() / rotation);
    return { name: `${safeSegment(String(rotation))}-${n}`, endsAt: (n + 1) * rotation };
  }

  /** refresh makes the current slot's shared key the one in use (creating it when first), then waits for the next slot. */
  async refresh(): Promise<void> {
    if (this.stopped) return;
    const slot = this.slot();
    let next = slot.endsAt - this.now() + 50;
    try {
      const key = `${TICKET_PREFIX}/${slot.name}`;
      let value = (await this.storage.read(key))?.toString() ?? null;
      if (value === null) value = await this.create(key);
      this.target.useTicketKey(value);
      if (this.current?.slot !== slot.name || !this.current.shared) this.log.info({ slot: slot.name }, 'tls session-ticket key shared with the fleet');
      this.current = { slot: slot.name, shared: true };
    } catch (err) {
      if (this.current?.slot !== slot.name) {
        // the previous slot's key must not outlive its rotation: a key of our own until the fleet's is known
        this.target.useTicketKey(newTicketKey());
        this.current = { slot: slot.name, shared: false };
        this.log.warn({ slot: slot.name, err: (err as Error).message }, 'tls session-ticket key not shared (redis away): using one of this replica\'s own; sessions resume only here until redis is back');
      }
      if (!this.current.shared) next = Math.min(next, this.retryMs);
    }
    if (this.stopped) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.refresh(), Math.max(10, next));
    this.timer.unref();
  }

  /** create writes the slot's key under a lock unless another replica did first; old slots' keys are deleted. */
  private async create(key: string): Promise<string> {
    const lock = await this.storage.lock('tls-ticket-key', { signal: AbortSignal.timeout(Math.max(this.retryMs, 2000) + this.settleMs) });
    try {
      const again = (await this.storage.read(key))?.toString() ?? null;
      if (again !== null) return again;
      const value = newTicketKey();
      await this.storage.write(key, value);
      const keep = new Set([key, `${TICKET_PREFIX}/${this.previous()}`]);
      for (const old of await this.storage.list(TICKET_PREFIX).catch(() => [])) if (!keep.has(old)) await this.storage.delete(old).catch(() => undefined);
      return value;
    } finally {
      await lock.release();
    }
  }

  private previous(): string {
    const rotation = this.target.rotationMs();
    return `${safeSegment(String(rotation))}-${Math.floor(this.now() / rotation) - 1}`;
  }
}

/** CheckedStorage is the storage `portico check` reads, and the line it prints about it. */
export interface CheckedStorage {
  storage: Storage;
  line: string;
  /** Redis answered (always true for storage.dir alone) */
  ok: boolean;
  close(): Promise<void>;
}

/**
 * checkStorage opens a config's storage to look at it (nothing written): `storage.dir`, or Redis —
 * does it answer within `waitMs`, how fast, is it the fleet's (its epoch) — with the cache it falls
 * back to.
 */
export async function checkStorage(config: Config, waitMs = 2000): Promise<CheckedStorage> {
  if (config.storage.redis === '') {
    return { storage: new FileStorage(config.storage.dir), line: `directory ${config.storage.dir}`, ok: true, close: async () => undefined };
  }
  const { RedisStorage } = await import('../storage/redis-storage.js');
  const storage = new RedisStorage({ url: config.storage.redis, cacheDir: config.storage.dir, readOnly: true, timeoutMs: waitMs, backoff: { min: 100, max: 500 } });
  storage.link.connect();
  const end = Date.now() + waitMs;
  while (!storage.connected && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  const url = storage.status().url;
  const cache = `local cache ${config.storage.dir}`;
  let line: string;
  let ok = false;
  try {
    const started = process.hrtime.bigint();
    await storage.link.call(['PING']);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const epoch = storage.status().epoch;
    line = `redis ${url}: answers (PING ${ms.toFixed(1)} ms; ${epoch === null ? 'empty: the first replica fills it' : `fleet epoch ${epoch}`}); ${cache}`;
    ok = true;
  } catch (err) {
    line = `redis ${url}: NOT ANSWERING (${(err as Error).message}); replicas serve from their ${cache}, and orders, renewals and pre-start steps wait for redis`;
  }
  return { storage, line, ok, close: () => storage.close() };
}
