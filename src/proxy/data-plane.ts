/**
 * DataPlane: serves traffic from the latest snapshot (DESIGN §1). `apply(snapshot)` builds the
 * routing state (router, pools, selectors) and swaps one reference; requests already running keep
 * the state they started with, whose pools are released when the last of them finishes. Listeners
 * call `handleRequest`, `handleH2` and `handleUpgrade`; the TLS side (certificates by SNI, ticket
 * keys, ACME TLS-ALPN-01) is `sni`, WebSockets are `websockets`. Nothing here reads config or touches disk.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { Logger } from '../log.js';
import type { Metrics, RouteMetrics } from '../metrics.js';
import { Sni, type ChallengeLookup } from '../tls/sni.js';
import type { HealthUpdate, PassiveReport } from './snapshot.js';
import { selectorFor, type Load } from '../upstream/selector.js';
import { sendAnswer } from './answers.js';
import type { Engine } from './engine.js';
import { Exchange, type ClientReply, type ExchangeHost, type ServedRoute, type UpstreamTarget } from './handler.js';
import type { H2Message } from './h2-message.js';
import { Router } from './router.js';
import type { Snapshot, SnapshotServer } from './snapshot.js';
import { WebSockets } from './websocket.js';
import { RateLimiter } from './rate-limit.js';
import { buildExtras } from './route-extras.js';

export type { ChallengeLookup } from '../tls/sni.js';

/** PlaneState is one applied snapshot, immutable once built. */
interface PlaneState {
  readonly version: number;
  readonly router: Router<ServedRoute>;
  readonly routes: readonly ServedRoute[];
  readonly byName: ReadonlyMap<string, ServedRoute>;
  readonly trusted: BlockList | null;
  readonly server: SnapshotServer;
  /** exchanges started on this state and not finished: its pools stay open until they are done */
  users: number;
  /** replaced by a newer snapshot */
  retired: boolean;
  /** ACME HTTP-01 answers: token → key authorization */
  readonly acmeTokens: ReadonlyMap<string, string>;
}

/** DataPlaneOptions inject the process-wide collaborators. */
export interface DataPlaneOptions {
  engine: Engine;
  log: Logger;
  metrics: Metrics;
  /** where passive health reports go (the control plane: a function call in-process, IPC with workers) */
  report?: (r: PassiveReport) => void;
  /** ms clock of the rate limits (default performance.now; tests pass a fake) */
  now?: () => number;
  /** asked on a challenge miss (absent: only the snapshot answers) */
  challenges?: ChallengeLookup;
}

/** blockListOf turns CIDR strings into a BlockList (null when empty, so the check is skipped). */
export function blockListOf(cidrs: readonly string[]): BlockList | null {
  if (cidrs.length === 0) return null;
  const bl = new BlockList();
  for (const c of cidrs) {
    const [net, bits] = c.split('/');
    const type = isIPv6(net!) ? 'ipv6' : 'ipv4';
    bl.addSubnet(net!, Number(bits), type);
  }
  return bl;
}

/** DataPlane is the serving side of one process. */
export class DataPlane implements ExchangeHost {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly noRoute: RouteMetrics;
  /** certificates by SNI, the listeners' no-SNI certificate and ticket key, TLS-ALPN-01 answers */
  readonly sni: Sni;
  readonly websockets: WebSockets;
  private readonly engine: Engine;
  private readonly reporter: ((r: PassiveReport) => void) | null;
  private readonly challenges: ChallengeLookup | null;
  private readonly now: (() => number) | undefined;
  private state: PlaneState | null = null;
  /** in-flight requests per upstream origin (the load policies read them); cells outlive snapshots */
  private loads = new Map<string, Load>();
  /** rate-limit buckets per route and rate; kept across snapshots that keep both */
  private limiters = new Map<string, RateLimiter>();
  private active = 0;
  private isDraining = false;

  constructor(opts: DataPlaneOptions) {
    this.challenges = opts.challenges ?? null;
    this.now = opts.now;
    this.engine = opts.engine;
    this.reporter = opts.report ?? null;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.noRoute = opts.metrics.forRoute('');
    this.sni = new Sni(opts.log, this.challenges);
    this.websockets = new WebSockets(this);
  }

  /** apply installs a snapshot: builds the new state, swaps it in, releases the old state's pools. */
  apply(snap: Snapshot): void {
    const s = snap.server;
    this.sni.apply({
      minVersion: s.min_version,
      certificates: snap.certificates,
      defaultCertificate: snap.default_certificate,
      noSniCertificate: snap.no_sni_certificate,
      refusedNames: snap.refused_names,
      alpn: new Map(snap.acme_challenges.alpn.map((a) => [a.name, { cert: a.cert, key: a.key }])),
      ticketKey: snap.ticket_key,
      onDemand: snap.on_demand,
    });
    const poolOpts = { connectTimeout: s.timeouts.upstream_connect, keepAliveTimeout: s.timeouts.upstream_idle, responseTimeout: s.timeouts.upstream_response };
    const loads = new Map<string, Load>();
    const limiters = new Map<string, RateLimiter>();
    const routes = snap.routes.map((r): ServedRoute => ({
      name: r.name,
      hosts: r.hosts,
      prefix: r.path_prefix,
      maxBody: r.max_body_bytes,
      selector: selectorFor<UpstreamTarget>(r.balance),
      metrics: this.metrics.forRoute(r.name),
      retries: r.retries,
      failStatuses: r.fail_statuses.length > 0 ? new Set(r.fail_statuses) : null,
      retryAfter: String(r.retry_after),
      upstreams: r.upstreams.map((u) => ({ origin: u.url, client: this.engine.acquire(u.url, poolOpts), state: u.state, available: u.state !== 'down', load: this.loadOf(u.url, loads) })),
      extras: buildExtras(r, this.limiterOf(r, limiters)),
    }));
    this.loads = loads;
    this.limiters = limiters;
    const old = this.state;
    const router = new Router(routes);
    this.state = {
      version: snap.version,
      router,
      routes,
      byName: new Map(routes.map((r) => [r.name, r])),
      trusted: blockListOf(s.trusted_proxies),
      server: s,
      users: 0,
      retired: false,
      acmeTokens: new Map(Object.entries(snap.acme_challenges.http)),
    };
    if (old !== null) this.retireState(old);
    this.websockets.review(router, s.shutdown_grace);
  }

  /** loadOf is the in-flight cell of an origin: the current one (requests running on the old snapshot count on), or a new one. */
  private loadOf(origin: string, next: Map<string, Load>): Load {
    let l = next.get(origin) ?? this.loads.get(origin);
    if (l === undefined) l = { n: 0 };
    next.set(origin, l);
    return l;
  }

  /** limiterOf is a route's rate limiter: the same one while the route's name and rate stay, else a new one. */
  private limiterOf(r: Snapshot['routes'][number], next: Map<string, RateLimiter>): RateLimiter | null {
    if (r.rate_limit === null) return null;
    const key = `${r.name} ${r.rate_limit.count} ${r.rate_limit.window}`;
    const l = this.limiters.get(key) ?? new RateLimiter({ count: r.rate_limit.count, window: r.rate_limit.window, now: this.now });
    next.set(key, l);
    return l;
  }

  /** applyHealth takes a health decision made between snapshots. */
  applyHealth(u: HealthUpdate): void {
    const target = this.state?.byName.get(u.route)?.upstreams.find((t) => t.origin === u.upstream);
    if (target === undefined) return;
    target.state = u.state;
    target.available = u.state !== 'down';
  }

  /** report passes what traffic saw to the control plane (failures count for every route using the address). */
  report(route: ServedRoute, upstream: UpstreamTarget, ok: boolean, detail: string): void {
    if (this.reporter === null) return;
    this.reporter({ route: route.name, upstream: upstream.origin, ok, detail });
  }

  /** attachTlsServer gives a listener the no-SNI certificate and the session-ticket key, now and on every change. */
  attachTlsServer(server: tls.Server): void {
    this.sni.listeners.attach(server);
  }

  /** detachTlsServer forgets a closed listener. */
  detachTlsServer(server: tls.Server): void {
    this.sni.listeners.detach(server);
  }

  /** retireState releases a replaced state's pools once no exchange uses it any more. */
  private retireState(old: PlaneState): void {
    old.retired = true;
    if (old.users === 0) this.releaseState(old);
  }

  private releaseState(old: PlaneState): void {
    for (const r of old.routes) for (const u of r.upstreams) this.engine.release(u.client);
  }

  /** version is the applied snapshot's version (0 before the first). */
  get version(): number {
    return this.state?.version ?? 0;
  }

  get accessLog(): boolean {
    return this.state?.server.access_log ?? true;
  }

  get bodyTimeout(): number {
    return this.state?.server.timeouts.body ?? 0;
  }

  get responseTimeout(): number {
    return this.state?.server.timeouts.upstream_response ?? 0;
  }

  get sendTimeout(): number {
    return this.state?.server.timeouts.send ?? 0;
  }

  get draining(): boolean {
    return this.isDraining;
  }

  /** inFlight counts requests being proxied right now. */
  get inFlight(): number {
    return this.active;
  }

  isTrusted(ip: string): boolean {
    const bl = this.state?.trusted;
    if (!bl) return false;
    return bl.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
  }

  /** misdirected: the certificate SNI picked for this connection does not cover `host` (→ 421). */
  misdirected(servername: string, host: string): boolean {
    return this.sni.misdirected(servername, host);
  }

  exchangeDone(ex: Exchange): void {
    this.active--;
    const st = ex.plane as PlaneState;
    if (--st.users === 0 && st.retired) this.releaseState(st);
  }

  /** routeNamed is the current state's route of that name (retries pick from current health). */
  routeNamed(name: string): ServedRoute | null {
    return this.state?.byName.get(name) ?? null;
  }

  /** handleRequest is the https listener's request handler. */
  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const st = this.state;
    if (st === null) return notReady(res);
    this.active++;
    st.users++;
    const ex = new Exchange(this, req, res, st);
    // pipelined behind a response still going out: its turn comes when Node hands it the socket
    if (res.socket === null) ex.queue(st.router);
    else ex.run(st.router);
  };

  /** handleH2 is the h2 sessions' request handler (the stream is both request and response). */
  readonly handleH2 = (msg: H2Message): void => {
    const st = this.state;
    if (st === null) return notReady(msg);
    this.active++;
    st.users++;
    const ex = new Exchange(this, msg, msg, st, true);
    ex.run(st.router);
  };

  /** handleUpgrade proxies an HTTP/1.1 Upgrade (WebSocket) to the route's next upstream. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.websockets.handle(this.state?.router ?? null, req, socket, head);
  };

  /**
   * acmeHttpAnswer returns the key authorization for an HTTP-01 token: from the snapshot, else from
   * the control plane (which reads storage); null when nobody knows it. `source` says which answered.
   */
  async acmeHttpAnswer(token: string): Promise<{ body: string; source: 'snapshot' | 'storage' } | null> {
    const hit = this.state?.acmeTokens.get(token);
    if (hit !== undefined) return { body: hit, source: 'snapshot' };
    const fetched = (await this.challenges?.httpToken(token)) ?? null;
    return fetched === null ? null : { body: fetched, source: 'storage' };
  }

  /** startDraining marks responses `Connection: close` from now on (shutdown). */
  startDraining(): void {
    this.isDraining = true;
  }

  /** goingAway closes every WebSocket with 1001 at a frame boundary (shutdown). */
  goingAway(): void {
    this.websockets.goingAway();
  }

  /** inFlightTo counts requests running or queued towards an upstream (drain before stopping it). */
  inFlightTo(url: string): number {
    return this.engine.inFlight(url);
  }

  /** closeUpgraded cuts every upgraded connection (end of the shutdown grace). */
  closeUpgraded(): void {
    this.websockets.destroyAll();
  }

  /** close releases the pools (after in-flight requests when graceful, for up to `waitMs`). */
  async close(graceful = true, waitMs?: number): Promise<void> {
    if (this.state !== null) this.releaseState(this.state);
    this.state = null;
    this.closeUpgraded();
    this.websockets.close();
    await this.engine.close(graceful, waitMs);
  }
}

/** notReady answers before the first snapshot (never expected in practice: listeners open after it). */
export function notReady(res: ClientReply): void {
  sendAnswer(res, 503, { 'retry-after': '1' }, 'starting');
}
