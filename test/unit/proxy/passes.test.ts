// Each request pass with stub inputs: header filtering, forwarding rules, early 400s, host parsing, HTTP/2 requests.
import t from 'tap';
import {
  connectionListed, h1RawHeaders, h2Authority, h2RequestProblem, hostOf, outgoingHeaders, requestProblem, responseHeaders, splitTarget, unwrapIp, validHost,
} from '../../../src/proxy/passes.js';
import { headerListSize } from '../../../src/server/h2-sessions.js';

const pairs = (flat: string[]) => {
  const m: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) m[flat[i]!.toLowerCase()] = flat[i + 1]!;
  return m;
};
const untrusted = { clientIp: '198.51.100.7', trusted: false, host: 'app.test', proto: 'https' };

t.test('outgoingHeaders strips hop-by-hop fields and those named in Connection', async (t) => {
  const out = pairs(
    outgoingHeaders(['Host', 'app.test', 'Connection', 'close, X-Foo', 'X-Foo', '1', 'Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Proxy-Authorization', 'x', 'Accept', '*/*'], untrusted),
  );
  t.equal(out.host, 'app.test');
  t.equal(out.accept, '*/*');
  for (const k of ['connection', 'x-foo', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'proxy-authorization']) t.notOk(k in out, `${k} dropped`);
});

t.test('outgoingHeaders replaces forwarding headers from an untrusted peer', async (t) => {
  const out = pairs(outgoingHeaders(['X-Forwarded-For', '6.6.6.6', 'Forwarded', 'for=6.6.6.6', 'X-Real-IP', '6.6.6.6', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'evil'], untrusted));
  t.equal(out['x-forwarded-for'], '198.51.100.7');
  t.equal(out['x-real-ip'], '198.51.100.7');
  t.equal(out['x-forwarded-proto'], 'https');
  t.equal(out['x-forwarded-host'], 'app.test');
  t.equal(out.forwarded, 'for=198.51.100.7;proto=https;host="app.test"');
});

t.test('outgoingHeaders appends to a trusted peer’s forwarding headers', async (t) => {
  const out = pairs(outgoingHeaders(['X-Forwarded-For', '203.0.113.1', 'x-forwarded-for', '10.0.0.2', 'Forwarded', 'for=203.0.113.1', 'X-Forwarded-Proto', 'http'], { ...untrusted, trusted: true, clientIp: '10.0.0.3' }));
  t.equal(out['x-forwarded-for'], '203.0.113.1, 10.0.0.2, 10.0.0.3');
  t.equal(out['x-forwarded-proto'], 'http');
  t.equal(out.forwarded, 'for=203.0.113.1, for=10.0.0.3;proto=https;host="app.test"');
});

t.test('IPv6 clients are quoted in Forwarded', async (t) => {
  const out = pairs(outgoingHeaders([], { ...untrusted, clientIp: '2001:db8::1' }));
  t.match(out.forwarded, /^for="\[2001:db8::1\]"/);
});

t.test('connectionListed ignores close and keep-alive tokens', async (t) => {
  t.same(connectionListed('close'), null);
  t.same(connectionListed(' Keep-Alive , X-A,x-b '), ['x-a', 'x-b']);
  t.same(connectionListed(undefined), null);
});

t.test('responseHeaders drops hop-by-hop fields and the ones Connection lists', async (t) => {
  const h = responseHeaders({ connection: 'x-a', 'x-a': '1', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', 'content-type': 'text/plain' });
  t.same(h, { 'content-type': 'text/plain' });
});

t.test('requestProblem', async (t) => {
  t.equal(requestProblem({ headers: {}, url: '/' }), null);
  t.equal(requestProblem({ headers: {}, url: 'http://app.test/x' }), null);
  t.match(requestProblem({ headers: {}, url: 'foo' }), { status: 400, reason: /path/ });
  t.match(requestProblem({ headers: { trailer: 'x-t', 'content-length': '2' }, url: '/' }), { status: 400, reason: /Trailer/ });
  t.equal(requestProblem({ headers: { trailer: 'x-t', 'transfer-encoding': 'chunked' }, url: '/' }), null);
  t.equal(requestProblem({ headers: { 'transfer-encoding': 'Chunked' }, url: '/' }), null, 'the coding name is case-insensitive');
});

t.test('requestProblem: a transfer coding portico cannot pass on is 501 (issue 23: gzip was dropped silently)', async (t) => {
  for (const te of ['gzip, chunked', 'chunked, chunked', 'deflate', 'chunked ', 'x-chunked']) {
    t.match(requestProblem({ headers: { 'transfer-encoding': te }, url: '/' }), { status: 501 }, JSON.stringify(te));
  }
});

t.test('requestProblem: two Host field lines are 400 in either order (issue 23: 400 or 404 by order)', async (t) => {
  t.match(requestProblem({ headers: { host: 'a' }, rawHeaders: ['Host', 'a', 'host', 'b'], url: '/' }), { status: 400, reason: /Host/ });
  t.match(requestProblem({ headers: { host: 'b' }, rawHeaders: ['host', 'b', 'HOST', 'b'], url: '/' }), { status: 400 });
  t.equal(requestProblem({ headers: { host: 'a' }, rawHeaders: ['Host', 'a', 'X-Host', 'b'], url: '/' }), null);
});

t.test('outgoingHeaders: Connection cannot make Host or Content-Length hop-by-hop (issue 23: the upstream saw 127.0.0.1:PORT)', async (t) => {
  const out = pairs(outgoingHeaders(['Host', 'app.test', 'Connection', 'Host, content-length, X-A', 'Content-Length', '3', 'X-A', '1'], untrusted));
  t.equal(out.host, 'app.test');
  t.equal(out['content-length'], '3');
  t.notOk('x-a' in out);
  t.same(connectionListed('host, close'), null);
});

t.test('outgoingHeaders: an absolute-form authority replaces the client Host (RFC 9112 §3.2.2, issue 23)', async (t) => {
  const flat = outgoingHeaders(['Host', 'evil.example', 'Accept', '*/*', 'host', 'evil2'], { ...untrusted, host: 'app.test:8443', authority: 'app.test:8443' });
  t.same(flat.slice(0, 2), ['host', 'app.test:8443'], 'the authority is the Host, first');
  t.equal(flat.filter((x, i) => i % 2 === 0 && x.toLowerCase() === 'host').length, 1, 'no client Host left');
  const out = pairs(flat);
  t.equal(out['x-forwarded-host'], 'app.test:8443');
  t.match(out.forwarded, /host="app\.test:8443"/);
});

t.test('outgoingHeaders: other client-address and URL-override headers are dropped from untrusted peers, kept from trusted ones (issue 23)', async (t) => {
  const spoof = ['True-Client-IP', '6.6.6.6', 'X-Client-IP', '6.6.6.6', 'CF-Connecting-IP', '6.6.6.6', 'X-Forwarded-Port', '1', 'X-Forwarded-Prefix', '/admin', 'X-Original-URL', '/admin', 'Fastly-Client-IP', '6.6.6.6', 'X-Cluster-Client-IP', '6.6.6.6', 'Accept', '*/*'];
  const out = pairs(outgoingHeaders(spoof, untrusted));
  for (const k of ['true-client-ip', 'x-client-ip', 'cf-connecting-ip', 'x-forwarded-port', 'x-forwarded-prefix', 'x-original-url', 'fastly-client-ip', 'x-cluster-client-ip']) t.notOk(k in out, `${k} dropped`);
  t.equal(out.accept, '*/*');
  const kept = pairs(outgoingHeaders(spoof, { ...untrusted, trusted: true }));
  t.equal(kept['cf-connecting-ip'], '6.6.6.6');
  t.equal(kept['x-forwarded-prefix'], '/admin');
});

t.test('hostOf lower-cases and drops the port, brackets and a trailing dot', async (t) => {
  t.equal(hostOf('App.Test:8443'), 'app.test');
  t.equal(hostOf('app.test.'), 'app.test');
  t.equal(hostOf('[2001:DB8::0:1]:443'), '2001:db8::1');
  t.equal(hostOf(undefined), '');
});

t.test('splitTarget handles origin-form and absolute-form targets', async (t) => {
  t.same(splitTarget('/a?b'), { host: null, path: '/a?b' });
  t.same(splitTarget('http://h.test:80/p?q=1'), { host: 'h.test:80', path: '/p?q=1' });
  t.same(splitTarget('https://h.test'), { host: 'h.test', path: '/' });
});

t.test('unwrapIp', async (t) => {
  t.equal(unwrapIp('::ffff:127.0.0.1'), '127.0.0.1');
  t.equal(unwrapIp('::1'), '::1');
});

t.test('h1RawHeaders: pseudo-headers dropped, host from :authority first, split cookies joined', async (t) => {
  const raw = [':method', 'GET', ':path', '/x', ':scheme', 'https', ':authority', 'app.test:8443', 'cookie', 'a=1', 'accept', '*/*', 'cookie', 'b=2'];
  t.same(h1RawHeaders(raw), ['host', 'app.test:8443', 'accept', '*/*', 'cookie', 'a=1; b=2']);
  t.same(h1RawHeaders([':authority', 'app.test', 'host', 'app.test', 'x', '1']), ['host', 'app.test', 'x', '1'], 'a Host the client sent is kept, not doubled');
  t.same(h1RawHeaders([':method', 'GET', ':path', '/', 'host', 'h.test']), ['host', 'h.test'], 'no :authority: Host as sent');
  const out = pairs(outgoingHeaders(h1RawHeaders(raw), { ...untrusted, host: 'app.test:8443' }));
  t.equal(out.host, 'app.test:8443');
  t.equal(out['x-forwarded-host'], 'app.test:8443');
  t.notOk(Object.keys(out).some((k) => k.startsWith(':')));
});

t.test('h2Authority and h2RequestProblem', async (t) => {
  t.equal(h2Authority({ ':authority': 'a.test', host: 'b.test' }), 'a.test');
  t.equal(h2Authority({ host: 'b.test' }), 'b.test', 'no :authority: the Host header (RFC 9113 §8.3.1)');
  t.equal(h2Authority({}), undefined);
  t.equal(h2RequestProblem({ headers: { ':authority': 'a.test' }, url: '/x' }), null);
  t.equal(h2RequestProblem({ headers: { ':authority': 'a.test', host: 'A.test' }, url: '/x' }), null);
  t.match(h2RequestProblem({ headers: { ':authority': 'a.test', host: 'b.test' }, url: '/x' }), { status: 400, reason: /differs/ });
  t.match(h2RequestProblem({ headers: { ':authority': 'a.test' }, url: '*' }), { status: 400, reason: /path/ });
  t.equal(h2RequestProblem({ headers: { ':authority': 'a.test', trailer: 'x-t' }, url: '/' }), null, 'Trailer is fine: HTTP/2 frames the body');
});

t.test('headerListSize counts name + value + 32 per field (RFC 9113 §6.5.2)', async (t) => {
  t.equal(headerListSize([':method', 'GET', 'x', 'yz']), 7 + 3 + 32 + 1 + 2 + 32);
  t.equal(headerListSize([]), 0);
});

t.test('validHost: host[:port] only (RFC 9110 §7.2; issue 23 corpus: `localhost:abc` was routed)', async (t) => {
  for (const ok of ['localhost', 'localhost:443', 'localhost:', 'a.test', 'A.TEST:8443', '127.0.0.1', '[::1]', '[::1]:8443', '[2001:db8::ffff:1.2.3.4]', 'xn--bcher-kva.example', 'a_b.test', 'localhost,evil']) t.ok(validHost(ok), ok);
  for (const bad of ['', 'localhost:abc', 'user@localhost', 'local host', 'localhost/evil', '[::1', '[]', '[::g]', ':443', 'a.test:44 3', 'ü.test', 'a\u0000b', 'a"b']) t.notOk(validHost(bad), JSON.stringify(bad));
});

t.test('requestProblem: an invalid Host is 400, an HTTP/1 request line saying another version is 505', async (t) => {
  t.match(requestProblem({ headers: { host: 'localhost:abc' }, url: '/' }), { status: 400, reason: /Host/ });
  t.match(requestProblem({ headers: { host: 'a.test' }, url: '/', httpVersionMajor: 2 }), { status: 505 });
  t.equal(requestProblem({ headers: { host: 'a.test' }, url: '/', httpVersionMajor: 1 }), null);
});
