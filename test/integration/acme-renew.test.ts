/**
 * Renewal against a real CA with short-lived certificates (pebble `certificateValidityPeriod` 60s,
 * `renew_before = "50s"`, so renewal is due about 10s after issuance): while a client keeps
 * handshaking (verifying against pebble's roots), portico renews before expiry with zero failed
 * handshakes and the served serial changes. Then pebble is restarted — it forgets every account —
 * and portico registers again and still renews.
 */
import t from 'tap';
import {
  acmeConfig, obtained, startBackend, startPebble, startProxy, TEST_TUNING, verifiedSerial, waitForLog,
} from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

const pebble = await startPebble({ validitySeconds: 60 });
t.teardown(() => pebble.stop());
const backend = await startBackend('renewed');
t.teardown(() => backend.close());

const HOST = 'renew.test';
const roots: string[] = [await pebble.root()];

t.test('renews before expiry while clients connect; survives a CA that forgot the account', async (t) => {
  const p = await startProxy(testDir(t), acmeConfig(pebble, [{ hosts: [HOST], upstreams: [backend.origin], tls: 'acme' }], { renewBefore: '50s', backoff: '200ms..1s' }), { acmeTuning: TEST_TUNING });
  t.teardown(() => p.close());
  await waitForLog(p.logs, obtained(HOST));

  // A client handshakes continuously from here on; every handshake must verify.
  const serials: string[] = [];
  const failures: string[] = [];
  let running = true;
  const client = (async () => {
    while (running) {
      try {
        const serial = await verifiedSerial(p.port, HOST, roots);
        if (serials[serials.length - 1] !== serial) serials.push(serial);
      } catch (err) {
        failures.push((err as Error).message);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();

  // First renewal: due ~10s after issuance.
  const firstCount = p.logs.length;
  const renewed = await waitForLog(p.logs, (l) => obtained(HOST)(l) && l.renewal === true, 40_000, firstCount);
  await waitFor(() => serials.length >= 2, 5000);
  t.ok(serials.length >= 2, `served serial changed: ${serials.join(' → ')}`);
  t.ok(Date.parse(String(renewed.not_after)) > Date.now() + 30_000, 'the new certificate is fresh');

  // pebble restarts (new root, no accounts, no orders); the next renewal must register again.
  await pebble.restart();
  roots.push(await pebble.root());
  const before = p.logs.length;
  await waitForLog(p.logs, (l) => obtained(HOST)(l) && l.renewal === true, 40_000, before);
  const after = p.logs.slice(before);
  t.ok(after.some((l) => l.msg === 'the CA does not know the stored account; registering again'), 'noticed the forgotten account');
  t.ok(after.some((l) => l.msg === 'registered ACME account'), 'registered again');
  await waitFor(() => serials.length >= 3, 5000);
  t.ok(serials.length >= 3, `renewed after the CA restart: ${serials.join(' → ')}`);

  running = false;
  await client;
  t.strictSame(failures, [], '0 failed handshakes across renewals');
});

async function waitFor(pred: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
