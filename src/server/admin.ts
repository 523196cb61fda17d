/**
 * The admin listener (loopback by default): GET /healthz /readyz /metrics /status.json, the
 * dashboard /status with its files under /status/ and its history /status/history.json.
 * POST endpoints accept only peers in `admin.write_from` (others get 403), so the read-only probes
 * can be exposed safely. Handlers for POST routes are registered by the features that own them.
 */
import http from 'node:http';
import type { BlockList } from 'node:net';
import { isIP, isIPv6 } from 'node:net';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { sendAnswer } from '../proxy/answers.js';
import { hostOf, unwrapIp } from '../proxy/passes.js';
import { setProxyProtocol, watchProxyProtocol, type ProxyProtocolSettings } from './proxy-protocol.js';
import { PAGE_HEADERS, renderStatusPage, statusAsset } from './status-page.js';

/** PostHandler answers one POST route; it returns status and a JSON body. */
export type PostHandler = (req: http.IncomingMessage) => Promise<{ status: number; body: unknown }>;

/** AdminOptions are the admin listener's collaborators. */
export interface AdminOptions {
  metrics: Metrics;
  log: Logger;
  /** the status document (/status.json, /status) */
  status: () => unknown;
  /** the last 15 minutes (/status/history.json, /status) */
  history: () => unknown;
  /** true once listeners are up and until shutdown starts */
  ready: () => boolean;
  /** who may POST (null: nobody) */
  writeFrom: () => BlockList | null;
  /** POST path → handler */
  post?: Map<string, PostHandler>;
  /** `server.proxy_protocol`: a balancer in front of admin too (then write_from sees the real client); reloads use setProxyProtocol */
  proxyProtocol?: ProxyProtocolSettings;
}

const NO_STORE = { 'cache-control': 'no-store' };

function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, headers: Readonly<Record<string, string>> = NO_STORE): void {
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(body) }).end(body);
}

/** sendJson answers JSON, indented unless `compact` (the history: long arrays of numbers). */
function sendJson(res: http.ServerResponse, status: number, value: unknown, compact = false): void {
  send(res, status, 'application/json; charset=utf-8', (compact ? JSON.stringify(value) : JSON.stringify(value, null, 2)) + '\n');
}

/** allowedToWrite checks a peer against write_from. */
export function allowedToWrite(list: BlockList | null, remote: string | undefined): boolean {
  if (list === null || remote === undefined) return false;
  const ip = unwrapIp(remote);
  return list.check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4');
}

/** createAdminListener builds (does not bind) the admin HTTP server. */
export function createAdminListener(o: AdminOptions): http.Server {
  const server = http.createServer((req, res) => {
    handle(o, req, res).catch((err: Error) => {
      o.log.error({ err: err.message, path: req.url }, 'admin request failed');
      if (!res.headersSent) sendJson(res, 500, { error: err.message });
      else res.destroy();
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  watchProxyProtocol(server, o.log, { optional: true }); // probes and the CLI reach admin without a balancer
  if (o.proxyProtocol !== undefined) setProxyProtocol(server, o.proxyProtocol);
  return server;
}

async function handle(o: AdminOptions, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  if (req.method === 'POST') return handlePost(o, path, req, res);
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendAnswer(res, 405, NO_STORE);
  switch (path) {
    case '/healthz':
      return send(res, 200, 'text/plain', 'ok\n');
    case '/readyz':
      return o.ready() ? send(res, 200, 'text/plain', 'ready\n') : sendAnswer(res, 503, NO_STORE, 'not ready');
    case '/metrics':
      return send(res, 200, o.metrics.contentType, await o.metrics.text());
    case '/status.json':
      return sendJson(res, 200, o.status());
    case '/status':
      return send(res, 200, 'text/html; charset=utf-8', renderStatusPage(o.status(), o.history()), { ...PAGE_HEADERS, 'cache-control': 'no-store' });
    case '/status/history.json':
      return sendJson(res, 200, o.history(), true);
    default: {
      const asset = path.startsWith('/status/') ? statusAsset(path.slice('/status/'.length)) : null;
      if (asset !== null) return send(res, 200, asset.type, asset.body, PAGE_HEADERS);
      return sendAnswer(res, 404, NO_STORE, 'not found');
    }
  }
}

/**
 * browserRefusal says why a POST must be refused because a browser page sent it from another origin,
 * or null. A page on any site can make a browser POST to http://127.0.0.1:9901/reload (a form, or a
 * fetch with `Content-Type: text/plain`, needs no CORS preflight), and the peer is then the
 * operator's own loopback, which write_from allows (issue 23). Browsers mark such requests with
 * `Sec-Fetch-Site` and `Origin`; the CLI, curl and scripts send neither. Same-origin is accepted only
 * for an IP-literal or localhost Host (a rebound DNS name is not the operator's admin page).
 */
export function browserRefusal(headers: http.IncomingHttpHeaders): string | null {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `cross-site browser request (Sec-Fetch-Site: ${site})`;
  const origin = headers.origin;
  if (origin === undefined) return null;
  const host = headers.host ?? '';
  if (origin !== `http://${host}`) return `cross-origin browser request (Origin: ${origin})`;
  const name = hostOf(host);
  if (name !== 'localhost' && isIP(name) === 0) return `browser request for a host name (${name}), not an address`;
  return null;
}

async function handlePost(o: AdminOptions, path: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  if (!allowedToWrite(o.writeFrom(), req.socket.remoteAddress)) {
    o.log.warn({ path, client_ip: req.socket.remoteAddress }, 'admin write refused');
    return sendJson(res, 403, { error: 'forbidden: peer not in admin.write_from' });
  }
  const refusal = browserRefusal(req.headers);
  if (refusal !== null) {
    o.log.warn({ path, client_ip: req.socket.remoteAddress, reason: refusal }, 'admin write refused');
    return sendJson(res, 403, { error: `forbidden: ${refusal}` });
  }
  // an exact path, else the longest registered prefix ending in "/" (`/apps/` for /apps/NAME/restart)
  let handler = o.post?.get(path);
  if (handler === undefined && o.post !== undefined) {
    const prefix = [...o.post.keys()].filter((k) => k.endsWith('/') && path.startsWith(k)).sort((a, b) => b.length - a.length)[0];
    if (prefix !== undefined) handler = o.post.get(prefix);
  }
  if (handler === undefined) return sendJson(res, 404, { error: `no such endpoint: POST ${path}` });
  const { status, body } = await handler(req);
  sendJson(res, status, body);
}
