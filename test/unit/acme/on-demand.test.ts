/**
 * On-demand TLS, the control plane (acme/on-demand.ts) with a real ask endpoint (HTTP on port 0)
 * and the ACME manager on a fake issuer: the ask decides every order (first and renewal), answers
 * are cached, concurrent asks are capped, `rate` caps orders (the rest are postponed, not failed),
 * and a name the endpoint stops approving is not renewed. Plus the order limiter's settings and `settled` (shutdown waits on it).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { OrderLimiter } from '../../../src/acme/limiter.js';
import { AcmeManager, storagePrefix } from '../../../src/acme/manager.js';
import { OnDemand, onDemandHosts } from '../../../src/acme/on-demand.js';
import { Metrics } from '../../../src/metrics.js';
import { FileStorage } from '../../../src/storage/file.js';
import { captureLogger, FakeIssuer, makeCA } from '../../../test-support/index.js';
import { waitUntil as until } from '../../../test-support/wait.js';
import { testDir } from '../../../test-support/wait.js';

const DIRECTORY = 'https://ca.test/directory';
const PREFIX = storagePrefix(DIRECTORY);

/** askServer answers 200 for names in `allow` (after `delayMs`), counting asks and the most at once. */
async function askServer(t: Test, allow: Set<string>, delayMs = 0) {
  const state = { asks: [] as string[], running: 0, most: 0 };
  const server = http.createServer((req, res) => {
    const d = new URL(req.url ?? '/', 'http://x').searchParams.get('domain') ?? '';
    state.asks.push(d);
    state.most = Math.max(state.most, ++state.running);
    setTimeout(() => {
      state.running--;
      res.writeHead(allow.has(d) ? 200 : 404).end();
    }, delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ask`, state };
}

function setup(t: Test, ask: string, rate = { count: 10, window: 60_000 }, issuer?: FakeIssuer, now?: () => number) {
  const storage = new FileStorage(testDir(t));
  const { log, lines } = captureLogger();
  const metrics = new Metrics();
  const od = new OnDemand({ storage, log, metrics, now });
  od.configure({ ask, rate });
  const installs: string[] = [];
  const m = new AcmeManager({
    hosts: [], acme: { directory: DIRECTORY, challenges: ['http-01'], renew_before: { fraction: 1 / 3 }, backoff: { min: 100, max: 400 } },
    storage, issuer: async () => issuer ?? new FakeIssuer(() => Promise.reject(new Error('no CA here'))), limiter: new OrderLimiter({ perWindow: 1000 }),
    install: (h) => installs.push(h), log, metrics, now, lockOptions: { pollMs: 20 }, checkIntervalMs: 50,
    onDemand: { hosts: [], gate: od.gate(PREFIX) },
  });
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  m.start(ac.signal);
  return { od, m, storage, lines, metrics, installs };
}

t.test('approved: ordered once, served, remembered; refused or unorderable: never ordered; answers cached', async (t) => {
  const ca = await makeCA();
  const { url, state } = await askServer(t, new Set(['ok.example.com']));
  const issuer = new FakeIssuer((req) => ca.issue(req.names));
  const { od, m, storage, installs } = setup(t, url, undefined, issuer);
  const pems = await od.certificate('OK.example.com', m);
  t.ok(pems?.cert.includes('BEGIN CERTIFICATE'), 'a certificate');
  t.strictSame(issuer.calls.map((c) => c.names), [['ok.example.com']], 'one order, for the lower-cased name');
  t.strictSame(installs, ['ok.example.com'], 'installed (published)');
  t.strictSame(await onDemandHosts(storage, PREFIX), ['ok.example.com'], 'remembered');
  t.equal(await od.certificate('no.example.com', m), null);
  t.equal(await od.certificate('no.example.com', m), null);
  t.equal(await od.certificate('127.0.0.1', m), null, 'an IP is never asked about');
  t.equal(await od.certificate('bad_name.example.com', m), null);
  t.strictSame(state.asks, ['ok.example.com', 'no.example.com'], 'one ask per name: the gate and the second handshake used the cached answer');
  t.equal(issuer.calls.length, 1, 'nothing ordered for the refused name');
  t.equal(m.status().find((s) => s.host === 'ok.example.com')?.on_demand, true);
});

t.test('concurrent asks are capped; the rest are "busy" (default certificate), not queued', async (t) => {
  const { url, state } = await askServer(t, new Set(), 200);
  const { od, m, metrics } = setup(t, url);
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => od.certificate(`n${i}.example.com`, m)));
  t.ok(answers.every((a) => a === null));
  t.ok(state.most <= 8, `at most 8 asks at once (${state.most})`);
  t.equal(state.asks.length, 8, 'the others were not asked');
  t.match(await metrics.text(), /portico_acme_on_demand_total\{result="busy"\} 32/);
});

t.test('rate caps orders: the rest are postponed until a token is free', async (t) => {
  const ca = await makeCA();
  const names = ['a.example.com', 'b.example.com', 'c.example.com'];
  const { url } = await askServer(t, new Set(names));
  const issuer = new FakeIssuer((req) => ca.issue(req.names));
  const { od, m, lines } = setup(t, url, { count: 2, window: 60_000 }, issuer);
  const got = await Promise.all(names.map((n) => od.certificate(n, m)));
  t.equal(got.filter((g) => g !== null).length, 2, 'two certificates');
  t.equal(issuer.calls.length, 2, 'two orders');
  const postponed = lines.find((l) => l.msg === 'on-demand order postponed')!;
  t.match(postponed, { level: 'info', reason: /on_demand\.rate \(2 orders per 60000ms\) reached/ });
  t.equal(m.status().find((s) => s.host === postponed.host)?.attempts, 0, 'postponed is not a failure');
});

t.test('a name the ask endpoint stops approving is not renewed (until it approves it again)', async (t) => {
  const ca = await makeCA();
  const allow = new Set(['renew.example.com']);
  const { url } = await askServer(t, allow);
  let now = Date.now();
  const issuer = new FakeIssuer((req) => ca.issue(req.names, { days: 3 }));
  const { od, m, lines, storage } = setup(t, url, undefined, issuer, () => now);
  t.ok(await od.certificate('renew.example.com', m));
  allow.delete('renew.example.com');
  now += 2.5 * 86_400_000 + 61_000; // due for renewal, and the cached approval has expired
  await until(() => lines.some((l) => l.msg === 'on-demand name no longer approved: not renewing it (served until it expires or the next reload)'), 5000);
  t.equal(issuer.calls.length, 1, 'no renewal order');
  t.strictSame(await onDemandHosts(storage, PREFIX), [], 'forgotten in storage');

  // approved again later: maintained (and renewed) again
  allow.add('renew.example.com');
  now += 61_000;
  await od.certificate('renew.example.com', m);
  await until(() => issuer.calls.length === 2, 5000);
  t.pass('renewed once the endpoint approves it again');
  t.strictSame(await onDemandHosts(storage, PREFIX), ['renew.example.com'], 'remembered again');
});

t.test('an approved name whose order fails is backed off by the ledger: more handshakes order nothing more', async (t) => {
  const { url } = await askServer(t, new Set(['fail.example.com']));
  let now = Date.now(); // frozen: only the test moves time, so the back-off cannot end by itself
  const issuer = new FakeIssuer(() => Promise.reject(new Error('urn:ietf:params:acme:error:connection: refused')));
  const { od, m } = setup(t, url, undefined, issuer, () => now);
  t.equal(await od.certificate('fail.example.com', m), null, 'the first handshake gets the default certificate');
  t.equal(issuer.calls.length, 1, 'one order');
  const st = m.status().find((s) => s.host === 'fail.example.com');
  t.match(st, { attempts: 1, last_error: /connection: refused/ }, 'the failure is in the ledger');
  for (let i = 0; i < 10; i++) t.equal(await od.certificate('fail.example.com', m), null);
  await new Promise((r) => setTimeout(r, 300)); // several maintenance checks (every 50 ms) inside the back-off
  t.equal(issuer.calls.length, 1, 'handshakes and checks during the back-off order nothing');
  now += 500; // past the back-off (min 100 ms, max 400 ms here)
  await until(() => issuer.calls.length === 2, 5000);
  // the order is called before its failure is written to the ledger: wait for the record, not the call
  await until(() => m.status().find((s) => s.host === 'fail.example.com')?.attempts === 2, 5000);
  t.equal(issuer.calls.length, 2, 'tried again once the back-off ended, once');
});

t.test('the order limiter: configurable, and settled() waits for running orders', async (t) => {
  const l = new OrderLimiter({ perWindow: 1, windowMs: 60_000 });
  await l.run(async () => undefined);
  const ac = new AbortController();
  setTimeout(() => ac.abort(new Error('waited')), 100);
  await t.rejects(l.run(async () => undefined, ac.signal), /waited/, '1 per minute: the second waits');
  l.configure({ perWindow: 5 });
  await l.run(async () => undefined);
  t.pass('configure raised the limit for the next one');
  let finish!: () => void;
  const running = l.run(() => new Promise<void>((r) => (finish = r)));
  t.equal(l.running, 1);
  t.equal(await l.settled(50), false, 'not settled while an order runs');
  setTimeout(() => finish(), 50);
  t.equal(await l.settled(5000), true, 'settled when it ends');
  await running;
});
