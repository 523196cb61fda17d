/**
 * The CA is unreachable when portico starts: routed hosts are served at once with self-signed
 * certificates, every failed attempt is logged with the real cause (ECONNREFUSED, not acme-client's
 * "Cannot read properties of undefined") and written to the ledger, whose next attempt follows the
 * backoff ladder. When the CA comes back — rejecting 20 % of nonces (PEBBLE_WFE_NONCEREJECT=20) —
 * the certificates arrive without a restart.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import {
  acmeConfig, obtained, peerCertificate, request, startBackend, startPebble, startProxy, TEST_TUNING, waitForLog,
} from '../../test-support/index.js';
import { ladderDelay, type LedgerEntry } from '../../src/acme/ledger.js';
import { runCli } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const pebble = await startPebble({ startStopped: true });
t.teardown(() => pebble.stop());
const backend = await startBackend('up');
t.teardown(() => backend.close());

const HOSTS = ['down.test', 'www.down.test', 'api.down.test'];
const BACKOFF = { min: 300, max: 1200 };

t.test('CA down at start: self-signed meanwhile, real causes logged, backed off; then issued without a restart', async (t) => {
  const dir = testDir(t);
  const p = await startProxy(dir, acmeConfig(pebble, [{ hosts: HOSTS, upstreams: [backend.origin], tls: 'acme' }], { backoff: '300ms..1200ms' }), { acmeTuning: TEST_TUNING });
  t.teardown(() => p.close());

  // Served at once, self-signed.
  const peer = await peerCertificate(p.port, 'down.test');
  t.match(peer.subject.CN, 'down.test');
  t.match(peer.issuer.O, 'portico', 'self-signed placeholder while the CA is down');
  const r = await request({ port: p.port, servername: 'down.test' });
  t.equal(r.status, 200, 'traffic flows meanwhile (unverified)');

  // Failures with their real cause, and the ladder.
  const third = await waitForLog(p.logs, (l) => l.msg === 'certificate order failed' && l.host === 'down.test' && l.attempts === 3, 20_000);
  t.match(third.err, /ECONNREFUSED/, `the real cause is logged: ${String(third.err)}`);
  t.notMatch(third.err, /Cannot read properties/, 'not acme-client\'s mangled TypeError');
  t.equal(third.level, 'error', 'error level: the host has no trusted certificate');
  const ledgerFile = join(dir, 'state', 'acme', `127.0.0.1-${pebble.acmePort}-dir`, 'ledger', 'down.test.json');
  const entry = JSON.parse(await readFile(ledgerFile, 'utf8')) as LedgerEntry;
  const n = entry.consecutive_failures;
  t.ok(n >= 3, `ledger counts ${n} failures`);
  t.equal(Date.parse(entry.next_attempt_at!) - Date.parse(entry.last_failure_at!), ladderDelay(n, BACKOFF), 'next attempt follows the ladder');
  t.match(entry.last_error, /ECONNREFUSED/);
  // each attempt starts no sooner than the ladder after the failure before it (the failure's time as
  // the ledger recorded it: its log line comes after the ledger write, later by a disk write under load)
  const first = n - entry.history.length + 1; // the failure number of history[0]
  for (let k = Math.max(2, first + 1); k <= n; k++) {
    const failedAt = Date.parse(entry.history[k - 1 - first]!.at);
    const started = p.logs.find((l) => l.msg === 'ordering certificate' && l.host === 'down.test' && l.attempt === k);
    const waited = Date.parse(String(started?.time)) - failedAt;
    t.ok(waited >= ladderDelay(k - 1, BACKOFF), `attempt ${k} started ${waited}ms after failure ${k - 1} (ladder: ${ladderDelay(k - 1, BACKOFF)}ms)`);
  }
  const status = (await (await fetch(`http://127.0.0.1:${p.adminPort}/status.json`)).json()) as { certificates: Array<Record<string, unknown>> };
  const s = status.certificates.find((c) => c.host === 'down.test')!;
  t.equal(s.state, 'self-signed');
  t.equal(s.renewal_failing, true);
  t.match(s.last_error, /ECONNREFUSED/);
  t.ok(Number(s.attempts) >= 3);
  const metrics = await (await fetch(`http://127.0.0.1:${p.adminPort}/metrics`)).text();
  t.match(metrics, /portico_cert_renewal_failing\{name="down\.test"\} 1/);
  t.match(metrics, /portico_acme_failures_total [1-9]/);

  const check = await runCli(['check', '--config', p.configPath]);
  t.equal(check.code, 0, 'a failing CA does not make the config invalid');
  t.match(check.stdout, /down\.test\s+acme .*not issued yet.*FAILING: \d+ failed attempt\(s\), last error: .*ECONNREFUSED/, 'check shows the failing host');
  t.match(check.stdout, /ACME for down\.test is failing/, 'and warns');

  // The CA comes back, rejecting 20 % of nonces: every host still gets its certificate.
  await pebble.restart({ PEBBLE_WFE_NONCEREJECT: '20' });
  const root = await pebble.root();
  for (const host of HOSTS) {
    await waitForLog(p.logs, obtained(host), 30_000);
    const ok = await request({ port: p.port, servername: host, ca: root });
    t.equal(ok.status, 200, `${host}: verified against pebble's root, no restart`);
  }
  const after = (await (await fetch(`http://127.0.0.1:${p.adminPort}/metrics`)).text());
  t.match(after, /portico_cert_renewal_failing\{name="down\.test"\} 0/, 'no longer failing');
  const cleared = JSON.parse(await readFile(ledgerFile, 'utf8')) as LedgerEntry;
  t.equal(cleared.consecutive_failures, 0, 'success clears the ledger count');
  t.equal(cleared.next_attempt_at, null);
});
