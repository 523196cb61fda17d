/**
 * ListenerSet: the process's listening sockets (https, http, admin), which outlive reloads. A reload
 * `prepare`s the listeners whose address changed by binding their replacements first (a bind
 * failure fails the reload with nothing changed: `abort` closes what was bound), and after the
 * runtime swap `commit` closes the old ones gracefully. Listeners whose address is unchanged are
 * kept, with their settings updated in place.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Address } from '../config/types.js';
import { bind, closeServer } from './listeners.js';

/** ListenerName names the three listeners. */
export type ListenerName = 'https' | 'http' | 'admin';

/** ListenerSpec says where a listener should be (null: disabled) and how to make its server. */
export interface ListenerSpec {
  name: ListenerName;
  address: Address | null;
  create(): http.Server;
}

interface Live {
  server: http.Server;
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
        const server = spec.create();
        try {
          const bound = await bind(server, spec.address, spec.name);
          fresh.push([spec.name, { server, address: spec.address, bound }]);
        } catch (err) {
          server.close();
          throw err;
        }
      }
    } catch (err) {
      await Promise.all(fresh.map(([, l]) => closeServer(l.server, 0)));
      throw err;
    }
    return {
      changed,
      commit: async (grace: number) => {
        for (const name of changed) this.live.delete(name);
        for (const [name, l] of fresh) this.live.set(name, l);
        await Promise.all(retired.map((l) => closeServer(l.server, grace)));
      },
      abort: async () => {
        await Promise.all(fresh.map(([, l]) => closeServer(l.server, 0)));
      },
    };
  }

  /** server returns a live listener's server. */
  server(name: ListenerName): http.Server | null {
    return this.live.get(name)?.server ?? null;
  }

  /** address returns what a live listener is bound to. */
  address(name: ListenerName): AddressInfo | null {
    return this.live.get(name)?.bound ?? null;
  }

  /** each visits every live listener. */
  each(fn: (name: ListenerName, server: http.Server) => void): void {
    for (const [name, l] of this.live) fn(name, l.server);
  }

  /** close stops `names` (default all): no new connections, in-flight ones get `grace` ms. */
  async close(grace: number, names: readonly ListenerName[] = [...this.live.keys()]): Promise<void> {
    const closing = names.map((n) => this.live.get(n)).filter((l): l is Live => l !== undefined);
    for (const n of names) this.live.delete(n);
    await Promise.all(closing.map((l) => closeServer(l.server, grace)));
  }
}
