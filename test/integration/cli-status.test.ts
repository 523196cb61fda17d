/**
 * `portico status` (issue 26): the dashboard's overview in a terminal, read from a running portico's
 * admin listener — routes with their traffic, an upstream that is down with its reason, the
 * certificates with days left — in plain text when stdout is not a terminal and in colour when asked;
 * with every feature's parts on: the storage (Redis in step, then away) and a redirect route (no
 * upstreams: shown as its redirect, not as "0/0 up").
 */
import t from 'tap';
import { freePort, proxyConfig, request, startBackend, startProxy, startRedis, waitUntil } from '../../test-support/index.js';
import { httpRequest, runCli } from '../../test-support/http.js';
import { renderStatusText } from '../../src/lifecycle/status-text.js';
import { testDir } from '../../test-support/wait.js';

t.test('status prints routes, upstream health with reasons, certificates; exit 0 when ready, 1 unreachable', async (t) => {
  const b = await startBackend('b');
  t.teardown(() => b.close());
  const dead = `http://127.0.0.1:${await freePort()}`;
  const adminPort = await freePort();
  const toml = proxyConfig([
    { name: 'shop', hosts: ['shop.test'], upstreams: [b.origin], tls: 'self-signed' },
    { name: 'api', hosts: ['api.test'], upstreams: [b.origin, dead], tls: 'self-signed', health: 'path = "/", interval = "50ms", unhealthy_threshold = 1' },
  ]).replace('listen = "127.0.0.1:0"', `listen = "127.0.0.1:${adminPort}"`);
  const p = await startProxy(testDir(t), toml, { historyStepMs: 100 });
  t.teardown(() => p.close());
  for (let i = 0; i < 5; i++) t.equal((await request({ port: p.port, servername: 'shop.test' })).status, 200);
  await waitUntil(async () => {
    const doc = JSON.parse((await httpRequest({ port: adminPort, path: '/status.json' })).body) as { routes: Array<{ name: string; requests: { requests: number }; healthy_upstreams: number }> };
    return doc.routes[0]!.requests.requests === 5 && doc.routes[1]!.healthy_upstreams === 1;
  }, 10_000, 'the history counted the requests and the probe took the dead upstream out');

  const r = await runCli(['status', '--config', p.configPath]);
  t.equal(r.code, 0, r.stderr);
  t.notOk(r.stdout.includes('\x1b['), 'no colours when stdout is not a terminal');
  t.match(r.stdout, `portico at 127.0.0.1:${adminPort}`);
  t.match(r.stdout, /: ready, up /);
  // table rows: cells are separated by two spaces or more
  const row = (first: string) => r.stdout.split('\n').map((l) => l.trim().split(/ {2,}/)).find((cells) => cells[0] === first && cells.length > 5);
  t.match(row('shop'), ['shop', 'shop.test', /\/s$/, /\/s$/, /\/s$/, /ms$|–/, '0', '5', '1/1 up'], 'shop: 5 requests, its upstream up');
  t.match(row('api'), ['api', 'api.test', '0/s', '0/s', '0/s', '–', '0', '0', '1/2 up']);
  t.match(r.stdout, new RegExp(`^ {2}api +${dead.replace(/[.:/]/g, '\\$&')} +down +\\S.*ECONNREFUSED`, 'm'), 'the down upstream with its reason');
  t.match(row('shop.test'), ['shop.test', 'self-signed', /^\d{4}-\d\d-\d\d \d\d:\d\d$/, '364'], 'days left of the self-signed certificate');
  t.match(r.stdout, /\nSTORAGE\n {2}directory \/\S+\n/, 'where the managed state lives');
  t.match(r.stdout, /^ {2}shop: round-robin$/m, 'each route\'s policy and features');
  const features = renderStatusText({ portico: {}, routes: [{ name: 'x', hosts: ['x.test'], upstreams: [], balance: 'p2c', compress: ['br', 'gzip'], hsts: 'max-age=1', rate_limit: { count: 100, window: 1000 }, headers: { request: { set: { a: '1' }, remove: [] }, response: { set: {}, remove: ['server'] } } }, { name: 'y', hosts: ['y.test'], upstreams: [], redirect: { to: 'https://z.test', status: 308 } }] }, null, { color: false });
  t.match(features, /^ {2}x: p2c · compress br, gzip · HSTS · 2 header rules · rate limit 100 in 1 s$/m);
  t.match(features, /^ {2}y: redirect 308 → https:\/\/z\.test$/m);

  const doc = JSON.parse((await httpRequest({ port: adminPort, path: '/status.json' })).body) as Record<string, unknown>;
  const coloured = renderStatusText(doc, null, { color: true });
  t.ok(coloured.includes('\x1b[31mdown\x1b[0m'), 'down in red on a terminal');
  t.ok(coloured.includes('\x1b[32mready\x1b[0m'));
  t.match(renderStatusText(doc, null, { color: false }), /ROUTES/, 'without history: still the tables');
  // with storage.redis (fleet-faults.test.ts shows it against a real Redis): its state and the fleet's locks
  const now = Date.parse('2026-06-01T12:00:00Z');
  const redis = { kind: 'redis', url: 'redis://:***@10.0.0.5:6379/0', connected: false, since: '2026-06-01T11:58:00Z', last_error: 'ECONNREFUSED', last_sync: null, locks: [{ name: 'order-a.test', owner: 'x', ttl_ms: 8000, mine: true }] };
  const fleet = renderStatusText({ ...doc, storage: redis }, null, { color: true, now });
  t.ok(fleet.includes('\x1b[31mredis redis://:***@10.0.0.5:6379/0: NOT ANSWERING for 2 min (ECONNREFUSED)'), 'Redis away: in red, with why');
  t.match(fleet, /order-a\.test +this replica +8 s/);

  await p.close();
  const down = await runCli(['status', '--config', p.configPath]);
  t.equal(down.code, 1);
  t.match(down.stderr, /unreachable/);
});

t.test('status shows the storage (Redis in step, then away) and a redirect route as its redirect', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const b = await startBackend('b');
  t.teardown(() => b.close());
  const adminPort = await freePort();
  const toml = proxyConfig([
    { name: 'shop', hosts: ['shop.test'], upstreams: [b.origin], tls: 'self-signed' },
    { name: 'old', hosts: ['old.test'], upstreams: [], tls: 'self-signed', extra: 'redirect = "https://shop.test"\nredirect_status = 301' },
  ], { redis: redis.url }).replace('listen = "127.0.0.1:0"', `listen = "127.0.0.1:${adminPort}"`);
  const p = await startProxy(testDir(t), toml, { historyStepMs: 100 });
  t.teardown(() => p.close());
  const row = (out: string, first: string) => out.split('\n').map((l) => l.trim().split(/ {2,}/)).find((cells) => cells[0] === first && cells.length > 5);
  let r = await runCli(['status', '--config', p.configPath]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`redis redis://127\\.0\\.0\\.1:${redis.port}/0: connected for .*, last sync`), 'Redis in step');
  t.match(row(r.stdout, 'old')?.at(-1), 'redirect 301 → https://shop.test', 'the redirect route shows its redirect');
  await redis.stop();
  await waitUntil(async () => (JSON.parse((await httpRequest({ port: adminPort, path: '/status.json' })).body) as { storage: { connected: boolean } }).storage.connected === false, 10_000, 'redis seen away');
  r = await runCli(['status', '--config', p.configPath]);
  t.match(r.stdout, /redis \S+: NOT ANSWERING for .*; serving from the local cache/, 'Redis away, said plainly');
});
