/**
 * The admin listener (loopback by default): GET /healthz /readyz /metrics /status /status.json.
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

/** PostHandler answers one POST route; it returns status and a JSON body. */
export type PostHandler = (req: http.IncomingMessage) => Promise<{ status: number; body: unknown }>;

/** AdminOptions are the admin listener's collaborators. */
export interface AdminOptions {
  metrics: Metrics;
  log: Logger;
  /** the status document (/status.json, /status) */
  status: () => unknown;
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

function send(res: http.ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' }).end(body);
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value, null, 2) + '\n');
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
  watchProxyProtocol(server, o.log);
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
      return send(res, 200, 'text/html; charset=utf-8', renderStatusPage(o.status()));
    default:
      return sendAnswer(res, 404, NO_STORE, 'not found');
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

const esc = (s: unknown): string =>
  String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** table renders rows of plain objects as an HTML table (nested values as JSON). */
function table(rows: Array<Record<string, unknown>>): string {
  if (rows.length === 0) return '<p class="none">none</p>';
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) => esc(typeof v === 'object' && v !== null ? JSON.stringify(v) : v);
  return `<table><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>${rows
    .map((r) => `<tr>${cols.map((c) => `<td${c === 'state' ? ` class="${esc(r[c])}"` : ''}>${cell(r[c])}</td>`).join('')}</tr>`)
    .join('')}</table>`;
}

/** upstreamRows flattens routes[].upstreams[] into one row per (route, upstream) for the page. */
function upstreamRows(routes: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(routes)) return [];
  return routes.flatMap((r: { name?: string; upstreams?: Array<Record<string, unknown>> }) =>
    (r.upstreams ?? []).map((u) => {
      const c = u.last_check as { at: string; ok: boolean; status: number | null; latency_ms: number; error: string | null } | null;
      return {
        route: r.name,
        upstream: u.url,
        state: u.state,
        reason: u.reason,
        last_check: c === null ? 'none' : `${c.at} ${c.ok ? 'ok' : 'failed'} ${c.status ?? c.error} (${c.latency_ms} ms)`,
        passes: u.consecutive_passes,
        fails: u.consecutive_fails,
        ejected_until: u.ejected_until,
      };
    }),
  );
}

/** renderStatusPage is a small self-contained HTML view of the status document (no external assets). */
export function renderStatusPage(doc: unknown): string {
  const d = doc as Record<string, unknown>;
  const sections = Object.entries(d)
    .map(([k, v]) => {
      if (k === 'routes') return `<h2>upstreams</h2>${table(upstreamRows(v))}<h2>routes</h2>${table((v as Array<Record<string, unknown>>).map(({ upstreams: _u, ...rest }) => rest))}`;
      if (Array.isArray(v)) return `<h2>${esc(k)}</h2>${table(v.map((x) => (typeof x === 'object' && x !== null ? (x as Record<string, unknown>) : { value: x })))}`;
      if (typeof v === 'object' && v !== null) return `<h2>${esc(k)}</h2>${table([v as Record<string, unknown>])}`;
      return `<p><b>${esc(k)}</b>: ${esc(v)}</p>`;
    })
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><title>portico status</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}.none{color:#888}
td.up{background:#e6f6e6}td.down{background:#fbe3e3}td.trial{background:#fff5d6}</style>
</head><body><h1>portico</h1>
${sections}
</body></html>
`;
}
