// The proxy path end to end: round-robin over kept-alive upstream connections, safe forwarding
// headers, WebSocket upgrades, and every failure mapped to the right status without killing the process.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { proxyConfig, rawTls, request, startBackend, startProxy, waitUntil } from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

t.test('requests alternate across upstreams (round-robin)', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const b = await startBackend('b');
  t.teardown(() => b.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin, b.origin] }]));
  t.teardown(() => p.close());
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) seen.push((await request({ port: p.port })).body.trim());
  t.same(seen, ['a', 'b', 'a', 'b', 'a', 'b']);
});

t.test('Connection: close clients open no new upstream connection per request', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }]));
  t.teardown(() => p.close());
  await request({ port: p.port });
  const before = a.accepted;
  for (let i = 0; i < 20; i++) {
    const r = await request({ port: p.port, headers: { connection: 'close' } });
    t.equal(r.status, 200);
  }
  t.equal(a.accepted, before, 'the upstream accepted no new connection');
  t.equal(a.requests.at(-1)!.headers.connection, 'keep-alive', 'the client’s Connection: close did not reach the upstream');
});

t.test('hop-by-hop headers are stripped both ways; Host is kept', async (t) => {
  const a = await startBackend('a', (_req, res) => {
    res.writeHead(200, { connection: 'x-secret', 'x-secret': 'leak', 'keep-alive': 'timeout=5', 'x-kept': 'yes' });
    res.end('ok');
  });
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['app.test'], upstreams: [a.origin] }]));
  t.teardown(() => p.close());
  const r = await request({ port: p.port, servername: 'app.test', headers: { connection: 'x-private', 'x-private': '1', te: 'trailers', 'x-other': '2' } });
  t.equal(r.status, 200);
  const seen = a.requests[0]!.headers;
  t.equal(seen['x-private'], undefined, 'a header named in Connection is not forwarded');
  t.equal(seen.te, undefined);
  t.equal(seen['x-other'], '2');
  t.equal(seen.host, `app.test:${p.port}`, 'Host preserved');
  t.equal(r.headers['x-secret'], undefined, 'response header named in Connection is stripped');
  t.equal(r.headers['x-kept'], 'yes');
});

t.test('client X-Forwarded-* and Forwarded never reach the upstream from an untrusted peer', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }]));
  t.teardown(() => p.close());
  await request({ port: p.port, headers: { 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6', 'x-real-ip': '6.6.6.6', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'evil.test' } });
  const h = a.requests[0]!.headers;
  t.equal(h['x-forwarded-for'], '127.0.0.1');
  t.equal(h['x-real-ip'], '127.0.0.1');
  t.equal(h['x-forwarded-proto'], 'https');
  t.equal(h['x-forwarded-host'], `localhost:${p.port}`);
  t.notMatch(String(h.forwarded), /6\.6\.6\.6/);
  t.match(String(h.forwarded), /^for=127\.0\.0\.1;proto=https/);
});

t.test('a trusted proxy peer has its X-Forwarded-For appended to', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }], { server: 'trusted_proxies = ["127.0.0.0/8"]' }));
  t.teardown(() => p.close());
  await request({ port: p.port, headers: { 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6', 'x-forwarded-proto': 'http' } });
  const h = a.requests[0]!.headers;
  t.equal(h['x-forwarded-for'], '6.6.6.6, 127.0.0.1');
  t.equal(h['x-forwarded-proto'], 'http', 'kept from the trusted proxy');
  t.match(String(h.forwarded), /^for=6\.6\.6\.6, for=127\.0\.0\.1/);
});

t.test('WebSocket echo through the proxy, with forwarding headers replaced', async (t) => {
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  let xff: string | undefined;
  wss.on('connection', (ws, req) => {
    xff = req.headers['x-forwarded-for'] as string;
    ws.on('message', (m) => ws.send(`echo:${m.toString()}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (wss.close(), server.closeAllConnections(), server.close(() => r()))));
  const port = (server.address() as net.AddressInfo).port;
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [`http://127.0.0.1:${port}`] }]));
  t.teardown(() => p.close());
  const ws = new WebSocket(`wss://localhost:${p.port}/chat`, { rejectUnauthorized: false, headers: { 'x-forwarded-for': '6.6.6.6' } });
  const reply = await new Promise<string>((resolve, reject) => {
    ws.on('open', () => ws.send('hi'));
    ws.on('message', (m) => resolve(m.toString()));
    ws.on('error', reject);
  });
  t.equal(reply, 'echo:hi');
  t.equal(xff, '127.0.0.1');
  ws.close();
  // the access line is written once the tunnel is over, its sockets gone: it still names the TLS version
  await waitUntil(() => p.logs.some((l) => l.msg === 'request' && l.path === '/chat'), 3000);
  t.match(p.logs.find((l) => l.msg === 'request' && l.path === '/chat'), { status: 101, upgrade: true, tls_version: /^TLSv1\.[23]$/ }, 'the upgrade access line');
});

t.test('failures map to statuses and the process keeps serving', async (t) => {
  const slow = await startBackend('slow', () => undefined); // never answers
  t.teardown(() => slow.close());
  const ok = await startBackend('ok');
  t.teardown(() => ok.close());
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const p = await startProxy(
    testDir(t),
    proxyConfig(
      [
        { hosts: ['slow.test'], upstreams: [slow.origin] },
        { hosts: ['dead.test'], upstreams: [`http://127.0.0.1:${deadPort}`] },
        { hosts: ['small.test'], upstreams: [ok.origin], max_body_bytes: '1KiB' },
        { hosts: ['localhost'], upstreams: [ok.origin] },
      ],
      { timeouts: 'upstream_response = "300ms"\nheader = "500ms"\nbody = "500ms"', limits: 'max_header_bytes = "4KiB"' },
    ),
  );
  t.teardown(() => p.close());

  t.test('504 on a slow upstream', async (t) => {
    const r = await request({ port: p.port, servername: 'slow.test' });
    t.equal(r.status, 504);
    t.match(r.body, /timeout/);
  });
  t.test('502 on a refused upstream', async (t) => {
    const r = await request({ port: p.port, servername: 'dead.test' });
    t.equal(r.status, 502);
  });
  t.test('404 for an unknown host, with a short plain body', async (t) => {
    const r = await request({ port: p.port, servername: 'nobody.test' });
    t.equal(r.status, 404);
    t.match(r.headers['content-type'], /text\/plain/);
    t.ok(r.body.length < 100);
  });
  t.test('431 over max_header_bytes', async (t) => {
    const r = await request({ port: p.port, headers: { 'x-big': 'x'.repeat(5000) } });
    t.equal(r.status, 431);
  });
  t.test('413 over max_body_bytes, declared length: refused without reading it', async (t) => {
    const before = ok.requests.length;
    const r = await request({ port: p.port, servername: 'small.test', method: 'POST', body: 'x'.repeat(2048) });
    t.equal(r.status, 413);
    t.equal(ok.requests.length, before, 'the upstream never saw it');
  });
  t.test('413 over max_body_bytes, chunked body', async (t) => {
    const res = await rawTls(p.port, 'POST / HTTP/1.1\r\nHost: small.test\r\nTransfer-Encoding: chunked\r\n\r\n' + `800\r\n${'x'.repeat(2048)}\r\n0\r\n\r\n`, { servername: 'small.test' });
    t.match(res, /^HTTP\/1\.1 413/);
  });
  t.test('408 on a stalled request head', async (t) => {
    const res = await rawTls(p.port, 'GET / HTTP/1.1\r\nHost: localhost\r\n'); // never finishes the head
    t.match(res, /^HTTP\/1\.1 408/);
  });
  t.test('408 on a stalled request body', async (t) => {
    const res = await rawTls(p.port, 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\nabc');
    t.match(res, /^HTTP\/1\.1 408/);
  });
  const malformed: Array<[string, string]> = [
    ['a malformed request line', 'GARBAGE\r\n\r\n'],
    ['an invalid header token', 'GET / HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n'],
    ['a Trailer header without a chunked body', 'POST / HTTP/1.1\r\nHost: localhost\r\nTrailer: x-t\r\nContent-Length: 2\r\n\r\nhi'],
    ['conflicting Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'],
    ['two different Content-Length values', 'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
    ['a request target that is not a path', 'GET foo HTTP/1.1\r\nHost: localhost\r\n\r\n'],
  ];
  for (const [name, raw] of malformed) {
    t.test(`400 on ${name}`, async (t) => {
      const res = await rawTls(p.port, raw);
      t.match(res, /^HTTP\/1\.1 400/);
    });
  }
  t.test('still serving after all of that', async (t) => {
    const r = await request({ port: p.port });
    t.equal(r.status, 200);
    t.equal(r.body, 'ok\n');
  });
});

t.test('request and response bodies stream both ways', async (t) => {
  const echo = await startBackend('echo', (req, res, body) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(body);
  });
  t.teardown(() => echo.close());
  const big = await startBackend('big', (_req, res) => {
    res.writeHead(200);
    const chunk = Buffer.alloc(64 * 1024, 120);
    for (let i = 0; i < 32; i++) res.write(chunk);
    res.end();
  });
  t.teardown(() => big.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['echo.test'], upstreams: [echo.origin] }, { hosts: ['big.test'], upstreams: [big.origin] }]));
  t.teardown(() => p.close());
  const payload = 'y'.repeat(300_000);
  const r = await request({ port: p.port, servername: 'echo.test', method: 'POST', body: payload });
  t.equal(r.body.length, payload.length, 'POST body arrived whole and came back');
  const chunked = await rawTls(p.port, 'POST / HTTP/1.1\r\nHost: echo.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n', { servername: 'echo.test' });
  t.match(chunked, /hello world/);
  const b = await request({ port: p.port, servername: 'big.test' });
  t.equal(b.body.length, 2 * 1024 * 1024, '2 MiB response streamed');
});

t.test('a client that goes away mid-request is logged as 499 and leaks no upstream connection', async (t) => {
  let upstreamClosed!: () => void;
  const closedOnUpstream = new Promise<void>((r) => (upstreamClosed = r));
  const hang = await startBackend('hang', (req) => {
    req.socket.once('close', () => upstreamClosed());
  });
  t.teardown(() => hang.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [hang.origin] }]));
  t.teardown(() => p.close());
  const req = https.request({ host: '127.0.0.1', port: p.port, servername: 'localhost', rejectUnauthorized: false, headers: { host: 'localhost' } });
  req.on('error', () => undefined);
  req.end();
  await new Promise((r) => setTimeout(r, 200));
  req.destroy();
  const outcome = await Promise.race([closedOnUpstream.then(() => 'closed'), new Promise((r) => setTimeout(r, 5000, 'still open'))]);
  t.equal(outcome, 'closed', 'the upstream connection of the abandoned request was closed');
  await waitUntil(() => p.logs.some((l) => l.msg === 'request' && l.status === 499), 3000).catch(() => undefined);
  t.ok(p.logs.find((l) => l.msg === 'request' && l.status === 499), 'access log has status 499');
  t.equal(p.portico.inFlight, 0);
});
