/**
 * The shipped RFC 2136 hook, examples/dns-hooks/nsupdate.sh, against a real BIND 9 (Debian `bind9`)
 * serving the zone on a loopback port with TSIG-signed dynamic updates; pebble resolves through that
 * BIND. portico finds the zone's authoritative server by itself (dns_resolvers = []: the NS of the
 * nearest enclosing zone and its address, asked through BIND — the test's stand-in for the system
 * resolver — and on BIND's port instead of 53), waits for the TXT record there, and gets a wildcard
 * certificate; the record is removed afterwards.
 */
import { execFile } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import {
  acmeConfig, obtained, ROOT, startBackend, startNamed, startPebble, startProxy, TEST_TUNING, waitForLog,
} from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

const ZONE = 'nsupdate.test';
const named = await startNamed(ZONE);
t.teardown(() => named.stop());
const pebble = await startPebble({ dnsServer: named.server });
t.teardown(() => pebble.stop());
const backend = await startBackend('bind');
t.teardown(() => backend.close());

async function txt(name: string): Promise<string[]> {
  const r = new Resolver({ timeout: 2000, tries: 1 });
  r.setServers([named.server]);
  return (await r.resolveTxt(name).catch(() => [])).map((c) => c.join(''));
}

t.test('a wildcard certificate through nsupdate.sh and BIND, the zone\'s server found by itself', async (t) => {
  const hook = [join(ROOT, 'examples', 'dns-hooks', 'nsupdate.sh'), '127.0.0.1', String(named.port), named.keyFile];
  const p = await startProxy(testDir(t), acmeConfig(pebble, [{ hosts: [`*.${ZONE}`], upstreams: [backend.origin] }], {
    extra: `dns_hook = ${JSON.stringify(hook)}`,
  }), { acmeTuning: { ...TEST_TUNING, dnsPollMs: 50, dnsSystemResolver: [named.server], dnsAuthoritativePort: named.port } });
  t.teardown(() => p.close());
  const line = await waitForLog(p.logs, obtained(`*.${ZONE}`));
  t.equal(line.challenge, 'dns-01');
  const visible = p.logs.find((l) => l.msg === 'dns-01 TXT record visible')!;
  t.strictSame(visible.servers, [named.server], 'checked at the zone\'s authoritative server, found through its NS record');
  t.ok(p.logs.some((l) => l.msg === 'dns hook remove done'), 'removed');
  t.strictSame(await txt(`_acme-challenge.${ZONE}`), [], 'the TXT record is gone from BIND');
  const root = await pebble.root();
  const ok = await new Promise<boolean>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: p.port, servername: `shop.${ZONE}`, ca: root }, () => {
      resolve(s.authorized);
      s.end();
    });
    s.on('error', reject);
  });
  t.ok(ok, 'the wildcard certificate verifies against pebble\'s root');
});

t.test('nsupdate.sh reports a refused update (wrong key) with its stderr', async (t) => {
  const hook = join(ROOT, 'examples', 'dns-hooks', 'nsupdate.sh');
  const wrong = join(testDir(t), 'wrong.key');
  writeFileSync(wrong, 'key "portico" { algorithm hmac-sha256; secret "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="; };\n');
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const c = execFile(hook, ['127.0.0.1', String(named.port), wrong, 'add', `_acme-challenge.${ZONE}`, 'v'], (err, _out, stderr) => resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stderr }));
    c.stdin?.end();
  });
  t.not(r.code, 0, 'non-zero exit');
  t.match(r.stderr, /tsig verify failure|BADSIG|BADKEY|NOTAUTH|REFUSED/i, 'says why (the signature)');
  t.strictSame(await txt(`_acme-challenge.${ZONE}`), [], 'nothing was added');
});
