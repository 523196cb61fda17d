/**
 * Router: Host → route, then the longest `path_prefix` within that host (leaf: no I/O).
 * Lookup is exact host, then a `*.parent` wildcard (one label), then `"*"`: any host no other route
 * lists. Prefixes are plain string prefixes, sorted longest first once at build time.
 */

/** Routable is what the router needs from a route. */
export interface Routable {
  readonly hosts: readonly string[];
  readonly prefix: string;
}

/** Router finds the route for a host name and path. Immutable once built. */
export class Router<T extends Routable> {
  private readonly exact = new Map<string, T[]>();
  private readonly wildcard = new Map<string, T[]>();
  private readonly any: T[] = [];

  constructor(routes: readonly T[]) {
    for (const r of routes) {
      for (const host of r.hosts) {
        if (host === '*') {
          this.any.push(r);
          continue;
        }
        const map = host.startsWith('*.') ? this.wildcard : this.exact;
        const key = host.startsWith('*.') ? host.slice(2) : host;
        const list = map.get(key);
        if (list === undefined) map.set(key, [r]);
        else list.push(r);
      }
    }
    for (const list of this.exact.values()) list.sort(longestFirst);
    for (const list of this.wildcard.values()) list.sort(longestFirst);
    this.any.sort(longestFirst);
  }

  /** match returns the route for a lower-case host (no port) and a path, or null. */
  match(host: string, path: string): T | null {
    const list = this.exact.get(host);
    if (list !== undefined) {
      const hit = byPrefix(list, path);
      if (hit !== null) return hit;
    }
    const dot = host.indexOf('.');
    if (dot > 0) {
      const wild = this.wildcard.get(host.slice(dot + 1));
      if (wild !== undefined) return byPrefix(wild, path);
    }
    return list === undefined && this.any.length > 0 ? byPrefix(this.any, path) : null;
  }
}

function longestFirst(a: Routable, b: Routable): number {
  return b.prefix.length - a.prefix.length;
}

function byPrefix<T extends Routable>(list: readonly T[], path: string): T | null {
  for (const r of list) if (path.startsWith(r.prefix)) return r;
  return null;
}
