/**
 * The HTTP engine: undici Pools, one per upstream origin (the only file that imports undici).
 * Pools are shared by key (origin + options) and reference-counted, so a runtime swap that keeps an
 * upstream keeps its warm keep-alive connections; a pool no runtime uses any more is closed
 * gracefully (in-flight requests finish first).
 */
import { Pool } from 'undici';
import type { Dispatcher } from 'undici';

/** DispatchController / DispatchHandler / DispatchOptions are undici's dispatch types, re-exported. */
export type DispatchController = Dispatcher.DispatchController;
export type DispatchHandler = Dispatcher.DispatchHandler;
export type DispatchOptions = Dispatcher.DispatchOptions;

/** PoolOptions are the per-upstream connection settings from `[server.timeouts]` (ms). */
export interface PoolOptions {
  connectTimeout: number;
  /** upstream_idle: kept-alive connections are closed after this */
  keepAliveTimeout: number;
  /** upstream_response: headers (and gaps between body chunks) must arrive within this */
  responseTimeout: number;
}

/** UpstreamClient sends requests to one origin. */
export interface UpstreamClient {
  readonly origin: string;
  dispatch(opts: DispatchOptions, handler: DispatchHandler): boolean;
}

interface Entry {
  origin: string;
  pool: Pool;
  refs: number;
}

/** Engine owns every upstream Pool of the process. */
export class Engine {
  private readonly pools = new Map<string, Entry>();
  /** released pools still finishing their requests */
  private readonly closing = new Set<Entry>();

  /** acquire returns the shared pool for an origin with these options (refs + 1). */
  acquire(origin: string, o: PoolOptions): UpstreamClient {
    const key = `${origin}|${o.connectTimeout}|${o.keepAliveTimeout}|${o.responseTimeout}`;
    let e = this.pools.get(key);
    if (e === undefined) {
      const pool = new Pool(origin, {
        pipelining: 1,
        connectTimeout: o.connectTimeout,
        keepAliveTimeout: o.keepAliveTimeout,
        keepAliveMaxTimeout: o.keepAliveTimeout,
        headersTimeout: o.responseTimeout,
        bodyTimeout: o.responseTimeout,
      });
      e = { origin, pool, refs: 0 };
      this.pools.set(key, e);
    }
    e.refs++;
    return e.pool as unknown as UpstreamClient;
  }

  /** release drops one reference; the last one closes the pool after its in-flight requests. */
  release(client: UpstreamClient): void {
    for (const [key, e] of this.pools) {
      if ((e.pool as unknown) !== client) continue;
      if (--e.refs === 0) {
        this.pools.delete(key);
        this.closing.add(e);
        e.pool
          .close()
          .catch(() => undefined)
          .finally(() => this.closing.delete(e));
      }
      return;
    }
  }

  /**
   * close shuts every pool, the released ones still finishing included: `graceful` lets in-flight
   * requests finish for up to `waitMs`, then cuts them; otherwise they are cut at once. It always
   * resolves within `waitMs` (+ the destroy): shutdown must never wait on an upstream request that
   * hangs (issue 23: a request stuck before a reload held SIGTERM forever).
   */
  async close(graceful = true, waitMs = 1000): Promise<void> {
    const all = [...this.pools.values(), ...this.closing];
    this.pools.clear();
    if (graceful) {
      let timer: NodeJS.Timeout | undefined;
      const settled = await Promise.race([
        Promise.all(all.map((e) => e.pool.close().catch(() => undefined))).then(() => true),
        new Promise<false>((resolve) => (timer = setTimeout(resolve, waitMs, false))),
      ]);
      clearTimeout(timer);
      if (settled) return;
    }
    await Promise.all(all.map((e) => e.pool.destroy().catch(() => undefined)));
  }

  /** inFlight counts requests running or queued towards an origin (draining a worker before stopping it). */
  inFlight(origin: string): number {
    let n = 0;
    for (const e of [...this.pools.values(), ...this.closing]) {
      if (e.origin !== origin) continue;
      const st = e.pool.stats;
      n += st.running + st.pending;
    }
    return n;
  }

  /** size is the number of live pools (for tests and status). */
  get size(): number {
    return this.pools.size;
  }
}
