/**
 * ACME profiles (draft-ietf-acme-profiles) and short-lived certificates (issue 27). pebble 2.4 has no
 * profiles (no `meta.profiles`, and it ignores `profile` in newOrder), so selection is tested against
 * test-support/acme-front.ts: a real HTTPS directory in front of pebble that lists profiles, refuses
 * unlisted ones and records newOrder payloads; certificates are still pebble's. Refusal is tested
 * against both (the front: "it offers …"; pebble itself: "lists no profiles").
 *
 * The short-lived certificate: pebble issues 24 s certificates; with the default renew_before ("1/3")
 * portico renews at two thirds of the lifetime (±2 % jitter) while a client keeps handshaking —
 * every handshake verifies, none fails.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { ConfigInvalidError } from '../../src/errors.js';
import {
  acmeConfig, obtained, startAcmeFront, startBackend, startPebble, startProxy, TEST_TUNING, verifiedSerial, waitForLog,
} from '../../test-support/index.js';
import { runCli } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const pebble = await startPebble({ validitySeconds: 24 });
t.teardown(() => pebble.stop());
const dir = testDir(t);
const front = await startAcmeFront(pebble, dir, { profiles: { classic: '90 days (front)', shortlived: 'about 6 days (front)', tlsserver: '45 days (front)' } });
t.teardown(() => front.close());
const backend = await startBackend('profiled');
t.teardown(() => backend.close());
const HOST = 'short.test';

const viaFront = (profile: string) => acmeConfig(pebble, [{ hosts: [HOST], upstreams: [backend.origin], tls: 'acme' }], {
  directory: front.directoryUrl, caBundle: front.tlsCaFile, extra: `profile = ${JSON.stringify(profile)}`, backoff: '200ms..1s',
});

t.test('check shows the profile and what the directory offers; an unlisted profile is refused by check and start-up', async (t) => {
  const d = testDir(t);
  const file = join(d, 'config.toml');
  await writeFile(file, viaFront('shortlived'));
  const ok = await runCli(['check', '--config', file]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /profile\s+shortlived \(the directory offers classic, shortlived, tlsserver\)/);
  t.match(ok.stdout, /short\.test\s+acme \(https:\/\/127\.0\.0\.1:\d+\/dir, profile shortlived\)/);

  await writeFile(file, viaFront('bogus'));
  const bad = await runCli(['check', '--config', file]);
  t.equal(bad.code, 1, 'refused');
  t.match(bad.stderr, 'acme.profile: "bogus": the CA\'s directory does not list it; it offers "classic", "shortlived", "tlsserver"');
  await t.rejects(startProxy(d, viaFront('bogus'), { acmeTuning: TEST_TUNING }), ConfigInvalidError, 'start-up refuses it too');

  // pebble's own directory lists none
  await writeFile(file, acmeConfig(pebble, [{ hosts: [HOST], upstreams: [backend.origin], tls: 'acme' }], { extra: 'profile = "shortlived"' }));
  const none = await runCli(['check', '--config', file]);
  t.equal(none.code, 1);
  t.match(none.stderr, 'acme.profile: "shortlived": the CA\'s directory lists no profiles');
});

t.test('the profile goes into newOrder; the short-lived certificate renews at 1/3 of its lifetime left, under load, with 0 failed handshakes', async (t) => {
  const p = await startProxy(testDir(t), viaFront('shortlived'), { acmeTuning: TEST_TUNING });
  t.teardown(() => p.close());
  const first = await waitForLog(p.logs, obtained(HOST));
  t.strictSame(front.orders().map((o) => o.profile), ['shortlived'], 'newOrder carried the profile');

  const status = (await (await fetch(`http://127.0.0.1:${p.adminPort}/status.json`)).json()) as { certificates: Array<Record<string, string>> };
  const c = status.certificates.find((x) => x.host === HOST)!;
  const notAfter = Date.parse(c.not_after!);
  const lifetime = notAfter - Date.parse(String(first.time)) + 1000; // pebble: notBefore ≈ issuance; ±1 s for second precision
  const planned = Date.parse(c.next_renewal!);
  const nominal = notAfter - lifetime / 3;
  t.ok(Math.abs(planned - nominal) <= 0.02 * lifetime + 1500, `renewal planned at 1/3 of the lifetime left (${new Date(planned).toISOString()}, nominal ${new Date(nominal).toISOString()})`);

  const root = await pebble.root();
  const serials: string[] = [];
  const failures: string[] = [];
  let running = true;
  const clients = [0, 1].map(async () => {
    while (running) {
      try {
        const serial = await verifiedSerial(p.port, HOST, root);
        if (!serials.includes(serial)) serials.push(serial);
      } catch (err) {
        failures.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  const renewed = await waitForLog(p.logs, (l) => obtained(HOST)(l) && l.renewal === true, 30_000);
  t.ok(Date.parse(String(renewed.time)) < notAfter, 'renewed before the old certificate expired');
  t.ok(Date.parse(String(renewed.time)) >= planned - 1000, 'not before its planned time');
  await new Promise((r) => setTimeout(r, 500));
  running = false;
  await Promise.all(clients);
  t.strictSame(failures, [], 'no handshake failed');
  t.ok(serials.length >= 2, `the served certificate changed: ${serials.join(' → ')}`);
  t.strictSame(front.orders().map((o) => o.profile), ['shortlived', 'shortlived'], 'the renewal used the profile too');
});
