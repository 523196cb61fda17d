/**
 * The data plane's on-demand handshakes (tls/on-demand.ts) with a fake control plane: handshakes for
 * one name share one question; a handshake waits at most the wait (10 s in production) and then
 * gets the default certificate, while the answer still serves the next ones; misses are remembered;
 * the number of names asked about at once is capped, so attacker-chosen names cannot pile up.
 */
import t from 'tap';
import { WAIT_MS, OnDemandHandshakes } from '../../../src/tls/on-demand.js';
import { ipFromReverseName, orderableName } from '../../../src/tls/names.js';

const PEMS = { cert: 'C', key: 'K' };

t.test('names: reverse-DNS SNI of an IP (RFC 8738), and what may be ordered on demand', async (t) => {
  t.equal(ipFromReverseName('1.0.0.127.in-addr.arpa'), '127.0.0.1');
  t.equal(ipFromReverseName('1.0.0.127.IN-ADDR.ARPA.'), '127.0.0.1');
  t.equal(ipFromReverseName(`${'1.0.'.repeat(1)}${'0.'.repeat(30)}ip6.arpa`), '::1');
  t.equal(ipFromReverseName('b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa'), '4321:0:1:2:3:4:567:89ab');
  for (const no of ['999.0.0.127.in-addr.arpa', 'example.com', '0.0.127.in-addr.arpa', '1.2.ip6.arpa']) t.equal(ipFromReverseName(no), null, no);
  for (const yes of ['shop.example.com', 'a.b', 'xn--mnchen-3ya.de', `${'a'.repeat(63)}.com`]) t.ok(orderableName(yes), yes);
  for (const no of ['localhost', '127.0.0.1', '*.example.com', 'a_b.example.com', '-a.example.com', 'a..b', 'example.123', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}com`, 'UPPER.example.com', '']) {
    t.notOk(orderableName(no), JSON.stringify(no));
  }
});

t.test('one question per name; every waiting handshake gets the answer', async (t) => {
  const asked: string[] = [];
  let answer!: (p: typeof PEMS) => void;
  const h = new OnDemandHandshakes((n) => (asked.push(n), new Promise((r) => (answer = r))));
  const got: Array<unknown> = [];
  const kept: string[] = [];
  for (let i = 0; i < 5; i++) h.get('a.test', (p) => got.push(p), (n) => kept.push(n));
  t.equal(h.size, 1);
  answer(PEMS);
  await new Promise((r) => setImmediate(r));
  t.strictSame(asked, ['a.test'], 'asked once');
  t.strictSame(got, [PEMS, PEMS, PEMS, PEMS, PEMS]);
  t.strictSame(kept, ['a.test'], 'the certificate is kept once');
  t.equal(h.size, 0);
});

t.test('a handshake waits at most the wait, then gets the default; a late answer is still kept', async (t) => {
  t.equal(WAIT_MS, 10_000, 'handshakes wait 10 s in production');
  let answer!: (p: typeof PEMS) => void;
  const h = new OnDemandHandshakes(() => new Promise((r) => (answer = r)), { waitMs: 100 });
  const started = Date.now();
  const first = await new Promise((resolve) => h.get('slow.test', resolve, () => {}));
  t.equal(first, null, 'the default certificate');
  t.ok(Date.now() - started >= 90, 'after the wait');
  const kept: string[] = [];
  h.get('slow.test', () => {}, () => {}); // joins the same question
  answer(PEMS);
  await new Promise((r) => setImmediate(r));
  t.equal(h.size, 0);
  h.get('slow.test', () => {}, (n) => kept.push(n));
  t.equal(h.size, 1, 'asked again (the control plane has it now)');
});

t.test('misses are remembered; names asked about at once are capped', async (t) => {
  let now = 1_000_000;
  let asks = 0;
  const h = new OnDemandHandshakes(async () => (asks++, null), { now: () => now });
  await new Promise((r) => h.get('no.test', r, () => {}));
  await new Promise((r) => h.get('no.test', r, () => {}));
  t.equal(asks, 1, 'a miss is not asked again at once');
  now += 11_000;
  await new Promise((r) => h.get('no.test', r, () => {}));
  t.equal(asks, 2, 'but after its time');

  const never = new OnDemandHandshakes(() => new Promise(() => {}), { waitMs: 50 });
  const answers: unknown[] = [];
  for (let i = 0; i < 1500; i++) never.get(`n${i}.test`, (p) => answers.push(p), () => {});
  t.equal(never.size, 1000, 'at most 1000 names pending');
  t.equal(answers.length, 500, 'the rest got the default at once');
  await new Promise((r) => setTimeout(r, 120));
  t.equal(answers.length, 1500, 'the pending ones got it after the wait');
});
