/**
 * PlainRedirects: which requests on the plain-HTTP listener a redirect route answers directly
 * (issue 29): the current config's routes by host and path prefix, rebuilt when the runtime
 * changes. A redirect route with `hsts` is left out: its host goes to https first (HSTS preload).
 */
import type { Config } from '../config/types.js';
import { redirectLocation, redirectOf, type Redirect } from '../proxy/route-extras.js';
import { Router } from '../proxy/router.js';

interface PlainRoute {
  hosts: readonly string[];
  prefix: string;
  redirect: Redirect | null;
}

/** PlainRedirects answers `redirectRoute` for the redirect listener. */
export class PlainRedirects {
  private built: { config: Config | null; router: Router<PlainRoute> } | null = null;

  /** lookup returns the redirect for a request on the plain listener, or null (→ https on the same host). */
  lookup(config: Config | null, host: string, url: string): { status: number; location: string } | null {
    if (this.built?.config !== config) {
      const routes = (config?.routes ?? []).map((r): PlainRoute => ({
        hosts: r.hosts,
        prefix: r.path_prefix,
        redirect: r.redirect !== null && r.hsts === null ? redirectOf(r.redirect, r.redirect_status, r.redirect_keep_path) : null,
      }));
      this.built = { config, router: new Router(routes) };
    }
    const path = url.charCodeAt(0) === 47 ? url : '/';
    const r = this.built.router.match(host, path)?.redirect ?? null;
    return r === null ? null : { status: r.status, location: redirectLocation(r, path) };
  }
}
