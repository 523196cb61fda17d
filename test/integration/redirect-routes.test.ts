// Redirect routes (issue 29): `redirect = URL` answers every request of the route, path and query
// kept (or not), with the status asked for, over h1 and h2, with a body unread (connection closed),
// next to proxied prefixes of the same host; the plain-HTTP listener sends such hosts to the target
// directly, unless the route sets hsts (then to https on the same host first, as HSTS preload needs).
import t, { type Test } from 'tap';
import { h2Connect, h2Request, proxyConfig, rawH1, rawHeader, request, startBackend, startProxy } from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

async function setup(t: Test) {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([
    { name: 'apex', hosts: ['example.test'], upstreams: [], extra: 'redirect = "https://www.example.test"' },
    { name: 'old', hosts: ['old.test'], upstreams: [], extra: 'redirect = "https://new.test/landing?from=old"\nredirect_status = 301\nredirect_keep_path = false' },
    { name: 'moved', hosts: ['app.test'], path_prefix: '/blog/', upstreams: [], extra: 'redirect = "https://blog.test/archive/"\nredirect_status = 302' },
    { name: 'app', hosts: ['app.test'], upstreams: [a.origin] },
    { name: 'secure', hosts: ['secure.test'], upstreams: [], extra: 'redirect = "https://www.secure.test"\nhsts = "max-age=63072000; includeSubDomains; preload"' },
  ]));
  t.teardown(() => p.close());
  return { a, p };
}

t.test('https: 308 to the target with the request\'s path and query; no body', async (t) => {
  const { p } = await setup(t);
  const r = await request({ port: p.port, servername: 'example.test', path: '/a/b?x=1&y=%20z' });
  t.equal(r.status, 308);
  t.equal(r.headers.location, 'https://www.example.test/a/b?x=1&y=%20z');
  t.equal(r.headers['content-length'], '0');
  t.equal(r.body, '');
  const head = await request({ port: p.port, servername: 'example.test', path: '/h', method: 'HEAD' });
  t.equal(head.status, 308);
  t.equal(head.headers.location, 'https://www.example.test/h');
  const old = await request({ port: p.port, servername: 'old.test', path: '/anything?q=1' });
  t.equal(old.status, 301, 'redirect_status');
  t.equal(old.headers.location, 'https://new.test/landing?from=old', 'redirect_keep_path = false: exactly the target');
});

t.test('a redirect prefix next to a proxied one on the same host', async (t) => {
  const { a, p } = await setup(t);
  const moved = await request({ port: p.port, servername: 'app.test', path: '/blog/2024/post?ref=x' });
  t.equal(moved.status, 302);
  t.equal(moved.headers.location, 'https://blog.test/archive/blog/2024/post?ref=x', 'the target path is a prefix of the whole request path');
  const proxied = await request({ port: p.port, servername: 'app.test', path: '/api' });
  t.equal(proxied.status, 200);
  t.equal(proxied.body, 'a\n');
  t.equal(a.requests.length, 1, 'only the proxied request reached the upstream');
});

t.test('h2: the same redirect; a redirect with HSTS carries it', async (t) => {
  const { p } = await setup(t);
  const session = await h2Connect(p.port, 'example.test');
  t.teardown(() => session.close());
  const r = await h2Request(session, { ':path': '/x?y=1', ':authority': 'example.test' });
  t.equal(r.status, 308);
  t.equal(r.headers.location, 'https://www.example.test/x?y=1');
  const s2 = await h2Connect(p.port, 'secure.test');
  t.teardown(() => s2.close());
  const sec = await h2Request(s2, { ':path': '/', ':authority': 'secure.test' });
  t.equal(sec.status, 308);
  t.equal(sec.headers['strict-transport-security'], 'max-age=63072000; includeSubDomains; preload');
});

t.test('a POST with a body: 308 (the client repeats it at the target), the body unread, the connection closed', async (t) => {
  const { p } = await setup(t);
  const c = await rawH1(p.port, { servername: 'example.test' });
  t.teardown(() => c.destroy());
  c.write(`POST /form HTTP/1.1\r\nHost: example.test\r\nContent-Length: 50000\r\n\r\n${'x'.repeat(100)}`);
  await c.waitResponses(1, 5000);
  const r = c.finals()[0]!;
  t.equal(r.status, 308);
  t.equal(rawHeader(r, 'location'), 'https://www.example.test/form');
  t.equal(rawHeader(r, 'connection'), 'close');
  await c.waitClosed(5000);
});

t.test('the plain-HTTP listener sends a redirect route\'s host straight to the target; with hsts, to https first', async (t) => {
  const { p } = await setup(t);
  const direct = await httpRequest({ port: p.httpPort, path: '/p?q=1', headers: { host: 'example.test' } });
  t.equal(direct.status, 308);
  t.equal(direct.headers.location, 'https://www.example.test/p?q=1', 'one hop, not two');
  const old = await httpRequest({ port: p.httpPort, path: '/x', headers: { host: 'old.test' } });
  t.equal(old.status, 301);
  t.equal(old.headers.location, 'https://new.test/landing?from=old');
  const moved = await httpRequest({ port: p.httpPort, path: '/blog/1', headers: { host: 'app.test' } });
  t.equal(moved.status, 302, 'the prefix decides on the plain listener too');
  t.equal(moved.headers.location, 'https://blog.test/archive/blog/1');
  const app = await httpRequest({ port: p.httpPort, path: '/api', headers: { host: 'app.test' } });
  t.equal(app.status, 308);
  t.equal(app.headers.location, `https://app.test:${p.port}/api`, 'a proxied prefix: to https on the same host');
  const secure = await httpRequest({ port: p.httpPort, path: '/s', headers: { host: 'secure.test' } });
  t.equal(secure.status, 308);
  t.equal(secure.headers.location, `https://secure.test:${p.port}/s`, 'hsts: https on the same host first (HSTS preload)');
  t.equal(secure.headers['strict-transport-security'], undefined, 'never HSTS over plain HTTP (RFC 6797 §7.2)');
});

t.test('a WebSocket upgrade to a redirect route gets the redirect; to a rate-limited route, 429 once over', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([
    { hosts: ['example.test'], upstreams: [], extra: 'redirect = "https://www.example.test"' },
    { hosts: ['ws.test'], upstreams: [a.origin], extra: 'rate_limit = "1 in 1m"' },
  ]));
  t.teardown(() => p.close());
  const upgrade = async (host: string) => {
    const c = await rawH1(p.port, { servername: host });
    c.write(`GET /socket?x=1 HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await c.waitResponses(1, 5000);
    c.destroy();
    return c.finals()[0]!;
  };
  const r = await upgrade('example.test');
  t.equal(r.status, 308);
  t.equal(rawHeader(r, 'location'), 'https://www.example.test/socket?x=1');
  t.equal((await upgrade('ws.test')).status, 200, 'the first upgrade goes upstream (which answers it without switching)');
  t.equal(a.requests.length, 1);
  const over = await upgrade('ws.test');
  t.equal(over.status, 429, 'the second is over the limit');
  t.equal(a.requests.length, 1, 'and never reached the upstream');
  t.ok(Number(rawHeader(over, 'retry-after')) >= 1);
});
