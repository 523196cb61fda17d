/**
 * DataPlane: serves traffic from the latest snapshot (DESIGN §1). `apply(snapshot)` builds the
 * routing state (router, pools, selectors, certificates) and swaps one reference; requests already
 * running keep the state they started with. Listeners call `handleRequest`, `handleUpgrade` and
 * `sniCallback`; nothing here reads config or touches disk.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from '../log.js';
import type { Metrics, RouteMetrics } from '../metrics.js';
import { CertStore, tlsOptions } from '../tls/cert-store.js';
import type { HealthUpdate, PassiveReport } from '../upstream/health.js';
import { RoundRobin } from '../upstream/selector.js';
import type { Engine } from './engine.js';
import { rawAnswer, sendAnswer } from './answers.js';
import { Exchange, type ClientReply, type ExchangeHost, type RouteRuntime, type UpstreamTarget } from './handler.js';
import type { H2Message } from './h2.js';
import { hostOf, splitTarget, unwrapIp } from './passes.js';
import { Router } from './router.js';
import type { Snapshot, SnapshotServer } from './snapshot.js';
import { UpgradeProxy } from './upgrade.js';
import { WsTunnel } from './ws-tunnel.js';

/** PlaneState is one applied snapshot, immutable once built. */
interface PlaneState {
  readonly version: number;
  readonly router: Router<RouteRuntime>;
  readonly routes: readonly RouteRuntime[];
  readonly byName: ReadonlyMap<string, RouteRuntime>;
  readonly trusted: BlockList | null;
  readonly server: SnapshotServer;
  readonly refused: ReadonlySet<string>;
  /** exchanges started on this state and not finished: its pools stay open until they are done */
  users: number;
  /** replaced by a newer snapshot */
  retired: boolean;
  /** ACME HTTP-01 answers: token → key authorization */
  readonly acmeTokens: ReadonlyMap<string, string>;
  /** ACME TLS-ALPN-01 challenge certificates by name (PEM; contexts are built on use) */
  readonly acmeAlpn: ReadonlyMap<string, { cert: string; key: string }>;
}

/**
 * ChallengeLookup is how the data plane asks its control plane for an ACME challenge answer that is
 * not in its snapshot (written by another process sharing the storage, or newer than the snapshot).
 */
export interface ChallengeLookup {
  httpToken(token: string): Promise<string | null>;
  alpnCertificate(name: string): Promise<{ cert: string; key: string } | null>;
}

/** DataPlaneOptions inject the process-wide collaborators. */
export interface DataPlaneOptions {
  engine: Engine;
  log: Logger;
  metrics: Metrics;
  /** where passive health reports go (the control plane: a function call in-process, IPC with workers) */
  report?: (r: PassiveReport) => void;
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
  private readonly engine: Engine;
  private readonly reporter: ((r: PassiveReport) => void) | null;
  private readonly upgrades: UpgradeProxy;
  private state: PlaneState | null = null;
  private certs: CertStore | null = null;
  private minVersion: string | null = null;
  private active = 0;
  private isDraining = false;
  private readonly sockets = new Set<Duplex>();
  private readonly tunnels = new Map<WsTunnel, NodeJS.Timeout | null>();
  private readonly pendingUpgrades = new WeakMap<IncomingMessage, { route: string; host: string; path: string; upstream: string }>();
  private readonly tlsServers: tls.Server[] = [];
  private noSni: { cert: string; key: string } | null = null;
  private noSniVersion: tls.SecureVersion | null = null;
  private ticketKey: Buffer | null = null;
  private ticketKeyText = '';
  private readonly challenges: ChallengeLookup | null;
  private alpnContexts = new Map<string, { cert: string; ctx: tls.SecureContext }>();

  constructor(opts: DataPlaneOptions) {
    this.challenges = opts.challenges ?? null;
    this.engine = opts.engine;
    this.reporter = opts.report ?? null;
    this.log = opts.log;
    this.metrics = opts.metrics;
    this.noRoute = opts.metrics.forRoute('');
    this.upgrades = new UpgradeProxy(opts.log.child({ component: 'proxy.upgrade' }), (req) => this.forwardContext(req), this.onTunnelOpen);
  }

  /** apply installs a snapshot: builds the new state, swaps it in, releases the old state's pools. */
  apply(snap: Snapshot): void {
    const s = snap.server;
    if (this.certs === null || this.minVersion !== s.min_version) {
      this.certs = new CertStore(snap.default_certificate, { minVersion: s.min_version });
      this.minVersion = s.min_version;
    }
    this.certs.replace(snap.certificates, snap.default_certificate);
    this.setNoSni(snap.no_sni_certificate, s.min_version);
    this.setTicketKey(snap.ticket_key);
    const poolOpts = { connectTimeout: s.timeouts.upstream_connect, idleTimeout: s.timeouts.upstream_idle, responseTimeout: s.timeouts.upstream_response };
    const routes = snap.routes.map((r): RouteRuntime => ({
      name: r.name,
      hosts: r.hosts,
      prefix: r.path_prefix,
      maxBody: r.max_body_bytes,
      selector: new RoundRobin<UpstreamTarget>(),
      metrics: this.metrics.forRoute(r.name),
      retries: r.retries,
      failStatuses: r.fail_statuses.length > 0 ? new Set(r.fail_statuses) : null,
      retryAfter: String(r.retry_after),
      upstreams: r.upstreams.map((u) => ({ origin: u.url, client: this.engine.acquire(u.url, poolOpts), state: u.state, available: u.state !== 'down' })),
    }));
    const old = this.state;
    this.state = {
      version: snap.version,
      router: new Router(routes),
      routes,
      byName: new Map(routes.map((r) => [r.name, r])),
      trusted: blockListOf(s.trusted_proxies),
      server: s,
      refused: new Set(snap.refused_names),
      users: 0,
      retired: false,
      acmeTokens: new Map(Object.entries(snap.acme_challenges.http)),
      acmeAlpn: new Map(snap.acme_challenges.alpn.map((a) => [a.name, { cert: a.cert, key: a.key }])),
    };
    if (old !== null) this.retireState(old);
    this.reviewTunnels();
  }

  /**
   * reviewTunnels: after a new snapshot, a WebSocket stays open when its host and path still route to
   * the same route name and that route still has its upstream; any other is closed with 1001 after
   * server.shutdown_grace (a later snapshot that keeps it again cancels that).
   */
  private reviewTunnels(): void {
    const st = this.state!;
    for (const [tunnel, timer] of this.tunnels) {
      const route = st.router.match(tunnel.host, tunnel.path);
      const keep = route !== null && route.name === tunnel.route && route.upstreams.some((u) => u.origin === tunnel.upstream);
      if (keep && timer !== null) {
        clearTimeout(timer);
        this.tunnels.set(tunnel, null);
      } else if (!keep && timer === null) {
        const t = setTimeout(() => tunnel.goingAway(), st.server.shutdown_grace);
        t.unref();
        this.tunnels.set(tunnel, t);
        this.log.info({ route: tunnel.route, upstream: tunnel.upstream, grace_ms: st.server.shutdown_grace }, 'websocket route changed: closing after the grace period');
      }
    }
  }

  private readonly onTunnelOpen = (req: IncomingMessage, client: Duplex, upstream: Duplex): void => {
    const meta = this.pendingUpgrades.get(req);
    if (meta === undefined) return;
    const tunnel = new WsTunnel(client, upstream, meta.route, meta.host, meta.path, meta.upstream);
    this.tunnels.set(tunnel, null);
    client.once('close', () => {
      const timer = this.tunnels.get(tunnel);
      if (timer) clearTimeout(timer);
      this.tunnels.delete(tunnel);
    });
  };

  /** applyHealth takes a health decision made between snapshots. */
  applyHealth(u: HealthUpdate): void {
    const target = this.state?.byName.get(u.route)?.upstreams.find((t) => t.origin === u.upstream);
    if (target === undefined) return;
    target.state = u.state;
    target.available = u.state !== 'down';
  }

  /** report passes what traffic saw to the control plane (failures count for every route using the address). */
  report(route: RouteRuntime, upstream: UpstreamTarget, ok: boolean, detail: string): void {
    if (this.reporter === null) return;
    this.reporter({ route: route.name, upstream: upstream.origin, ok, detail });
  }

  /** attachTlsServer lets the data plane set the certificate for clients without SNI and the session-ticket key on a listener. */
  attachTlsServer(server: tls.Server): void {
    this.tlsServers.push(server);
    if (this.noSni !== null && this.minVersion !== null) server.setSecureContext({ ...this.noSni, ...tlsOptions(this.minVersion as tls.SecureVersion) });
    if (this.ticketKey !== null) server.setTicketKeys(this.ticketKey);
  }

  /** setTicketKey installs the control plane's session-ticket key on every listener (OpenSSL uses the listener's, also for SNI contexts). */
  private setTicketKey(base64: string): void {
    if (base64 === '' || base64 === this.ticketKeyText) return;
    this.ticketKeyText = base64;
    this.ticketKey = Buffer.from(base64, 'base64');
    for (const server of this.tlsServers) server.setTicketKeys(this.ticketKey);
  }

  /** detachTlsServer forgets a closed listener. */
  detachTlsServer(server: tls.Server): void {
    const i = this.tlsServers.indexOf(server);
    if (i !== -1) this.tlsServers.splice(i, 1);
  }

  private setNoSni(pems: { cert: string; key: string }, minVersion: tls.SecureVersion): void {
    if (this.noSni !== null && this.noSni.cert === pems.cert && this.noSni.key === pems.key && this.noSniVersion === minVersion) return;
    this.noSni = pems;
    this.noSniVersion = minVersion;
    for (const server of this.tlsServers) {
      server.setSecureContext({ ...pems, ...tlsOptions(minVersion) });
      if (this.ticketKey !== null) server.setTicketKeys(this.ticketKey);
    }
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

  /** misdirected: the certificate SNI picked for this connection does not cover `host` (→ 421). */
  misdirected(servername: string, host: string): boolean {
    const certs = this.certs;
    return certs !== null && certs.lookup(servername) !== certs.lookup(host);
  }

  get draining(): boolean {
    return this.isDraining;
  }

  /** inFlight counts requests being proxied right now. */
  get inFlight(): number {
    return this.active;
  }

  /** upgradedSockets counts open WebSocket (upgraded) client connections. */
  get upgradedSockets(): number {
    return this.sockets.size;
  }

  isTrusted(ip: string): boolean {
    const bl = this.state?.trusted;
    if (!bl) return false;
    return bl.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
  }

  exchangeDone(ex: Exchange): void {
    this.active--;
    const st = ex.plane as PlaneState;
    if (--st.users === 0 && st.retired) this.releaseState(st);
  }

  /** routeNamed is the current state's route of that name (retries pick from current health). */
  routeNamed(name: string): RouteRuntime | null {
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
    const ex = new Exchange(this, msg, msg, st);
    ex.run(st.router);
  };

  /** handleUpgrade proxies an HTTP/1.1 Upgrade (WebSocket) to the route's next upstream. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const st = this.state;
    socket.on('error', () => socket.destroy());
    const target = splitTarget(req.url ?? '/');
    const route = st?.router.match(hostOf(target.host ?? req.headers.host), target.path) ?? null;
    const upstream = route?.selector.select(route.upstreams) ?? null;
    if (route === null || upstream === null || this.isDraining) {
      const status = route === null ? 404 : 503;
      socket.end(rawAnswer(status));
      this.log.info({ route: route?.name ?? null, host: req.headers.host, path: target.path, status, upgrade: true }, 'request');
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    this.pendingUpgrades.set(req, { route: route.name, host: hostOf(target.host ?? req.headers.host), path: target.path, upstream: upstream.origin });
    this.log.info({ route: route.name, host: req.headers.host, path: target.path, status: 101, upstream: upstream.origin, upgrade: true, client_ip: unwrapIp(req.socket.remoteAddress) }, 'request');
    this.upgrades.proxy(req, socket, head, upstream.origin);
  };

  private forwardContext(req: IncomingMessage) {
    const ip = unwrapIp(req.socket.remoteAddress);
    return { clientIp: ip, trusted: this.isTrusted(ip), host: req.headers.host ?? '', proto: 'https' };
  }

  /** sniCallback picks the certificate for a handshake; refused names fail it (unrecognized_name). */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    const certs = this.certs;
    if (certs === null) return cb(new Error('no certificates loaded'));
    if (servername && this.state?.refused.has(servername.toLowerCase())) return cb(new Error(`no certificate for ${servername}`));
    cb(null, certs.lookup(servername));
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

  /** acmeSniCallback picks the RFC 8737 certificate for an acme-tls/1 handshake; no challenge → the handshake fails. */
  readonly acmeSniCallback = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
    const name = (servername ?? '').toLowerCase();
    const pems = this.state?.acmeAlpn.get(name);
    const done = (p: { cert: string; key: string } | null, source: string) => {
      if (p === null) return cb(new Error(`no ACME tls-alpn-01 challenge for ${name}`));
      let ctx: tls.SecureContext;
      try {
        ctx = this.alpnContext(name, p);
      } catch (err) {
        // a bad challenge certificate (from storage) fails this handshake, never the process
        this.log.error({ name, source, err: (err as Error).message }, 'acme tls-alpn-01 challenge certificate unusable');
        return cb(err as Error);
      }
      this.log.info({ name, source }, 'acme tls-alpn-01 challenge answered');
      cb(null, ctx);
    };
    if (pems !== undefined) return done(pems, 'snapshot');
    if (this.challenges === null) return done(null, '');
    this.challenges.alpnCertificate(name).then((p) => done(p, 'storage'), (err: Error) => cb(err));
  };

  private alpnContext(name: string, p: { cert: string; key: string }): tls.SecureContext {
    const cached = this.alpnContexts.get(name);
    if (cached !== undefined && cached.cert === p.cert) return cached.ctx;
    const ctx = tls.createSecureContext({ cert: p.cert, key: p.key, ...tlsOptions('TLSv1.2') });
    this.alpnContexts.set(name, { cert: p.cert, ctx });
    if (this.alpnContexts.size > 64) this.alpnContexts.delete(this.alpnContexts.keys().next().value!);
    return ctx;
  }

  /** startDraining marks responses `Connection: close` from now on (shutdown). */
  startDraining(): void {
    this.isDraining = true;
  }

  /** goingAway closes every WebSocket with 1001 at a frame boundary (shutdown). */
  goingAway(): void {
    for (const [tunnel, timer] of this.tunnels) {
      if (timer) clearTimeout(timer);
      tunnel.goingAway();
    }
  }

  /** inFlightTo counts requests running or queued towards an upstream (drain before stopping it). */
  inFlightTo(url: string): number {
    return this.engine.inFlight(url);
  }

  /** websockets counts open WebSocket tunnels. */
  get websockets(): number {
    return this.tunnels.size;
  }

  /** closeUpgraded cuts every upgraded connection (end of the shutdown grace). */
  closeUpgraded(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    for (const [tunnel, timer] of this.tunnels) {
      if (timer) clearTimeout(timer);
      tunnel.destroy();
    }
    this.tunnels.clear();
  }

  /** close releases the pools (after in-flight requests when graceful, for up to `waitMs`). */
  async close(graceful = true, waitMs?: number): Promise<void> {
    if (this.state !== null) this.releaseState(this.state);
    this.state = null;
    this.closeUpgraded();
    this.upgrades.close();
    await this.engine.close(graceful, waitMs);
  }
}

/** notReady answers before the first snapshot (never expected in practice: listeners open after it). */
export function notReady(res: ClientReply): void {
  sendAnswer(res, 503, { 'retry-after': '1' }, 'starting');
}
