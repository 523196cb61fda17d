/**
 * The real issuer (acme-client) against a small fake ACME directory, for what pebble 2.4 lacks:
 * - a 429 with Retry-After is honoured: the next attempt waits for it (not the 100ms ladder step),
 *   also for a restarted manager, and the log carries PORTICO_ERR_ACME_RATE_LIMITED;
 * - ACME Renewal Information (RFC 9773): the renewal time is taken from the CA's suggested window,
 *   requested with the certificate's ARI id (AKI key id . serial);
 * - an account lock lost while the CA registers the account: that holder writes nothing; the account
 *   is resolved again under the lock (registered or looked up) and recorded, and the order goes on.
 */
import { createHash, X509Certificate } from 'node:crypto';
import t from 'tap';
import { ariCertId } from '../../src/acme/ari.js';
import { AcmeIssuer } from '../../src/acme/issuer.js';
import { ChallengeStore } from '../../src/acme/challenges.js';
import { OrderLimiter } from '../../src/acme/limiter.js';
import { AcmeManager, storagePrefix, type AcmeSettings } from '../../src/acme/manager.js';
import { CertFiles } from '../../src/acme/stored.js';
import { Metrics } from '../../src/metrics.js';
import { FileStorage } from '../../src/storage/file.js';
import { captureLogger, makeCA, startFakeAcme, type FakeAcme } from '../../test-support/index.js';
import { waitUntil as until } from '../../test-support/wait.js';
import { testDir } from '../../test-support/wait.js';

const HOUR = 3_600_000;

function setup(fake: FakeAcme, dir: string, backoff = { min: 100, max: 400 }) {
  const storage = new FileStorage(dir);
  const acme: AcmeSettings = { directory: fake.directoryUrl, challenges: ['http-01'], renew_before: { fraction: 1 / 3 }, backoff };
  const { log, lines } = captureLogger();
  const metrics = new Metrics();
  const issuer = new AcmeIssuer({ directory: fake.directoryUrl, email: '', caBundle: fake.tlsCa, eab: null, storage, prefix: storagePrefix(fake.directoryUrl), responder: new ChallengeStore(storage), dns: null, log });
  const m = new AcmeManager({
    hosts: ['ari.test'], acme, storage, issuer: async () => issuer, limiter: new OrderLimiter(), install: () => {}, log, metrics, lockOptions: { pollMs: 20 },
  });
  return { m, lines, storage, metrics };
}


t.test('429 + Retry-After: the next attempt waits for it, also after a restart', async (t) => {
  const fake = await startFakeAcme();
  t.teardown(() => fake.close());
  const dir = testDir(t);
  const { m, lines, metrics } = setup(fake, dir);
  await m.load();
  const ac = new AbortController();
  m.start(ac.signal);
  await until(() => lines.some((l) => l.msg === 'certificate order failed'));
  const failed = lines.find((l) => l.msg === 'certificate order failed')!;
  t.equal(failed.code, 'PORTICO_ERR_ACME_RATE_LIMITED');
  t.match(failed.err, /rate limited by the CA \(HTTP 429, retry after 120s\): too many new accounts/);
  t.equal(failed.retry_after_ms, 120_000);
  const wait = Date.parse(String(failed.next_attempt)) - Date.parse(String(failed.time));
  t.ok(wait >= 119_000 && wait <= 121_000, `next attempt in ~120s (${wait}ms), not the 100ms ladder step`);
  await new Promise((r) => setTimeout(r, 700)); // the ladder alone would have retried 3 times by now
  ac.abort();
  const accountCalls = () => fake.hits.filter((h) => h.path === '/new-account').length;
  t.equal(accountCalls(), 1, 'no retry while Retry-After runs');
  t.match(await metrics.text(), /portico_acme_failures_total 1/);

  const again = setup(fake, dir);
  await again.m.load();
  const ac2 = new AbortController();
  again.m.start(ac2.signal);
  await new Promise((r) => setTimeout(r, 500));
  ac2.abort();
  t.equal(accountCalls(), 1, 'a restarted manager waits too (the ledger is persisted)');
  t.equal(again.m.status()[0]!.attempts, 1);
});

t.test('ARI: the CA\'s suggested window decides the renewal time', async (t) => {
  const start = new Date(Date.now() + HOUR);
  const end = new Date(Date.now() + 2 * HOUR);
  const asked: string[] = [];
  const fake = await startFakeAcme({
    renewalInfo: (id) => {
      asked.push(id);
      return { status: 200, headers: { 'retry-after': '21600' }, body: { suggestedWindow: { start: start.toISOString(), end: end.toISOString() }, explanationURL: 'https://ca.test/why' } };
    },
  });
  t.teardown(() => fake.close());
  const dir = testDir(t);
  const { m, lines, storage } = setup(fake, dir);
  const ca = await makeCA();
  const leaf = await ca.issue(['ari.test']); // 30 days: without ARI renewal would be ~20 days away
  await new CertFiles(storage, storagePrefix(fake.directoryUrl), () => {}).save('ari.test', leaf);
  await m.load();
  const ac = new AbortController();
  m.start(ac.signal);
  await until(() => m.status()[0]!.ari_window !== null);
  ac.abort();

  // The ARI id: base64url(AKI key id) "." base64url(serial DER bytes).
  // the CA's key id, RFC 5280 method 1: SHA-1 of its public key (P-256: 04 || x || y), computed from the JWK
  const jwk = new X509Certificate(ca.cert).publicKey.export({ format: 'jwk' });
  const keyId = createHash('sha1').update(Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')])).digest();
  let serial = Buffer.from(new X509Certificate(leaf.leaf).serialNumber, 'hex');
  if (serial[0]! & 0x80) serial = Buffer.concat([Buffer.from([0]), serial]);
  const expectedId = `${keyId.toString('base64url')}.${serial.toString('base64url')}`;
  t.equal(ariCertId(leaf.cert), expectedId, 'certificate id per RFC 9773 §4.1');
  t.strictSame(asked, [expectedId], 'renewalInfo requested for that id');

  const s = m.status()[0]!;
  const planned = Date.parse(s.next_renewal!);
  t.ok(planned >= start.getTime() && planned <= end.getTime(), `renewal planned inside the window (${s.next_renewal})`);
  t.strictSame(s.ari_window, { start: start.toISOString(), end: end.toISOString() });
  t.ok(lines.some((l) => l.msg === 'renewal window from the CA (ARI)' && l.explanation === 'https://ca.test/why'));
});

t.test('the account lock lost while registering: nothing is written by that holder; the account is read again under the lock, registered and recorded', async (t) => {
  // the account lock's first holder is taken over while the CA registers it (as a file lock past
  // staleMs or a lapsed Redis lease is; the real takeovers: lock-takeover.test.ts, redis-acme.test.ts)
  let held: AbortController | null = null;
  let accounts = 0;
  const fake = await startFakeAcme({
    newAccount: () => {
      if (++accounts === 1) held?.abort(new Error('another process holds it'));
      return { status: 201, headers: { location: `https://ca.test/acct/${accounts}` }, body: { status: 'valid', contact: [] } };
    },
  });
  t.teardown(() => fake.close());
  class TakenOver extends FileStorage {
    override async lock(name: string, o?: Parameters<FileStorage['lock']>[1]) {
      const l = await super.lock(name, o);
      if (!name.startsWith('account-') || held !== null) return l;
      held = new AbortController();
      return { owner: l.owner, signal: held.signal, release: () => l.release() };
    }
  }
  const storage = new TakenOver(testDir(t));
  const prefix = storagePrefix(fake.directoryUrl);
  const { log, lines } = captureLogger();
  const issuer = new AcmeIssuer({ directory: fake.directoryUrl, email: '', caBundle: fake.tlsCa, eab: null, storage, prefix, responder: new ChallengeStore(storage), dns: null, log });
  const writes: string[] = [];
  const write = storage.write.bind(storage);
  storage.write = async (key, value) => {
    if (key.endsWith('account.json')) writes.push(accounts === 1 ? 'by the holder that lost the lock' : 'after');
    return write(key, value);
  };
  const req = { names: ['lost.test'], challenges: ['http-01' as const], profile: '', replaces: null };
  await t.rejects(issuer.issue(req), /no such resource \/new-order/, 'the order gets past the account (to the fake\'s missing new-order)');
  t.ok(lines.some((l) => l.msg === 'the ACME account lock was lost while registering: nothing written; reading the account again under the lock'), 'said');
  t.same(writes, ['after'], 'account.json written once, not by the holder that lost the lock');
  t.equal(accounts, 2, 'registered (looked up) again under the lock');
  const meta = JSON.parse(String(await storage.read(`${prefix}/account.json`))) as { url: string };
  t.equal(meta.url, 'https://ca.test/acct/2', 'and recorded');
});
