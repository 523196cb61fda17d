/**
 * ACME end to end against a real CA (pebble, started here on free loopback ports): certificates for
 * routed hosts via HTTP-01 on portico's own http listener and via TLS-ALPN-01 on its https port, an
 * HTTPS client verifying against pebble's root gets the upstream's 200; a restart with the same
 * storage orders nothing; storage modes; a truncated certificate file is replaced with a clear log
 * line; /status.json, metrics and `portico check` show the ACME state per host.
 */
import { mkdtemp, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import {
  acmeConfig, obtained, ordering, peerCertificate, request, spawnPortico, startBackend, startPebble, startProxy,
  TEST_TUNING, waitForLog, waitUntil, type ProxyHandle,
} from '../../test-support/index.js';
import { runCli } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const pebble = await startPebble();
t.teardown(() => pebble.stop());
const backend = await startBackend('upstream');
t.teardown(() => backend.close());
const dir = testDir(t);
const routes = [{ name: 'app', hosts: ['app.test', 'www.app.test'], upstreams: [backend.origin], tls: 'acme' }];
const storage = join(dir, 'state');
const certFile = (host: string) => join(storage, 'acme', `127.0.0.1-${pebble.acmePort}-dir`, 'certs', `${host}.pem`);

async function start(toml: string): Promise<ProxyHandle> {
  const p = await startProxy(dir, toml, { acmeTuning: TEST_TUNING });
  return p;
}

let first: ProxyHandle | null = null;
const serials: Record<string, string> = {};

t.test('http-01: certificates for both routed hosts, served to a client verifying against pebble\'s root', async (t) => {
  const p = (first = await start(acmeConfig(pebble, routes, { challenges: ['http-01'] })));
  const root = await pebble.root();
  for (const host of ['app.test', 'www.app.test']) {
    const line = await waitForLog(p.logs, obtained(host));
    t.equal(line.challenge, 'http-01', `${host}: validated with http-01`);
    const r = await request({ port: p.port, servername: host, ca: root });
    t.equal(r.status, 200, `${host}: verified TLS, proxied`);
    t.equal(r.body, 'upstream\n');
    const peer = await peerCertificate(p.port, host, root);
    t.equal(peer.authorized, true, `${host}: chains to pebble's root`);
    serials[host] = peer.serialNumber;
  }
  t.ok(p.logs.some((l) => l.msg === 'acme http-01 challenge answered' && l.source === 'snapshot'), 'the http listener answered the CA from the snapshot');
  t.equal(p.logs.filter(ordering()).length, 2, 'one order per host');
});

t.test('storage: key files 0600, directories 0700, status and metrics', async (t) => {
  const p = first!;
  t.equal((await stat(certFile('app.test'))).mode & 0o777, 0o600, 'certificate and key (one file) 0600');
  t.equal((await stat(join(storage, 'acme', `127.0.0.1-${pebble.acmePort}-dir`, 'account.key'))).mode & 0o777, 0o600, 'account key 0600');
  for (const d of [storage, join(storage, 'acme'), join(storage, 'acme', `127.0.0.1-${pebble.acmePort}-dir`, 'certs')]) {
    t.equal((await stat(d)).mode & 0o777, 0o700, `${d}: 0700`);
  }
  const status = (await (await fetch(`http://127.0.0.1:${p.adminPort}/status.json`)).json()) as { certificates: Array<Record<string, unknown>> };
  const app = status.certificates.find((c) => c.host === 'app.test')!;
  t.equal(app.source, 'acme');
  t.equal(app.state, 'valid');
  t.match(app.issuer, /Pebble/i, 'issuer is pebble\'s intermediate');
  t.equal(app.attempts, 0);
  t.equal(app.last_error, null);
  t.ok(Date.parse(String(app.next_renewal)) < Date.parse(String(app.not_after)), 'renewal planned before expiry');
  const metrics = await (await fetch(`http://127.0.0.1:${p.adminPort}/metrics`)).text();
  t.match(metrics, /portico_cert_not_after_seconds\{name="app\.test"\} \d{10}/, 'expiry metric set');
  t.match(metrics, /portico_cert_renewal_failing\{name="app\.test"\} 0/);
  t.match(metrics, /portico_acme_failures_total 0/);
});

t.test('portico check prints the ACME state per host', async (t) => {
  const r = await runCli(['check', '--config', join(dir, 'config.toml')]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /app\.test\s+acme .*pebble/i, 'source and issuer');
  t.match(r.stdout, /expires \d{4}-/, 'expiry');
  t.match(r.stdout, /renews/, 'next renewal');
});

t.test('restart with the same storage: no new order, the same certificate', async (t) => {
  await first!.close();
  const p = await start(acmeConfig(pebble, routes, { challenges: ['http-01'] }));
  t.teardown(() => p.close());
  const root = await pebble.root();
  for (const host of ['app.test', 'www.app.test']) {
    const peer = await peerCertificate(p.port, host, root);
    t.equal(peer.authorized, true, `${host}: served from storage at once`);
    t.equal(peer.serialNumber, serials[host], `${host}: same serial`);
  }
  await new Promise((r) => setTimeout(r, 500));
  t.equal(p.logs.filter(ordering()).length, 0, 'no order after the restart');
  await p.close();
});

t.test('a truncated certificate file is reported with its path and replaced', async (t) => {
  await truncate(certFile('app.test'), 100);
  const p = await start(acmeConfig(pebble, routes, { challenges: ['http-01'] }));
  t.teardown(() => p.close());
  const line = await waitForLog(p.logs, (l) => l.msg === 'stored certificate is unreadable; it will be issued again');
  t.equal(line.path, certFile('app.test'), 'the log line names the file');
  t.equal(line.level, 'error');
  await waitForLog(p.logs, obtained('app.test'));
  t.equal(p.logs.filter(ordering()).length, 1, 'only the broken one is ordered again');
  const peer = await peerCertificate(p.port, 'app.test', await pebble.root());
  t.equal(peer.authorized, true);
  t.not(peer.serialNumber, serials['app.test'], 'a new certificate');
  await p.close();
});

t.test('tls-alpn-01 on the https port (challenges = ["tls-alpn-01"])', async (t) => {
  // a directory removed only after portico stopped: a testdir's removal is a teardown registered before
  // p.close(), so it ran first and raced portico's last storage writes (ENOTEMPTY, then the next tests
  // found the https port still bound; seen once with the container tests loading both cores)
  const alpnDir = await mkdtemp(join(tmpdir(), 'portico-alpn-'));
  const p = await startProxy(alpnDir, acmeConfig(pebble, [{ hosts: ['alpn.test'], upstreams: [backend.origin] }], { challenges: ['tls-alpn-01'] }), { acmeTuning: TEST_TUNING });
  t.teardown(async () => {
    await p.close();
    await rm(alpnDir, { recursive: true, force: true });
  });
  const line = await waitForLog(p.logs, obtained('alpn.test'));
  t.equal(line.challenge, 'tls-alpn-01');
  t.ok(p.logs.some((l) => l.msg === 'acme tls-alpn-01 challenge answered'), 'answered on the https listener');
  const r = await request({ port: p.port, servername: 'alpn.test', ca: await pebble.root() });
  t.equal(r.status, 200, 'tls = "auto" with ACME on: verified and proxied');
  t.equal(r.body, 'upstream\n');
});

t.test('server.workers = 2: tls-alpn-01 answered by the data-plane workers, http-01 by the control plane', async (t) => {
  const d = testDir(t);
  const configPath = join(d, 'config.toml');
  const hosts = { 'w-alpn.test': 'tls-alpn-01', 'w-http.test': 'http-01' } as const;
  for (const [host, challenge] of Object.entries(hosts)) {
    await writeFile(configPath, acmeConfig(pebble, [{ hosts: [host], upstreams: [backend.origin] }], { challenges: [challenge], server: 'workers = 2', storage: join(d, `state-${challenge}`) }));
    const s = spawnPortico(['run', '--config', configPath]);
    t.teardown(() => {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
    });
    const line = await s.waitFor(obtained(host), 60_000);
    t.equal(line.challenge, challenge, `${host}: validated with ${challenge}`);
    // a data-plane worker's line may reach the shared stdout after the control plane's (LineSink flushes within 50 ms)
    const answered = await s.waitFor((l) => l.msg === `acme ${challenge} challenge answered`, 2_000).catch(() => undefined);
    t.ok(answered, `${challenge} answered`);
    if (challenge === 'tls-alpn-01') t.ok(answered!.worker !== undefined && answered!.pid !== s.child.pid, 'by a data-plane worker');
    else t.equal(answered!.pid, s.child.pid, 'by the control plane (the http listener is its own)');
    const root = await pebble.root();
    await waitUntil(async () => (await request({ port: pebble.tlsPort, servername: host, ca: root }).catch(() => null))?.status === 200, 10_000, 'every worker serves the issued certificate');
    for (let i = 0; i < 6; i++) t.equal((await peerCertificate(pebble.tlsPort, host, root)).authorized, true, `${host}: verified (${i})`);
    s.child.kill('SIGTERM');
    t.equal(await s.exited, 0);
  }
});

t.test('acme-tls/1 without a pending challenge fails the handshake; normal clients are unaffected', async (t) => {
  const p = await start(acmeConfig(pebble, routes, { challenges: ['http-01'] }));
  t.teardown(() => p.close());
  const err = await new Promise<Error | null>((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port: p.port, servername: 'app.test', ALPNProtocols: ['acme-tls/1'], rejectUnauthorized: false }, () => {
      s.destroy();
      resolve(null);
    });
    s.on('error', resolve);
  });
  t.ok(err, `refused: ${err?.message}`);
  const r = await request({ port: p.port, servername: 'app.test', ca: await pebble.root() });
  t.equal(r.status, 200, 'the same name over http/1.1 still gets its certificate');
});

t.test('fallback: http-01 fails (nothing on the CA\'s http port), tls-alpn-01 succeeds; unrouted names are never ordered', async (t) => {
  const d = testDir(t);
  const toml = acmeConfig(pebble, [{ hosts: ['fallback.test'], upstreams: [backend.origin], tls: 'acme' }], { challenges: ['http-01', 'tls-alpn-01'] })
    .replace(`http = "127.0.0.1:${pebble.httpPort}"`, 'http = "127.0.0.1:0"');
  const p = await startProxy(d, toml, { acmeTuning: TEST_TUNING });
  t.teardown(() => p.close());
  const line = await waitForLog(p.logs, obtained('fallback.test'));
  t.equal(line.challenge, 'tls-alpn-01', 'issued through the second challenge type');
  const fell = p.logs.find((l) => l.msg === 'challenge failed; trying the next type');
  t.ok(fell, 'the failed http-01 attempt was logged');
  t.match(fell?.err, /connection refused|connect/i, 'with the CA\'s reason');
  t.equal(p.logs.filter(ordering()).length, 1, 'one order attempt (the fallback is inside it)');
  const r = await request({ port: p.port, servername: 'fallback.test', ca: await pebble.root() });
  t.equal(r.status, 200);

  const unrouted = await peerCertificate(p.port, 'unrouted.test');
  t.equal(unrouted.subject.CN, 'portico default', 'an unrouted SNI gets the default certificate');
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(p.logs.some((l) => l.msg === 'ordering certificate' && l.host === 'unrouted.test'), 'and is never ordered');
});

t.test('reload adding a host: only the new host is ordered; the others keep their certificates', async (t) => {
  const d = testDir(t);
  const one = [{ name: 'r', hosts: ['keep.test'], upstreams: [backend.origin], tls: 'acme' }];
  const p = await startProxy(d, acmeConfig(pebble, one), { acmeTuning: TEST_TUNING });
  t.teardown(() => p.close());
  await waitForLog(p.logs, obtained('keep.test'));
  const root = await pebble.root();
  const before = (await peerCertificate(p.port, 'keep.test', root)).serialNumber;
  const mark = p.logs.length;
  await p.writeConfig(acmeConfig(pebble, [{ ...one[0]!, hosts: ['keep.test', 'added.test'] }]));
  await p.portico.reload();
  await waitForLog(p.logs, obtained('added.test'), 30_000, mark);
  const orders = p.logs.slice(mark).filter(ordering()).map((l) => l.host);
  t.strictSame(orders, ['added.test'], 'only the new host was ordered');
  t.equal((await peerCertificate(p.port, 'keep.test', root)).serialNumber, before, 'keep.test kept its certificate across the reload');
  t.equal((await request({ port: p.port, servername: 'added.test', ca: root })).status, 200);
});
