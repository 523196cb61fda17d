/**
 * Two portico processes sharing one storage directory (replicas on one volume). Process A listens
 * where pebble validates (its http port gets every HTTP-01 request); process B listens elsewhere.
 * Both route shared.test and start together: it is ordered once (the storage lock), and the other
 * process picks the certificate up from storage. B also routes only-b.test, which A does not know:
 * B orders it and the CA's validation request reaches A, which answers from storage.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import {
  acmeSection, peerCertificate, proxyConfig, spawnPortico, startBackend, startPebble, type Spawned,
} from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

const pebble = await startPebble();
t.teardown(() => pebble.stop());
const backend = await startBackend('up');
t.teardown(() => backend.close());

const obtainedOrAdopted = (host: string) => (l: Record<string, unknown>) =>
  l.host === host && (l.msg === 'certificate obtained' || l.msg === 'certificate obtained by another process; using it' || l.msg === 'using stored certificate');

async function spawnWith(dir: string, toml: string): Promise<Spawned> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.toml'), toml);
  return spawnPortico(['--config', join(dir, 'config.toml')]);
}

t.test('one order per host; the process that did not order answers the challenge', async (t) => {
  const root = testDir(t);
  const storage = join(root, 'shared-state');
  const acme = acmeSection(pebble, { challenges: ['http-01'] });
  const a = await spawnWith(join(root, 'a'), proxyConfig([{ hosts: ['shared.test'], upstreams: [backend.origin], tls: 'acme' }], {
    https: `127.0.0.1:${pebble.tlsPort}`, http: `127.0.0.1:${pebble.httpPort}`, storage, acme,
  }));
  const b = await spawnWith(join(root, 'b'), proxyConfig([{ hosts: ['shared.test', 'only-b.test'], upstreams: [backend.origin], tls: 'acme' }], { storage, acme }));
  t.teardown(async () => {
    for (const p of [a, b]) p.child.kill('SIGTERM');
    await Promise.all([a.exited, b.exited]);
  });

  await Promise.all([a.waitFor(obtainedOrAdopted('shared.test'), 40_000), b.waitFor(obtainedOrAdopted('shared.test'), 40_000)]);
  // one process orders (a first attempt of it may fail when B orders before A, where pebble validates, is
  // listening: it is retried by the same process under the same lock, not ordered by the other)
  const orders = [...a.logs, ...b.logs].filter((l) => l.msg === 'ordering certificate' && l.host === 'shared.test');
  t.equal(new Set(orders.map((l) => l.pid)).size, 1, `shared.test ordered by one process (${a.logs.includes(orders[0]!) ? 'A' : 'B'})`);
  const issued = [...a.logs, ...b.logs].filter((l) => l.msg === 'certificate obtained' && l.host === 'shared.test');
  t.equal(issued.length, 1, 'issued once');

  await b.waitFor((l) => l.msg === 'certificate obtained' && l.host === 'only-b.test', 40_000);
  const answered = a.logs.find((l) => l.msg === 'acme http-01 challenge answered' && l.source === 'storage');
  t.ok(answered, 'A answered the CA\'s request for B\'s order from the shared storage');
  t.notOk(a.logs.some((l) => l.msg === 'ordering certificate' && l.host === 'only-b.test'), 'A never ordered only-b.test');

  const pebbleRoot = await pebble.root();
  const fromA = await peerCertificate(a.portOf('https'), 'shared.test', pebbleRoot);
  const fromB = await peerCertificate(b.portOf('https'), 'shared.test', pebbleRoot);
  t.equal(fromA.authorized, true, 'A serves a trusted certificate');
  t.equal(fromB.authorized, true, 'B serves a trusted certificate');
  t.equal(fromA.serialNumber, fromB.serialNumber, 'the same certificate on both');
  const onlyB = await peerCertificate(b.portOf('https'), 'only-b.test', pebbleRoot);
  t.equal(onlyB.authorized, true);
});
