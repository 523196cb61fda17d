/**
 * Listeners: the sockets that outlive reloads. One HTTPS listener (SNI via the data plane's cert
 * store; ALPN through `ALPNCallback` so h2 and acme-tls/1 can join on the same port), the plain
 * HTTP listener (redirects) and the admin listener are created here and bound with `bind()`.
 */
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { ListenError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { DataPlane } from '../proxy/data-plane.js';

/** ListenAddress is a host and port to bind. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** HttpsListenerOptions are fixed for the listener's lifetime. */
export interface HttpsListenerOptions {
  maxHeaderBytes: number;
  headerTimeout: number;
  idleTimeout: number;
  minVersion: tls.SecureVersion;
  /** served to clients that send no SNI (PEM) */
  defaultCertificate: { cert: string; key: string };
}

/** CLIENT_ERROR_STATUS maps Node's parser errors to the status sent before closing. */
const CLIENT_ERROR_STATUS: Record<string, [number, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout'],
};

/** ACME_TLS is the ALPN protocol of RFC 8737 (TLS-ALPN-01 validation). */
export const ACME_TLS = 'acme-tls/1';

/** AcmeTlsSocket is a TLS socket that asked for acme-tls/1 (set by ALPNCallback, read by SNICallback). */
type AcmeTlsSocket = tls.TLSSocket & { acmeTls?: boolean };

/**
 * selectAlpn picks http/1.1 (h2 joins with the performance issue), or acme-tls/1 for a CA validating
 * TLS-ALPN-01; no common protocol fails the handshake. Node calls ALPNCallback before SNICallback,
 * on the same socket: the mark set here makes the SNI step hand out the challenge certificate.
 */
export function selectAlpn(this: AcmeTlsSocket | undefined, { protocols }: { protocols: string[] }): string | undefined {
  if (protocols.includes(ACME_TLS)) {
    if (this) this.acmeTls = true;
    return ACME_TLS;
  }
  return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
}

/** onClientError answers malformed or too-slow requests with 400/408/431 and closes; it never throws. */
export function clientErrorHandler(log: Logger, metrics: Metrics) {
  const noRoute = metrics.forRoute('');
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, text] = CLIENT_ERROR_STATUS[code] ?? [400, 'Bad Request'];
    metrics.observe(noRoute, status, 0);
    log.info({ status, code, reason: err.message, client_ip: (socket as Socket).remoteAddress }, 'client error');
    socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${text.length + 1}\r\n\r\n${text.toLowerCase()}\n`);
  };
}

/** applyTimeouts sets the Node server's header/idle timers (checked every second, also on Node 20). */
export function applyTimeouts(server: http.Server, headerTimeout: number, idleTimeout: number): void {
  server.headersTimeout = headerTimeout;
  server.requestTimeout = 0;
  server.keepAliveTimeout = idleTimeout;
  server.timeout = 0;
}

/** setMaxHeaderSize changes the request-head limit for connections accepted from now on (Node reads it per connection). */
export function setMaxHeaderSize(server: http.Server, bytes: number): void {
  (server as http.Server & { maxHeaderSize: number }).maxHeaderSize = bytes;
}

/** createHttpsListener builds (does not bind) the public TLS server wired to a data plane. */
export function createHttpsListener(dp: DataPlane, o: HttpsListenerOptions, log: Logger, metrics: Metrics): https.Server {
  const server = https.createServer({
    SNICallback(this: AcmeTlsSocket, servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) {
      if (this?.acmeTls === true) dp.acmeSniCallback(servername, cb);
      else dp.sniCallback(servername, cb);
    },
    ALPNCallback: selectAlpn,
    cert: o.defaultCertificate.cert,
    key: o.defaultCertificate.key,
    minVersion: o.minVersion,
    maxHeaderSize: o.maxHeaderBytes,
    headersTimeout: o.headerTimeout,
    requestTimeout: 0,
    keepAliveTimeout: o.idleTimeout,
    connectionsCheckingInterval: 1000,
    noDelay: true,
  } as https.ServerOptions);
  applyTimeouts(server, o.headerTimeout, o.idleTimeout);
  dp.attachTlsServer(server);
  server.once('close', () => dp.detachTlsServer(server));
  // RFC 8737 §3: an acme-tls/1 connection only proves the certificate; close it after the handshake.
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    if (socket.alpnProtocol === ACME_TLS) socket.destroy();
  });
  server.on('request', dp.handleRequest);
  server.on('upgrade', dp.handleUpgrade);
  server.on('clientError', clientErrorHandler(log, metrics));
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    log.debug({ code: err.code, reason: err.message, client_ip: socket.remoteAddress }, 'tls handshake failed');
  });
  return server;
}

/**
 * ShareMode is how several data-plane processes share one address: `reuseport` = each binds its own
 * socket with SO_REUSEPORT (the kernel spreads connections evenly; Node >= 22.12), `shared` = one
 * socket made by the cluster primary that every worker accepts from (SCHED_NONE; uneven), `none` = one process.
 */
export type ShareMode = 'reuseport' | 'shared' | 'none';

/** bind listens on an address; rejects with ListenError (EADDRINUSE, EACCES…) instead of crashing. */
export function bind(server: http.Server, address: ListenAddress, what: string, share: ShareMode = 'none'): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      reject(new ListenError(what, `${address.host}:${address.port}`, err));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // reusePort is in Node's ListenOptions from 22.12 (the types here are Node 20's); exclusive: the worker binds it itself
    const sharing = share === 'reuseport' ? { reusePort: true, exclusive: true } : {};
    server.listen({ host: address.host, port: address.port, backlog: 4096, ...sharing });
  });
}

/** closeServer stops accepting and resolves when every connection is gone (or `deadline` ms passed, then cuts them). */
export function closeServer(server: http.Server, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      server.closeAllConnections();
      resolve();
      return;
    }
    const timer = setTimeout(() => server.closeAllConnections(), deadline);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/** formatAddress renders an AddressInfo as host:port (IPv6 bracketed). */
export function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
