/**
 * Readiness means ready (issue 24): portico reports ready (`/readyz` 200, the "portico ready" line)
 * once its listeners are bound AND every route that balances to an app has at least one worker in
 * its pool, so a load balancer or a Kubernetes Service that waits for readiness never sends a fresh
 * replica's first requests into a 503 `PORTICO_ERR_NO_UPSTREAM`. The wait is bounded by a start
 * timeout (the app's pre-start timeout plus the worker ready timeout): after it, or as soon as an app
 * is marked failed, portico is ready anyway and says which routes have no worker.
 */

/** AppRoutesView is what the wait reads: app routes, pool membership, failed apps. */
export interface AppRoutesView {
  /** the routes that balance to an app, with the app's name */
  appRoutes(): ReadonlyArray<{ route: string; app: string }>;
  /** whether a worker of `app` is in the pool of `route` */
  hasWorker(route: string, app: string): boolean;
  /** whether `app` is failed (crash loop, failed pre-start): waiting for it is pointless */
  failed(app: string): boolean;
}

/** WaitOptions bound the wait. */
export interface WaitOptions {
  timeoutMs: number;
  /** stop waiting (shutdown began) */
  cancelled(): boolean;
  pollMs?: number;
}

/**
 * waitForAppRoutes resolves with the app routes that still have no worker in their pool when the
 * wait ended: [] once all have one; else those left at the timeout, on cancellation, or when every
 * route still waiting belongs to a failed app.
 */
export async function waitForAppRoutes(view: AppRoutesView, opts: WaitOptions): Promise<string[]> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const waiting = view.appRoutes().filter((r) => !view.hasWorker(r.route, r.app));
    if (waiting.length === 0) return [];
    if (opts.cancelled() || Date.now() >= deadline || waiting.every((r) => view.failed(r.app))) return waiting.map((r) => r.route);
    await new Promise((resolve) => setTimeout(resolve, opts.pollMs ?? 50));
  }
}
