/**
 * Issue 23, items 3 and 5: one meaning for every request (DESIGN §8). Each case is written as exact
 * bytes on its own connection, and the recording upstream says what it received.
 *
 * Found from outside (each a regression test, named after the behaviour):
 * - absolute-form targets routed by the target's host but forwarded the client's Host
 *   (`GET http://test.local/x` + `Host: evil.example` reached test.local's upstream as evil.example);
 * - `Connection: Host` made the upstream see `host: 127.0.0.1:PORT` (portico's upstream address);
 * - HTTP/1.0 + `Transfer-Encoding: chunked` + keep-alive kept the connection open (RFC 9112 §6.1: close);
 * - bytes after a `Connection: close` request got a 400 while the first request was processed and
 *   logged 499;
 * - two Host headers gave 400 or 404 depending on their order;
 * - `Transfer-Encoding: gzip, chunked` was accepted and the coding silently dropped;
 * - the plain-HTTP redirect reflected any Host (an open redirect for hosts portico does not route);
 * - a request whose SNI selected another certificate (or the default one) was routed by Host;
 * - True-Client-IP, X-Client-IP, CF-Connecting-IP, X-Forwarded-Port, X-Forwarded-Prefix… from
 *   untrusted peers passed through to the upstream;
 * - admin `POST /reload` from an allowed peer accepted a cross-site browser request;
 * - TLS 1.2 offered CBC suites.
 * Found by this suite: an HTTP/1.1 request line claiming `HTTP/2.0` crashed the process.
 */
import { join } from 'node:path';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import {
  accessLines, assertRoutesIntact, sleep, spawnReady, h2Connect, h2Request, makeCA, proxyConfig, rawH1, rawHeader, request, startProxy, startRecorder, waitUntil, writePair,
  type ProxyHandle, type RawConn, type Recorder,
} from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

async function setup(t: Test, extra: Parameters<typeof proxyConfig>[1] = {}): Promise<{ a: Recorder; p: ProxyHandle }> {
  const a = await startRecorder('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost', 'test.local'], upstreams: [a.origin] }], { server: 'shutdown_grace = "1s"', ...extra }));
  t.teardown(() => p.close());
  return { a, p };
}

/** send writes `bytes` on a new TLS connection and waits until the server closed or `n` responses came and nothing more for 150 ms. */
async function send(port: number, bytes: string, n = 1, servername: string | null = 'localhost'): Promise<RawConn> {
  const c = await rawH1(port, { servername });
  c.write(bytes);
  await c.settle(n, { quiet: 150, ms: 5000 });
  return c;
}

t.test('absolute-form target: the upstream sees the target\'s authority as Host and X-Forwarded-Host (RFC 9112 §3.2.2)', async (t) => {
  // the bug: routed by the target's host, forwarded with the client's Host (evil.example)
  const { a, p } = await setup(t);
  const c1 = await send(p.port, 'GET http://test.local/abs HTTP/1.1\r\nHost: evil.example\r\n\r\n', 1, 'test.local');
  c1.destroy();
  t.same(c1.statuses(), [200]);
  t.equal(a.requests.length, 1);
  t.equal(a.requests[0]?.url, '/abs', 'origin-form upstream');
  t.equal(a.requests[0]?.headers.host, 'test.local', 'Host is the target\'s authority');
  t.equal(a.requests[0]?.headers['x-forwarded-host'], 'test.local', 'so is X-Forwarded-Host');
  t.equal(a.requests[0]?.rawHeaders.filter((_, i, all) => i % 2 === 0 && all[i]!.toLowerCase() === 'host').length, 1, 'one Host field');

  const c2 = await send(p.port, `GET http://test.local:${p.port}/abs-port?q=1 HTTP/1.1\r\nHost: evil.example\r\n\r\n`, 1, 'test.local');
  c2.destroy();
  t.same(c2.statuses(), [200]);
  t.equal(a.requests[1]?.url, '/abs-port?q=1');
  t.equal(a.requests[1]?.headers.host, `test.local:${p.port}`, 'the target\'s port is kept');
  t.equal(a.requests[1]?.headers['x-forwarded-host'], `test.local:${p.port}`);
  await assertRoutesIntact(t, p);
});

t.test('Connection: Host does not make the upstream see portico\'s own address as Host', async (t) => {
  // the bug: Host listed in Connection was stripped as hop-by-hop, and undici put in 127.0.0.1:PORT
  const { a, p } = await setup(t);
  for (const conn of ['Host', 'host, close', 'keep-alive, Host']) {
    a.reset();
    const c = await send(p.port, `GET /conn-host HTTP/1.1\r\nHost: localhost\r\nConnection: ${conn}\r\n\r\n`);
    c.destroy();
    t.same(c.statuses(), [200], `Connection: ${conn}: served`);
    t.equal(a.requests[0]?.headers.host, 'localhost', `Connection: ${conn}: the upstream sees the client's Host`);
  }
  await assertRoutesIntact(t, p);
});

t.test('HTTP/1.0 with Transfer-Encoding: chunked and keep-alive: processed, then Connection: close and closed (RFC 9112 §6.1)', async (t) => {
  const { a, p } = await setup(t);
  const c = await send(p.port, 'POST /h10-chunked HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  const closed = await c.waitClosed(3000).then(() => true, () => false);
  c.destroy();
  t.same(c.statuses(), [200], 'processed');
  t.equal(a.requests.length, 1);
  t.equal(a.requests[0]?.body.toString(), 'hello', 'the upstream got the body');
  t.match(rawHeader(c.responses[0]!, 'connection') ?? '', /close/i, 'the response says Connection: close');
  t.ok(closed, 'and the connection is closed after it');
  await assertRoutesIntact(t, p);
});

t.test('bytes after a Connection: close request are never processed; the first request is answered and logged 200', async (t) => {
  // the bug: the extra bytes got a 400 written after the 200, and the first request was logged 499
  const { a, p } = await setup(t);
  const tails: Array<[string, string]> = [
    ['a second request', 'GET /after-close-smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n'],
    ['garbage', 'GARBAGE\r\n\r\n'],
    ['a partial request', 'GET /after-close-partial HTTP/1.1\r\nHo'],
  ];
  for (const [name, tail] of tails) {
    a.reset();
    const path = `/close-then-${name.replace(/ /g, '-')}`;
    const c = await send(p.port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n${tail}`);
    const closed = await c.waitClosed(3000).then(() => true, () => false);
    c.destroy();
    t.same(c.statuses(), [200], `${name}: only the first request is answered (no 400 after it)`);
    t.ok(closed, `${name}: the connection closes`);
    t.same(a.requests.map((r) => r.url), [path], `${name}: the upstream saw the first request only`);
    await waitUntil(() => accessLines(p.logs, path).length > 0, 2000).catch(() => undefined);
    t.same(accessLines(p.logs, path).map((l) => l.status), [200], `${name}: its access line says 200 (not 499)`);
  }
  await assertRoutesIntact(t, p);
});

t.test('two Host headers are refused with 400 and the connection closed, whatever their order; HTTP/1.1 without Host too', async (t) => {
  // the bug: 400 or 404 depending on the order (Node keeps the first Host)
  const { a, p } = await setup(t);
  const cases: Array<[string, string]> = [
    ['routed first, other second', 'Host: localhost\r\nHost: evil.example\r\n'],
    ['other first, routed second', 'Host: evil.example\r\nHost: localhost\r\n'],
    ['the same value twice', 'Host: localhost\r\nHost: localhost\r\n'],
    ['differing only in case', 'Host: localhost\r\nhost: LOCALHOST\r\n'],
    ['no Host at all (HTTP/1.1)', ''],
  ];
  for (const [name, hosts] of cases) {
    const c = await send(p.port, `GET /two-hosts HTTP/1.1\r\n${hosts}\r\n`);
    c.destroy();
    t.same(c.statuses(), [400], `${name}: 400`);
    t.ok(c.closed, `${name}: connection closed`);
  }
  t.equal(a.requests.length, 0, 'the upstream saw none of them');
  await assertRoutesIntact(t, p);
});

t.test('Transfer-Encoding other than exactly "chunked" is refused (501, or 400 for ambiguous framing); never forwarded', async (t) => {
  // the bug: `gzip, chunked` was accepted and the gzip coding silently dropped on the way upstream
  const { a, p } = await setup(t);
  const body = '5\r\nhello\r\n0\r\n\r\n';
  const cases: Array<[string, string, number[]]> = [
    ['gzip, chunked', 'Transfer-Encoding: gzip, chunked\r\n', [501]],
    ['deflate, chunked', 'Transfer-Encoding: deflate, chunked\r\n', [501]],
    ['chunked + Content-Length', 'Transfer-Encoding: chunked\r\nContent-Length: 15\r\n', [400]],
    ['Transfer-Encoding : chunked (space before colon)', 'Transfer-Encoding : chunked\r\n', [400, 501]],
    ['xchunked', 'Transfer-Encoding: xchunked\r\n', [400, 501]],
    ['chunked, chunked', 'Transfer-Encoding: chunked, chunked\r\n', [400, 501]],
    ['tab before the value', 'Transfer-Encoding:\tchunked\t\r\nX: y\r\nTransfer-Encoding: identity\r\n', [400, 501]],
    ['two Transfer-Encoding lines', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', [400, 501]],
    ['chunked then identity', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', [400, 501]],
    ['identity', 'Transfer-Encoding: identity\r\n', [400, 501]],
    ['CHUNKED, gzip', 'Transfer-Encoding: chunked, gzip\r\n', [400, 501]],
  ];
  for (const [name, te, want] of cases) {
    const c = await send(p.port, `POST /te HTTP/1.1\r\nHost: localhost\r\n${te}\r\n${body}`);
    c.destroy();
    t.ok(c.statuses().length === 1 && want.includes(c.statuses()[0]!), `${name}: ${want.join(' or ')} (got ${c.statuses().join(',') || 'nothing'})`);
    t.ok(c.closed, `${name}: connection closed`);
  }
  t.same(a.requests.map((r) => r.url), [], 'the upstream saw none of them');
  // the one accepted form, for contrast
  const ok = await send(p.port, `POST /te-ok HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
  ok.destroy();
  t.same(ok.statuses(), [200], 'Transfer-Encoding: chunked is served');
  t.equal(a.requests.at(-1)?.body.toString(), 'hello');
  await assertRoutesIntact(t, p);
});

t.test('plain-HTTP listener: 308 to https only for hosts portico routes; 404 for others; ACME HTTP-01 path as before', async (t) => {
  // the bug: any Host was reflected into the redirect (an open redirect through portico's name)
  const { p } = await setup(t);
  const routed = await httpRequest({ port: p.httpPort, path: '/x?y=1', headers: { host: 'localhost' } });
  t.equal(routed.status, 308);
  t.equal(routed.headers.location, `https://localhost:${p.port}/x?y=1`);
  for (const host of ['evil.example', 'evil.example:80', 'localhost.evil.example', '[::1]']) {
    const r = await httpRequest({ port: p.httpPort, path: '/x', headers: { host } });
    t.equal(r.status, 404, `Host ${host}: 404`);
    t.equal(r.headers.location, undefined, `Host ${host}: no redirect`);
  }
  for (const host of ['localhost', 'evil.example']) {
    const r = await httpRequest({ port: p.httpPort, path: '/.well-known/acme-challenge/unknown-token', headers: { host } });
    t.equal(r.status, 404, `ACME path, Host ${host}: 404 for an unknown token, as before`);
    t.match(r.body, /no such ACME challenge/);
  }
});

t.test('SNI vs Host: a request for a host the SNI-selected certificate does not cover gets 421 Misdirected Request (h1 and h2)', async (t) => {
  const a = await startRecorder('a');
  t.teardown(() => a.close());
  const ca = await makeCA();
  const dir = testDir(t);
  const certs = join(dir, 'certs');
  await writePair(certs, 'a.test', await ca.issue(['a.test']));
  await writePair(certs, 'b.test', await ca.issue(['b.test']));
  await writePair(certs, '_wildcard.w.test', await ca.issue(['*.w.test']));
  await writePair(certs, 'm1.test', await ca.issue(['m1.test', 'm2.test']));
  const p = await startProxy(dir, proxyConfig([{ hosts: ['a.test', 'b.test', '*.w.test', 'm1.test', 'm2.test', 'test.local'], upstreams: [a.origin] }], { server: 'shutdown_grace = "1s"' }));
  t.teardown(() => p.close());
  const cases: Array<[string, string | null, string, number]> = [
    ['unknown SNI (default certificate), routed Host', 'unknown.example', 'test.local', 421],
    ['SNI a.test, Host b.test (different certificates)', 'a.test', 'b.test', 421],
    ['SNI b.test, Host a.test', 'b.test', 'a.test', 421],
    ['SNI a.test, Host a.test', 'a.test', 'a.test', 200],
    ['SNI a.test, Host A.TEST:443 (case and port do not matter)', 'a.test', 'A.TEST:443', 200],
    ['wildcard certificate covers both names', 'x.w.test', 'y.w.test', 200],
    ['multi-SAN certificate covers both names', 'm1.test', 'm2.test', 200],
    ['no SNI (connecting by IP): routed by Host', null, 'test.local', 200],
  ];
  for (const [name, sni, host, want] of cases) {
    const c = await send(p.port, `GET /sni HTTP/1.1\r\nHost: ${host}\r\n\r\n`, 1, sni);
    c.destroy();
    t.same(c.statuses(), [want], `h1, ${name}: ${want}`);
  }
  t.equal(a.requests.length, cases.filter((c) => c[3] === 200).length, 'the misdirected ones never reached the upstream');
  for (const [name, sni, host, want] of cases.filter((c) => c[1] !== null)) {
    const session = await h2Connect(p.port, sni!);
    const r = await h2Request(session, { ':path': '/sni-h2', ':authority': host.toLowerCase() }).catch((e: Error) => ({ status: e.message }));
    session.destroy();
    t.equal(r.status, want, `h2, ${name}: ${want}`);
  }
});

t.test('forwarding headers from an untrusted peer never reach the upstream; from a trusted proxy they pass', async (t) => {
  // the bug: only X-Forwarded-For/Proto/Host, X-Real-IP and Forwarded were handled; these passed through
  const spoof: Record<string, string> = {
    'true-client-ip': '6.6.6.6',
    'x-client-ip': '6.6.6.6',
    'cf-connecting-ip': '6.6.6.6',
    'x-forwarded-port': '1',
    'x-forwarded-prefix': '/evil',
    'x-cluster-client-ip': '6.6.6.6',
    'fastly-client-ip': '6.6.6.6',
    'x-original-forwarded-for': '6.6.6.6',
  };
  t.test('untrusted', async (t) => {
    const { a, p } = await setup(t);
    const r = await request({ port: p.port, path: '/fwd', headers: spoof });
    t.equal(r.status, 200);
    const h = a.requests[0]!.headers;
    for (const k of Object.keys(spoof)) t.equal(h[k], undefined, `${k} removed`);
    t.equal(h['x-forwarded-for'], '127.0.0.1', 'X-Forwarded-For replaced (as before)');
  });
  t.test('trusted_proxies', async (t) => {
    const { a, p } = await setup(t, { server: 'shutdown_grace = "1s"\ntrusted_proxies = ["127.0.0.0/8"]' });
    const r = await request({ port: p.port, path: '/fwd', headers: spoof });
    t.equal(r.status, 200);
    const h = a.requests[0]!.headers;
    for (const [k, v] of Object.entries(spoof)) t.equal(h[k], v, `${k} kept from a trusted proxy`);
  });
});

t.test('admin POST /reload refuses cross-site browser requests (Origin, Sec-Fetch-Site) from an allowed peer; the CLI form works', async (t) => {
  // the bug: a page on evil.example could make a browser on the admin's machine POST /reload
  const { a, p } = await setup(t);
  await p.writeConfig(proxyConfig([{ hosts: ['localhost', 'test.local'], upstreams: [a.origin] }, { hosts: ['new.test'], upstreams: [a.origin] }], { server: 'shutdown_grace = "1s"' }));
  const refused: Array<[string, Record<string, string>]> = [
    ['Origin: http://evil.example, Content-Type: text/plain', { origin: 'http://evil.example', 'content-type': 'text/plain' }],
    ['Origin: http://evil.example', { origin: 'http://evil.example' }],
    ['Origin: null', { origin: 'null' }],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }],
  ];
  for (const [name, headers] of refused) {
    const r = await httpRequest({ port: p.adminPort, method: 'POST', path: '/reload', headers, body: 'x' });
    t.equal(r.status, 403, `${name}: 403`);
  }
  t.equal((await request({ port: p.port, servername: 'new.test' })).status, 404, 'nothing was reloaded');
  const ok = await httpRequest({ port: p.adminPort, method: 'POST', path: '/reload' });
  t.equal(ok.status, 200, 'no Origin (curl, portico reload): 200');
  t.equal((await request({ port: p.port, servername: 'new.test' })).status, 200, 'and the reload applied');
});

/** tls12 handshakes with TLS 1.2 only, offering `ciphers`; resolves with the cipher chosen or the error code. */
function tls12(port: number, ciphers: string): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers }, () => {
      resolve(s.getCipher().name);
      s.destroy();
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code ?? e.message}`));
  });
}

t.test('TLS 1.2 offers AEAD suites only: a client offering only CBC suites fails the handshake', async (t) => {
  const { p } = await setup(t);
  for (const cbc of ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-RSA-AES128-SHA', 'AES128-SHA', 'ECDHE-ECDSA-AES256-SHA384', 'ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:AES128-SHA:AES256-SHA']) {
    t.match(await tls12(p.port, cbc), /^error /, `${cbc}: refused`);
  }
  for (const aead of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305']) {
    t.equal(await tls12(p.port, aead), aead, `${aead}: accepted`);
  }
});

t.test('an HTTP/1.1 request line claiming HTTP/2.0 is refused and never crashes portico', async (t) => {
  // found by this suite: `Exchange` took `req.httpVersionMajor === 2` for an h2 stream, read the
  // client address from a field only h2 messages have, and threw in the request handler: one
  // request line (`GET / HTTP/2.0`) over TLS stopped the process. A spawned portico, so a crash is an exit.
  const a = await startRecorder('a');
  t.teardown(() => a.close());
  const s = await spawnReady(t, testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }], { server: 'shutdown_grace = "1s"' }));
  const port = s.portOf('https');
  for (const line of ['GET /v2 HTTP/2.0', 'POST /v2 HTTP/2.0', 'GET /v2 HTTP/2.1']) {
    const c = await send(port, `${line}\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n`).catch((e: Error) => e);
    if (c instanceof Error) {
      t.fail(`${line}: could not connect (${c.message}): portico is gone`);
      break;
    }
    c.destroy();
    t.ok(c.statuses().length === 1 && [400, 505].includes(c.statuses()[0]!), `${line}: 400 or 505 (got ${c.statuses().join(',') || 'nothing'})`);
  }
  const gone = await Promise.race([s.exited.then(() => true), sleep(300).then(() => false)]);
  t.notOk(gone, 'portico is still running');
  if (gone) return;
  const health = await httpRequest({ port: s.portOf('admin'), path: '/healthz' }).catch((e: Error) => ({ status: e.message }));
  t.equal(health.status, 200, 'admin /healthz answers');
  t.equal(a.requests.length, 0, 'nothing reached the upstream');
  t.equal((await request({ port, path: '/after' })).status, 200, 'and it still serves');
});
