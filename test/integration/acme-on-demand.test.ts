/**
 * On-demand TLS (issue 27) against pebble: a `hosts = ["*"]` route with `[acme.on_demand] ask`.
 *
 * - an approved name gets a CA certificate at its first handshake (which waits for it), is routed by
 *   the "*" route, shown on /status.json, remembered in storage and served from storage after a
 *   restart; pebble's own TLS-ALPN-01 validation handshakes never ask or order;
 * - a refused name never causes an order, and its refusal is cached (one ask, however many handshakes);
 * - 50 handshakes for random approved names cause at most `rate` orders;
 * - 2000 handshakes for random names, refused, complete with the default certificate: no order, one
 *   ask per name at most, nothing left waiting;
 * - with data-plane workers (server.workers = 2) the question travels over IPC.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import {
  acmeConfig, obtained, ordering, request, spawnPortico, startBackend, startPebble, startProxy, TEST_TUNING, type ProxyHandle,
} from '../../test-support/index.js';
import { runCli } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const pebble = await startPebble();
t.teardown(() => pebble.stop());
const backend = await startBackend('tenant');
t.teardown(() => backend.close());

/** the ask endpoint: approves `*.ok.test`, refuses the rest; counts asks per name */
const asks = new Map<string, number>();
const askServer = http.createServer((req, res) => {
  const domain = new URL(req.url ?? '/', 'http://x').searchParams.get('domain') ?? '';
  asks.set(domain, (asks.get(domain) ?? 0) + 1);
  res.writeHead(domain.endsWith('.ok.test') ? 200 : 403).end();
});
await new Promise<void>((r) => askServer.listen(0, '127.0.0.1', r));
t.teardown(() => new Promise<void>((r) => askServer.close(() => r())));
const ASK = `http://127.0.0.1:${(askServer.address() as AddressInfo).port}/allowed`;

const config = (o: { rate?: string; server?: string; storage?: string } = {}) => acmeConfig(pebble, [
  { hosts: ['listed.test'], upstreams: [backend.origin], tls: 'self-signed' },
  { name: 'customers', hosts: ['*'], upstreams: [backend.origin], tls: 'acme' },
], { challenges: ['tls-alpn-01'], server: o.server, storage: o.storage, extra: `[acme.on_demand]\nask = "${ASK}"\nrate = "${o.rate ?? '3 in 1m'}"` });

interface Shake {
  authorized: boolean;
  cn: string | undefined;
  error?: string;
}

/** shake handshakes with SNI `name`, verifying against `ca`. */
function shake(port: number, name: string, ca: string): Promise<Shake> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: name, ca, rejectUnauthorized: false }, () => {
      const pc = s.getPeerCertificate();
      resolve({ authorized: s.authorized, cn: [pc.subject?.CN].flat()[0], error: s.authorizationError ? String(s.authorizationError) : undefined });
      s.end();
    });
    s.setTimeout(20_000, () => s.destroy(new Error('timeout')));
    s.on('error', (err) => resolve({ authorized: false, cn: undefined, error: err.message }));
  });
}

const orders = (p: ProxyHandle) => p.logs.filter(ordering());
const dir = testDir(t);
let p: ProxyHandle;

t.test('an approved name gets a CA certificate at its first handshake', async (t) => {
  p = await startProxy(dir, config(), { acmeTuning: TEST_TUNING });
  const root = await pebble.root();
  const first = await shake(p.port, 'shop.ok.test', root);
  t.ok(first.authorized, `the first handshake waited for the certificate and got it (${first.error ?? 'verified'})`);
  t.equal(asks.get('shop.ok.test'), 1, 'asked once: pebble\'s validation handshakes (acme-tls/1) did not ask');
  t.equal(orders(p).length, 1, 'one order');
  const r = await request({ port: p.port, servername: 'shop.ok.test', ca: root });
  t.equal(r.status, 200, 'routed by the "*" route');
  t.equal(r.body, 'tenant\n');
  const status = (await (await fetch(`http://127.0.0.1:${p.adminPort}/status.json`)).json()) as { certificates: Array<Record<string, unknown>> };
  const c = status.certificates.find((x) => x.host === 'shop.ok.test');
  t.match(c, { source: 'acme', state: 'valid', on_demand: true }, 'on /status.json');
  t.match(status.certificates.find((x) => x.host === '*'), { source: 'on-demand' });
  t.ok(existsSync(join(dir, 'state', 'acme', `127.0.0.1-${pebble.acmePort}-dir`, 'on-demand', 'shop.ok.test.json')), 'remembered in storage');
  const listed = await shake(p.port, 'listed.test', root);
  t.equal(listed.cn, 'listed.test', 'a listed name keeps its own (self-signed) certificate');
  t.notOk(asks.has('listed.test'), 'and is never asked about');
});

t.test('a refused name never causes an order; its refusal is cached', async (t) => {
  const root = await pebble.root();
  const before = orders(p).length;
  for (let i = 0; i < 5; i++) {
    const r = await shake(p.port, 'evil.test', root);
    t.equal(r.authorized, false);
    t.equal(r.cn, 'portico default', 'the default certificate');
  }
  t.equal(asks.get('evil.test'), 1, 'asked once for 5 handshakes');
  t.equal(orders(p).length, before, 'no order');
  t.notOk(p.logs.some((l) => l.host === 'evil.test' && l.msg === 'ordering certificate'));
});

t.test('50 handshakes for random approved names cause at most `rate` orders', async (t) => {
  const root = await pebble.root();
  const names = Array.from({ length: 50 }, () => `n${randomBytes(5).toString('hex')}.ok.test`);
  const results = await Promise.all(names.map((n) => shake(p.port, n, root)));
  t.equal(results.length, 50, 'every handshake completed');
  const issued = results.filter((r) => r.authorized).length;
  t.ok(orders(p).length <= 3, `at most 3 orders in the minute (${orders(p).length}, one before this test)`);
  t.ok(issued <= 2, `so at most 2 of these names got a CA certificate (${issued})`);
  t.ok(p.logs.some((l) => l.msg === 'on-demand order postponed'), 'the rest were postponed by on_demand.rate');
  const metrics = await (await fetch(`http://127.0.0.1:${p.adminPort}/metrics`)).text();
  t.match(metrics, /portico_acme_on_demand_total\{result="rate_limited"\} [1-9]/);
});

t.test('2000 handshakes for random refused names: all complete, no order, nothing left waiting', async (t) => {
  const before = orders(p).length;
  const asked = [...asks.values()].reduce((a, b) => a + b, 0);
  let done = 0;
  let defaults = 0;
  const names = Array.from({ length: 2000 }, () => `${randomBytes(6).toString('hex')}.attacker.test`);
  const queue = [...names];
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (let n = queue.pop(); n !== undefined; n = queue.pop()) {
      const r = await shake(p.port, n, 'no CA');
      done++;
      if (r.cn === 'portico default') defaults++;
    }
  }));
  t.equal(done, 2000, 'every handshake completed');
  t.equal(defaults, 2000, 'each with the default certificate');
  t.equal(orders(p).length, before, 'no order');
  const newAsks = [...asks.values()].reduce((a, b) => a + b, 0) - asked;
  t.ok(newAsks <= 2000, `at most one ask per name (${newAsks})`);
  t.equal(p.portico.dataPlane!.sni.onDemand!.size, 0, 'no question left pending in the data plane');
});

t.test('after a restart the on-demand name is served from storage at once', async (t) => {
  await p.close();
  const root = await pebble.root();
  const again = await startProxy(dir, config(), { acmeTuning: TEST_TUNING });
  t.teardown(() => again.close());
  const r = await shake(again.port, 'shop.ok.test', root);
  t.ok(r.authorized, 'served the stored certificate');
  t.equal(again.logs.filter(ordering()).length, 0, 'no order');
  t.ok(again.logs.some((l) => l.msg === 'using stored certificate' && l.host === 'shop.ok.test' && l.on_demand === true));
  const check = await runCli(['check', '--config', again.configPath]);
  t.equal(check.code, 0, check.stderr);
  t.match(check.stdout, /\*\s+on demand: a certificate at the first handshake for each name http:\/\/127\.0\.0\.1:\d+\/allowed approves \(at most 3 in 1m orders\); \d+ name\(s\) obtained so far/);
  t.match(check.stdout, /shop\.ok\.test\s+acme .*stored certificate from .*Pebble.* \(obtained on demand\)/i);
  t.match(check.stdout, /on-demand\s+ask http:\/\/127\.0\.0\.1:\d+\/allowed\?domain=NAME; at most 3 in 1m orders/);
});

t.test('with data-plane workers, the question travels over IPC', async (t) => {
  const d = testDir(t);
  await writeFile(join(d, 'config.toml'), config({ server: 'workers = 2', storage: join(d, 'state') }));
  const s = spawnPortico(['run', '--config', join(d, 'config.toml')]);
  t.teardown(() => {
    if (s.child.exitCode === null) s.child.kill('SIGKILL');
  });
  await s.waitFor((l) => l.msg === 'portico ready', 30_000);
  const r = await shake(pebble.tlsPort, 'workers.ok.test', await pebble.root());
  t.ok(r.authorized, `a worker's handshake waited for the control plane's order (${r.error ?? 'verified'})`);
  await s.waitFor(obtained('workers.ok.test'), 10_000);
});
