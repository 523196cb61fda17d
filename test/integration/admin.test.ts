/**
 * The admin listener (DESIGN §5): health and readiness probes (readiness drops to 503 as soon as
 * shutdown begins while traffic is still served for `shutdown_delay`), Prometheus metrics, the status
 * document and page, and `admin.write_from` for POSTs.
 */
import t, { type Test } from 'tap';
import { proxyConfig, request, startBackend, startProxy, type ProxyHandle, type RouteSpec } from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

// tls = "self-signed": these tests are about the admin listener, not certificate files.
async function start(t: Test, extra: Parameters<typeof proxyConfig>[1] = {}, routes?: (origin: string) => RouteSpec[]): Promise<ProxyHandle & { origin: string }> {
  const b = await startBackend('b');
  t.teardown(() => b.close());
  const r = routes?.(b.origin) ?? [{ name: 'web', hosts: ['web.test'], upstreams: [b.origin], tls: 'self-signed' }];
  const p = await startProxy(testDir(t), proxyConfig(r, extra));
  t.teardown(() => p.close());
  return { ...p, origin: b.origin };
}

const admin = (p: ProxyHandle, path: string, method = 'GET') => httpRequest({ port: p.adminPort, path, method });

t.test('/healthz and /readyz answer 200 while running', async (t) => {
  const p = await start(t);
  const h = await admin(p, '/healthz');
  t.equal(h.status, 200);
  const r = await admin(p, '/readyz');
  t.equal(r.status, 200);
});

t.test('shutdown: /readyz is 503 during shutdown_delay while proxying still works', async (t) => {
  const p = await start(t, { server: 'shutdown_delay = "300ms"' });
  t.equal((await admin(p, '/readyz')).status, 200);
  const stopped = p.portico.shutdown();
  const ready = await admin(p, '/readyz');
  t.equal(ready.status, 503, 'not ready once shutdown began');
  t.equal((await admin(p, '/healthz')).status, 200, 'still alive');
  const r = await request({ port: p.port, servername: 'web.test' });
  t.equal(r.status, 200, 'a request during shutdown_delay is still proxied');
  t.equal(r.body, 'b\n');
  await stopped;
  await t.rejects(request({ port: p.port, servername: 'web.test' }), { code: 'ECONNREFUSED' }, 'https closed after shutdown');
});

t.test('/metrics counts proxied requests by route and status', async (t) => {
  const p = await start(t);
  t.equal((await request({ port: p.port, servername: 'web.test' })).status, 200);
  t.equal((await request({ port: p.port, servername: 'nothing.test' })).status, 404);
  const m = await admin(p, '/metrics');
  t.equal(m.status, 200);
  t.match(m.headers['content-type'], /^text\/plain/);
  t.match(m.body, /^portico_requests_total\{route="web",status="200"\} 1$/m);
  t.match(m.body, /^portico_requests_total\{route="",status="404"\} 1$/m, 'no-route requests are counted under route ""');
  t.match(m.body, /^portico_request_duration_seconds_count\{route="web"\} 1$/m);
  t.match(m.body, /^portico_request_duration_seconds_bucket\{le="\+Inf",route="web"\} 1$/m);
});

t.test('/status.json lists routes, certificates and listeners', async (t) => {
  const p = await start(t, {}, (origin) => [
    { name: 'web', hosts: ['web.test', 'www.web.test'], upstreams: [origin, 'http://127.0.0.1:9'], tls: 'self-signed' },
    { name: 'api', hosts: ['api.test'], path_prefix: '/api', upstreams: [origin], tls: 'self-signed' },
  ]);
  const r = await admin(p, '/status.json');
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /^application\/json/);
  const doc = JSON.parse(r.body) as Record<string, unknown>;
  t.match(doc.routes, [
    { name: 'web', hosts: ['web.test', 'www.web.test'], upstreams: [{ url: p.origin }, { url: 'http://127.0.0.1:9' }] },
    { name: 'api', hosts: ['api.test'], path_prefix: '/api', upstreams: [{ url: p.origin }] },
  ]);
  t.equal((doc.routes as unknown[]).length, 2);
  t.match(doc.certificates, [
    { host: 'web.test', source: 'self-signed' },
    { host: 'www.web.test', source: 'self-signed' },
    { host: 'api.test', source: 'self-signed' },
  ]);
  t.same(doc.listeners, { https: `127.0.0.1:${p.port}`, http: `127.0.0.1:${p.httpPort}`, admin: `127.0.0.1:${p.adminPort}` });
});

t.test('/status is a self-contained HTML page naming the routes', async (t) => {
  const p = await start(t, {}, (o) => [{ name: 'shop-frontend', hosts: ['shop.test'], upstreams: [o], tls: 'self-signed' }]);
  const r = await admin(p, '/status');
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /^text\/html/);
  t.match(r.body, /<html/i);
  t.match(r.body, 'shop-frontend');
  t.match(r.body, 'shop.test');
  t.notMatch(r.body, /\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i, 'no external assets');
  t.notMatch(r.body, /@import|url\(\s*["']?(?:https?:)?\/\//i, 'no external assets from CSS');
});

t.test('/status: its files come from the package, locked to the admin listener; the history is JSON', async (t) => {
  const p = await start(t);
  const page = await admin(p, '/status');
  const csp = String(page.headers['content-security-policy']);
  t.match(csp, /default-src 'none'/);
  t.match(csp, /script-src 'self'/);
  t.match(csp, /connect-src 'self'/);
  t.match(csp, /frame-ancestors 'none'/);
  t.notMatch(csp, /unsafe-inline|unsafe-eval/, 'no inline script or style allowed');
  t.notMatch(page.body, /<script>|\son\w+=/i, 'no inline script or handler in the page');
  const assets = [...page.body.matchAll(/(?:src|href)="(\/status\/[^"]+\.(?:js|css|svg))"/g)].map((m) => m[1]!);
  t.same(assets.sort(), ['/status/app.css', '/status/app.js', '/status/icon.svg']);
  for (const [path, type] of [['/status/app.js', /^text\/javascript/], ['/status/chart.js', /^text\/javascript/], ['/status/format.js', /^text\/javascript/], ['/status/app.css', /^text\/css/], ['/status/icon.svg', /^image\/svg\+xml/]] as const) {
    const r = await admin(p, path);
    t.equal(r.status, 200, path);
    t.match(r.headers['content-type'], type);
    t.equal(r.headers['x-content-type-options'], 'nosniff');
  }
  for (const path of ['/status/format.d.ts', '/status/../package.json', '/status/%2e%2e/package.json', '/status/', '/status/app.js/x']) t.equal((await admin(p, path)).status, 404, `${path}: 404`);
  const h = await admin(p, '/status/history.json');
  t.equal(h.status, 200);
  t.match(h.headers['content-type'], /^application\/json/);
  t.match(JSON.parse(h.body), { step_ms: 5000, window_ms: 900_000, times: Array, routes: Array, tls: { full: Array }, upstreams: Array, reloads: Array });
});

t.test('POST from a peer outside write_from is 403', async (t) => {
  const p = await start(t, { admin: 'write_from = ["10.0.0.0/8"]' });
  const r = await admin(p, '/anything', 'POST');
  t.equal(r.status, 403);
  t.equal((await admin(p, '/reload', 'POST')).status, 403, 'also for a known endpoint');
});

t.test('POST with the default write_from (loopback) to an unknown path is 404, not 403', async (t) => {
  const p = await start(t);
  const r = await admin(p, '/anything', 'POST');
  t.equal(r.status, 404);
  t.match(r.body, /anything/);
});
