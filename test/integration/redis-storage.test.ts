/**
 * Issue 25: RedisStorage against a real redis-server (started here on a free loopback port, without
 * persistence): the Storage contract (atomic values, keys, lists), change notices to other
 * processes, the local cache (mirrored on read, served — reads and lists of durable keys — while
 * Redis is down or hung, re-published into a restarted-empty Redis — a certificate and its key
 * together — and never resurrecting what was deleted while Redis kept its data), closing while Redis
 * is away or hung (bounded), and leases (one holder, renewed past the lease while
 * held, released only by their owner, freed by expiry when the holder dies, waiting — not failing —
 * while Redis is away).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { RedisStorage } from '../../src/storage/redis-storage.js';
import { startRedis, testDir, waitUntil } from '../../test-support/index.js';
const redis = await startRedis();
t.teardown(() => redis.close());

const FAST = { timeoutMs: 500, pollMs: 200, leaseMs: 1000, backoff: { min: 20, max: 200 } };

async function open(t: { teardown(fn: () => unknown): void }, cacheDir: string, extra: Partial<ConstructorParameters<typeof RedisStorage>[0]> = {}): Promise<RedisStorage> {
  const s = new RedisStorage({ url: redis.url, cacheDir, ...FAST, ...extra });
  s.start();
  t.teardown(() => s.close());
  await waitUntil(() => s.connected, 5000, 'redis storage in step');
  return s;
}

t.test('the Storage contract on Redis; changes are heard by the other processes', async (t) => {
  const dir = testDir(t);
  const a = await open(t, join(dir, 'a'));
  const b = await open(t, join(dir, 'b'));
  const heard: Array<string | null> = [];
  b.watch((k) => heard.push(k));
  await a.write('acme/ca/certs/x.test.key', 'KEY');
  await a.write('acme/ca/certs/x.test.crt', Buffer.from('CRT'));
  await a.write('challenges/http-01/tok', 'auth');
  t.equal((await b.read('acme/ca/certs/x.test.crt'))?.toString(), 'CRT');
  t.equal((await b.read('challenges/http-01/tok'))?.toString(), 'auth');
  t.equal(await b.read('acme/ca/certs/none.crt'), null);
  t.same(await b.list('acme/ca/certs'), ['acme/ca/certs/x.test.crt', 'acme/ca/certs/x.test.key']);
  await waitUntil(() => heard.includes('acme/ca/certs/x.test.crt'), 3000, 'change notice');
  t.ok(heard.includes('challenges/http-01/tok'));
  await a.delete('challenges/http-01/tok');
  t.equal(await b.read('challenges/http-01/tok'), null);
  t.throws(() => a.describe('../etc'), /invalid storage key/);
  t.notMatch(a.describe('acme/x'), /:[^/@]*@/, 'no password in descriptions');
  // the cache: durable keys mirrored (0600 like every storage file), challenge answers not
  t.equal(await readFile(join(dir, 'b', 'acme/ca/certs/x.test.crt'), 'utf8'), 'CRT', 'read mirrored into the cache');
  await t.rejects(readFile(join(dir, 'b', 'challenges/http-01/tok')), 'challenge answers are not cached');
});

t.test('Redis down: reads come from the cache, writes fail, and the state is reported', async (t) => {
  const dir = testDir(t);
  const s = await open(t, dir);
  await s.write('acme/ca/ledger/y.test.json', '{"n":1}');
  await redis.stop();
  await waitUntil(() => !s.connected, 5000, 'down noticed');
  t.equal((await s.read('acme/ca/ledger/y.test.json'))?.toString(), '{"n":1}', 'from the cache');
  await t.rejects(s.write('acme/ca/ledger/y.test.json', '{"n":2}'), /redis/);
  t.same(await s.list('acme/ca/ledger'), ['acme/ca/ledger/y.test.json'], 'durable keys listed from the cache (on-demand names at start)');
  await t.rejects(s.list('challenges/http-01'), /redis/, 'challenge answers are not in the cache: no list');
  // a second storage that never reached Redis closes at once (node-redis's close waited forever for its SUBSCRIBE)
  const never = new RedisStorage({ url: redis.url, cacheDir: join(dir, 'never'), ...FAST });
  never.start();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(await Promise.race([never.close().then(() => 'closed'), new Promise((r) => setTimeout(r, 3000, 'hung'))]), 'closed', 'closed while Redis is away');
  const st = s.status();
  t.equal(st.connected, false);
  t.match(st.last_error, /./);
  await redis.start();
  await waitUntil(() => s.connected, 5000, 'back in step');
  t.equal((await s.read('acme/ca/ledger/y.test.json'))?.toString(), '{"n":1}', 'a restarted-empty Redis got the cache back');
});

t.test('a hung Redis: every call gives up within its deadline and the cache answers', async (t) => {
  const dir = testDir(t);
  const s = await open(t, dir);
  await s.write('apps/web/pre-start-abc.done', 'at\n');
  const frozen = redis.freeze(2000);
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  const v = await s.read('apps/web/pre-start-abc.done');
  t.ok(Date.now() - started < 1500, `read gave up in ${Date.now() - started} ms`);
  t.equal(v?.toString(), 'at\n', 'the cache answered');
  await frozen;
  await waitUntil(async () => (await s.read('apps/web/pre-start-abc.done'))?.toString() === 'at\n' && s.connected, 5000);
});

t.test('closing while Redis hangs with a reply pending: the wait is cut at the given bound (a shutdown\'s), or the call deadline', async (t) => {
  const dir = testDir(t);
  const s = await open(t, join(dir, 'a'), { timeoutMs: 3000 });
  const frozen = redis.freeze(2500);
  t.teardown(() => frozen);
  await new Promise((r) => setTimeout(r, 50));
  const pending = s.write('acme/ca/ledger/z.test.json', '{}').catch(() => undefined); // no reply while frozen
  const started = Date.now();
  await s.close(100);
  const took = Date.now() - started;
  t.ok(took < 2000, `closed in ${took} ms with a bound of 100 ms (the call deadline is 3000 ms; Redis answers again at 2500 ms)`);
  await pending;
});

t.test('restarted empty: re-published from a cache, a certificate with its key; deletions stay deleted otherwise', async (t) => {
  const dir = testDir(t);
  const a = await open(t, join(dir, 'a'));
  await a.write('acme/ca/certs/z.test.key', 'KEY1');
  await a.write('acme/ca/certs/z.test.crt', 'CRT1');
  await a.write('apps/web/gone.failed', 'x');
  await a.delete('apps/web/gone.failed');
  // another replica whose cache holds an older pair and a record deleted since
  const bDir = join(dir, 'b');
  await mkdir(join(bDir, 'acme/ca/certs'), { recursive: true });
  await mkdir(join(bDir, 'apps/web'), { recursive: true });
  await writeFile(join(bDir, 'acme/ca/certs/z.test.key'), 'KEY0');
  await writeFile(join(bDir, 'acme/ca/certs/z.test.crt'), 'CRT0');
  await writeFile(join(bDir, 'apps/web/gone.failed'), 'x');
  await writeFile(join(bDir, '.redis-epoch'), a.status().epoch!);
  const b = await open(t, bDir);
  // read as CertFiles does: the certificate and its key together
  const [bc, bk] = await Promise.all([b.read('acme/ca/certs/z.test.crt'), b.read('acme/ca/certs/z.test.key')]);
  t.same([bc?.toString(), bk?.toString()], ['CRT1', 'KEY1'], 'same epoch: Redis wins (and the cache follows)');
  t.equal(await b.read('apps/web/gone.failed'), null, 'same epoch: a deleted record is not brought back');
  await redis.stop();
  await redis.start();
  await waitUntil(() => a.connected && b.connected && a.status().epoch !== null && a.status().epoch === b.status().epoch, 8000, 'both in step with the new epoch');
  const crt = (await a.read('acme/ca/certs/z.test.crt'))?.toString();
  const key = (await a.read('acme/ca/certs/z.test.key'))?.toString();
  t.equal(crt?.slice(-1), key?.slice(-1), `the pair stayed a pair (${crt}, ${key})`);
  t.ok(crt === 'CRT1' || crt === 'CRT0', 'a certificate is back');
});

t.test('leases: one holder, renewed while held, released by its owner only, expiring when the holder dies', async (t) => {
  const dir = testDir(t);
  const a = await open(t, join(dir, 'a'));
  const b = await open(t, join(dir, 'b'));
  const la = await a.lock('order-x');
  let bGot = false;
  const pending = b.lock('order-x', { pollMs: 50 }).then((l) => ((bGot = true), l));
  await new Promise((r) => setTimeout(r, 2500));
  t.notOk(bGot, 'held past two leases: renewed while held');
  t.same(b.status().locks.map((l) => l.name), ['order-x'], '/status shows the holder');
  t.equal(a.status().locks[0]!.mine, true);
  await redis.cli('SET', 'portico:lock:order-x', la.owner, 'XX', 'PX', '5000');
  await la.release();
  const lb = await pending;
  t.ok(bGot, 'released: the waiter has it');
  await la.release(); // a second release by the old owner must not free b's lease
  t.equal(await redis.cli('GET', 'portico:lock:order-x'), lb.owner, 'only the owner releases');
  // a holder that dies: its process (here: its connection) is gone, nobody renews
  const c = await open(t, join(dir, 'c'));
  await lb.release();
  await c.lock('order-y');
  await c.close();
  const started = Date.now();
  const ly = await a.lock('order-y', { pollMs: 50 });
  t.ok(Date.now() - started < 3000, `taken over after the lease expired (${Date.now() - started} ms)`);
  await ly.release();
});

t.test('a waiter keeps waiting while Redis is away, and gets the lock when it is back', async (t) => {
  const dir = testDir(t);
  const waiting: string[] = [];
  const s = await open(t, dir, { events: { waitingForRedis: (name) => waiting.push(name) } });
  await redis.stop();
  await waitUntil(() => !s.connected, 5000);
  let got = false;
  const p = s.lock('order-z', { pollMs: 50 }).then((l) => ((got = true), l));
  await new Promise((r) => setTimeout(r, 700));
  t.notOk(got, 'no lock without Redis');
  t.same(waiting, ['order-z'], 'said once that it waits');
  await redis.start();
  const l = await p;
  t.ok(got);
  await l.release();
});
