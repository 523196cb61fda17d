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
  idleTimeout: number;
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
    const key = `${origin}|${o.connectTimeout}|${o.idleTimeout}|${o.responseTimeout}`;
    let e = this.pools.get(key);
    if (e === undefined) {
      const pool = new Pool(origin, {
        pipelining: 1,
        connectTimeout: o.connectTimeout,
        keepAliveTimeout: o.idleTimeout,
        keepAliveMaxTimeout: o.idleTimeout,
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

  /** close shuts every pool: `graceful` waits for in-flight requests, otherwise they are cut off. */
  async close(graceful = true): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(all.map((e) => (graceful ? e.pool.close() : e.pool.destroy()).catch(() => undefined)));
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
