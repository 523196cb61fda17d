/**
 * ListenerSet: the process's listening sockets (https, http, admin), which outlive reloads. A reload
 * `prepare`s the listeners whose address changed by binding their replacements first (a bind
 * failure fails the reload with nothing changed: `abort` closes what was bound), and after the
 * runtime swap `commit` closes the old ones gracefully. Listeners whose address is unchanged are
 * kept, with their settings updated in place.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress as Address } from './listeners.js';
import { bind, closeServer } from './listeners.js';

/** ListenerName names the three listeners. */
export type ListenerName = 'https' | 'http' | 'admin';

/**
 * Bindable is one listening socket: a server in this process, or the https listener of the
 * data-plane workers (bound in each of them, see cluster/pool.ts).
 */
export interface Bindable {
  /** the server when it lives in this process (null: in the data-plane workers) */
  readonly server: http.Server | null;
  bind(address: Address): Promise<AddressInfo>;
  /** stop accepting; open connections get `grace` ms */
  close(grace: number): Promise<void>;
}

/** localListener wraps a server of this process as a Bindable. */
export function localListener(server: http.Server, what: string): Bindable {
  return {
    server,
    bind: (address) => bind(server, address, what),
    close: (grace) => closeServer(server, grace),
  };
}

/** ListenerSpec says where a listener should be (null: disabled) and how to make it. */
export interface ListenerSpec {
  name: ListenerName;
  address: Address | null;
  create(): Bindable;
}

interface Live {
  handle: Bindable;
  address: Address;
  bound: AddressInfo;
}

/** Change is a prepared listener change: commit after the swap, or abort if the reload fails. */
export interface Change {
  /** names of listeners rebound (new address), opened (newly enabled) or closed (disabled) */
  readonly changed: ListenerName[];
  commit(grace: number): Promise<void>;
  abort(): Promise<void>;
}

const same = (a: Address | null, b: Address | null): boolean => a === b || (a !== null && b !== null && a.host === b.host && a.port === b.port);

/** ListenerSet owns the bound servers by name. */
export class ListenerSet {
  private readonly live = new Map<ListenerName, Live>();

  /** open binds every enabled listener (first start); on failure everything bound is closed again. */
  async open(specs: readonly ListenerSpec[]): Promise<void> {
    const change = await this.prepare(specs);
    await change.commit(0);
  }

  /** prepare binds the listeners that are new or moved; nothing is closed yet. */
  async prepare(specs: readonly ListenerSpec[]): Promise<Change> {
    const fresh: Array<[ListenerName, Live]> = [];
    const retired: Live[] = [];
    const changed: ListenerName[] = [];
    try {
      for (const spec of specs) {
        const current = this.live.get(spec.name) ?? null;
        if (same(current?.address ?? null, spec.address)) continue;
        changed.push(spec.name);
        if (current !== null) retired.push(current);
        if (spec.address === null) continue;
        const handle = spec.create();
        try {
          const bound = await handle.bind(spec.address);
          fresh.push([spec.name, { handle, address: spec.address, bound }]);
        } catch (err) {
          await handle.close(0);
          throw err;
        }
      }
    } catch (err) {
      await Promise.all(fresh.map(([, l]) => l.handle.close(0)));
      throw err;
    }
    return {
      changed,
      commit: async (grace: number) => {
        for (const name of changed) this.live.delete(name);
        for (const [name, l] of fresh) this.live.set(name, l);
        await Promise.all(retired.map((l) => l.handle.close(grace)));
      },
      abort: async () => {
        await Promise.all(fresh.map(([, l]) => l.handle.close(0)));
      },
    };
  }

  /** server returns a live listener's server (null when it is not in this process). */
  server(name: ListenerName): http.Server | null {
    return this.live.get(name)?.handle.server ?? null;
  }

  /** address returns what a live listener is bound to. */
  address(name: ListenerName): AddressInfo | null {
    return this.live.get(name)?.bound ?? null;
  }

  /** each visits every live listener of this process. */
  each(fn: (name: ListenerName, server: http.Server) => void): void {
    for (const [name, l] of this.live) if (l.handle.server !== null) fn(name, l.handle.server);
  }

  /** close stops `names` (default all): no new connections, in-flight ones get `grace` ms. */
  async close(grace: number, names: readonly ListenerName[] = [...this.live.keys()]): Promise<void> {
    const closing = names.map((n) => this.live.get(n)).filter((l): l is Live => l !== undefined);
    for (const n of names) this.live.delete(n);
    await Promise.all(closing.map((l) => l.handle.close(grace)));
  }
}
