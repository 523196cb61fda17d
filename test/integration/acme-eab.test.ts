/**
 * External account binding: a CA that requires EAB (pebble with externalAccountBindingRequired)
 * refuses an account without it — logged with the CA's reason — and issues once `[acme.eab]` is set,
 * its HMAC key coming from the environment (`${NAME}`).
 */
import t from 'tap';
import {
  acmeConfig, obtained, request, startBackend, startPebble, startProxy, TEST_TUNING, waitForLog,
} from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

const HMAC = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
const pebble = await startPebble({ eab: { 'kid-1': HMAC } });
t.teardown(() => pebble.stop());
const backend = await startBackend('eab');
t.teardown(() => backend.close());

t.test('without [acme.eab] the CA refuses; with it (secret from the env) the certificate is issued', async (t) => {
  const routes = [{ hosts: ['eab.test'], upstreams: [backend.origin], tls: 'acme' }];
  const without = await startProxy(testDir(t), acmeConfig(pebble, routes), { acmeTuning: TEST_TUNING });
  const refused = await waitForLog(without.logs, (l) => l.msg === 'certificate order failed');
  t.match(refused.err, /externalAccount/, `the CA's reason is logged: ${String(refused.err)}`);
  await without.close();

  process.env.PORTICO_TEST_EAB_HMAC = HMAC;
  t.teardown(() => delete process.env.PORTICO_TEST_EAB_HMAC);
  const toml = acmeConfig(pebble, routes).replace('[admin]', '[acme.eab]\nkid = "kid-1"\nhmac_key = "${PORTICO_TEST_EAB_HMAC}"\n[admin]');
  const p = await startProxy(testDir(t), toml, { acmeTuning: TEST_TUNING });
  t.teardown(() => p.close());
  await waitForLog(p.logs, obtained('eab.test'));
  const r = await request({ port: p.port, servername: 'eab.test', ca: await pebble.root() });
  t.equal(r.status, 200, 'issued with EAB, verified against pebble\'s root');
});
