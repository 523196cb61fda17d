/**
 * Storage: the one interface to state portico manages (DESIGN §6, §7): the ACME account, issued
 * certificates, the failure ledger, HTTP-01 tokens and TLS-ALPN-01 certificates, pre-start markers,
 * TLS session-ticket keys (fleets), and locks. FileStorage (file.ts) keeps them in a directory;
 * RedisStorage (redis-storage.ts) in Redis for replicas on many machines, with the directory as a
 * local cache.
 *
 * Keys are relative, `/`-separated paths whose segments are `[A-Za-z0-9._-]+` (never `.` or `..`),
 * so a key taken from a request (an HTTP-01 token) cannot escape the storage. checkKey enforces it.
 */

/** LockOptions tune a lock (defaults suit production; tests use milliseconds). */
export interface LockOptions {
  /** How often the holder proves it is alive (default 5s). */
  heartbeatMs?: number;
  /** A lock whose last heartbeat is older than this is taken over (default 30s). */
  staleMs?: number;
  /** Pause between attempts while someone else holds it (default 500ms, ±50% jitter). */
  pollMs?: number;
  /** Stop waiting (the acquire rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** Lock is a held lock. `release` is idempotent and never throws. */
export interface Lock {
  /** who holds it: unique per acquire (pid, host, random) */
  readonly owner: string;
  /** aborts when the lock was lost: taken over by another process after this holder missed its heartbeats */
  readonly signal?: AbortSignal;
  release(): Promise<void>;
}

/**
 * Storage is shared by every portico process using the same directory (or Redis). Concurrency
 * contract: `write` is atomic (readers see the old or the new value, never a mix); `lock` excludes
 * other holders of the same name in every process sharing the storage, and after a crash the lock
 * becomes free once stale. Callers must check again, after taking a lock, whether their work is still
 * needed. Errors other than "absent" reject with the underlying error (its message names the path).
 */
export interface Storage {
  /** describe names where a key lives, for log lines (a path for file storage). */
  describe(key: string): string;
  /** read returns the value, or null when the key does not exist. */
  read(key: string): Promise<Buffer | null>;
  /** write stores a value atomically, readable by portico's user only. */
  write(key: string, data: string | Buffer): Promise<void>;
  /** delete removes a key; absent keys are fine. */
  delete(key: string): Promise<void>;
  /** list returns the keys directly under a prefix (`challenges/http-01`), sorted; [] when none. */
  list(prefix: string): Promise<string[]>;
  /** lock waits until it holds the named lock (or opts.signal aborts). */
  lock(name: string, opts?: LockOptions): Promise<Lock>;
  /**
   * watch (storages shared across machines only) calls `fn` with each key another process changed,
   * or null when anything may have changed (a reconnection); returns the function that stops it.
   * Listeners are called synchronously and must not throw.
   */
  watch?(fn: ChangeListener): () => void;
}

/** ChangeListener hears of a changed key (null: any key may have changed). */
export type ChangeListener = (key: string | null) => void;

const SEGMENT = /^[A-Za-z0-9._-]+$/;

/** checkKey throws on a key that is not a safe relative path (see the file comment). */
export function checkKey(key: string): string {
  const parts = key.split('/');
  if (parts.length === 0 || !parts.every((p) => SEGMENT.test(p) && p !== '.' && p !== '..')) {
    throw new Error(`invalid storage key ${JSON.stringify(key)}`);
  }
  return key;
}

/** safeSegment turns a name (a host, a URL) into one key segment (`a.example.com`, `127.0.0.1-14000-dir`). */
export function safeSegment(s: string): string {
  const seg = s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '');
  return seg === '' ? '_' : seg;
}
