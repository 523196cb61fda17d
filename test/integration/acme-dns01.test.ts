/**
 * DNS-01 through `acme.dns_hook` (issue 27), against pebble and pebble-challtestsrv (its DNS is what
 * pebble queries; the test hook, examples/dns-hooks/challtestsrv.mjs, sets TXT records through its
 * management API, and `dns_resolvers` points portico's visibility check at it):
 *
 * - the hook runs without a shell (arguments arrive exactly as written), its stderr is logged, a hook
 *   that outlives `dns_hook_timeout` is killed with its children, a failing one reports its exit code;
 * - portico waits until the TXT record is visible before telling the CA (and gives up after
 *   `dns_propagation_timeout`);
 * - a wildcard host gets a certificate: TXT set, visible, validated by pebble, removed;
 * - when the record never becomes visible the order fails and `remove` runs anyway.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { Resolver } from 'node:dns/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { ChallengeStore } from '../../src/acme/challenges.js';
import { DnsSolver } from '../../src/acme/dns01.js';
import { FileStorage } from '../../src/storage/file.js';
import {
  acmeConfig, captureLogger, freePort, obtained, ROOT, startBackend, startPebble, startProxy, TEST_TUNING, waitForLog, waitUntil,
} from '../../test-support/index.js';
import { runCli } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const pebble = await startPebble();
t.teardown(() => pebble.stop());
const backend = await startBackend('wildcard');
t.teardown(() => backend.close());
const HOOK = ['node', join(ROOT, 'examples', 'dns-hooks', 'challtestsrv.mjs'), pebble.dnsMgmtUrl];

/** txtAt asks challtestsrv's DNS for a name's TXT records ([] when none). */
async function txtAt(name: string): Promise<string[]> {
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([pebble.dnsServer]);
  try {
    return (await r.resolveTxt(name)).map((c) => c.join(''));
  } catch {
    return [];
  }
}

function solver(dir: string, o: Partial<ConstructorParameters<typeof DnsSolver>[0]> = {}) {
  const { log, lines } = captureLogger();
  const s = new DnsSolver({
    hook: HOOK, hookTimeoutMs: 10_000, resolvers: [pebble.dnsServer], propagationTimeoutMs: 5000, pollMs: 50,
    records: new ChallengeStore(new FileStorage(dir)), log, ...o,
  });
  return { s, lines };
}

t.test('the hook: argv without a shell, stderr logged, killed with its children at the timeout, exit codes reported', async (t) => {
  const dir = testDir(t);
  const script = join(dir, 'hook.mjs');
  const out = join(dir, 'argv.json');
  const marker = join(dir, 'pwned');
  await writeFile(script, `
    import { writeFileSync } from 'node:fs';
    const args = process.argv.slice(2);
    writeFileSync(${JSON.stringify(out)}, JSON.stringify(args));
    process.stderr.write('hello from the hook\\n');
    if (args.includes('fail')) {
      process.stderr.write('zone refused the update\\n');
      process.exit(3);
    }
  `);
  const odd = `x; touch ${marker} $(touch ${marker}) "quoted"`;
  const ok = solver(dir, { hook: ['node', script, odd] });
  await ok.s.run('add', '_acme-challenge.a.test', 'v a l');
  t.strictSame(JSON.parse(await readFile(out, 'utf8')), [odd, 'add', '_acme-challenge.a.test', 'v a l'], 'arguments exactly as given');
  t.notOk(existsSync(marker), 'nothing was interpreted by a shell');
  t.ok(ok.lines.some((l) => l.msg === 'dns hook stderr' && l.line === 'hello from the hook' && l.dns_hook === 'add'), 'stderr in the log');

  const failing = solver(dir, { hook: ['node', script, 'fail'] });
  await t.rejects(failing.s.run('remove', '_acme-challenge.a.test', 'v'), /dns hook remove _acme-challenge\.a\.test exited with code 3: zone refused the update/);

  // a hook that hangs, with a child of its own (sh starts in milliseconds, so the timeout finds both)
  const pidFile = join(dir, 'child.pid');
  const hanging = solver(dir, { hook: ['sh', '-c', `sleep 60 & echo $! > ${pidFile}; wait`], hookTimeoutMs: 500 });
  await t.rejects(hanging.s.run('add', '_acme-challenge.a.test', 'v'), /timed out after 500ms/);
  const child = Number(await readFile(pidFile, 'utf8'));
  await waitUntil(() => {
    try {
      process.kill(child, 0);
      return false;
    } catch {
      return true;
    }
  }, 5000, 'the hook\'s own child was killed with it');
  t.pass('the hook and its child are gone');
});

t.test('portico waits until the TXT record is visible, and gives up after dns_propagation_timeout', async (t) => {
  const dir = testDir(t);
  const { s } = solver(dir, { propagationTimeoutMs: 400 });
  await t.rejects(s.waitVisible('_acme-challenge.never.test', 'nope'), /the dns-01 TXT record _acme-challenge\.never\.test was not visible at 127\.0\.0\.1:\d+ within 400ms/);
  const { s: s2 } = solver(dir);
  await s2.present('_acme-challenge.seen.test', 'token-value');
  t.strictSame(await txtAt('_acme-challenge.seen.test'), ['token-value'], 'set through the hook, visible at the resolver');
  await s2.remove('_acme-challenge.seen.test', 'token-value');
  t.strictSame(await txtAt('_acme-challenge.seen.test'), [], 'removed');
});

const wildcardConfig = (extra: string) => acmeConfig(pebble, [{ hosts: ['*.wild.test'], upstreams: [backend.origin] }], {
  challenges: ['http-01'], extra: `dns_hook = ${JSON.stringify(HOOK)}\n${extra}`,
});

t.test('a wildcard certificate via DNS-01: TXT set, visible, validated, removed', async (t) => {
  const dir = testDir(t);
  const p = await startProxy(dir, wildcardConfig(`dns_resolvers = ["${pebble.dnsServer}"]`), { acmeTuning: { ...TEST_TUNING, dnsPollMs: 50 } });
  t.teardown(() => p.close());
  const line = await waitForLog(p.logs, obtained('*.wild.test'));
  t.equal(line.challenge, 'dns-01', 'validated with dns-01 (challenges lists only http-01: a wildcard uses dns-01)');
  const order = ['dns hook add done', 'dns-01 TXT record visible', 'dns hook remove done'].map((msg) => p.logs.findIndex((l) => l.msg === msg && (l.record === undefined || l.record === '_acme-challenge.wild.test')));
  t.ok(order.every((i) => i >= 0) && order[0]! < order[1]! && order[1]! < order[2]!, 'add, then visible, then remove');
  t.strictSame(await txtAt('_acme-challenge.wild.test'), [], 'the TXT record is gone');
  const root = await pebble.root();
  for (const name of ['a.wild.test', 'b.wild.test']) {
    const ok = await new Promise<boolean>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: p.port, servername: name, ca: root }, () => {
        resolve(s.authorized);
        s.end();
      });
      s.on('error', reject);
    });
    t.ok(ok, `${name}: served the wildcard certificate, verified against pebble's root`);
  }
  t.ok(existsSync(join(dir, 'state', 'acme', `127.0.0.1-${pebble.acmePort}-dir`, 'certs', '_wildcard.wild.test.pem')), 'stored as _wildcard.wild.test.pem');
  const check = await runCli(['check', '--config', p.configPath]);
  t.equal(check.code, 0, check.stderr);
  t.match(check.stdout, /\*\.wild\.test\s+acme wildcard via dns-01/);
  t.match(check.stdout, /dns-01\s+hook node .*challtestsrv\.mjs .* add\|remove <name> <value> \(timeout 30s\); TXT checked at resolvers 127\.0\.0\.1:\d+/);
});

t.test('a TXT record that never becomes visible: the order fails, and remove runs anyway', async (t) => {
  const dead = `127.0.0.1:${await freePort()}`;
  const p = await startProxy(testDir(t), wildcardConfig(`dns_resolvers = ["${dead}"]\ndns_propagation_timeout = "600ms"`), { acmeTuning: { ...TEST_TUNING, dnsPollMs: 50 } });
  t.teardown(() => p.close());
  const failed = await waitForLog(p.logs, (l) => l.msg === 'certificate order failed' && l.host === '*.wild.test');
  t.match(failed.err, /was not visible at 127\.0\.0\.1:\d+ within 600ms/);
  t.ok(p.logs.some((l) => l.msg === 'dns hook remove done' && l.record === '_acme-challenge.wild.test'), 'remove ran');
  t.strictSame(await txtAt('_acme-challenge.wild.test'), [], 'nothing left in DNS');
});
