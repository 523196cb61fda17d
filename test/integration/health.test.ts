/**
 * Upstream health and retries end to end (issue 11), with real upstream servers on port 0:
 * active probes with thresholds, passive ejection (fail_statuses, trial after eject_for), the retry
 * rule (connect failures for any method, idempotent requests after sending, never after a response
 * byte), 503 + Retry-After without connecting when nothing is up, health surviving a runtime swap,
 * and the state on /status.json and /metrics.
 */
import { mkdirSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { proxyConfig, rawTls, request, startBackend, startProxy, waitUntil, type Backend, type BackendHandler, type ProxyHandle } from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

type Log = Record<string, unknown>;
const transitions = (p: ProxyHandle, upstream: string): Log[] =>
  p.logs.filter((l) => (l.msg === 'upstream down' || l.msg === 'upstream up' || l.msg === 'upstream on trial') && l.upstream === upstream);
const accessLines = (p: ProxyHandle): Log[] => p.logs.filter((l) => l.msg === 'request');
const statusJson = async (p: ProxyHandle): Promise<{ routes: Array<{ name: string; upstreams: Array<Record<string, unknown>> }> }> =>
  JSON.parse((await httpRequest({ port: p.adminPort, path: '/status.json' })).body);
const upstreamStatus = async (p: ProxyHandle, url: string): Promise<Record<string, unknown>> =>
  (await statusJson(p)).routes[0]!.upstreams.find((u) => u.url === url)!;

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A backend whose /health answers `health.code`; other paths answer 200 with its name. */
async function flipping(name: string, health: { code: number }): Promise<Backend> {
  return startBackend(name, (req, res) => {
    const code = req.url === '/health' ? health.code : 200;
    res.writeHead(code, { 'x-upstream': name });
    res.end(`${name}\n`);
  });
}

t.test('200 → 503 → 200: out after exactly unhealthy_threshold failed probes, back after exactly healthy_threshold passes; no request reaches it while out', async (t) => {
  const health = { code: 200 };
  const a = await flipping('a', health);
  t.teardown(() => a.close());
  const b = await startBackend('b');
  t.teardown(() => b.close());
  const p = await startProxy(testDir(t), proxyConfig([{
    hosts: ['localhost'], upstreams: [a.origin, b.origin],
    health: 'path = "/health", interval = "150ms", timeout = "1s", unhealthy_threshold = 3, healthy_threshold = 2',
  }]));
  t.teardown(() => p.close());
  await waitUntil(() => a.probes.length >= 2, 5000, 'first probes');
  t.equal((await request({ port: p.port })).status, 200);

  health.code = 503;
  const firstFailing = a.probes.length;
  await waitUntil(() => transitions(p, a.origin).length === 1, 5000, 'upstream down');
  const down = transitions(p, a.origin)[0]!;
  t.match(down, { msg: 'upstream down', route: 'localhost/', from: 'up', to: 'down', fails: 3, reason: /^3 failed probes, last: status 503/ });
  // probes that arrived before the transition was logged and were answered 503: exactly the threshold
  await waitUntil(() => a.probes.every((x) => x.status !== 0 || x.at > Date.parse(down.time as string)), 2000, 'probes answered');
  const failedBefore = a.probes.slice(firstFailing).filter((x) => x.status === 503 && x.at <= Date.parse(down.time as string)).length;
  t.equal(failedBefore, 3, 'dropped after exactly 3 failed probes');
  t.match(await upstreamStatus(p, a.origin), { healthy: false, state: 'down', consecutive_fails: 3, last_check: { ok: false, status: 503 } });

  const seenBefore = a.requests.length;
  for (let i = 0; i < 10; i++) t.equal((await request({ port: p.port })).body, 'b\n', `request ${i} served by b while a is out`);
  t.equal(a.requests.length, seenBefore, 'no request reached a while it was out');

  const lastFailing = a.probes.length;
  health.code = 200;
  await waitUntil(() => transitions(p, a.origin).length === 2, 5000, 'upstream up');
  const up = transitions(p, a.origin)[1]!;
  await waitUntil(() => a.probes.every((x) => x.status !== 0 || x.at > Date.parse(up.time as string)), 2000, 'probes answered');
  t.match(up, { msg: 'upstream up', from: 'down', to: 'up', passes: 2 });
  const passedBefore = a.probes.slice(lastFailing).filter((x) => x.status === 200 && x.at <= Date.parse(up.time as string)).length;
  t.equal(passedBefore, 2, 'restored after exactly 2 passing probes');
  const bodies = new Set<string>();
  for (let i = 0; i < 4; i++) bodies.add((await request({ port: p.port })).body);
  t.same([...bodies].sort(), ['a\n', 'b\n'], 'a is back in the rotation');

  const metrics = (await httpRequest({ port: p.adminPort, path: '/metrics' })).body;
  t.match(metrics, `portico_upstream_healthy{route="localhost/",upstream="${a.origin}"} 1`);
});

t.test('a refused connection is retried for POST; a POST that was sent is not', async (t) => {
  const refused = `http://127.0.0.1:${await closedPort()}`;
  const b = await startBackend('b', (_req, res, body) => {
    res.writeHead(200, { 'x-upstream': 'b' });
    res.end(`b got ${body.length}`);
  });
  t.teardown(() => b.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [refused, b.origin] }]));
  t.teardown(() => p.close());
  const small = await request({ port: p.port, method: 'POST', body: 'x'.repeat(1000) });
  t.equal(small.body, 'b got 1000', 'POST moved to b after the refused connection');
  // a streamed (> 64 KiB) body is still replayable when the connection failed before it was sent
  const r2 = await request({ port: p.port, path: '/big', method: 'POST', body: 'y'.repeat(200_000) });
  t.equal(r2.body, 'b got 200000', 'large POST moved to b too');
  const lines = accessLines(p);
  t.match(lines, [{ method: 'POST', status: 200, attempts: 2, upstream: b.origin }, { method: 'POST', status: 200, attempts: 2 }]);

  // now an upstream that reads the POST and then drops the connection: the request was sent
  let seen = 0;
  const dropper = await startBackend('dropper', (req) => {
    seen++;
    req.socket.destroy();
  });
  t.teardown(() => dropper.close());
  const c = await startBackend('c');
  t.teardown(() => c.close());
  const dir2 = join(testDir(t), 'second');
  mkdirSync(dir2);
  const p2 = await startProxy(dir2, proxyConfig([{ hosts: ['localhost'], upstreams: [dropper.origin, c.origin] }]));
  t.teardown(() => p2.close());
  const r = await request({ port: p2.port, method: 'POST', body: 'once' });
  t.equal(r.status, 502, 'the failure is the client’s to see');
  t.equal(seen, 1, 'the upstream saw the POST once');
  t.equal(c.requests.length, 0, 'and it was not sent anywhere else');
  t.match(accessLines(p2).at(-1), { method: 'POST', status: 502, attempts: 1 });
});

t.test('idempotent requests are retried on another upstream after sending, with a buffered body; never after a response byte', async (t) => {
  let resets = 0;
  const flaky = await startBackend('flaky', (req, res) => {
    if (req.url === '/partial') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('half');
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    resets++;
    req.socket.destroy();
  });
  t.teardown(() => flaky.close());
  const good = await startBackend('good', (req, res, body) => {
    res.writeHead(200, { 'x-upstream': 'good' });
    res.end(`good ${req.method} ${body.length}`);
  });
  t.teardown(() => good.close());
  const p = await startProxy(testDir(t), proxyConfig([
    { hosts: ['localhost'], upstreams: [flaky.origin, good.origin], passive: 'max_fails = 0' },
    { name: 'partial', hosts: ['localhost'], path_prefix: '/partial', upstreams: [flaky.origin, good.origin], passive: 'max_fails = 0' },
    { name: 'chunked', hosts: ['localhost'], path_prefix: '/chunked', upstreams: [flaky.origin, good.origin], passive: 'max_fails = 0' },
  ]));
  t.teardown(() => p.close());

  const get = await request({ port: p.port, path: '/x' });
  t.equal(get.body, 'good GET 0', 'GET retried on good');
  const put = await request({ port: p.port, path: '/x', method: 'PUT', body: 'z'.repeat(10_000) });
  t.equal(put.body, 'good PUT 10000', 'PUT with a buffered body retried with the same body');
  t.equal(resets, 2);
  const lines = accessLines(p);
  t.match(lines, [{ method: 'GET', attempts: 2, status: 200 }, { method: 'PUT', attempts: 2, status: 200 }]);
  t.equal(lines.length, 2);
  const metrics = (await httpRequest({ port: p.adminPort, path: '/metrics' })).body;
  t.match(metrics, 'portico_upstream_retries_total{route="localhost/"} 2');

  // a large PUT streams: once sent it is not retried
  const bigPut = await request({ port: p.port, path: '/x', method: 'PUT', body: 'z'.repeat(100_000) }).catch((e: Error) => e);
  t.match(bigPut, { status: 502 }, 'a streamed PUT that was sent is not retried');
  t.equal(good.requests.filter((r) => r.method === 'PUT' && r.body.length === 100_000).length, 0);

  // the response started: the client gets the cut-off, no second attempt
  const before = good.requests.length;
  const partial = await request({ port: p.port, path: '/partial' }).catch((e: Error) => e);
  t.ok(partial instanceof Error, 'the client sees the truncated response as an error');
  t.equal(good.requests.length, before, 'not retried after a response byte reached the client');

  // a small chunked body (no declared length) is buffered, so it is retried too
  const chunked = await rawTls(p.port, 'PUT /chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
  t.match(chunked, /^HTTP\/1\.1 200[\s\S]*\r\ngood PUT 11\r\n/, 'chunked PUT retried with its whole body');
});

t.test('a client that goes away is never counted against the upstream', async (t) => {
  const slow = await startBackend('slow', (_req, res) => {
    setTimeout(() => {
      res.writeHead(200);
      res.end('late');
    }, 300);
  });
  t.teardown(() => slow.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [slow.origin], passive: 'max_fails = 1' }]));
  t.teardown(() => p.close());
  for (let i = 0; i < 3; i++) {
    const err = await request({ port: p.port, timeout: 50 }).catch((e: Error) => e);
    t.match(err, { message: 'client timeout' });
  }
  await waitUntil(() => accessLines(p).length === 3, 5000, 'three access lines');
  t.match(accessLines(p).map((l) => l.status), [499, 499, 499]);
  t.same(transitions(p, slow.origin), [], 'not dropped');
  t.match(await upstreamStatus(p, slow.origin), { healthy: true, recent_failures: 0 });
});

t.test('every upstream down: 503 with Retry-After at once, no connection attempt anywhere', async (t) => {
  const a = await startBackend('a', (_req, res) => {
    res.writeHead(503);
    res.end('busy');
  });
  t.teardown(() => a.close());
  const b = await startBackend('b', (_req, res) => {
    res.writeHead(503);
    res.end('busy');
  });
  t.teardown(() => b.close());
  const p = await startProxy(testDir(t), proxyConfig([{
    hosts: ['localhost'], upstreams: [a.origin, b.origin],
    health: 'enabled = false', passive: 'max_fails = 1, fail_statuses = [503], eject_for = "1h"',
  }]));
  t.teardown(() => p.close());
  const r1 = await request({ port: p.port });
  t.equal(r1.status, 503, 'a fail_statuses response is passed on');
  t.equal(r1.body, 'busy', 'with the upstream’s own body (not retried)');
  t.equal(a.requests.length + b.requests.length, 1, 'not retried');
  await request({ port: p.port });
  t.equal(transitions(p, a.origin).length + transitions(p, b.origin).length, 2, 'both ejected without waiting for probes');
  t.match(p.logs.find((l) => l.msg === 'route has no healthy upstream'), { level: 'error', route: 'localhost/' });
  const accepted = a.accepted + b.accepted;
  const requests = a.requests.length + b.requests.length;
  const r = await request({ port: p.port });
  t.equal(r.status, 503);
  t.equal(r.headers['retry-after'], '3600', 'Retry-After: when the ejection ends');
  t.equal(a.accepted + b.accepted, accepted, 'no connection reached any upstream');
  t.equal(a.requests.length + b.requests.length, requests, 'no request reached any upstream');
  const metrics = (await httpRequest({ port: p.adminPort, path: '/metrics' })).body;
  t.match(metrics, `portico_upstream_ejections_total{route="localhost/",upstream="${a.origin}"} 1`);
  t.match(metrics, `portico_upstream_healthy{route="localhost/",upstream="${b.origin}"} 0`);
});

/** twoUpstreams: upstream `a` (answering with `handler`), a plain upstream `b`, and a proxy routing localhost to both. */
async function twoUpstreams(t: Test, handler: BackendHandler, route: { health: string; passive: string }): Promise<{ a: Backend; b: Backend; p: ProxyHandle }> {
  const a = await startBackend('a', handler);
  t.teardown(() => a.close());
  const b = await startBackend('b');
  t.teardown(() => b.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin, b.origin], ...route }]));
  t.teardown(() => p.close());
  return { a, b, p };
}

t.test('checks off: an ejected upstream gets one trial request after eject_for and is back when it succeeds', async (t) => {
  const state = { code: 503 };
  const { a, p } = await twoUpstreams(t, (_req, res) => {
    res.writeHead(state.code, { 'x-upstream': 'a' });
    res.end('a\n');
  }, { health: 'enabled = false', passive: 'max_fails = 1, fail_statuses = [503], eject_for = "200ms"' });
  t.equal((await request({ port: p.port })).status, 503);
  t.match(transitions(p, a.origin), [{ msg: 'upstream down', reason: /^1 failure within 10000ms, last: status 503/ }]);
  t.match(await upstreamStatus(p, a.origin), { healthy: false, state: 'down', checks: false, ejected_until: /^\d{4}-/ });
  t.equal((await request({ port: p.port })).body, 'b\n');
  state.code = 200;
  await waitUntil(() => transitions(p, a.origin).length === 2, 5000, 'trial');
  const seen = [];
  for (let i = 0; i < 3; i++) seen.push((await request({ port: p.port })).body);
  t.ok(seen.includes('a\n'), 'the trial request went to a');
  t.match(transitions(p, a.origin).map((l) => l.to), ['down', 'trial', 'up']);
});

t.test('passive ejection with checks on: probes bring it back after healthy_threshold passes', async (t) => {
  const { a, p } = await twoUpstreams(t, (req, res) => {
    res.writeHead(req.url === '/health' ? 200 : 502, { 'x-upstream': 'a' });
    res.end('a\n');
  }, { health: 'path = "/health", interval = "100ms", healthy_threshold = 2', passive: 'max_fails = 2, fail_statuses = [502]' });
  for (let i = 0; i < 4; i++) await request({ port: p.port });
  await waitUntil(() => transitions(p, a.origin).length >= 2, 5000, 'down and up again');
  t.match(transitions(p, a.origin).slice(0, 2), [
    { to: 'down', reason: /^2 failures within 10000ms, last: status 502/ },
    { to: 'up', reason: '2 passing probes' },
  ]);
});

t.test('health state survives a runtime swap for unchanged upstreams', async (t) => {
  const health = { code: 503 };
  const a = await flipping('a', health);
  t.teardown(() => a.close());
  const b = await startBackend('b');
  t.teardown(() => b.close());
  const route = (extra: string) => ({ hosts: ['localhost'], upstreams: [a.origin, b.origin], health: `path = "/health", interval = "${extra}", unhealthy_threshold = 1, healthy_threshold = 100` });
  const p = await startProxy(testDir(t), proxyConfig([route('50ms')]));
  t.teardown(() => p.close());
  await waitUntil(() => transitions(p, a.origin).length === 1, 5000, 'a down');
  // probes would pass now, but healthy_threshold = 100: a reset state would show as "up" at once
  health.code = 200;
  const config = proxyConfig([route('1h')]);
  await p.writeConfig(config);
  await p.portico.reload();
  t.match(p.logs.filter((l) => l.msg === 'config reloaded'), [{}], 'reloaded');
  t.match(await upstreamStatus(p, a.origin), { healthy: false, state: 'down' }, 'still down right after the swap');
  for (let i = 0; i < 4; i++) t.equal((await request({ port: p.port })).body, 'b\n', 'and not sent traffic');
});

/** slowBody opens a TLS connection, sends a request head and the first part of its body, and returns
 * the socket plus a promise of everything read until the connection closes. */
function slowBody(port: number, head: string, first: string): { socket: tls.TLSSocket; reply: Promise<string> } {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false });
  socket.setTimeout(10_000, () => socket.destroy()); // a hang guard: an open connection fails the test, not the run
  socket.write(head + first);
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const reply = new Promise<string>((resolve) => {
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()));
    socket.on('error', () => undefined);
  });
  return { socket, reply };
}

t.test('a request whose body is still arriving during a reload completes, and nobody is blamed', async (t) => {
  const b = await startBackend('b', (_req, res, body) => {
    res.writeHead(200);
    res.end(`got ${body.length}`);
  });
  t.teardown(() => b.close());
  const cfg = (connect: string) => proxyConfig([{ hosts: ['localhost'], upstreams: [b.origin], passive: 'max_fails = 1' }], { timeouts: `upstream_connect = "${connect}"` });
  const p = await startProxy(testDir(t), cfg('3s'));
  t.teardown(() => p.close());
  const { socket, reply } = slowBody(p.port, 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n', 'x'.repeat(500));
  await new Promise((r) => setTimeout(r, 100));
  await p.writeConfig(cfg('4s')); // new pool options: the old pools are released by the swap
  t.match(await p.portico.reload(), { result: 'success' });
  socket.write('x'.repeat(500));
  t.match(await reply, /^HTTP\/1\.1 200[\s\S]*got 1000/, 'answered by the upstream');
  t.same(transitions(p, b.origin), [], 'the upstream was not blamed');
});

t.test('a trial request that ends without a verdict (body timeout) leaves the trial to the next request', async (t) => {
  const state = { code: 503 };
  const a = await startBackend('a', (_req, res) => {
    res.writeHead(state.code);
    res.end('a\n');
  });
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig(
    [{ hosts: ['localhost'], upstreams: [a.origin], health: 'enabled = false', passive: 'max_fails = 1, fail_statuses = [503], eject_for = "200ms"' }],
    { timeouts: 'body = "300ms"' },
  ));
  t.teardown(() => p.close());
  t.equal((await request({ port: p.port })).status, 503);
  state.code = 200;
  await waitUntil(() => transitions(p, a.origin).some((l) => l.to === 'trial'), 5000, 'trial');
  // a streamed body (declared > 64 KiB) takes the trial at once, then stalls: 408
  const { reply } = slowBody(p.port, 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n', 'x'.repeat(1000));
  t.match(await reply, /^HTTP\/1\.1 408/);
  const r = await request({ port: p.port });
  t.equal(r.status, 200, 'the next request got the trial');
  t.match(transitions(p, a.origin).map((l) => l.to), ['down', 'trial', 'up']);
});

t.test('an upstream failing while the client is still sending its body: the answer closes the connection', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  a.server.removeAllListeners('request');
  a.server.on('request', (req: http.IncomingMessage) => req.socket.destroy());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin], retries: 0 }]));
  t.teardown(() => p.close());
  const { reply } = slowBody(p.port, 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n', 'x'.repeat(1000));
  const text = await reply;
  t.match(text, /^HTTP\/1\.1 502/);
  t.match(text, /connection: close/i, 'the connection is closed after the error instead of waiting for the rest of the body');
});
