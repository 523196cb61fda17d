/**
 * WebSockets: HTTP/1.1 Upgrade requests on the https listener. Routed like every request (the same
 * router, SNI/Host rule and selector as an Exchange), proxied by `UpgradeProxy` (http-proxy-3) and,
 * once the upstream switched protocols, tracked as a `WsTunnel` so a reload or shutdown can end it
 * cleanly (close frame 1001 at a frame boundary). Each upgrade request gets one access line, written
 * when it ends: 101 with the tunnel's duration and bytes, the upstream's own answer when it refused to
 * switch, 499 when the client left before the upstream answered, or portico's refusal (404, 421, 503).
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';
import { writeAccess, type AccessRecord } from './access-log.js';
import { rawAnswer } from './answers.js';
import type { Matcher } from './handler.js';
import { hostOf, splitTarget, unwrapIp, type ForwardContext } from './passes.js';
import { CLIENT_GONE } from './failures.js';
import { UpgradeProxy, type UpgradeEvents } from './upgrade.js';
import { featureAnswer } from './route-extras.js';
import type { Load } from '../upstream/selector.js';
import { WsTunnel } from './ws-tunnel.js';
import { tlsVersionOf } from './exchange-parts.js';

/** WebSocketHost is what the WebSocket side needs from its data plane. */
export interface WebSocketHost {
  readonly log: Logger;
  readonly accessLog: boolean;
  readonly draining: boolean;
  isTrusted(ip: string): boolean;
  misdirected(servername: string, host: string): boolean;
}

/** Upgrade is one upgrade request until its access line is written. */
interface Upgrade {
  readonly start: number;
  readonly route: string;
  readonly host: string;
  readonly path: string;
  readonly upstream: string;
  /** the upstream's answer (101 once switched), 0 until then; 502 when it could not be reached */
  status: number;
  tunnel: WsTunnel | null;
  /** a timer closing the tunnel after a reload changed its route */
  closing: NodeJS.Timeout | null;
  /** the upstream's in-flight count, which this upgrade holds one of until it ends (the load policies see open tunnels) */
  load: Load;
}

/** WebSockets owns every upgrade request and tunnel of one data plane. */
export class WebSockets implements UpgradeEvents {
  private readonly proxy: UpgradeProxy;
  /** upgrade requests by client socket, from the request until the client socket closes */
  private readonly live = new Map<Duplex, Upgrade>();

  constructor(private readonly host: WebSocketHost) {
    this.proxy = new UpgradeProxy(host.log.child({ component: 'proxy.upgrade' }), (req) => this.forwardContext(req), this);
  }

  /** handle routes one upgrade request and hands it to the upstream its route's selector picks. */
  handle(router: Matcher | null, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    tlsVersionOf(req.socket); // cached while the connection is up, for the access line
    const target = splitTarget(req.url ?? '/');
    const host = hostOf(target.host ?? req.headers.host);
    const route = router?.match(host, target.path) ?? null;
    const sni = (req.socket as TLSSocket).servername;
    let status = 0;
    if (route === null) status = 404;
    else if (typeof sni === 'string' && sni !== '' && sni !== host && this.host.misdirected(sni, host)) status = 421;
    else if (route.extras !== null) {
      // a rate limit over (429) or a redirect route answer the upgrade as they answer any request
      const a = featureAnswer(route.extras, target.path, unwrapIp(req.socket.remoteAddress), req.headers['x-forwarded-for'], this.host);
      if (a !== null) {
        if (a.status === 429) route.metrics.rateLimited.inc();
        socket.end(rawAnswer(a.status, undefined, a.location === null ? a.fields : { location: a.location }));
        this.logLine(req, { start: performance.now(), route: route.name, host, path: target.path, upstream: null, status: a.status, bytes: 0 });
        return;
      }
    }
    const upstream = status === 0 && !this.host.draining ? (route!.selector.select(route!.upstreams) ?? null) : null;
    if (upstream === null) {
      status ||= 503;
      socket.end(rawAnswer(status));
      this.logLine(req, { start: performance.now(), route: route?.name ?? null, host, path: target.path, upstream: null, status, bytes: 0 });
      return;
    }
    const u: Upgrade = { start: performance.now(), route: route!.name, host, path: target.path, upstream: upstream.origin, status: 0, tunnel: null, closing: null, load: upstream.load };
    u.load.n++;
    this.live.set(socket, u);
    socket.once('close', () => this.ended(req, socket, u));
    this.proxy.proxy(req, socket, head, upstream.origin);
  }

  /** answered: the upstream answered an upgrade request (101 or a refusal it sends on to the client). */
  answered(client: Duplex, status: number): void {
    const u = this.live.get(client);
    if (u !== undefined) u.status = status;
  }

  /** opened: the upstream switched protocols; the tunnel is tracked from now on. */
  opened(client: Duplex, upstream: Duplex): void {
    const u = this.live.get(client);
    if (u === undefined) return;
    u.status = 101;
    u.tunnel = new WsTunnel(client, upstream, u.route, u.host, u.path, u.upstream);
  }

  /** failed: the upstream could not be reached (the client got 502). */
  failed(client: Duplex): void {
    const u = this.live.get(client);
    if (u !== undefined && u.status === 0) u.status = 502;
  }

  /**
   * review: after a new snapshot, a WebSocket stays open when its host and path still route to the
   * same route name and that route still has its upstream; any other is closed with 1001 after
   * `grace` ms (a later snapshot that keeps it again cancels that).
   */
  review(router: Matcher, grace: number): void {
    for (const u of this.live.values()) {
      const tunnel = u.tunnel;
      if (tunnel === null) continue;
      const route = router.match(u.host, u.path);
      const keep = route !== null && route.name === u.route && route.upstreams.some((x) => x.origin === u.upstream);
      if (keep && u.closing !== null) {
        clearTimeout(u.closing);
        u.closing = null;
      } else if (!keep && u.closing === null) {
        u.closing = setTimeout(() => tunnel.goingAway(), grace);
        u.closing.unref();
        this.host.log.info({ route: u.route, upstream: u.upstream, grace_ms: grace }, 'websocket route changed: closing after the grace period');
      }
    }
  }

  /** goingAway closes every tunnel with 1001 at a frame boundary (shutdown). */
  goingAway(): void {
    for (const u of this.live.values()) {
      if (u.closing !== null) clearTimeout(u.closing);
      u.tunnel?.goingAway();
    }
  }

  /** destroyAll cuts every upgraded or upgrading connection (end of the shutdown grace). */
  destroyAll(): void {
    for (const [socket, u] of this.live) {
      if (u.closing !== null) clearTimeout(u.closing);
      if (u.tunnel !== null) u.tunnel.destroy();
      else socket.destroy();
    }
  }

  /** tunnels counts open WebSocket tunnels. */
  get tunnels(): number {
    let n = 0;
    for (const u of this.live.values()) if (u.tunnel !== null) n++;
    return n;
  }

  /** close stops the proxy's own resources. */
  close(): void {
    this.proxy.close();
  }

  private ended(req: IncomingMessage, socket: Duplex, u: Upgrade): void {
    this.live.delete(socket);
    u.load.n--;
    if (u.closing !== null) clearTimeout(u.closing);
    const bytes = u.tunnel === null ? 0 : (socket as Duplex & { bytesWritten?: number }).bytesWritten ?? 0;
    this.logLine(req, { start: u.start, route: u.route, host: u.host, path: u.path, upstream: u.upstream, status: u.status === 0 ? CLIENT_GONE : u.status, bytes });
  }

  private logLine(req: IncomingMessage, l: { start: number; route: string | null; host: string; path: string; upstream: string | null; status: number; bytes: number }): void {
    if (!this.host.accessLog) return;
    const q = l.path.indexOf('?');
    const line: AccessRecord = {
      route: l.route,
      host: l.host,
      method: req.method,
      path: q < 0 ? l.path : l.path.slice(0, q),
      status: l.status,
      upstream: l.upstream,
      attempts: l.upstream === null ? 0 : 1,
      duration_ms: Math.round((performance.now() - l.start) * 1000) / 1000,
      bytes: l.bytes,
      client_ip: unwrapIp(req.socket.remoteAddress),
      tls_version: tlsVersionOf(req.socket),
      proto: 'http/1.1',
      error: undefined,
      upgrade: true,
    };
    writeAccess(this.host.log, l.status >= 500 && l.status !== CLIENT_GONE ? 'warn' : 'info', line);
  }

  private forwardContext(req: IncomingMessage): ForwardContext {
    const ip = unwrapIp(req.socket.remoteAddress);
    return { clientIp: ip, trusted: this.host.isTrusted(ip), host: req.headers.host ?? '', proto: 'https' };
  }
}
