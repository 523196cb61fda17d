/**
 * The plain HTTP listener (`server.http`): `/.well-known/acme-challenge/<token>` answers ACME HTTP-01
 * (the key authorization from the data plane's snapshot, else from its control plane, which reads
 * the shared storage; 404 when nobody knows the token), everything else gets a 308 to the same host,
 * path and query on https (port `public_https_port`, omitted when 443) when portico routes that
 * host, else 404: the listener is no open redirector for any name pointed at it (issue 23). A
 * redirect route's host and path (`redirect`, issue 29) is sent straight to its target, one hop
 * instead of two, unless the route sets `hsts`: then to https first, as HSTS preloading requires
 * (the browser must see the header on the same host before it leaves).
 */
import http from 'node:http';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { sendAnswer, sendRedirect } from '../proxy/answers.js';
import { hostOf } from '../proxy/passes.js';
import { applyTimeouts, clientErrorHandler } from './listeners.js';
import { setProxyProtocol, watchProxyProtocol, type ProxyProtocolSettings } from './proxy-protocol.js';

/** ACME_PREFIX is the HTTP-01 challenge path prefix (RFC 8555 §8.3). */
export const ACME_PREFIX = '/.well-known/acme-challenge/';

const VALID_HOST = /^[a-z0-9.-]+$|^[0-9a-f:.]+$/;

/** redirectLocation builds the https URL for a request, or null when the Host header is unusable. */
export function redirectLocation(hostHeader: string | undefined, url: string, httpsPort: number): string | null {
  const host = hostOf(hostHeader);
  if (host === '' || !VALID_HOST.test(host)) return null;
  const h = host.includes(':') ? `[${host}]` : host;
  const port = httpsPort === 443 ? '' : `:${httpsPort}`;
  const path = url.charCodeAt(0) === 47 ? url : '/';
  return `https://${h}${port}${path}`;
}

function plain(res: http.ServerResponse, status: number, detail?: string): void {
  sendAnswer(res, status, undefined, detail);
}

/** RedirectOptions: what the redirect listener needs (read on every request, so reloads apply). */
export interface RedirectOptions {
  httpsPort(): number;
  headerTimeout: number;
  idleTimeout: number;
  maxHeaderBytes: number;
  /** whether a request's host (lower-case, no port) is one portico routes */
  routed(host: string): boolean;
  /** a redirect route's answer for this host and path, when it is sent there directly (absent or null: to https) */
  redirectRoute?(host: string, url: string): { status: number; location: string } | null;
  /** the key authorization for an HTTP-01 token, or null (absent: every token is unknown) */
  acmeAnswer?(token: string): Promise<{ body: string; source: string } | null>;
  /** `server.proxy_protocol` (reloads apply it with applyListenerSettings) */
  proxyProtocol?: ProxyProtocolSettings;
}

const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;

/** answerChallenge serves one HTTP-01 request (RFC 8555 §8.3); it never throws. */
function answerChallenge(o: RedirectOptions, log: Logger, req: http.IncomingMessage, res: http.ServerResponse, url: string): void {
  const token = url.slice(ACME_PREFIX.length).split('?', 1)[0]!;
  if (!TOKEN.test(token) || o.acmeAnswer === undefined) {
    plain(res, 404, 'no such ACME challenge');
    return;
  }
  o.acmeAnswer(token).then(
    (answer) => {
      if (answer === null) {
        log.info({ token: token.slice(0, 8), host: req.headers.host }, 'unknown acme challenge token');
        plain(res, 404, 'no such ACME challenge');
        return;
      }
      log.info({ token: token.slice(0, 8), host: req.headers.host, source: answer.source }, 'acme http-01 challenge answered');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(answer.body) }).end(answer.body);
    },
    (err: Error) => {
      log.error({ err: err.message }, 'looking up an acme challenge failed');
      plain(res, 500, 'challenge lookup failed');
    },
  );
}

/** createRedirectListener builds (does not bind) the plain HTTP server. */
export function createRedirectListener(o: RedirectOptions, log: Logger, metrics: Metrics): http.Server {
  const server = http.createServer({ maxHeaderSize: o.maxHeaderBytes, connectionsCheckingInterval: 1000 } as http.ServerOptions, (req, res) => {
    const url = req.url ?? '/';
    if (url.startsWith(ACME_PREFIX)) {
      answerChallenge(o, log, req, res, url);
      return;
    }
    const location = redirectLocation(req.headers.host, url, o.httpsPort());
    if (location === null) {
      plain(res, 400, 'missing or bad Host header');
      return;
    }
    const host = hostOf(req.headers.host);
    if (!o.routed(host)) {
      plain(res, 404);
      return;
    }
    const direct = o.redirectRoute?.(host, url) ?? null;
    if (direct !== null) sendRedirect(res, direct.status, direct.location);
    else sendRedirect(res, 308, location);
  });
  applyTimeouts(server, o.headerTimeout, o.idleTimeout);
  watchProxyProtocol(server, log);
  if (o.proxyProtocol !== undefined) setProxyProtocol(server, o.proxyProtocol);
  server.on('clientError', clientErrorHandler(log, metrics));
  return server;
}
