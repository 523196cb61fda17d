/**
 * HTTP/1.1 Upgrade (WebSocket) proxying through http-proxy-3 (the only file that imports it). The
 * module is loaded on the first upgrade request, not at start: it and its dependencies cost every
 * process ~10-14 MiB of RSS (measured, issue 14), and many sites never see a WebSocket.
 * The forwarding headers follow the same rule as plain requests: replaced for untrusted peers,
 * appended for trusted proxies (see passes.outgoingHeaders). `events` hears how each one went: the
 * upstream's answer, both sockets once it switched protocols (before any byte is relayed, so the data
 * plane can track the tunnel), or that it could not be reached.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ProxyServer } from 'http-proxy-3';
import type { Logger } from '../log.js';
import { rawAnswer } from './answers.js';
import { FORWARDING, SPOOFABLE, outgoingHeaders, type ForwardContext } from './passes.js';

/** applyForwarding rewrites the forwarding headers of an outgoing upgrade request (and drops the spoofable ones from an untrusted peer). */
export function applyForwarding(proxyReq: ClientRequest, req: IncomingMessage, ctx: ForwardContext): void {
  for (const name of FORWARDING) proxyReq.removeHeader(name);
  if (!ctx.trusted) for (const name of SPOOFABLE) proxyReq.removeHeader(name);
  const out = outgoingHeaders(req.rawHeaders, ctx);
  for (let i = 0; i < out.length; i += 2) {
    if (FORWARDING.has(out[i]!)) proxyReq.setHeader(out[i]!, out[i + 1]!);
  }
}

/** UpgradeEvents hears how an upgrade request went, by its client socket. */
export interface UpgradeEvents {
  /** the upstream answered without switching protocols (its answer goes on to the client) */
  answered(client: Duplex, status: number): void;
  /** the upstream switched protocols: the tunnel is up */
  opened(client: Duplex, upstream: Duplex): void;
  /** the upstream could not be reached (the client gets 502) */
  failed(client: Duplex): void;
}

/** UpgradeProxy pipes upgraded connections to an upstream origin. */
export class UpgradeProxy {
  private proxyServer: ProxyServer | null = null;
  private loading: Promise<ProxyServer> | null = null;
  private closed = false;

  constructor(
    private readonly log: Logger,
    private readonly forwardContext: (req: IncomingMessage) => ForwardContext,
    private readonly events: UpgradeEvents,
  ) {}

  /** server loads http-proxy-3 and builds the proxy server on first use. */
  private server(): Promise<ProxyServer> {
    this.loading ??= import('http-proxy-3').then(({ createProxyServer }) => {
      const ps = createProxyServer({ ws: true, xfwd: false });
      ps.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage, socket: Duplex) => {
        applyForwarding(proxyReq, req, this.forwardContext(req));
        // the client left (before the upstream's 101, or mid-tunnel): the upstream connection goes at once
        socket.once('close', () => proxyReq.destroy());
        proxyReq.once('response', (res: IncomingMessage) => this.events.answered(socket, res.statusCode ?? 0));
        // runs before http-proxy-3's own 'upgrade' listener, so before it starts relaying
        proxyReq.once('upgrade', (_res: IncomingMessage, upstream: Duplex) => this.events.opened(socket, upstream));
      });
      ps.on('error', (err: Error, _req: unknown, target: unknown) => {
        this.log.warn({ err: err.message, code: (err as NodeJS.ErrnoException).code }, 'upgrade failed');
        if (target) this.events.failed(target as Duplex);
        badGateway(target as Duplex | undefined);
      });
      this.proxyServer = ps;
      return ps;
    });
    return this.loading;
  }

  /** proxy hands one upgrade request to the upstream at `origin`. */
  proxy(req: IncomingMessage, socket: Duplex, head: Buffer, origin: string): void {
    if (this.proxyServer !== null) return void this.proxyServer.ws(req, socket, head, { target: origin });
    this.server().then(
      (ps) => {
        if (this.closed || socket.destroyed) return void socket.destroy();
        ps.ws(req, socket, head, { target: origin });
      },
      (err: Error) => {
        this.log.error({ err: err.message }, 'upgrade failed: cannot load http-proxy-3');
        this.events.failed(socket);
        badGateway(socket);
      },
    );
  }

  /** close stops the proxy server's own resources. */
  close(): void {
    this.closed = true;
    this.proxyServer?.close?.();
  }
}

/** badGateway answers a failed upgrade with 502 when the client socket can still take it. */
function badGateway(socket: Duplex | undefined): void {
  if (!socket || typeof socket.destroy !== 'function' || socket.destroyed) return;
  if ('writable' in socket && socket.writable) socket.end(rawAnswer(502));
  else socket.destroy();
}
