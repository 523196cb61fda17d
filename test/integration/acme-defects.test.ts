/**
 * The open ACME defects of issue 27, each a regression test that fails on the code before the fix,
 * against pebble (and test-support/acme-front.ts where a test must see or hold the CA's traffic):
 *
 * - a missing or corrupt account.key while account.json keeps the old URL: a new key used to be
 *   signed with the old account's URL, so every order failed; now the account is registered again;
 * - a changed acme.email updates the account's contact (it used to be ignored);
 * - SIGTERM between finalize and the certificate download: the shutdown waits for the order (the
 *   certificate used to be lost, and ordered again at the next start), within the shutdown's bound;
 *   after SIGKILL there, the next start resumes the order instead of ordering again;
 * - challenge answers left behind by a crashed process are removed at start (dns-01 ones through the
 *   hook), while a young one of another machine is kept;
 * - the order limiter follows acme.order_rate.
 * (Stale-lock takeover: test/unit/storage/lock-takeover.test.ts; the one-write certificate bundle:
 * test/unit/acme/stored.test.ts.)
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Resolver } from 'node:dns/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import {
  acmeConfig, obtained, ordering, ROOT, spawnPortico, startAcmeFront, startBackend, startPebble, startProxy, TEST_TUNING, waitForLog, waitUntil,
} from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

const pebble = await startPebble();
t.teardown(() => pebble.stop());
const backend = await startBackend('defects');
t.teardown(() => backend.close());
const route = (...hosts: string[]) => hosts.map((h) => ({ hosts: [h], upstreams: [backend.origin], tls: 'acme' }));
const caDir = (state: string, port = pebble.acmePort) => join(state, 'acme', `127.0.0.1-${port}-dir`);

t.test('a missing or corrupt account key: a new account, not the old URL with a new key', async (t) => {
  const dir = testDir(t);
  const first = await startProxy(dir, acmeConfig(pebble, route('a.test')), { acmeTuning: TEST_TUNING });
  await waitForLog(first.logs, obtained('a.test'));
  await first.close();
  const meta = join(caDir(join(dir, 'state')), 'account.json');
  const oldUrl = (JSON.parse(await readFile(meta, 'utf8')) as { url: string }).url;

  for (const [how, host] of [['missing', 'b.test'], ['corrupt', 'c.test']] as const) {
    const key = join(caDir(join(dir, 'state')), 'account.key');
    if (how === 'missing') await rm(key);
    else await writeFile(key, 'not a key\n');
    const p = await startProxy(dir, acmeConfig(pebble, route('a.test', host)), { acmeTuning: TEST_TUNING });
    await waitForLog(p.logs, obtained(host));
    t.ok(p.logs.some((l) => l.msg === 'the ACME account key was missing or unreadable: the stored account URL belongs to the lost key; registering a new account'), `${how}: said why`);
    const now = JSON.parse(await readFile(meta, 'utf8')) as { url: string; key_thumbprint: string };
    t.not(now.url, oldUrl, `${how}: a new account URL`);
    t.match(now.key_thumbprint, /^[A-Za-z0-9_-]{43}$/, `${how}: account.json names its key`);
    await p.close();
  }
});

t.test('a changed acme.email updates the account contact (on reload)', async (t) => {
  const dir = testDir(t);
  const front = await startAcmeFront(pebble, dir);
  t.teardown(() => front.close());
  const cfg = (email: string, ...hosts: string[]) => acmeConfig(pebble, route(...hosts), { directory: front.directoryUrl, caBundle: front.tlsCaFile, email });
  const p = await startProxy(dir, cfg('old@portico.test', 'mail1.test'), { acmeTuning: TEST_TUNING });
  t.teardown(() => p.close());
  await waitForLog(p.logs, obtained('mail1.test'));
  await p.writeConfig(cfg('new@portico.test', 'mail1.test', 'mail2.test'));
  const r = await p.portico.reload();
  t.equal(r.result, 'success');
  await waitForLog(p.logs, obtained('mail2.test'));
  const updates = front.requests.filter((q) => q.path.startsWith('/my-account/') && Array.isArray(q.payload?.contact));
  t.strictSame(updates.map((q) => q.payload!.contact), [['mailto:new@portico.test']], 'the account was updated with the new contact');
  t.equal(updates[0]!.status, 200, 'and the CA accepted it');
  t.ok(p.logs.some((l) => l.msg === 'updated the ACME account contact (acme.email changed)' && l.was === 'old@portico.test'));
  const meta = JSON.parse(await readFile(join(caDir(join(dir, 'state'), Number(new URL(front.directoryUrl).port)), 'account.json'), 'utf8')) as { email: string };
  t.equal(meta.email, 'new@portico.test');
});

t.test('an order past finalize: SIGTERM waits for the certificate; after SIGKILL the next start resumes it', async (t) => {
  const dir = testDir(t);
  const front = await startAcmeFront(pebble, dir);
  t.teardown(() => front.close());
  const configPath = join(dir, 'config.toml');
  const state = join(dir, 'state');
  const bundle = (host: string) => join(caDir(state, Number(new URL(front.directoryUrl).port)), 'certs', `${host}.pem`);
  const finalizes = () => front.requests.filter((q) => q.path.startsWith('/finalize-order/')).length;
  const start = async (host: string, server?: string) => {
    await writeFile(configPath, acmeConfig(pebble, route(host), { directory: front.directoryUrl, caBundle: front.tlsCaFile, storage: state, server }));
    const s = spawnPortico(['run', '--config', configPath]);
    t.teardown(() => {
      if (s.child.exitCode === null) s.child.kill('SIGKILL');
    });
    return s;
  };

  front.holdCertificates(true);
  const s = await start('term.test');
  await waitUntil(() => finalizes() === 1, 30_000, 'finalize');
  s.child.kill('SIGTERM');
  await s.waitFor((l) => l.msg === 'waiting for ACME orders to finish', 10_000);
  setTimeout(() => front.release(), 500);
  t.equal(await s.exited, 0, 'stopped cleanly');
  t.ok(existsSync(bundle('term.test')), 'the certificate of the finalized order was downloaded and saved before exit');
  t.ok(s.logs.some(obtained('term.test')));

  const k = await start('kill.test');
  await waitUntil(() => finalizes() === 2, 30_000, 'finalize');
  k.child.kill('SIGKILL');
  await k.exited;
  t.notOk(existsSync(bundle('kill.test')), 'killed before the download');
  front.holdCertificates(false);
  const again = await start('kill.test');
  const line = await again.waitFor(obtained('kill.test'), 30_000);
  t.equal(line.resumed, true, 'the certificate came from the earlier order');
  t.ok(again.logs.some((l) => l.msg === 'resumed an order finalized before a shutdown or crash: downloaded its certificate'));
  t.equal(finalizes(), 2, 'no new order was finalized');
  t.equal(front.requests.filter((q) => q.path.startsWith('/order-plz')).length, 2, 'no new order at all');
  again.child.kill('SIGTERM');
  await again.exited;

  // a shutdown_grace shorter than the wait for orders: the shutdown still ends in order within the
  // bound main.ts enforces (exit 0, not its last-resort exit 1), the order left to the next start
  front.holdCertificates(true);
  const g = await start('grace.test', 'shutdown_grace = "1s"');
  await waitUntil(() => finalizes() === 3, 30_000, 'finalize');
  g.child.kill('SIGTERM');
  t.equal(await g.exited, 0, 'stopped cleanly with a 1 s grace');
  t.ok(g.logs.some((l) => l.msg === 'ACME orders still running at exit: an order past finalize is resumed at the next start'), 'said the order is left to the next start');
  t.notOk(g.logs.some((l) => l.msg === 'shutdown did not finish in time: exiting now'), 'not the last-resort exit');
  front.holdCertificates(false);
});

t.test('challenge answers left behind by a stopped process are removed at start', async (t) => {
  // removed only after portico stopped (a testdir's removal would race its last storage writes)
  const dir = await mkdtemp(join(tmpdir(), 'portico-sweep-'));
  const state = join(dir, 'state');
  const hook = ['node', join(ROOT, 'examples', 'dns-hooks', 'challtestsrv.mjs'), pebble.dnsMgmtUrl];
  for (const kind of ['http-01', 'tls-alpn-01', 'dns-01']) await mkdir(join(state, 'challenges', kind), { recursive: true });
  const dead = { created_at: new Date().toISOString(), pid: 2 ** 22 - 1, host: hostname(), instance: 'gone' };
  const young = { created_at: new Date().toISOString(), pid: 1, host: 'another-machine', instance: 'x' };
  await writeFile(join(state, 'challenges', 'http-01', 'legacytoken'), 'legacytoken.thumb'); // an older version's
  await writeFile(join(state, 'challenges', 'http-01', 'deadtoken'), JSON.stringify({ key_authorization: 'k', ...dead }));
  await writeFile(join(state, 'challenges', 'http-01', 'othertoken'), JSON.stringify({ key_authorization: 'k', ...young }));
  await writeFile(join(state, 'challenges', 'tls-alpn-01', 'old.test.json'), JSON.stringify({ cert: 'c', key: 'k', ...dead, created_at: '2020-01-01T00:00:00Z', host: 'another-machine' }));
  // a TXT record a crashed process set and never removed
  execFileSync(hook[0]!, [...hook.slice(1), 'add', '_acme-challenge.left.test', 'leftover']);
  await writeFile(join(state, 'challenges', 'dns-01', '_acme-challenge.left.test.json'), JSON.stringify({ name: '_acme-challenge.left.test', value: 'leftover', ...dead }));
  const r = new Resolver();
  r.setServers([pebble.dnsServer]);
  t.strictSame((await r.resolveTxt('_acme-challenge.left.test')).flat(), ['leftover'], 'the record is there before');

  const p = await startProxy(dir, acmeConfig(pebble, route('sweep.test'), { extra: `dns_hook = ${JSON.stringify(hook)}` }), { acmeTuning: TEST_TUNING });
  t.teardown(async () => {
    await p.close();
    await rm(dir, { recursive: true, force: true });
  });
  const line = await waitForLog(p.logs, (l) => l.msg === 'removed challenge answers left behind by a stopped process');
  t.strictSame((line.removed as string[]).sort(), [
    'challenges/dns-01/_acme-challenge.left.test.json', 'challenges/http-01/deadtoken', 'challenges/http-01/legacytoken', 'challenges/tls-alpn-01/old.test.json',
  ]);
  t.ok(existsSync(join(state, 'challenges', 'http-01', 'othertoken')), 'a young answer of another machine is kept');
  t.strictSame(await r.resolveTxt('_acme-challenge.left.test').catch(() => []), [], 'the TXT record was removed through the hook');
});

t.test('acme.order_rate limits orders', async (t) => {
  const p = await startProxy(testDir(t), acmeConfig(pebble, route('r1.test', 'r2.test'), { extra: 'order_rate = "1 in 1h"\norder_concurrency = 1' }), { acmeTuning: { ...TEST_TUNING, limiter: undefined } });
  t.teardown(() => p.close());
  await waitForLog(p.logs, (l) => obtained('r1.test')(l) || obtained('r2.test')(l));
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(p.logs.filter(ordering()).length, 1, 'one order in the hour; the other host waits');
});
