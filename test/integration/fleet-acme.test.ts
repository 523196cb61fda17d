/**
 * Issue 25: three portico replicas, each with its own storage.dir, sharing one real redis-server,
 * behind a real HAProxy (TCP, round-robin, PROXY v2) on the ports pebble validates on. pebble sends
 * several validation requests per challenge, spread over the replicas: the ones that did not order
 * must answer from Redis, for TLS-ALPN-01 and for HTTP-01.
 *
 * - one order per host (portico's log lines and pebble's own count), the same serial everywhere;
 * - the non-orderers answer TLS-ALPN-01 and HTTP-01 validation requests from storage;
 * - a renewal by one replica reaches the others within seconds (pub/sub, not the slow poll);
 * - the lock holder SIGKILLed mid-order: another replica completes within the lease (10 s) and the
 *   fleet has one valid certificate;
 * - a replica restarted with an empty storage.dir serves the stored certificates without ordering.
 */
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import {
  balance, peerCertificate, replicaConfig, startBackend, startPebble, startRedis, startReplica, stopReplica, waitUntil,
  type FleetSpec, type Replica,
} from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const redis = await startRedis();
t.teardown(() => redis.close());
const pebble = await startPebble({ validitySeconds: 300 });
t.teardown(() => pebble.stop());
const backend = await startBackend('up');
t.teardown(() => backend.close());

const spec: FleetSpec = {
  pebble,
  redisUrl: redis.url,
  routes: [{ hosts: ['one.test'], upstreams: [backend.origin], tls: 'acme' }],
  acme: { challenges: ['tls-alpn-01'] },
};
const root = testDir(t);
const replicas: Replica[] = [];
for (const name of ['a', 'b', 'c']) replicas.push(await startReplica(spec, name, join(root, name)));
t.teardown(async () => {
  for (const r of replicas) r.proc.child.kill('SIGKILL');
});
const lb = await balance(pebble, replicas);
t.teardown(() => lb.stop());

const orders = (host: string) => replicas.filter((r) => r.proc.logs.some((l) => l.msg === 'ordering certificate' && l.host === host));
const pebbleOrders = () => (pebble.log().match(/Added order/gi) ?? []).length;
/** every order a replica made (a first one may fail while another replica still starts: the balancer sends the CA to it) */
const orderLines = () => replicas.flatMap((r) => r.proc.logs.filter((l) => l.msg === 'ordering certificate'));

async function serials(host: string, of: Replica[] = replicas): Promise<string[]> {
  const ca = await pebble.root();
  return Promise.all(of.map(async (r) => {
    const c = await peerCertificate(r.https, host, ca);
    return c.authorized ? c.serialNumber : `untrusted(${c.authError})`;
  }));
}

async function allServeOne(host: string, of: Replica[] = replicas, ms = 30_000): Promise<string> {
  let last: string[] = [];
  await waitUntil(async () => {
    last = await serials(host, of);
    return !last[0]!.startsWith('untrusted') && last.every((s) => s === last[0]);
  }, ms, `every replica serving one trusted certificate for ${host} (last: ${last.join(', ')})`);
  return last[0]!;
}

async function reloadAll(s: FleetSpec, of: Replica[] = replicas, tolerate = false): Promise<void> {
  for (const r of of) {
    await writeFile(join(r.dir, 'config.toml'), replicaConfig(s, r, join(r.dir, 'state')));
    const res = await httpRequest({ port: r.admin, method: 'POST', path: '/reload' }).catch((err: Error) => {
      if (tolerate) return { status: 200, body: '' };
      throw err;
    });
    if (res.status !== 200) throw new Error(`reload of ${r.name}: ${res.status} ${res.body}`);
  }
}

t.test('tls-alpn-01: one order, the same certificate on every replica, the others answered the CA', async (t) => {
  await Promise.all(replicas.map((r) => r.proc.waitFor((l) => l.msg === 'portico ready', 20_000)));
  const serial = await allServeOne('one.test');
  t.ok(serial, `serial ${serial}`);
  t.equal(orders('one.test').length, 1, `ordered by one replica (${orders('one.test').map((r) => r.name)})`);
  t.equal(pebbleOrders(), orderLines().length, `pebble saw the orders of that one replica and no other (${pebbleOrders()})`);
  const orderer = orders('one.test')[0]!;
  const others = replicas.filter((r) => r !== orderer);
  const answered = await Promise.any(others.map((r) => r.proc.waitFor((l) => l.msg === 'acme tls-alpn-01 challenge answered' && l.source === 'storage', 5000).then(() => r.name)));
  t.ok(answered, `a non-orderer (${answered}) answered tls-alpn-01 from Redis`);
  for (const r of others) await r.proc.waitFor((l) => l.host === 'one.test' && l.msg === 'certificate obtained by another process; using it', 5000);
  t.pass('both others took it from storage');
});

t.test('http-01 (after a reload adding a host): one order, the non-orderers answered', async (t) => {
  const before = pebbleOrders();
  const beforeLines = orderLines().length;
  spec.routes = [{ hosts: ['one.test', 'two.test'], upstreams: [backend.origin], tls: 'acme' }];
  spec.acme = { challenges: ['http-01'] };
  await reloadAll(spec);
  await allServeOne('two.test');
  t.equal(orders('two.test').length, 1, `ordered by one replica (${orders('two.test').map((r) => r.name)})`);
  t.equal(pebbleOrders() - before, orderLines().length - beforeLines, 'pebble saw only that replica\'s order');
  const orderer = orders('two.test')[0]!;
  const others = replicas.filter((r) => r !== orderer);
  const answered = await Promise.any(others.map((r) => r.proc.waitFor((l) => l.msg === 'acme http-01 challenge answered' && l.source === 'storage', 5000).then(() => r.name)));
  t.ok(answered, `a non-orderer (${answered}) answered http-01 from Redis`);
});

t.test('a renewal by one replica reaches the others within seconds', async (t) => {
  const old = await allServeOne('one.test');
  const renewer = replicas[0]!;
  // this replica alone is told to renew at 1 % of the lifetime, i.e. now
  await reloadAll({ ...spec, acme: { ...spec.acme, renewBefore: '99/100' } }, [renewer]);
  const renewed = await renewer.proc.waitFor((l) => l.msg === 'certificate obtained' && l.host === 'one.test' && l.renewal === true, 20_000);
  await reloadAll(spec, [renewer]); // back to the default before it renews again
  const seen = Date.now();
  let now: string[] = [];
  await waitUntil(async () => {
    now = await serials('one.test');
    return now.every((s) => s !== old && s === now[0]);
  }, 5000, `the renewed certificate on every replica (${now.join(', ')})`);
  t.ok(Date.now() - seen < 5000, `everywhere ${Date.now() - seen} ms after it was obtained (serial ${String(renewed.serial)})`);
  for (const r of replicas.slice(1)) {
    const own = r.proc.logs.filter((l) => l.msg === 'ordering certificate' && l.host === 'one.test' && l.renewal === true);
    t.same(own, [], `${r.name} did not renew`);
    if (own.length > 0) t.comment(JSON.stringify(r.proc.logs.filter((l) => l.host === 'one.test')));
  }
});

t.test('the lock holder killed mid-order: another replica completes within the lease, one valid certificate', async (t) => {
  spec.routes = [{ hosts: ['one.test', 'two.test', 'three.test'], upstreams: [backend.origin], tls: 'acme' }];
  const from = new Map(replicas.map((r) => [r, r.proc.logs.length]));
  let first: Replica | null = null;
  const killed = new Promise<Replica>((resolve) => {
    for (const r of replicas) {
      void r.proc.waitFor((l) => l.msg === 'ordering certificate' && l.host === 'three.test', 30_000).then(() => {
        if (first !== null) return; // the one that takes over must live
        first = r;
        r.proc.child.kill('SIGKILL');
        resolve(r);
      }, () => undefined);
    }
  });
  await reloadAll(spec, replicas, true); // the one killed mid-order may be one not reloaded yet
  const victim = await killed;
  const killedAt = Date.now();
  const survivors = replicas.filter((r) => r !== victim);
  const serial = await allServeOne('three.test', survivors, 30_000);
  const took = Date.now() - killedAt;
  t.ok(took < 10_000 + 8000, `a survivor completed ${took} ms after the kill (lease 10 s)`);
  await new Promise((r) => setTimeout(r, 1000)); // log lines are flushed by the replicas in their own time
  const completed = survivors.filter((r) => r.proc.logs.slice(from.get(r)).some((l) => l.msg === 'certificate obtained' && l.host === 'three.test'));
  t.equal(completed.length, 1, `one survivor ordered it (${completed.map((r) => r.name)})`);
  const stored = await redis.cli('--raw', 'KEYS', 'portico:acme/*/certs/three.test.pem');
  t.equal(stored.split('\n').filter(Boolean).length, 1, 'one certificate in Redis');
  t.ok(serial, `both survivors serve ${serial}`);

  // the victim comes back with an empty storage.dir: it serves what Redis holds and orders nothing
  await rm(join(victim.dir, 'state'), { recursive: true, force: true });
  const fresh = await startReplica(spec, victim.name, victim.dir, victim);
  replicas[replicas.indexOf(victim)] = fresh;
  await fresh.proc.waitFor((l) => l.msg === 'portico ready', 20_000);
  for (const host of ['one.test', 'two.test', 'three.test']) {
    const [mine] = await serials(host, [fresh]);
    const [theirs] = await serials(host, [survivors[0]!]);
    t.equal(mine, theirs, `${host}: the stored certificate at once`);
  }
  await new Promise((r) => setTimeout(r, 500));
  t.notOk(fresh.proc.logs.some((l) => l.msg === 'ordering certificate'), 'nothing ordered');
});

t.test('stop', async () => {
  await Promise.all(replicas.map(stopReplica));
});
