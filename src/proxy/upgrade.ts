/**
 * HTTP/1.1 Upgrade (WebSocket) proxying through http-proxy-3 (the only file that imports it).
 * The forwarding headers follow the same rule as plain requests: replaced for untrusted peers,
 * appended for trusted proxies (see passes.outgoingHeaders). Once the upstream switched protocols,
 * `onOpen` receives both sockets (before any byte is relayed) so the data plane can track the tunnel.
 */
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import type { Logger } from '../log.js';
import { outgoingHeaders, type ForwardContext } from './passes.js';

const FORWARDING = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip', 'forwarded'];

/** applyForwarding rewrites the forwarding headers of an outgoing upgrade request. */
export function applyForwarding(proxyReq: ClientRequest, req: IncomingMessage, ctx: ForwardContext): void {
  for (const name of FORWARDING) proxyReq.removeHeader(name);
  const out = outgoingHeaders(req.rawHeaders, ctx);
  for (let i = 0; i < out.length; i += 2) {
    if (FORWARDING.includes(out[i]!)) proxyReq.setHeader(out[i]!, out[i + 1]!);
  }
}

/** OpenHandler receives an established tunnel: the client socket and the upstream socket. */
export type OpenHandler = (req: IncomingMessage, client: Duplex, upstream: Duplex) => void;

/** UpgradeProxy pipes upgraded connections to an upstream origin. */
export class UpgradeProxy {
  private readonly proxyServer = createProxyServer({ ws: true, xfwd: false });

  constructor(
    private readonly log: Logger,
    forwardContext: (req: IncomingMessage) => ForwardContext,
    onOpen: OpenHandler,
  ) {
    this.proxyServer.on('proxyReqWs', (proxyReq: ClientRequest, req: IncomingMessage, socket: Duplex) => {
      applyForwarding(proxyReq, req, forwardContext(req));
      // runs before http-proxy-3's own 'upgrade' listener, so before it starts relaying
      proxyReq.once('upgrade', (_res: IncomingMessage, upstream: Duplex) => onOpen(req, socket, upstream));
    });
    this.proxyServer.on('error', (err: Error, _req: unknown, target: unknown) => {
      this.log.warn({ err: err.message, code: (err as NodeJS.ErrnoException).code }, 'upgrade failed');
      const socket = target as Duplex | undefined;
      if (socket && typeof socket.destroy === 'function' && !socket.destroyed) {
        if ('writable' in socket && socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
        else socket.destroy();
      }
    });
  }

  /** proxy hands one upgrade request to the upstream at `origin`. */
  proxy(req: IncomingMessage, socket: Duplex, head: Buffer, origin: string): void {
    this.proxyServer.ws(req, socket, head, { target: origin });
  }

  /** close stops the proxy server's own resources. */
  close(): void {
    this.proxyServer.close?.();
  }
}
