// Rate limits with real clients (issue 29): 429 with Retry-After once a client's bucket is empty,
// counted in metrics and the access log and never sent upstream; h1 and h2 requests of one client
// share its bucket; behind a trusted proxy the forwarded client address counts, from anyone else
// X-Forwarded-For changes nothing; a refused request's body is not read (the connection closes).
import t from 'tap';
import {
  accessLines, h2Connect, h2Request, metricSum, proxyConfig, rawH1, rawHeader, request, startBackend, startProxy, waitUntil,
} from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

t.test('"3 in 1m": three requests pass, the fourth gets 429 + Retry-After and never reaches the upstream', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin], extra: 'rate_limit = "3 in 1m"' }]));
  t.teardown(() => p.close());
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await request({ port: p.port, path: `/ok${i}` })).status);
  t.same(statuses, [200, 200, 200]);
  const r = await request({ port: p.port, path: '/over' });
  t.equal(r.status, 429);
  t.equal(r.body, 'too many requests\n');
  const after = Number(r.headers['retry-after']);
  t.ok(after >= 1 && after <= 20, `Retry-After is when one token is back: ${after}s (≤ 60s / 3)`);
  t.equal(a.requests.length, 3, 'the upstream saw only the three');
  t.equal(await metricSum(p.adminPort, 'portico_rate_limited_total'), 1, 'portico_rate_limited_total counts it');
  await waitUntil(() => accessLines(p.logs, '/over').length === 1);
  t.match(accessLines(p.logs, '/over')[0], { status: 429, upstream: null, attempts: 0, error: 'rate limited', client_ip: '127.0.0.1' });
});

t.test('h1 and h2 requests of one client share its bucket; the limit is per route', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([
    { hosts: ['localhost'], upstreams: [a.origin], extra: 'rate_limit = "3 in 1m"' },
    { hosts: ['other.test'], upstreams: [a.origin], extra: 'rate_limit = "3 in 1m"' },
  ]));
  t.teardown(() => p.close());
  t.equal((await request({ port: p.port })).status, 200);
  t.equal((await request({ port: p.port })).status, 200);
  const session = await h2Connect(p.port);
  t.teardown(() => session.close());
  t.equal((await h2Request(session, { ':path': '/h2-1' })).status, 200, 'the third, over h2');
  const over = await h2Request(session, { ':path': '/h2-2' });
  t.equal(over.status, 429, 'the fourth, over h2: the same client\'s bucket');
  t.ok(Number(over.headers['retry-after']) >= 1);
  t.equal((await h2Request(session, { ':path': '/h2-3' })).status, 429, 'and the session stays usable');
  t.equal((await request({ port: p.port, servername: 'other.test' })).status, 200, 'another route has its own bucket');
  await waitUntil(() => accessLines(p.logs, '/h2-2').length === 1);
  t.match(accessLines(p.logs, '/h2-2')[0], { status: 429, proto: 'h2' });
});

t.test('behind a trusted proxy the forwarded address is the client; from anyone else X-Forwarded-For changes nothing', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const trusted = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin], extra: 'rate_limit = "2 in 1m"' }], { server: 'trusted_proxies = ["127.0.0.0/8"]' }));
  t.teardown(() => trusted.close());
  const via = (xff: string) => request({ port: trusted.port, headers: { 'x-forwarded-for': xff } }).then((r) => r.status);
  t.same([await via('203.0.113.1'), await via('203.0.113.1'), await via('203.0.113.1')], [200, 200, 429], 'client .1: two, then 429');
  t.equal(await via('203.0.113.2'), 200, 'client .2 behind the same proxy has its own bucket');
  t.equal(await via('6.6.6.6, 203.0.113.1'), 429, 'what the client wrote left of its own address does not help it');
  t.equal(await via('2001:db8:1:2::1'), 200);
  t.equal(await via('2001:db8:1:2::1'), 200);
  t.equal(await via('2001:db8:1:2::ffff'), 429, 'IPv6 clients count per /64');
  const untrusted = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin], extra: 'rate_limit = "2 in 1m"' }]));
  t.teardown(() => untrusted.close());
  const direct = (xff: string) => request({ port: untrusted.port, headers: { 'x-forwarded-for': xff } }).then((r) => r.status);
  t.same([await direct('198.51.100.1'), await direct('198.51.100.2'), await direct('198.51.100.3')], [200, 200, 429], 'an untrusted peer is itself, whatever it claims');
});

t.test('a refused request with a body: 429, its body unread, the connection closed; the next connection is served', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin], extra: 'rate_limit = "1 in 1m"' }]));
  t.teardown(() => p.close());
  t.equal((await request({ port: p.port })).status, 200);
  const c = await rawH1(p.port);
  t.teardown(() => c.destroy());
  c.write(`POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
  await c.waitResponses(1, 5000);
  const r = c.finals()[0]!;
  t.equal(r.status, 429);
  t.equal(rawHeader(r, 'connection'), 'close', 'the unread body is not left on the connection');
  await c.waitClosed(5000);
  t.equal(a.requests.filter((q) => q.url === '/upload').length, 0, 'nothing reached the upstream');
});
