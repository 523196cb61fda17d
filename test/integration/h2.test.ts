/**
 * HTTP/2 to clients (issue 14): the https listener negotiates h2 by ALPN next to http/1.1 and
 * acme-tls/1; h2 requests take the same request path (routing by :authority, forwarding headers,
 * bodies both ways, hop-by-hop fields stripped, access log and metrics); the h2 limits hold
 * (concurrent streams, header list size, rapid reset, idle and first-request timeouts); shutdown
 * and listener moves send GOAWAY and let in-flight streams finish.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import {
  FRAME, getHead, h2Connect, h2Request, headersFrame, pingFrame, proxyConfig, rawH2, request, rstFrame, sleep, startBackend, startProxy, waitUntil,
} from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** alpnOf does a TLS handshake offering `protocols` and returns what the server picked (false: none). */
function alpnOf(port: number, protocols: string[]): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: protocols, rejectUnauthorized: false }, () => {
      resolve(s.alpnProtocol ?? false);
      s.destroy();
    });
    s.on('error', reject);
  });
}

/** H1Conn is a TLS connection that negotiated http/1.1 by ALPN, read as text. */
interface H1Conn {
  socket: tls.TLSSocket;
  text: () => string;
  closed: Promise<void>;
  isClosed: () => boolean;
}

function h1Conn(port: number): Promise<H1Conn> {
  return new Promise((resolve, reject) => {
    let text = '';
    let closed = false;
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['http/1.1'], rejectUnauthorized: false }, () => {
      if (s.alpnProtocol !== 'http/1.1') return reject(new Error(`ALPN ${String(s.alpnProtocol)}`));
      resolve({ socket: s, text: () => text, closed: new Promise((r) => s.once('close', () => r())), isClosed: () => closed });
    });
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('close', () => (closed = true));
    s.on('error', () => undefined);
    s.once('error', reject);
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** startEcho: an upstream that answers with the request body, byte for byte (chunked when `/chunked`), and keeps each request head. */
async function startEcho(): Promise<{ origin: string; requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; bytes: number }>; close(): Promise<void> }> {
  const requests: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders; bytes: number }> = [];
  const server = http.createServer((req, res) => {
    const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes: 0 };
    requests.push(seen);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      chunks.push(c);
      seen.bytes += c.length;
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (req.url !== '/chunked') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'x-method': req.method });
        return res.end(body);
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // no length: chunked
      let off = 0;
      const step = (): void => {
        if (off >= body.length) return void res.end();
        res.write(body.subarray(off, (off += 100_000)));
        setImmediate(step);
      };
      step();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

t.test('ALPN: h2 preferred when offered, http/1.1 otherwise; acme-tls/1 only when it is the one protocol offered', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }]));
  t.teardown(() => p.close());
  t.equal(await alpnOf(p.port, ['h2', 'http/1.1']), 'h2');
  t.equal(await alpnOf(p.port, ['http/1.1', 'h2']), 'h2', 'the server prefers h2 whatever the client order');
  t.equal(await alpnOf(p.port, ['h2']), 'h2');
  t.equal(await alpnOf(p.port, ['http/1.1']), 'http/1.1');
  t.equal(await alpnOf(p.port, ['acme-tls/1', 'http/1.1']), 'http/1.1', 'acme-tls/1 among others is an ordinary client (RFC 8737 §3)');
  t.equal(await alpnOf(p.port, ['acme-tls/1', 'h2']), 'h2');
  t.equal((await request({ port: p.port })).status, 200, 'a client without ALPN speaks HTTP/1.1');
  const session = await h2Connect(p.port);
  t.teardown(() => session.close());
  t.equal(session.alpnProtocol, 'h2');
  t.equal(session.remoteSettings.enableConnectProtocol, false, 'no extended CONNECT: WebSockets stay on HTTP/1.1');
  const r = await h2Request(session, { ':path': '/' });
  t.equal(r.status, 200);
  t.equal(r.body.toString(), 'a\n');
});

t.test('h2 requests reach the upstream as HTTP/1.1 with Host = :authority and the forwarding headers; bodies come back byte-exact', async (t) => {
  const echo = await startEcho();
  t.teardown(() => echo.close());
  const p = await startProxy(testDir(t), proxyConfig([{ name: 'echo', hosts: ['echo.test'], upstreams: [echo.origin], tls: 'self-signed' }]));
  t.teardown(() => p.close());
  const session = await h2Connect(p.port, 'echo.test');
  t.teardown(() => session.close());

  const got = await h2Request(session, { ':path': '/get?q=1', cookie: 'a=1', 'x-forwarded-for': '6.6.6.6', 'x-custom': 'v' });
  // Node's client splits nothing itself; send a second cookie field the way browsers may (RFC 9113 §8.2.3)
  const got2 = await h2Request(session, { ':path': '/cookies', cookie: ['a=1', 'b=2'] });
  t.equal(got.status, 200);
  t.equal(got2.status, 200);
  const seen = echo.requests[0]!;
  t.equal(seen.method, 'GET');
  t.equal(seen.url, '/get?q=1');
  t.equal(seen.headers.host, `echo.test:${p.port}`, 'Host is the :authority');
  t.equal(seen.headers['x-forwarded-proto'], 'https');
  t.equal(seen.headers['x-forwarded-for'], '127.0.0.1', 'a client X-Forwarded-For is replaced');
  t.equal(seen.headers['x-forwarded-host'], `echo.test:${p.port}`);
  t.equal(seen.headers.forwarded, `for=127.0.0.1;proto=https;host="echo.test:${p.port}"`);
  t.equal(seen.headers['x-custom'], 'v');
  t.notOk(Object.keys(seen.headers).some((k) => k.startsWith(':')), 'no pseudo-header reaches the upstream');
  t.equal(echo.requests[1]!.headers.cookie, 'a=1; b=2', 'split cookie fields are joined into one');

  const one = randomBytes(1024 * 1024);
  const post = await h2Request(session, { ':path': '/post', 'content-type': 'application/octet-stream', 'content-length': String(one.length) }, one);
  t.equal(post.status, 200);
  t.equal(post.headers['x-method'], 'POST');
  t.equal(post.body.length, one.length);
  t.equal(sha(post.body), sha(one), '1 MiB with content-length, both ways, byte-exact');

  // no content-length: the body is announced by the HEADERS frame only, and streams upstream chunked
  const other = randomBytes(1024 * 1024);
  const streamed = await h2Request(session, { ':path': '/chunked' }, other);
  t.equal(streamed.status, 200);
  t.equal(sha(streamed.body), sha(other), '1 MiB without content-length up, chunked response down, byte-exact');
  t.equal(echo.requests.at(-1)!.headers['transfer-encoding'], 'chunked', 'the upstream got it chunked');

  const small = await h2Request(session, { ':path': '/small' }, 'hello');
  t.equal(small.body.toString(), 'hello', 'a small body without content-length');
  t.equal(echo.requests.at(-1)!.bytes, 5);

  const line = p.logs.find((l) => l.msg === 'request' && l.path === '/post');
  t.match(line, { route: 'echo', host: 'echo.test', method: 'POST', status: 200, proto: 'h2', client_ip: '127.0.0.1', tls_version: /^TLSv1\.[23]$/, bytes: one.length });
  const h1 = await request({ port: p.port, servername: 'echo.test', path: '/h1' });
  t.equal(h1.status, 200);
  t.match(p.logs.find((l) => l.msg === 'request' && l.path === '/h1'), { proto: 'http/1.1' });
  const metrics = await httpRequest({ port: p.adminPort, path: '/metrics' });
  t.match(metrics.body, /portico_requests_total\{route="echo",status="200"\} 6\b/, 'h2 requests count in the request metrics like h1');
});

t.test('h2 answers that leave the body unread (413, 408) reset only their stream; the session keeps serving', async (t) => {
  const echo = await startEcho();
  t.teardown(() => echo.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [echo.origin], max_body_bytes: '100KiB' }], { timeouts: 'body = "300ms"' }));
  t.teardown(() => p.close());
  const session = await h2Connect(p.port);
  t.teardown(() => session.close());

  const declared = await h2Request(session, { ':path': '/declared', 'content-length': String(200 * 1024) }, randomBytes(200 * 1024)).catch((e: Error) => e);
  t.equal((declared as { status?: number }).status, 413, 'declared too large: 413');

  // no content-length: the limit is found while reading; the client is told to stop with RST_STREAM NO_ERROR
  const stream = session.request({ ':method': 'POST', ':path': '/streamed' });
  let status = 0;
  const chunks: Buffer[] = [];
  stream.on('response', (h) => (status = Number(h[':status'])));
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('error', () => undefined);
  const body = randomBytes(16 * 1024);
  const pump = setInterval(() => !stream.destroyed && stream.write(body), 5);
  await new Promise((r) => stream.once('close', r));
  clearInterval(pump);
  t.equal(status, 413, 'found too large: 413');
  t.equal(Buffer.concat(chunks).toString(), 'request body too large\n', 'the whole answer arrived before the reset');
  t.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'then RST_STREAM NO_ERROR');

  const stalled = session.request({ ':method': 'POST', ':path': '/stalled', 'content-length': '100' });
  stalled.write('abc'); // and then nothing
  let stalledStatus = 0;
  stalled.on('response', (h) => (stalledStatus = Number(h[':status'])));
  stalled.on('error', () => undefined);
  stalled.resume();
  await new Promise((r) => stalled.once('close', r));
  t.equal(stalledStatus, 408, 'a stalled body: 408');

  t.equal((await h2Request(session, { ':path': '/after' }, 'ok')).status, 200, 'the same session still serves');
  t.equal(session.destroyed, false);
  t.equal(echo.requests.filter((r) => r.url === '/declared' || r.url === '/stalled').length, 0, 'the declared and the buffered body never reached the upstream');
});

t.test('an upstream that answers an upload before reading it: the h2 client gets the answer, then RST_STREAM NO_ERROR; the session keeps serving', async (t) => {
  // answers at once and never reads the body (an early 401/413 from an app, or nginx's `return`)
  const early = http.createServer((req, res) => {
    res.writeHead(401, { 'content-type': 'text/plain', 'content-length': 6 });
    res.end('nope!\n');
  });
  await new Promise<void>((r) => early.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    early.closeAllConnections();
    early.close();
  });
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [`http://127.0.0.1:${(early.address() as AddressInfo).port}`] }]));
  t.teardown(() => p.close());
  const session = await h2Connect(p.port);
  t.teardown(() => session.close());
  for (const size of [200 * 1024, 2 * 1024 * 1024]) {
    const stream = session.request({ ':method': 'POST', ':path': '/upload', 'content-length': String(size) });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', () => undefined);
    stream.end(randomBytes(size)); // more than the 64 KiB flow-control window: the client blocks unless told to stop
    const closed = await Promise.race([new Promise((r) => stream.once('close', () => r(true))), sleep(5000).then(() => false)]);
    t.ok(closed, `${size} bytes: the stream closes (it used to wait for flow-control credit forever)`);
    t.equal(status, 401, 'the upstream answer');
    t.equal(Buffer.concat(chunks).toString(), 'nope!\n', 'whole');
    t.equal(stream.rstCode, http2.constants.NGHTTP2_NO_ERROR, 'then RST_STREAM NO_ERROR: stop sending');
  }
  t.equal((await h2Request(session, { ':path': '/after' })).status, 401, 'the same session still serves');
  t.equal(session.destroyed, false);
});

t.test('upstream hop-by-hop and repeated single-value headers do not break h2', async (t) => {
  const a = await startBackend('a', (_req, res) => {
    res.setHeader('connection', 'x-secret, keep-alive');
    res.setHeader('keep-alive', 'timeout=5');
    res.setHeader('x-secret', 'leak');
    res.setHeader('upgrade', 'h2c');
    res.setHeader('proxy-connection', 'keep-alive');
    res.setHeader('content-type', ['text/plain', 'text/html']);
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.setHeader('x-kept', 'yes');
    res.write('chunk one,');
    res.end('chunk two');
  });
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }]));
  t.teardown(() => p.close());
  const session = await h2Connect(p.port);
  t.teardown(() => session.close());
  for (let i = 0; i < 3; i++) {
    const r = await h2Request(session, { ':path': '/' });
    t.equal(r.status, 200);
    t.equal(r.body.toString(), 'chunk one,chunk two');
    for (const k of ['connection', 'keep-alive', 'x-secret', 'upgrade', 'proxy-connection', 'transfer-encoding']) t.equal(r.headers[k], undefined, `${k} stripped`);
    t.equal(r.headers['content-type'], 'text/plain', 'a repeated single-value field keeps its first value');
    t.same(r.headers['set-cookie'], ['a=1', 'b=2']);
    t.equal(r.headers['x-kept'], 'yes');
  }
  t.equal(p.logs.filter((l) => l.msg === 'request' && l.status === 200).length, 3);
});

t.test('many concurrent streams on one session; max_concurrent_streams bounds them', async (t) => {
  let inFlight = 0;
  let peak = 0;
  const a = await startBackend('a', (req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    setTimeout(() => {
      inFlight--;
      res.end(req.url);
    }, 30);
  });
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }], { server: '[server.http2]\nmax_concurrent_streams = 8' }));
  t.teardown(() => p.close());
  const session = await h2Connect(p.port);
  t.teardown(() => session.close());
  t.equal(session.remoteSettings.maxConcurrentStreams, 8, 'the limit is advertised');
  const replies = await Promise.all(Array.from({ length: 60 }, (_, i) => h2Request(session, { ':path': `/s${i}` })));
  t.same(replies.map((r) => r.body.toString()), Array.from({ length: 60 }, (_, i) => `/s${i}`), '60 streams on one session, each its own answer');
  t.ok(peak <= 8, `the upstream never saw more than 8 at once (saw ${peak})`);
  t.ok(peak > 1, 'streams ran concurrently');
});

t.test('h2 limits: streams beyond the limit are refused, an oversized header list is refused, and the session keeps serving', async (t) => {
  const a = await startBackend('a', (req, res) => setTimeout(() => res.end(req.url), 100));
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }], {
    server: '[server.http2]\nmax_concurrent_streams = 5',
    limits: 'max_header_bytes = "4KiB"',
  }));
  t.teardown(() => p.close());

  t.test('streams beyond max_concurrent_streams get REFUSED_STREAM', async (t) => {
    const c = await rawH2(p.port);
    t.teardown(() => c.close());
    // ten streams in the first flight, before the client could know the limit
    c.write(Buffer.concat(Array.from({ length: 10 }, (_, i) => headersFrame(1 + 2 * i, getHead(`/r${i}`)))));
    await waitUntil(() => c.answered().size === 5, 5000, 'five answered');
    t.same(c.resets().map((r) => [r.stream, r.code]), [11, 13, 15, 17, 19].map((s) => [s, NGHTTP2_REFUSED_STREAM]), 'the five beyond the limit are refused');
    t.same([...c.answered()].sort((x, y) => x - y), [1, 3, 5, 7, 9]);
    t.equal(c.serverSettings().get(3), 5, 'SETTINGS_MAX_CONCURRENT_STREAMS = 5');
    c.write(headersFrame(21, getHead('/later')));
    await waitUntil(() => c.answered().has(21), 5000, 'a later stream answered');
    t.equal(c.closed, false, 'the session is still open');
  });

  t.test('a header list over max_header_bytes: 431 in the first flight, a stream error once the limit is acknowledged; never a crash', async (t) => {
    const big: Array<[string, string]> = [['x-big', 'x'.repeat(6000)]];
    const c = await rawH2(p.port, { ack: false });
    t.teardown(() => c.close());
    c.write(headersFrame(1, getHead('/big', 'localhost', big)));
    await waitUntil(() => c.answered().has(1), 5000, 'answered');
    t.equal(a.requests.filter((r) => r.url === '/big').length, 0, 'it never reached the upstream');
    t.match(p.logs.find((l) => l.msg === 'client error' && l.status === 431), { proto: 'h2' });

    const session = await h2Connect(p.port);
    t.teardown(() => session.close());
    await h2Request(session, { ':path': '/warm' }); // the client has acknowledged the limit by now
    const err = await h2Request(session, { ':path': '/big2', 'x-big': 'x'.repeat(6000) }).then(
      (r) => r.status,
      (e: NodeJS.ErrnoException) => e.code,
    );
    t.ok(err === 431 || err === 'ERR_HTTP2_STREAM_ERROR', `refused (${err})`);
    t.equal((await h2Request(session, { ':path': '/after' })).status, 200, 'the session still serves');
    t.equal(a.requests.filter((r) => r.url === '/big2').length, 0);
  });
});

t.test('rapid reset (CVE-2023-44487): a client that opens and resets streams past max_resets loses its session; others are served', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }], { server: '[server.http2]\nmax_resets = "50 in 10s"' }));
  t.teardown(() => p.close());

  // under the limit: cancelled streams are normal (a browser navigating away)
  const polite = await rawH2(p.port);
  t.teardown(() => polite.close());
  const pairs = (from: number, n: number) => Buffer.concat(Array.from({ length: n }, (_, i) => [headersFrame(from + 2 * i, getHead(`/p${i}`), true), rstFrame(from + 2 * i)]).flat());
  polite.write(pairs(1, 40));
  await sleep(300);
  polite.write(headersFrame(101, getHead('/ok')));
  await waitUntil(() => polite.answered().has(101), 5000, 'the polite session still answers');
  t.equal(polite.goaways().length, 0, '40 resets in 10s are within the limit');

  // just over the limit: GOAWAY ENHANCE_YOUR_CALM, then the connection closes
  const started = p.logs.filter((l) => l.msg === 'request').length;
  const over = await rawH2(p.port);
  t.teardown(() => over.close());
  over.write(pairs(1, 60));
  await waitUntil(() => over.closed, 5000, 'the session over the limit closed');
  t.same(over.goaways().map((g) => g.code), [NGHTTP2_ENHANCE_YOUR_CALM], 'GOAWAY ENHANCE_YOUR_CALM');
  t.match(p.logs.find((l) => l.msg === 'h2 session closed: too many stream resets'), { level: 'warn', resets: 51, window_ms: 10_000, client_ip: '127.0.0.1' });

  // a flood in one write (the way the attack comes): cut after the limit, not after Node's ~1000
  const rude = await rawH2(p.port);
  t.teardown(() => rude.close());
  rude.write(pairs(1, 1000));
  await waitUntil(() => rude.closed, 5000, 'the flooding session closed');
  await sleep(200);
  const handled = p.logs.filter((l) => l.msg === 'request').length - started;
  t.ok(handled <= 2 * 51, `the proxy handled at most max_resets + 1 streams of each session (${handled} for both; Node alone lets ~1000+ through)`);

  const other = await h2Connect(p.port);
  t.teardown(() => other.close());
  t.equal((await h2Request(other, { ':path': '/' })).status, 200, 'another client is served');
  t.equal((await request({ port: p.port })).status, 200, 'and HTTP/1.1 too');
});

t.test('h2 session timers: nothing sent → closed after timeouts.header; no open stream for timeouts.idle → GOAWAY; open streams keep it', async (t) => {
  const a = await startBackend('a', (req, res) => setTimeout(() => res.end('done'), req.url === '/slow' ? 800 : 0));
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }], { timeouts: 'header = "300ms"\nidle = "400ms"' }));
  t.teardown(() => p.close());

  const silent = await rawH2(p.port);
  t.teardown(() => silent.close());
  const pinger = await rawH2(p.port);
  t.teardown(() => pinger.close());
  const pings = setInterval(() => pinger.write(pingFrame()), 50);
  t.teardown(() => clearInterval(pings));
  await waitUntil(() => silent.closed && pinger.closed, 5000, 'both closed');
  t.same(silent.goaways().map((g) => g.code), [0], 'GOAWAY NO_ERROR, then closed');
  t.ok(pinger.frames.some((f) => f.type === FRAME.PING && (f.flags & 1) === 1), 'PINGs were answered');
  t.same(pinger.goaways().map((g) => g.code), [0], 'PINGs do not count as a request');

  // a client that keeps its side open after our FIN: the connection is still closed, by us
  const halfOpen = await rawH2(p.port, { allowHalfOpen: true });
  t.teardown(() => halfOpen.close());
  const fin = new Promise((r) => halfOpen.socket.once('end', r));
  await fin;
  t.same(halfOpen.goaways().map((g) => g.code), [0], 'GOAWAY, then our FIN');
  // keep writing: once the server has dropped the connection, a write is answered with a reset
  const poke = setInterval(() => !halfOpen.closed && halfOpen.write(pingFrame()), 200);
  t.teardown(() => clearInterval(poke));
  await waitUntil(() => halfOpen.closed, 5000, 'the half-open connection dropped by the server');

  const session = await h2Connect(p.port);
  t.teardown(() => session.close());
  const goaway = new Promise<number>((r) => session.once('goaway', (code) => r(code)));
  const slow = await h2Request(session, { ':path': '/slow' });
  t.equal(slow.body.toString(), 'done', 'a stream open longer than the idle timeout is not cut');
  t.equal(session.closed || session.destroyed, false, 'not closed while the stream was open');
  t.equal(await goaway, 0, 'GOAWAY once idle');
  await waitUntil(() => session.destroyed, 5000, 'session closed');
});

t.test('graceful shutdown: an open h2 session gets GOAWAY, its in-flight stream completes', async (t) => {
  let release!: () => void;
  const a = await startBackend('a', (req, res) => {
    if (req.url !== '/slow') return res.end('fast');
    res.writeHead(200);
    res.write('part one,');
    release = () => res.end('part two');
  });
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }], { server: 'shutdown_grace = "5s"' }));
  const session = await h2Connect(p.port);
  t.teardown(() => session.destroy());
  t.equal((await h2Request(session, { ':path': '/' })).status, 200);
  const inFlight = h2Request(session, { ':path': '/slow' });
  await waitUntil(() => a.requests.some((r) => r.url === '/slow'), 5000, 'slow request upstream');
  const goaway = new Promise<number>((r) => session.once('goaway', (code) => r(code)));
  const stopped = p.close();
  t.equal(await goaway, 0, 'GOAWAY NO_ERROR on shutdown');
  await sleep(100);
  release();
  const r = await inFlight;
  t.equal(r.status, 200);
  t.equal(r.body.toString(), 'part one,part two', 'the in-flight stream completed');
  await stopped;
  t.ok(p.logs.some((l) => l.msg === 'stopped'), 'shutdown finished once the session was done');
});

t.test('shutdown_grace cuts an h2 stream that never ends', async (t) => {
  const a = await startBackend('a', (_req, res) => res.writeHead(200).write('forever'));
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }], { server: 'shutdown_grace = "300ms"' }));
  const session = await h2Connect(p.port);
  t.teardown(() => session.destroy());
  const stream = session.request({ ':path': '/' });
  stream.on('error', () => undefined);
  await new Promise((r) => stream.once('response', r));
  const closed = new Promise((r) => session.once('close', r));
  const t0 = Date.now();
  await p.close();
  t.ok(Date.now() - t0 < 3000, 'shutdown did not wait past the grace period');
  await closed;
  t.ok(session.destroyed || session.closed, 'the session was cut');
});

t.test('moving server.https: h2 sessions on the old listener get GOAWAY and finish their streams', async (t) => {
  let release!: () => void;
  const a = await startBackend('a', (req, res) => {
    if (req.url === '/slow') release = () => res.end('slow done');
    else res.end('fast');
  });
  t.teardown(() => a.close());
  const dir = testDir(t);
  const cfg = (https: string) => proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }], { https });
  const p = await startProxy(dir, cfg('127.0.0.1:0'));
  t.teardown(() => p.close());
  const session = await h2Connect(p.port);
  t.teardown(() => session.destroy());
  const inFlight = h2Request(session, { ':path': '/slow' });
  await waitUntil(() => a.requests.some((r) => r.url === '/slow'), 5000, 'slow request upstream');
  const goaway = new Promise<number>((r) => session.once('goaway', (code) => r(code)));
  await p.writeConfig(cfg('127.0.0.2:0'));
  t.match(await p.portico.reload(), { result: 'success', listeners: ['https'] });
  t.equal(await goaway, 0, 'GOAWAY on the moved listener');
  release();
  t.equal((await inFlight).body.toString(), 'slow done', 'the in-flight stream completed');
  await waitUntil(() => session.destroyed, 5000, 'old session closed');
});

t.test('reload: [server.http2] enabled and max_concurrent_streams change without a restart', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const cfg = (h2: string) => proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }], { server: `[server.http2]\n${h2}` });
  const p = await startProxy(testDir(t), cfg('enabled = false'));
  t.teardown(() => p.close());
  t.equal(await alpnOf(p.port, ['h2', 'http/1.1']), 'http/1.1', 'enabled = false: h2 is not offered');
  await p.writeConfig(cfg('max_concurrent_streams = 7'));
  t.match(await p.portico.reload(), { result: 'success', listeners: [] });
  t.equal(await alpnOf(p.port, ['h2', 'http/1.1']), 'h2', 'enabled again by a reload, same listener');
  const session = await h2Connect(p.port);
  t.teardown(() => session.close());
  await new Promise((r) => (session.remoteSettings.maxConcurrentStreams === 7 ? r(null) : session.once('remoteSettings', r)));
  t.equal(session.remoteSettings.maxConcurrentStreams, 7, 'new sessions get the reloaded SETTINGS');
});

t.test('HTTP/1.1 negotiated by ALPN on the same listener keeps its limits: 431, 408, keep-alive idle, Connection: close, WebSocket', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo:${m.toString()}`)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => (wss.close(), server.closeAllConnections(), server.close(() => r()))));
  const wsOrigin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }, { hosts: ['localhost'], path_prefix: '/chat', upstreams: [wsOrigin] }], {
    timeouts: 'header = "300ms"\nidle = "600ms"',
    limits: 'max_header_bytes = "4KiB"',
  }));
  t.teardown(() => p.close());

  const big = await h1Conn(p.port);
  big.socket.write(`GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'x'.repeat(5000)}\r\n\r\n`);
  await big.closed;
  t.match(big.text(), /^HTTP\/1\.1 431 /, '431 over max_header_bytes');

  const slow = await h1Conn(p.port);
  slow.socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n'); // never finishes the head
  await slow.closed;
  t.match(slow.text(), /^HTTP\/1\.1 408 /, '408 on a stalled head');

  const ka = await h1Conn(p.port);
  ka.socket.write('GET /one HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await waitUntil(() => ka.text().includes('a\n'), 5000, 'first answer');
  await sleep(200);
  ka.socket.write('GET /two HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await waitUntil(() => ka.text().split('HTTP/1.1 200').length === 3, 5000, 'second answer on the same connection');
  t.equal(ka.isClosed(), false, 'kept alive between requests');
  const idleFrom = Date.now();
  await ka.closed;
  t.ok(Date.now() - idleFrom >= 400, 'closed after the idle timeout, not before');
  t.notMatch(ka.text(), /connection: close/i);

  const once = await h1Conn(p.port);
  once.socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  await once.closed;
  t.match(once.text(), /^HTTP\/1\.1 200 [^]*connection: close/i, 'Connection: close is answered and the connection closed');

  const ws = new WebSocket(`wss://localhost:${p.port}/chat`, { rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] } as never);
  const reply = await new Promise<string>((resolve, reject) => {
    ws.on('open', () => ws.send('hi'));
    ws.on('message', (m) => resolve(m.toString()));
    ws.on('error', reject);
  });
  t.equal(reply, 'echo:hi', 'WebSocket (HTTP/1.1 Upgrade) works on the h2-enabled listener');
  ws.close();
});
