/**
 * The plain HTTP listener (`server.http`): a routed host gets a 308 to the same host, path and query
 * on https, any other host a 404; the ACME HTTP-01 path is reserved (404, never redirected); an
 * unusable Host is a 400.
 */
import t, { type Test } from 'tap';
import { proxyConfig, startBackend, startProxy, type ProxyHandle } from '../../test-support/index.js';
import { httpRequest, rawTcp } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

// tls = "self-signed": these tests are about redirects, not certificate files.
const route = (origin: string) => [{ name: 'app', hosts: ['app.test', '::1', '*.wild.test'], upstreams: [origin], tls: 'self-signed' }];

async function start(t: Test, extra: Parameters<typeof proxyConfig>[1] = {}): Promise<ProxyHandle> {
  const backend = await startBackend('b');
  t.teardown(() => backend.close());
  const p = await startProxy(testDir(t), proxyConfig(route(backend.origin), extra));
  t.teardown(() => p.close());
  return p;
}

t.test('default public port: 308 to the https listener port, path and query kept', async (t) => {
  const p = await start(t);
  const r = await httpRequest({ port: p.httpPort, path: '/some/path?x=1&y=2', headers: { host: 'app.test' } });
  t.equal(r.status, 308);
  t.equal(r.headers.location, `https://app.test:${p.port}/some/path?x=1&y=2`);

  const withPort = await httpRequest({ port: p.httpPort, path: '/', headers: { host: 'app.test:8080' } });
  t.equal(withPort.status, 308);
  t.equal(withPort.headers.location, `https://app.test:${p.port}/`, 'the port in Host is not carried over');

  const v6 = await httpRequest({ port: p.httpPort, path: '/', headers: { host: '[::1]:8080' } });
  t.equal(v6.status, 308);
  t.equal(v6.headers.location, `https://[::1]:${p.port}/`, 'IPv6 literal stays bracketed');
});

t.test('a host portico does not route gets 404, not a redirect (issue 23: the listener reflected any Host)', async (t) => {
  const p = await start(t);
  for (const host of ['evil.example', 'evil.example:80', '127.0.0.1', 'test']) {
    const r = await httpRequest({ port: p.httpPort, path: '/x', headers: { host } });
    t.equal(r.status, 404, host);
    t.equal(r.headers.location, undefined, `${host}: no Location`);
  }
  const wild = await httpRequest({ port: p.httpPort, path: '/w', headers: { host: 'a.wild.test' } });
  t.equal(wild.status, 308, 'a host matching a wildcard route is redirected');
  t.equal(wild.headers.location, `https://a.wild.test:${p.port}/w`);
  const apex = await httpRequest({ port: p.httpPort, path: '/', headers: { host: 'wild.test' } });
  t.equal(apex.status, 404, 'the wildcard does not cover its parent');
});

t.test('public_https_port = 443: the port is omitted from Location', async (t) => {
  const p = await start(t, { server: 'public_https_port = 443' });
  const r = await httpRequest({ port: p.httpPort, path: '/some/path?x=1&y=2', headers: { host: 'app.test' } });
  t.equal(r.status, 308);
  t.equal(r.headers.location, 'https://app.test/some/path?x=1&y=2');
});

t.test('public_https_port other than 443 is used instead of the bound port', async (t) => {
  const p = await start(t, { server: 'public_https_port = 8443' });
  const r = await httpRequest({ port: p.httpPort, path: '/a', headers: { host: 'app.test:80' } });
  t.equal(r.status, 308);
  t.equal(r.headers.location, 'https://app.test:8443/a');
});

t.test('ACME HTTP-01 path is reserved: 404, not redirected', async (t) => {
  const p = await start(t);
  const r = await httpRequest({ port: p.httpPort, path: '/.well-known/acme-challenge/tok', headers: { host: 'app.test' } });
  t.equal(r.status, 404);
  t.equal(r.headers.location, undefined);
});

t.test('missing Host (HTTP/1.0) is a 400, not a redirect', async (t) => {
  const p = await start(t);
  const raw = await rawTcp(p.httpPort, 'GET / HTTP/1.0\r\n\r\n');
  t.match(raw, /^HTTP\/1\.[01] 400 /);
  t.notMatch(raw, /\r\nlocation:/i);
});

t.test('a Host that is not a host name is a 400', async (t) => {
  const p = await start(t);
  const r = await httpRequest({ port: p.httpPort, path: '/', headers: { host: 'evil.test/x@y' } });
  t.equal(r.status, 400);
  t.equal(r.headers.location, undefined);
});
