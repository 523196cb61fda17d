/**
 * Small ACME pieces: Retry-After parsing, ALPN selection for acme-tls/1 (RFC 8737), the challenge
 * store (storage first, then memory; lookups fall back to storage for other processes' answers;
 * tokens with odd characters are never looked up), and the storage key of a CA.
 */
import t from 'tap';
import { ChallengeStore } from '../../../src/acme/challenges.js';
import { retryAfterMs } from '../../../src/acme/issuer.js';
import { issuerKey } from '../../../src/acme/manager.js';
import { selectAlpn } from '../../../src/server/listeners.js';
import { FileStorage } from '../../../src/storage/file.js';
import { testDir } from '../../../test-support/wait.js';

t.test('retryAfterMs: seconds or an HTTP date', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  t.equal(retryAfterMs('120', now), 120_000);
  t.equal(retryAfterMs('Thu, 01 Jan 2026 00:01:00 GMT', now), 60_000);
  t.equal(retryAfterMs('Wed, 31 Dec 2025 00:00:00 GMT', now), 0, 'a past date: no wait');
  t.equal(retryAfterMs(undefined, now), undefined);
  t.equal(retryAfterMs('soon', now), undefined);
});

t.test('selectAlpn: acme-tls/1 alone marks the socket; h2 preferred, else http/1.1; nothing common fails', async (t) => {
  const socket = {} as { acmeTls?: boolean };
  t.equal(selectAlpn.call(socket as never, { protocols: ['acme-tls/1'] }), 'acme-tls/1');
  t.equal(socket.acmeTls, true, 'SNICallback will pick the challenge certificate');
  const plain = {} as { acmeTls?: boolean };
  t.equal(selectAlpn.call(plain as never, { protocols: ['http/1.1', 'h2'] }), 'h2');
  t.equal(selectAlpn.call(plain as never, { protocols: ['h2'] }), 'h2');
  t.equal(selectAlpn.call(plain as never, { protocols: ['http/1.1'] }), 'http/1.1');
  t.equal(selectAlpn.call(plain as never, { protocols: ['h2', 'http/1.1'] }, false), 'http/1.1', 'h2 off');
  t.equal(selectAlpn.call(plain as never, { protocols: ['h2'] }, false), undefined, 'h2 off and nothing else offered');
  t.equal(selectAlpn.call(plain as never, { protocols: ['spdy/3'] }), undefined);
  // RFC 8737 §3: the validation client offers acme-tls/1 only; one offering more is an ordinary client
  t.equal(selectAlpn.call(plain as never, { protocols: ['acme-tls/1', 'http/1.1'] }), 'http/1.1');
  t.equal(selectAlpn.call(plain as never, { protocols: ['h2', 'acme-tls/1'] }), 'h2');
  t.equal(selectAlpn.call(plain as never, { protocols: ['acme-tls/1', 'foo'] }), undefined);
  t.equal(plain.acmeTls, undefined, 'never marked');
});

t.test('ChallengeStore: written to storage, published, answered from memory or storage', async (t) => {
  const dir = testDir(t);
  const mine = new ChallengeStore(new FileStorage(dir));
  const other = new ChallengeStore(new FileStorage(dir)); // another process on the same storage
  let changes = 0;
  mine.setOnChange(() => changes++);
  await mine.presentHttp('tok_EN-1', 'tok_EN-1.thumb');
  await mine.presentAlpn('a.test', { cert: 'C', key: 'K' });
  t.equal(changes, 2, 'each change is published');
  t.strictSame(mine.snapshot(), { http: { 'tok_EN-1': 'tok_EN-1.thumb' }, alpn: [{ name: 'a.test', cert: 'C', key: 'K' }] });
  t.equal(await other.lookupHttp('tok_EN-1'), 'tok_EN-1.thumb', 'the other process answers from storage');
  t.strictSame(await other.lookupAlpn('A.test'), { cert: 'C', key: 'K' });
  t.equal(await other.lookupHttp('../../etc/passwd'), null, 'odd tokens are never looked up');
  await t.rejects(mine.presentHttp('bad/token', 'x'));
  await mine.removeHttp('tok_EN-1');
  await mine.removeAlpn('a.test');
  t.equal(await other.lookupHttp('tok_EN-1'), null, 'removed from storage too');
  t.equal(await other.lookupAlpn('a.test'), null);
  t.strictSame(mine.snapshot(), { http: {}, alpn: [] });
});

t.test('issuerKey: one storage folder per CA directory', async (t) => {
  t.equal(issuerKey('https://acme-v02.api.letsencrypt.org/directory'), 'acme-v02.api.letsencrypt.org-directory');
  t.equal(issuerKey('https://acme-staging-v02.api.letsencrypt.org/directory'), 'acme-staging-v02.api.letsencrypt.org-directory');
  t.equal(issuerKey('https://127.0.0.1:14000/dir'), '127.0.0.1-14000-dir');
});
