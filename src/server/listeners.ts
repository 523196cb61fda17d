/**
 * Listeners: the sockets that outlive reloads. One HTTPS listener (SNI via the data plane's cert
 * store; ALPN through `ALPNCallback`: h2, http/1.1 and acme-tls/1 on the same port), the plain
 * HTTP listener (redirects) and the admin listener are created here and bound with `bind()`.
 *
 * The https listener is an `https.Server` whose `secureConnection` listener is wrapped: http/1.1
 * sockets go to Node's HTTP/1.1 connection handling as before (so its limits and timers hold),
 * `h2` sockets to the listener's `H2Sessions`, acme-tls/1 sockets are closed after the handshake.
 */
import http, { type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { ListenError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { DataPlane } from '../proxy/data-plane.js';
import type { H2Message } from '../proxy/h2-message.js';
import { rawAnswer, sendAnswer } from '../proxy/answers.js';
import { markMalformed } from '../proxy/handler.js';
import { tlsOptions } from '../tls/cert-store.js';
import { SESSION_ID_CONTEXT } from '../tls/ticket-keys.js';
import { H2Sessions, type H2Settings } from './h2-sessions.js';
import { looksLikeProxyHeader } from './proxy-header.js';
import { clientAddressOf, dropPendingHeaders, setProxyProtocol, watchProxyProtocol, type ProxyProtocolSettings } from './proxy-protocol.js';

/** ListenAddress is a host and port to bind. */
export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * ListenerSettings are what a reload changes on a listener that stays open (limits, timers, h2), as
 * the snapshot carries them (ms, bytes): one source, applied by `applyListenerSettings` the same way
 * by the in-process data plane and by every data-plane worker.
 */
export interface ListenerSettings {
  maxHeaderBytes: number;
  /** client timeouts: `header` whole request head, `idle` keep-alive; `body`, `send` and `upstream_response` bound an h2 session with open streams */
  timeouts: { header: number; idle: number; body: number; send: number; upstream_response: number };
  http2: HttpsH2Options;
  /** `server.proxy_protocol` (the https and http listeners; admin takes it too, the header optional there) */
  proxyProtocol: ProxyProtocolSettings;
}

/** listenerSettings reads the listener settings out of a snapshot's server part. */
export function listenerSettings(s: {
  max_header_bytes: number;
  timeouts: ListenerSettings['timeouts'];
  http2: { enabled: boolean; max_concurrent_streams: number; max_resets: { count: number; window: number } };
  proxy_protocol: readonly string[];
}): ListenerSettings {
  const t = s.timeouts;
  return {
    maxHeaderBytes: s.max_header_bytes,
    timeouts: { header: t.header, idle: t.idle, body: t.body, send: t.send, upstream_response: t.upstream_response },
    http2: h2Options(s.http2),
    proxyProtocol: { from: [...s.proxy_protocol], timeoutMs: t.header },
  };
}

/**
 * applyListenerSettings puts reloaded settings on a kept listener: the request-head limit and
 * timers for connections accepted from now on; for the https listener's h2 side, ALPN on/off, the
 * reset limit and the session timers at once, SETTINGS for sessions opened from now on.
 */
export function applyListenerSettings(server: http.Server, s: ListenerSettings): void {
  setMaxHeaderSize(server, s.maxHeaderBytes);
  applyTimeouts(server, s.timeouts.header, s.timeouts.idle);
  setProxyProtocol(server, s.proxyProtocol);
  h2SessionsOf(server)?.configure(h2Settings(s));
}

/** HttpsListenerOptions are the https listener's settings (reloadable) and what is fixed for its lifetime. */
export interface HttpsListenerOptions {
  settings: ListenerSettings;
  minVersion: tls.SecureVersion;
  /** served to clients that send no SNI (PEM) */
  defaultCertificate: { cert: string; key: string };
}

/** HttpsH2Options are `[server.http2]` as the listener takes them. */
export interface HttpsH2Options {
  enabled: boolean;
  maxConcurrentStreams: number;
  maxResets: { count: number; window: number };
}

/** CLIENT_ERROR_STATUS maps Node's parser errors to the status sent before closing (anything else: 400). */
const CLIENT_ERROR_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/** ACME_TLS is the ALPN protocol of RFC 8737 (TLS-ALPN-01 validation). */
export const ACME_TLS = 'acme-tls/1';

/** AcmeTlsSocket is a TLS socket that asked for acme-tls/1 (set by ALPNCallback, read by SNICallback). */
type AcmeTlsSocket = tls.TLSSocket & { acmeTls?: boolean };

/**
 * selectAlpn picks h2 when the client offers it (and `h2` is on), else http/1.1; acme-tls/1 only
 * when it is the one protocol offered, as a CA validating TLS-ALPN-01 does (RFC 8737 §3): a client
 * offering it among others is an ordinary client. No common protocol fails the handshake. Node
 * calls ALPNCallback before SNICallback, on the same socket: the mark set here makes the SNI step
 * hand out the challenge certificate.
 */
export function selectAlpn(this: AcmeTlsSocket | undefined, { protocols }: { protocols: string[] }, h2 = true): string | undefined {
  if (protocols.length === 1 && protocols[0] === ACME_TLS) {
    if (this) this.acmeTls = true;
    return ACME_TLS;
  }
  if (h2 && protocols.includes('h2')) return 'h2';
  return protocols.includes('http/1.1') ? 'http/1.1' : undefined;
}

/** An HTTP/1.1 connection as Node's server keeps it: the response being written now, if any. */
type ServerSocket = Socket & { _httpMessage?: ServerResponse | null; [kRefused]?: true };
const kRefused = Symbol('portico.refused');

/**
 * clientErrorHandler answers malformed or too-slow requests with 400/408/431 and closes; it never throws.
 * Bytes that fail to parse AFTER requests still being answered (pipelined) do not cut those answers:
 * they finish first, in order, then the error is answered and the connection closed. Bytes after a
 * request that said `Connection: close` are never processed nor answered (RFC 9112 §9.6): that
 * request's own answer closes the connection (issue 23: it was cut and logged 499, with a 400).
 */
export function clientErrorHandler(log: Logger, metrics: Metrics) {
  const noRoute = metrics.forRoute('');
  return (err: NodeJS.ErrnoException, duplex: Duplex): void => {
    const socket = duplex as ServerSocket;
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    if (socket[kRefused]) return; // Node reports a broken connection again when more bytes arrive
    socket[kRefused] = true;
    const raw = (err as { rawPacket?: unknown }).rawPacket;
    if (!socket._httpMessage && Buffer.isBuffer(raw) && looksLikeProxyHeader(raw)) {
      // a PROXY header from a peer not in server.proxy_protocol: closed, never answered
      log.info({ client_ip: socket.remoteAddress }, 'connection refused: PROXY protocol header from a peer not in server.proxy_protocol');
      socket.destroy();
      return;
    }
    if (code === 'HPE_CLOSED_CONNECTION') {
      log.debug({ code, client_ip: socket.remoteAddress }, 'bytes after Connection: close ignored');
      if (!socket._httpMessage) socket.destroy();
      return;
    }
    const current = socket._httpMessage;
    const req = (current as (ServerResponse & { req?: http.IncomingMessage }) | null | undefined)?.req;
    if (current && req && !req.complete) {
      // the body of the request being answered is malformed: that request ends here (400), its upstream request is aborted
      markMalformed(req, `${code}: ${err.message}`);
      log.info({ status: 400, code, reason: err.message, client_ip: socket.remoteAddress }, 'client error');
      if (current.headersSent) socket.destroy();
      else socket.end(rawAnswer(400));
      return;
    }
    afterResponses(socket, () => {
      if (!socket.writable) return;
      const status = CLIENT_ERROR_STATUS[code] ?? 400;
      metrics.observe(noRoute, status, 0);
      log.info({ status, code, reason: err.message, client_ip: socket.remoteAddress }, 'client error');
      socket.end(rawAnswer(status));
    });
  };
}

/** afterResponses runs `fn` once no response is being written on the connection (each queued one in turn). */
function afterResponses(socket: ServerSocket, fn: () => void): void {
  const res = socket._httpMessage;
  if (!res || res.writableFinished) return fn();
  // Node's own 'finish' listener (registered first) hands the socket to the next queued response
  res.once('finish', () => afterResponses(socket, fn));
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

/** h2Options is `[server.http2]` (config or snapshot) as the listener takes it. */
export function h2Options(h: { enabled: boolean; max_concurrent_streams: number; max_resets: { count: number; window: number } }): HttpsH2Options {
  return { enabled: h.enabled, maxConcurrentStreams: h.max_concurrent_streams, maxResets: { ...h.max_resets } };
}

/**
 * h2Settings turns the listener settings into the h2 session settings: one limit for the request head
 * on both protocols; a session with open streams and no frame either way for longer than any request
 * may wait (every timeout that bounds a request, + 1 s) is stalled and destroyed (see H2Settings).
 */
export function h2Settings(s: ListenerSettings): H2Settings {
  const t = s.timeouts;
  const stall = Math.max(t.header, t.idle, t.body, t.send, t.upstream_response) + 1000;
  return { ...s.http2, maxHeaderListSize: s.maxHeaderBytes, headerTimeout: t.header, idleTimeout: t.idle, stallTimeout: stall };
}

/** H2_OF finds a listener's h2 side (closeServer and reloads reach it through the server). */
const H2_OF = new WeakMap<http.Server, H2Sessions>();

/** h2SessionsOf returns the h2 side of an https listener (null for the other listeners). */
export function h2SessionsOf(server: http.Server): H2Sessions | null {
  return H2_OF.get(server) ?? null;
}

/** h2ClientError answers an h2 request refused before routing (431), counted and logged like HTTP/1.1's. */
function h2ClientError(log: Logger, metrics: Metrics) {
  const noRoute = metrics.forRoute('');
  return (status: number, reason: string, msg: H2Message): void => {
    metrics.observe(noRoute, status, 0);
    log.info({ status, reason, client_ip: msg.ip, proto: 'h2' }, 'client error');
    sendAnswer(msg, status);
  };
}

/** createHttpsListener builds (does not bind) the public TLS server wired to a data plane. */
export function createHttpsListener(dp: DataPlane, o: HttpsListenerOptions, log: Logger, metrics: Metrics): https.Server {
  const s = o.settings;
  const h2 = new H2Sessions(
    h2Settings(s),
    { onRequest: dp.handleH2, onRefused: h2ClientError(log, metrics) },
    log,
  );
  const server = https.createServer({
    SNICallback(this: AcmeTlsSocket, servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) {
      if (this?.acmeTls === true) dp.sni.acmeSniCallback(servername, cb);
      else dp.sni.sniCallback(servername, cb);
    },
    ALPNCallback(this: AcmeTlsSocket, offer: { protocols: string[] }) {
      return selectAlpn.call(this, offer, h2.enabled);
    },
    cert: o.defaultCertificate.cert,
    key: o.defaultCertificate.key,
    ...tlsOptions(o.minVersion),
    maxHeaderSize: s.maxHeaderBytes,
    headersTimeout: s.timeouts.header,
    requestTimeout: 0,
    keepAliveTimeout: s.timeouts.idle,
    connectionsCheckingInterval: 1000,
    noDelay: true,
    sessionIdContext: SESSION_ID_CONTEXT, // a session resumes on any process and replica

  } as https.ServerOptions);
  applyTimeouts(server, s.timeouts.header, s.timeouts.idle);
  dp.attachTlsServer(server);
  server.once('close', () => dp.detachTlsServer(server));
  H2_OF.set(server, h2);
  routeByAlpn(server, h2, metrics);
  // after routeByAlpn: the header's client is put on the TLS socket before it is routed
  watchProxyProtocol(server, log);
  setProxyProtocol(server, s.proxyProtocol);
  server.on('request', dp.handleRequest);
  server.on('upgrade', dp.handleUpgrade);
  server.on('clientError', clientErrorHandler(log, metrics));
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
    log.debug({ code: err.code, reason: err.message, client_ip: clientAddressOf(socket) }, 'tls handshake failed');
  });
  return server;
}

/**
 * routeByAlpn replaces the https.Server's own `secureConnection` listener (Node's HTTP/1.1
 * connection handling) with one that picks by the negotiated protocol: h2 → the h2 sessions,
 * acme-tls/1 → closed (RFC 8737 §3: the connection only proves the certificate), anything else
 * (http/1.1, or no ALPN) → Node's HTTP/1.1 handling, unchanged. One extra call per connection,
 * which also counts the handshake (full or resumed: portico_tls_handshakes_total).
 */
function routeByAlpn(server: https.Server, h2: H2Sessions, metrics: Metrics): void {
  const own = server.listeners('secureConnection');
  if (own.length !== 1) throw new Error(`portico bug: expected one secureConnection listener on https.Server, found ${own.length}`);
  const http1 = own[0] as (this: https.Server, socket: tls.TLSSocket) => void;
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', function (this: https.Server, socket: tls.TLSSocket) {
    metrics.tlsHandshake(socket.isSessionReused());
    const alpn = socket.alpnProtocol;
    if (alpn === 'h2') h2.accept(socket);
    else if (alpn === ACME_TLS) socket.destroy();
    else http1.call(this, socket);
  });
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

/**
 * closeServer stops accepting and resolves when every connection is gone (or `deadline` ms passed,
 * then cuts them). HTTP/1.1 idle connections close at once; h2 sessions get GOAWAY (their open
 * streams finish).
 */
export function closeServer(server: http.Server, deadline: number): Promise<void> {
  const h2 = H2_OF.get(server);
  return new Promise((resolve) => {
    if (!server.listening) {
      server.closeAllConnections();
      dropPendingHeaders(server);
      h2?.destroyAll();
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      server.closeAllConnections();
      dropPendingHeaders(server);
      h2?.destroyAll();
    }, deadline);
    timer.unref();
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
    h2?.goAway();
  });
}

/** formatAddress renders an AddressInfo as host:port (IPv6 bracketed). */
export function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
