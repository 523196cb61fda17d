/**
 * AcmeManager with a fake Issuer (no network): a valid stored certificate is never re-ordered, the
 * renewal time follows renew_before with bounded jitter, failures back off per the persisted ladder
 * across a restart (a new manager on the same storage), and a certificate in its last sixth with a
 * failing renewal is alerted at error level and in the metric.
 */
import t from 'tap';
import type { Issuer, IssueRequest } from '../../../src/acme/issuer.js';
import { ladderDelay, Ledger } from '../../../src/acme/ledger.js';
import { OrderLimiter } from '../../../src/acme/limiter.js';
import { AcmeManager, renewalTime, storagePrefix, type AcmeSettings } from '../../../src/acme/manager.js';
import { CertFiles } from '../../../src/acme/stored.js';
import { Metrics } from '../../../src/metrics.js';
import { FileStorage } from '../../../src/storage/file.js';
import { captureLogger, makeCA } from '../../../test-support/index.js';
import { waitUntil as until } from '../../../test-support/wait.js';
import { testDir } from '../../../test-support/wait.js';

const DIRECTORY = 'https://ca.test/directory';
const DAY = 86_400_000;

function acmeConfig(backoff = { min: 100, max: 400 }): AcmeSettings {
  return { directory: DIRECTORY, challenges: ['http-01'], renew_before: { fraction: 1 / 3 }, backoff };
}

/** FakeIssuer records calls and fails (or issues with `issue`). */
class FakeIssuer implements Issuer {
  calls: Array<{ at: number; req: IssueRequest }> = [];
  constructor(private readonly result: (req: IssueRequest) => Promise<{ cert: string; key: string }> = () => Promise.reject(new Error('CA says no'))) {}
  async issue(req: IssueRequest) {
    this.calls.push({ at: Date.now(), req });
    return { ...(await this.result(req)), challenge: 'http-01' as const };
  }
  async renewalInfo() {
    return null;
  }
  certId() {
    return null;
  }
}

function manager(storage: FileStorage, issuer: Issuer, o: { now?: () => number; backoff?: { min: number; max: number }; checkIntervalMs?: number } = {}) {
  const { log, lines } = captureLogger();
  const metrics = new Metrics();
  const installs: string[] = [];
  const m = new AcmeManager({
    hosts: ['a.test'], acme: acmeConfig(o.backoff), storage, issuer: async () => issuer, limiter: new OrderLimiter({ perWindow: 1000 }),
    install: (h) => installs.push(h), log, metrics, now: o.now, lockOptions: { pollMs: 20 }, checkIntervalMs: o.checkIntervalMs,
  });
  return { m, lines, metrics, installs };
}


t.test('renewalTime: fraction, fixed duration, a duration longer than the lifetime, jitter', async (t) => {
  const notBefore = new Date('2026-01-01T00:00:00Z');
  const notAfter = new Date(notBefore.getTime() + 90 * DAY);
  t.equal(renewalTime({ notBefore, notAfter }, { fraction: 1 / 3 }, 0).toISOString(), '2026-03-02T00:00:00.000Z', '90d cert: 60 days in');
  t.equal(renewalTime({ notBefore, notAfter }, { ms: 30 * DAY }, 0).toISOString(), '2026-03-02T00:00:00.000Z', '"30d" before expiry');
  const short = new Date(notBefore.getTime() + 6 * DAY);
  t.equal(renewalTime({ notBefore, notAfter: short }, { ms: 30 * DAY }, 0).toISOString(), '2026-01-05T00:00:00.000Z', '"30d" on a 6-day certificate: 1/3 instead');
  t.equal(renewalTime({ notBefore, notAfter: short }, { fraction: 1 / 3 }, 0).toISOString(), '2026-01-05T00:00:00.000Z', '6-day cert: 4 days in');
  t.equal(renewalTime({ notBefore, notAfter }, { fraction: 1 / 3 }, -DAY).toISOString(), '2026-03-01T00:00:00.000Z', 'jitter shifts it');
  // a short renew_before with the full ±2 % jitter (±1.8 days on 90 days) must still renew before expiry
  const late = renewalTime({ notBefore, notAfter }, { ms: DAY }, 0.02 * 90 * DAY);
  t.ok(late.getTime() <= notAfter.getTime() - DAY / 2, `"1d" + jitter renews at least 12h before expiry (${late.toISOString()})`);
  const early = renewalTime({ notBefore, notAfter }, { ms: DAY }, -0.02 * 90 * DAY);
  t.ok(early.getTime() >= notAfter.getTime() - 1.25 * DAY, 'and the jitter takes at most a quarter of the margin the other way');
});

t.test('a valid stored certificate is served and never re-ordered', async (t) => {
  const storage = new FileStorage(testDir(t));
  const ca = await makeCA();
  await new CertFiles(storage, storagePrefix(DIRECTORY), () => {}).save('a.test', await ca.issue(['a.test']));
  const issuer = new FakeIssuer();
  const { m } = manager(storage, issuer);
  const stored = await m.load();
  t.ok(stored.has('a.test'), 'loaded from storage');
  const ac = new AbortController();
  m.start(ac.signal);
  await new Promise((r) => setTimeout(r, 300));
  ac.abort();
  t.equal(issuer.calls.length, 0, 'no order');
  const s = m.status()[0]!;
  t.equal(s.state, 'valid');
  const lifetime = Date.parse(s.not_after!) - Date.parse(s.not_before!);
  const planned = Date.parse(s.next_renewal!);
  const nominal = Date.parse(s.not_after!) - lifetime / 3;
  t.ok(Math.abs(planned - nominal) <= 0.02 * lifetime + 1, 'renewal at 1/3 left ± 2 % jitter');
});

t.test('failures back off on the ladder, and keep doing so after a restart', async (t) => {
  const storage = new FileStorage(testDir(t));
  const backoff = { min: 100, max: 400 };
  const issuer = new FakeIssuer();
  const first = manager(storage, issuer, { backoff });
  await first.m.load();
  const ac = new AbortController();
  first.m.start(ac.signal);
  await until(() => issuer.calls.length >= 3);
  ac.abort();
  for (let i = 1; i < 3; i++) {
    t.ok(issuer.calls[i]!.at - issuer.calls[i - 1]!.at >= ladderDelay(i, backoff) - 5, `attempt ${i + 1} waited ≥ ${ladderDelay(i, backoff)}ms`);
  }
  await until(() => first.lines.filter((l) => l.msg === 'certificate order failed').length >= 3);
  const entry = await new Ledger(storage, storagePrefix(DIRECTORY), backoff).get('a.test');
  t.equal(entry.consecutive_failures, 3, 'persisted');
  t.match(entry.last_error, 'CA says no');

  // Restart: a new manager must wait for the persisted next attempt, then continue the ladder.
  const second = manager(storage, issuer, { backoff });
  await second.m.load();
  const ac2 = new AbortController();
  second.m.start(ac2.signal);
  await until(() => issuer.calls.length >= 4);
  ac2.abort();
  t.ok(issuer.calls[3]!.at >= Date.parse(entry.next_attempt_at!) - 5, 'the restarted manager honoured the stored next attempt');
  await until(() => second.lines.some((l) => l.msg === 'certificate order failed'));
  const after = await new Ledger(storage, storagePrefix(DIRECTORY), backoff).get('a.test');
  t.equal(after.consecutive_failures, 4, 'the count continues after the restart');
  t.equal(Date.parse(after.next_attempt_at!) - Date.parse(after.last_failure_at!), ladderDelay(4, backoff));
  t.equal(second.m.status()[0]!.state, 'self-signed');
});

t.test('last sixth of the lifetime and renewal failing: error-level alert and metric', async (t) => {
  const storage = new FileStorage(testDir(t));
  const ca = await makeCA();
  await new CertFiles(storage, storagePrefix(DIRECTORY), () => {}).save('a.test', await ca.issue(['a.test'])); // 30 days
  const issuer = new FakeIssuer();
  const shift = 26 * DAY; // 4 days left of 30: less than 1/6 (5 days)
  const { m, lines, metrics } = manager(storage, issuer, { now: () => Date.now() + shift });
  await m.load();
  const ac = new AbortController();
  m.start(ac.signal);
  await until(() => lines.some((l) => l.msg === 'certificate expires soon and renewal is failing'));
  ac.abort();
  const alert = lines.find((l) => l.msg === 'certificate expires soon and renewal is failing')!;
  t.equal(alert.level, 'error');
  t.equal(alert.host, 'a.test');
  t.match(alert.last_error, 'CA says no');
  t.ok(lines.some((l) => l.msg === 'certificate renewal failed' && l.level === 'warn'), 'the failure itself is a warning (a certificate is still served)');
  t.match(await metrics.text(), /portico_cert_renewal_failing\{name="a\.test"\} 1/);
  t.equal(m.status()[0]!.renewal_failing, true);
});

t.test('an issued certificate that cannot be saved is served from memory, not ordered again, and saved once storage works', async (t) => {
  class FailingWrites extends FileStorage {
    broken = true;
    override async write(key: string, data: string | Buffer): Promise<void> {
      if (this.broken && key.includes('a.test')) throw new Error('ENOSPC: no space left on device');
      return super.write(key, data);
    }
  }
  const storage = new FailingWrites(testDir(t));
  const ca = await makeCA();
  const issuer = new FakeIssuer(() => ca.issue(['a.test']));
  const { m, lines, installs } = manager(storage, issuer, { checkIntervalMs: 50 });
  await m.load();
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  m.start(ac.signal);
  await until(() => installs.length >= 1);
  t.equal(issuer.calls.length, 1, 'ordered once');
  t.match(lines.find((l) => l.msg === 'certificate obtained but not saved to storage: serving it from memory, saving again on the next check'), { level: 'error', err: /ENOSPC/ });
  await new Promise((r) => setTimeout(r, 300));
  t.equal(issuer.calls.length, 1, 'not ordered again while storage fails');
  storage.broken = false;
  await until(() => lines.some((l) => l.msg === 'certificate saved to storage'));
  t.ok(await new CertFiles(storage, storagePrefix(DIRECTORY), () => {}).load('a.test'), 'saved once storage works again');
});

/**
 * Regression (issue 25): a replica waiting for the order lock adopted, from a storage change notice,
 * the certificate the lock holder had just stored; under the lock its re-check compared storage with
 * the certificate it now had (the same) and ordered again. The re-check asks "still due?" instead.
 */
// the notice names the key that changed: the one-write bundle (.pem), or the .crt of an older replica
for (const ext of ['pem', 'crt']) t.test(`a certificate adopted from a storage change notice (.${ext}) while waiting for the lock is not ordered again`, async (t) => {
  const storage = new FileStorage(testDir(t));
  const listeners: Array<(k: string | null) => void> = [];
  const watched = Object.assign(Object.create(storage) as FileStorage, { watch: (fn: (k: string | null) => void) => (listeners.push(fn), () => undefined) });
  const ca = await makeCA();
  const other = await storage.lock(`order-${storagePrefix(DIRECTORY)}-a.test`); // "another replica" holds the lock
  const issuer = new FakeIssuer(async () => ca.issue(['a.test']));
  const { m, lines } = manager(watched, issuer);
  await m.load();
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  m.start(ac.signal);
  await new Promise((r) => setTimeout(r, 100)); // the host has no certificate: its loop waits for the lock
  await new CertFiles(storage, storagePrefix(DIRECTORY), () => {}).save('a.test', await ca.issue(['a.test']));
  for (const fn of listeners) fn(`${storagePrefix(DIRECTORY)}/certs/a.test.${ext}`);
  await until(() => lines.some((l) => l.msg === 'certificate obtained by another process; using it'), 2000);
  await other.release();
  await new Promise((r) => setTimeout(r, 300));
  t.equal(issuer.calls.length, 0, 'nothing ordered');
});

t.test('an order resumed from a stale record (no newer certificate than the one served) is forgotten and made again', async (t) => {
  // a fleet: a replica's cache held an orders/ record another replica had finished, and re-published it into an emptied Redis
  const storage = new FileStorage(testDir(t));
  const ca = await makeCA();
  const served = await ca.issue(['a.test'], { days: 30 });
  await new CertFiles(storage, storagePrefix(DIRECTORY), () => {}).save('a.test', served);
  const stale = await ca.issue(['a.test'], { days: 10 });
  const fresh = await ca.issue(['a.test'], { days: 90 });
  const answers = [{ ...stale, resumed: true }, fresh];
  const issuer = new FakeIssuer(async () => answers.shift()!);
  const later = () => Date.now() + 21 * DAY; // the served certificate is due (1/3 of 30 days left), the stale one expired
  const { m, lines } = manager(storage, issuer, { now: later });
  await m.load();
  const ac = new AbortController();
  t.teardown(() => ac.abort());
  m.start(ac.signal);
  await until(() => lines.some((l) => l.msg === 'certificate obtained'), 3000);
  t.equal(issuer.calls.length, 2, 'ordered again after the stale resumption');
  t.ok(lines.some((l) => l.msg === 'the order recorded as finalized gave no newer certificate than the one served: ordering again'));
  const stored = await new CertFiles(storage, storagePrefix(DIRECTORY), () => {}).load('a.test');
  t.equal(stored?.notAfter.getTime(), m.status()[0] && Date.parse(m.status()[0]!.not_after!), 'the served certificate is the stored one');
  t.ok(stored!.notAfter.getTime() > Date.now() + 80 * DAY, 'and it is the fresh one, not the stale one');
});
