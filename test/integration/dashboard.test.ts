/**
 * The /status dashboard in a real headless Chromium (issue 26), looked at as an operator would:
 * it loads with no console error and no request to any other origin, fits 1280×800 without
 * horizontal scrolling, draws its charts, shows what /status.json says (requests, health states,
 * workers, days left), updates itself while traffic runs, and with two data-plane workers shows the
 * sum of both; with storage.redis, Redis away is in the attention list, and a redirect route's card
 * shows its redirect. The history samples every 200 ms here (5 s in production) so the page moves quickly.
 */
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { freePort, proxyConfig, request, startBackend, startProxy, startRedis, waitUntil, type ProxyHandle } from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { launchBrowser, type Browser, type PageWatch } from '../../test-support/browser.js';
import { ROOT } from '../../test-support/proxy.js';
import { testDir } from '../../test-support/wait.js';

// the page's globals, inside page.evaluate callbacks (they run in the browser; this program has no DOM lib)
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any;
declare const window: any;
declare function getComputedStyle(e: unknown): any;
/* eslint-enable @typescript-eslint/no-explicit-any */

const APP = join(ROOT, 'test-support', 'upstream-app.mjs');
const STEP_MS = 200;

/** browserFor starts a Chromium for one test (closed at its end). */
async function browserFor(t: Test): Promise<Browser> {
  const b = await launchBrowser(testDir(t));
  t.teardown(() => b.close());
  return b;
}

type Status = {
  portico: { ready: boolean };
  routes: Array<{ name: string; requests: { requests: number }; upstreams: Array<{ url: string; state: string }> }>;
  apps: Array<{ name: string; workers: Array<{ state: string }> }>;
  certificates: Array<{ host: string; not_after: string }>;
  data_plane: { workers: Array<{ connections: number; up: boolean }> };
};

const statusOf = async (p: ProxyHandle): Promise<Status> => JSON.parse((await httpRequest({ port: p.adminPort, path: '/status.json' })).body) as Status;

/** traffic sends requests to a host until stopped, three at a time (each on a new TLS connection). */
function traffic(p: ProxyHandle, host: string): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const loop = (async () => {
    while (running) {
      await Promise.all([0, 1, 2].map(() => request({ port: p.port, servername: host }).then(() => sent++, () => undefined)));
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return sent;
    },
  };
}

/** settled waits until /status.json counts `n` requests on a route two history samples in a row. */
async function settled(p: ProxyHandle, route: string, n?: number): Promise<Status> {
  let last = -1;
  let doc!: Status;
  await waitUntil(async () => {
    doc = await statusOf(p);
    const now = doc.routes.find((r) => r.name === route)!.requests.requests;
    const ok = now === last && (n === undefined || now === n);
    last = now;
    if (!ok) await new Promise((r) => setTimeout(r, STEP_MS));
    return ok;
  }, 15_000, `route ${route} counted ${n ?? 'everything'}`);
  return doc;
}

/** noForeignRequests: every URL the page asked for is on the admin listener. */
function foreign(w: PageWatch, p: ProxyHandle): string[] {
  return w.requests.filter((u) => new URL(u).origin !== `http://127.0.0.1:${p.adminPort}`);
}

t.test('a busy instance: self-contained, fits 1280×800, charts drawn, values as /status.json, live', async (t) => {
  const ok = await startBackend('ok');
  t.teardown(() => ok.close());
  const dead = `http://127.0.0.1:${await freePort()}`;
  const appPort = await freePort();
  const toml = proxyConfig([
    { name: 'shop', hosts: ['shop.test'], upstreams: [], tls: 'self-signed', health: 'path = "/", interval = "100ms"', extra: 'app = "shop"' },
    { name: 'api', hosts: ['api.test'], upstreams: [ok.origin, dead], tls: 'self-signed', health: 'path = "/", interval = "100ms", unhealthy_threshold = 1', extra: 'balance = "least_requests"\nhsts = "max-age=60"' },
  ])
    .concat(`\n[[apps]]\nname = "shop"\ncommand = [${JSON.stringify(process.execPath)}, ${JSON.stringify(APP)}]\nworkers = 2\nport = ${appPort}\nmemory = "128MiB"\n`);
  const p = await startProxy(testDir(t), toml, { historyStepMs: STEP_MS, supervisorTuning: { sampleMs: STEP_MS } });
  t.teardown(() => p.close());
  const load = [traffic(p, 'shop.test'), traffic(p, 'api.test')];
  t.teardown(() => Promise.all(load.map((l) => l.stop())));

  const browser = await browserFor(t);
  const w = await browser.open();
  await w.page.goto(`http://127.0.0.1:${p.adminPort}/status`, { waitUntil: 'load' });
  t.equal(await w.page.title(), 'portico status');
  // while traffic runs the page redraws itself: the shop card's request count grows without a reload
  const count = () => w.page.$eval('[data-route="shop"] [data-stat="requests"]', (el) => Number(el.textContent!.replace(/,/g, '')));
  await w.page.waitForSelector('[data-route="shop"] [data-stat="requests"]');
  const first = await count();
  await w.page.waitForFunction((n) => Number(document.querySelector('[data-route="shop"] [data-stat="requests"]')!.textContent!.replace(/,/g, '')) > n, first, { timeout: 10_000 });
  t.ok((await count()) > first, 'the request count went up while traffic ran');
  t.match(await w.page.textContent('#live'), /^live · updated/, 'the page says it is live');

  // charts: each has a line of several points (latency has gaps where a step answered nothing)
  const charts = ['route-shop-rps', 'route-shop-lat', 'route-api-rps', 'route-api-lat', 'app-shop-cpu', 'app-shop-rss', 'tls', 'self-cpu', 'self-rss'];
  const longest = (ids: string[]) =>
    w.page.evaluate((list) => list.map((id) => Math.max(0, ...[...document.querySelectorAll(`[data-chart="${id}"] path.line`)].map((p) => (p.getAttribute('d') ?? '').split('L').length))), ids);
  await w.page.waitForFunction((list) => list.every((id) => [...document.querySelectorAll(`[data-chart="${id}"] path.line`)].some((p) => (p.getAttribute('d') ?? '').split('L').length > 3)), charts, { timeout: 15_000 }).catch(() => undefined);
  const points = await longest(charts);
  charts.forEach((id, i) => t.ok(points[i]! > 3, `chart ${id} has a drawn line (${points[i]} points)`));
  t.ok(await w.page.$('[data-chart="app-shop-rss"] line.limit'), 'the memory chart shows the limit');

  // health: the dead upstream is down with its reason, in the table and the attention list
  const deadCell = `[data-route="api"][data-upstream="${dead}"]`;
  await w.page.waitForSelector(`${deadCell}[data-state="down"]`, { timeout: 10_000 });
  t.match(await w.page.textContent(`${deadCell} .reason`), /ECONNREFUSED/);
  t.match(await w.page.textContent('#attention'), /route api: 1 of 2 upstreams out of the pool/);

  // the traffic stops: once the history has it all, the page and /status.json agree
  await Promise.all(load.map((l) => l.stop()));
  const doc = await settled(p, 'shop');
  await w.page.waitForFunction(
    (n) => Number(document.querySelector('[data-route="shop"] [data-stat="requests"]')?.textContent?.replace(/,/g, '')) === n,
    doc.routes[0]!.requests.requests,
    { timeout: 10_000 },
  );
  for (const r of doc.routes) {
    t.equal(await w.page.$eval(`[data-route="${r.name}"] [data-stat="requests"]`, (el) => el.textContent), r.requests.requests.toLocaleString('en'), `${r.name}: requests as /status.json`);
    for (const u of r.upstreams) {
      const shown = await w.page.$eval(`.state-cell[data-route="${r.name}"][data-upstream="${u.url}"]`, (el) => el.getAttribute('data-state'));
      t.equal(shown, u.state, `${r.name} ${u.url}: ${u.state}`);
    }
  }
  const app = doc.apps[0]!;
  t.equal(await w.page.textContent('[data-app="shop"] [data-stat="workers"]'), `${app.workers.filter((x) => x.state === 'running').length} of ${app.workers.length} workers running`);
  t.equal(await w.page.$$eval('[data-app="shop"] table.workers tbody tr', (rows) => rows.length), app.workers.length, 'one row per worker');
  const days = await w.page.$$eval('table.certs tbody tr', (rows) => rows.map((r) => [r.cells[0]!.textContent, r.querySelector('[data-days]')!.getAttribute('data-days')]));
  t.same(days, doc.certificates.map((c) => [c.host, String(Math.floor((Date.parse(c.not_after) - Date.now()) / 86_400_000))]), 'days left as /status.json');
  t.match(await w.page.textContent('[data-storage="file"]'), /^directory \//, 'the storage (fleet-faults.test.ts shows Redis)');
  t.equal(await w.page.textContent('[data-features="shop"]'), 'round-robin', 'each route\'s policy and features');
  t.equal(await w.page.textContent('[data-features="api"]'), 'least requests · HSTS');

  // as a person sees it: no horizontal scrolling at 1280×800, nothing from elsewhere, no error
  t.equal(await w.page.evaluate(() => document.documentElement.scrollWidth), 1280, 'no horizontal overflow at 1280 px');
  const overflowing = await w.page.$$eval('body *', (els) => els.filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5).map((e) => e.tagName + '.' + e.className));
  t.same(overflowing, [], 'no element reaches past the right edge');
  t.same(foreign(w, p), [], 'no request to another origin');
  t.same(w.errors, [], 'no console error');

  // dark: the same page in the system's dark scheme
  const dark = await browser.open({ dark: true });
  await dark.page.goto(`http://127.0.0.1:${p.adminPort}/status`);
  const bg = (x: PageWatch) => x.page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
  t.not(await bg(dark), await bg(w), 'dark background when the system prefers dark');
  t.same(dark.errors, []);
});

t.test('server.workers = 2: the page shows the sum of both data-plane workers', async (t) => {
  const ok = await startBackend('ok');
  t.teardown(() => ok.close());
  const p = await startProxy(testDir(t), proxyConfig([{ name: 'web', hosts: ['web.test'], upstreams: [ok.origin], tls: 'self-signed' }], { server: 'workers = 2', log: 'access = false' }), { historyStepMs: STEP_MS });
  t.teardown(() => p.close());
  // new connections until both workers have served some (the kernel spreads them)
  let sent = 0;
  const statuses = new Set<number>();
  await waitUntil(async () => {
    for (let i = 0; i < 10; i++) statuses.add((await request({ port: p.port, servername: 'web.test' })).status);
    sent += 10;
    const workers = (await statusOf(p)).data_plane.workers;
    return workers.length === 2 && workers.every((x) => x.connections > 0);
  }, 20_000, 'both workers served requests');
  t.same([...statuses], [200]);
  const doc = await settled(p, 'web', sent);
  t.equal(doc.routes[0]!.requests.requests, sent, `/status.json counts all ${sent} requests`);

  const w = await (await browserFor(t)).open();
  await w.page.goto(`http://127.0.0.1:${p.adminPort}/status`);
  t.equal(await w.page.textContent('[data-route="web"] [data-stat="requests"]'), sent.toLocaleString('en'), 'the page shows the sum');
  t.match(await w.page.textContent('[data-tile="data-plane"] .value'), '2 of 2 workers');
  const rows = await w.page.$$eval('table.data-plane tbody tr', (rs) => rs.map((r) => Number(r.cells[7]!.textContent!.replace(/,/g, ''))));
  t.equal(rows.length, 2);
  t.ok(rows.every((n) => n > 0), `each worker served connections: ${rows.join(' + ')}`);
  t.same(foreign(w, p), []);
  t.same(w.errors, []);
});

t.test('storage.redis away: needs attention; a redirect route shows its redirect', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.close());
  const ok = await startBackend('ok');
  t.teardown(() => ok.close());
  const p = await startProxy(testDir(t), proxyConfig([
    { name: 'web', hosts: ['web.test'], upstreams: [ok.origin], tls: 'self-signed' },
    { name: 'old', hosts: ['old.test'], upstreams: [], tls: 'self-signed', extra: 'redirect = "https://web.test"' },
  ], { redis: redis.url }), { historyStepMs: STEP_MS });
  t.teardown(() => p.close());
  await redis.stop();
  await waitUntil(async () => ((await statusOf(p)) as unknown as { storage: { connected: boolean } }).storage.connected === false, 10_000, 'redis seen away');
  const w = await (await browserFor(t)).open();
  await w.page.goto(`http://127.0.0.1:${p.adminPort}/status`);
  t.match(await w.page.textContent('#attention'), /storage: redis redis:\/\/127\.0\.0\.1:\d+\/0: NOT ANSWERING for .*serving from the local cache/);
  t.match(await w.page.textContent('[data-route="old"] .card-head'), 'redirect 308 → https://web.test');
  t.same(w.errors, []);
});
