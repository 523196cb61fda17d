// Rate limits (issue 29) with a fake clock: the token bucket exact at its boundaries, Retry-After,
// idle eviction and the memory bound, the client key (IPv6 per /64) and the address trusted proxies
// forward. Real clients (h1, h2, behind a trusted proxy) are in test/integration/rate-limit.test.ts.
import t from 'tap';
import { RateLimiter, clientKey, forwardedClient, retryAfterSeconds } from '../../../src/proxy/rate-limit.js';

function clock(start = 0) {
  const c = { at: start, now: () => c.at };
  return c;
}

t.test('"100 in 1s": a burst of exactly 100, then one token every 10ms, to the millisecond', async (t) => {
  const c = clock(1000);
  const rl = new RateLimiter({ count: 100, window: 1000, now: c.now });
  for (let i = 0; i < 100; i++) if (rl.take('a') !== 0) t.fail(`request ${i + 1} of the burst refused`);
  t.equal(rl.take('a'), 10, 'the 101st waits 10ms (one token)');
  t.equal(rl.take('a'), 10, 'a refused request costs no token: still 10ms');
  c.at = 1009.999;
  t.ok(rl.take('a') > 0, 'still refused 1µs before the token is back');
  c.at = 1010;
  t.equal(rl.take('a'), 0, 'allowed exactly when the token is back');
  t.equal(rl.take('a'), 10, 'and the next one waits another 10ms');
  c.at = 2010;
  for (let i = 0; i < 100; i++) if (rl.take('a') !== 0) t.fail(`after a full window: request ${i + 1} refused`);
  t.ok(rl.take('a') > 0, 'the bucket holds no more than 100');
  t.equal(rl.take('b'), 0, 'another client has its own bucket');
});

t.test('a steady client at the rate is never refused; one faster is refused for exactly the excess', async (t) => {
  const c = clock();
  const rl = new RateLimiter({ count: 4, window: 1000, now: c.now });
  let refused = 0;
  for (let ms = 0; ms < 10_000; ms += 250) {
    c.at = ms;
    if (rl.take('steady') !== 0) refused++;
  }
  t.equal(refused, 0, '4 per second at 4 in 1s');
  const fast = new RateLimiter({ count: 4, window: 1000, now: c.now });
  let allowed = 0;
  for (let ms = 0; ms < 10_000; ms += 125) {
    c.at = ms;
    if (fast.take('fast') === 0) allowed++;
  }
  t.equal(allowed, 4 + 40 - 1, '8 per second for 10s: the burst of 4 plus one every 250ms after it');
});

t.test('"1 in 1m": a single token; Retry-After in whole seconds, at least 1', async (t) => {
  const c = clock();
  const rl = new RateLimiter({ count: 1, window: 60_000, now: c.now });
  t.equal(rl.take('x'), 0);
  t.equal(rl.take('x'), 60_000);
  t.equal(retryAfterSeconds(60_000), '60');
  c.at = 59_500;
  t.equal(retryAfterSeconds(rl.take('x')), '1', '500ms left → 1');
  t.equal(retryAfterSeconds(0.001), '1');
  t.equal(retryAfterSeconds(1001), '2');
});

t.test('idle clients are forgotten: a full bucket is the same as none', async (t) => {
  const c = clock();
  const rl = new RateLimiter({ count: 2, window: 1000, now: c.now, maxClients: 100_000 });
  for (let i = 0; i < 1024; i++) rl.take(`10.0.${i >> 8}.${i & 255}`);
  t.equal(rl.size, 1024);
  c.at = 2000; // every bucket refilled
  rl.take('10.9.9.9');
  t.equal(rl.size, 1, 'the sweep at the threshold dropped the 1024 idle entries');
});

t.test('memory is bounded: past maxClients the least recently seen are dropped (lenient, never stricter)', async (t) => {
  const c = clock();
  const rl = new RateLimiter({ count: 1, window: 3_600_000, now: c.now, maxClients: 1000 });
  rl.take('heavy');
  for (let i = 0; i < 5000; i++) {
    rl.take(`c${i}`);
    if (i % 100 === 0) t.ok(rl.take('heavy') > 0, 'the client that keeps coming stays limited (recently seen)');
  }
  t.ok(rl.size <= 1000, `never more than 1000 entries (${rl.size})`);
  t.equal(rl.take('c0'), 0, 'a long-forgotten client starts with a full bucket again');
});

t.test('clientKey: IPv4 as is, IPv6 by /64 whatever the spelling', async (t) => {
  t.equal(clientKey('203.0.113.7'), '203.0.113.7');
  t.equal(clientKey('2001:db8:1:2::9'), '2001:db8:1:2::/64');
  t.equal(clientKey('2001:DB8:0001:0002:ffff:0:0:1'), '2001:db8:1:2::/64', 'upper case and leading zeros');
  t.equal(clientKey('2001:db8:1:2:3:4:5:6'), clientKey('2001:db8:1:2::'), 'one /64, one bucket');
  t.not(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'), 'the next /64 is another client');
  t.equal(clientKey('::1'), '0:0:0:0::/64');
  t.equal(clientKey('::ffff:1.2.3.4'), '0:0:0:0::/64', 'an IPv4-mapped literal (the data plane unwraps these before)');
  t.equal(clientKey('fe80::1%eth0'), 'fe80:0:0:0::/64', 'a zone is dropped');
  t.equal(clientKey('not:an:address::x'), 'not:an:address::x', 'garbage keys as itself');
});

t.test('forwardedClient: the peer, unless it is a trusted proxy; then the right-most untrusted X-Forwarded-For hop', async (t) => {
  const trusted = new Set(['10.0.0.1', '10.0.0.2']);
  const trust = { isTrusted: (ip: string) => trusted.has(ip) };
  t.equal(forwardedClient('203.0.113.9', '198.51.100.1', trust), '203.0.113.9', 'an untrusted peer\'s X-Forwarded-For is ignored');
  t.equal(forwardedClient('10.0.0.1', undefined, trust), '10.0.0.1', 'a trusted peer without the header is the client');
  t.equal(forwardedClient('10.0.0.1', '198.51.100.1', trust), '198.51.100.1');
  t.equal(forwardedClient('10.0.0.1', '6.6.6.6, 198.51.100.1', trust), '198.51.100.1', 'what the client wrote itself (left) does not count');
  t.equal(forwardedClient('10.0.0.1', '6.6.6.6, 198.51.100.1, 10.0.0.2', trust), '198.51.100.1', 'a chain of trusted proxies is walked');
  t.equal(forwardedClient('10.0.0.1', ['6.6.6.6', '198.51.100.1'], trust), '198.51.100.1', 'several header lines');
  t.equal(forwardedClient('10.0.0.1', 'garbage, 10.0.0.2', trust), '10.0.0.2', 'a malformed hop ends the walk at the last trusted one');
  t.equal(forwardedClient('10.0.0.1', '10.0.0.2', trust), '10.0.0.2', 'all trusted: the left-most');
  t.equal(forwardedClient('10.0.0.1', ' 2001:db8::5 ', trust), '2001:db8::5');
  t.equal(forwardedClient('10.0.0.1', '::ffff:198.51.100.4', trust), '198.51.100.4', 'IPv4-mapped unwrapped');
});
