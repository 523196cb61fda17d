/**
 * Issue 25: PROXY protocol behind a real HAProxy in TCP mode. portico lists the balancer's address
 * (HAProxy connects from 127.0.0.9: `source`) in server.proxy_protocol; clients bind loopback aliases
 * (127.0.0.5…) and must be seen as themselves: by the upstream (X-Forwarded-For, Forwarded,
 * X-Real-IP), in the access log, by trusted_proxies and by admin.write_from; over send-proxy-v2 and
 * send-proxy (v1), HTTP/1.1 and h2, on the https, http and admin listeners. A listed peer without a
 * valid header (none, malformed, too slow) is refused — on admin only a malformed one: probes and the
 * CLI reach admin without a header and are judged as themselves; a header from a peer not listed is refused;
 * a reload turning it off serves direct connections again; data-plane workers (server.workers = 2)
 * read it too.
 */
import net from 'node:net';
import tls from 'node:tls';
import t from 'tap';
import {
  h2Connect, h2Request, proxyConfig, request, spawnReady, startBackend, startHaproxy, startProxy, waitForLog, waitUntil,
} from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const backend = await startBackend('up');
t.teardown(() => backend.close());
const routes = [{ hosts: ['localhost'], upstreams: [backend.origin] }];
const LB = '127.0.0.9';
const config = (server: string, admin = 'write_from = ["127.0.0.5/32"]') =>
  proxyConfig(routes, { server, timeouts: 'header = "1s"', admin, log: 'level = "debug"' });

const dir = testDir(t);
const p = await startProxy(dir, config(`proxy_protocol = ["${LB}/32"]`));
t.teardown(() => p.close());
const lb = await startHaproxy([
  { name: 'https2', servers: [`127.0.0.1:${p.port}`], proxy: 'v2', source: LB },
  { name: 'https1', servers: [`127.0.0.1:${p.port}`], proxy: 'v1', source: LB },
  { name: 'http1', servers: [`127.0.0.1:${p.httpPort}`], proxy: 'v1', source: LB },
  { name: 'admin', servers: [`127.0.0.1:${p.adminPort}`], proxy: 'v2', source: LB },
]);
t.teardown(() => lb.stop());

const lastSeen = () => backend.requests[backend.requests.length - 1]!.headers;
const accessLine = (path: string) => (l: Record<string, unknown>) => l.msg === 'request' && l.path === path;

/** connectFrom opens a TCP connection from `local`, writes `data` and resolves with what came back until close. */
function rawFrom(local: string, port: number, data: string | Buffer, wait = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect({ host: '127.0.0.1', port, localAddress: local }, () => s.write(data));
    s.setTimeout(wait, () => s.destroy(new Error('still open')));
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks).toString()));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
  });
}

t.test('send-proxy-v2, HTTP/1.1: the client address reaches the upstream and the access log', async (t) => {
  const r = await request({ port: lb.ports.https2!, path: '/v2-h1', localAddress: '127.0.0.5' });
  t.equal(r.status, 200);
  const h = lastSeen();
  t.equal(h['x-forwarded-for'], '127.0.0.5', 'X-Forwarded-For');
  t.equal(h['x-real-ip'], '127.0.0.5');
  t.match(h.forwarded, /^for=127\.0\.0\.5;proto=https/);
  const line = await waitForLog(p.logs, accessLine('/v2-h1'));
  t.equal(line.client_ip, '127.0.0.5', 'access log');
});

t.test('send-proxy-v2, h2', async (t) => {
  const session = await h2Connect(lb.ports.https2!, 'localhost', { localAddress: '127.0.0.6' } as never);
  t.teardown(() => session.close());
  const r = await h2Request(session, { ':path': '/v2-h2', ':authority': 'localhost' });
  t.equal(r.status, 200);
  t.equal(lastSeen()['x-forwarded-for'], '127.0.0.6');
  t.equal((await waitForLog(p.logs, accessLine('/v2-h2'))).client_ip, '127.0.0.6');
});

t.test('send-proxy (v1)', async (t) => {
  const r = await request({ port: lb.ports.https1!, path: '/v1', localAddress: '127.0.0.7' });
  t.equal(r.status, 200);
  t.equal(lastSeen()['x-forwarded-for'], '127.0.0.7');
  t.equal((await waitForLog(p.logs, accessLine('/v1'))).client_ip, '127.0.0.7');
});

t.test('the http listener (v1): redirects, and its client errors name the client', async (t) => {
  const r = await httpRequest({ port: lb.ports.http1!, path: '/x', headers: { host: 'localhost' }, localAddress: '127.0.0.5' });
  t.equal(r.status, 308);
  const from = p.logs.length;
  await rawFrom('127.0.0.5', lb.ports.http1!, 'GET / HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n');
  const line = await waitForLog(p.logs, (l) => l.msg === 'client error', 5000, from);
  t.equal(line.client_ip, '127.0.0.5');
});

t.test('a failed TLS handshake is logged with the client behind the balancer', async (t) => {
  const from = p.logs.length;
  await rawFrom('127.0.0.7', lb.ports.https2!, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
  const line = await waitForLog(p.logs, (l) => l.msg === 'tls handshake failed', 5000, from);
  t.equal(line.client_ip, '127.0.0.7');
});

t.test('trusted_proxies judges the client address, not the balancer\'s', async (t) => {
  await p.writeConfig(config(`proxy_protocol = ["${LB}/32"]\ntrusted_proxies = ["127.0.0.5/32"]`));
  t.equal((await p.portico.reload()).result, 'success');
  await request({ port: lb.ports.https2!, localAddress: '127.0.0.5', headers: { 'x-forwarded-for': '6.6.6.6' } });
  t.equal(lastSeen()['x-forwarded-for'], '6.6.6.6, 127.0.0.5', 'a trusted client: kept and appended to');
  await request({ port: lb.ports.https2!, localAddress: '127.0.0.7', headers: { 'x-forwarded-for': '6.6.6.6' } });
  t.equal(lastSeen()['x-forwarded-for'], '127.0.0.7', 'an untrusted client behind the same balancer: replaced');
});

t.test('admin.write_from sees the client behind the balancer', async (t) => {
  const ok = await httpRequest({ port: lb.ports.admin!, method: 'POST', path: '/reload', localAddress: '127.0.0.5' });
  t.equal(ok.status, 200, ok.body);
  const from = p.logs.length;
  const no = await httpRequest({ port: lb.ports.admin!, method: 'POST', path: '/reload', localAddress: '127.0.0.6' });
  t.equal(no.status, 403);
  t.equal((await waitForLog(p.logs, (l) => l.msg === 'admin write refused', 5000, from)).client_ip, '127.0.0.6');
  const get = await httpRequest({ port: lb.ports.admin!, path: '/healthz', localAddress: '127.0.0.6' });
  t.equal(get.status, 200, 'reads still work through the balancer');
});

t.test('a listed peer without a valid header is refused', async (t) => {
  const refused = (reason: RegExp, from: number) =>
    waitForLog(p.logs, (l) => l.msg === 'connection refused: no valid PROXY protocol header from a server.proxy_protocol peer' && reason.test(String(l.reason)), 5000, from);
  let from = p.logs.length;
  const direct = await new Promise<string>((resolve) => {
    const s = tls.connect({ socket: net.connect({ host: '127.0.0.1', port: p.port, localAddress: LB }), servername: 'localhost', rejectUnauthorized: false });
    s.on('secureConnect', () => resolve('handshake completed'));
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.on('close', () => resolve('closed'));
  });
  t.not(direct, 'handshake completed', `https, no header: ${direct}`);
  t.equal((await refused(/not a PROXY|no PROXY/, from)).client_ip, LB);
  from = p.logs.length;
  t.equal(await rawFrom(LB, p.httpPort, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'), '', 'http, no header: closed, no answer');
  await refused(/PROXY/, from);
  from = p.logs.length;
  t.equal(await rawFrom(LB, p.httpPort, 'PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\nGET / HTTP/1.1\r\n\r\n'), '', 'malformed header');
  await refused(/ports/, from);
  from = p.logs.length;
  const started = Date.now();
  t.equal(await rawFrom(LB, p.httpPort, 'PROXY TCP4 1.2.3.4', 5000), '', 'a header that never completes');
  t.ok(Date.now() - started >= 900, 'closed at the header timeout');
  await refused(/within 1000ms/, from);
});

t.test('admin: a listed peer may also come without a header (probes, the CLI) and is then itself', async (t) => {
  const get = await httpRequest({ port: p.adminPort, path: '/readyz', localAddress: LB });
  t.equal(get.status, 200, 'a probe from the balancer\'s address, without a header');
  const from = p.logs.length;
  const post = await httpRequest({ port: p.adminPort, method: 'POST', path: '/reload', localAddress: LB });
  t.equal(post.status, 403, 'judged as the balancer itself, which write_from does not list');
  t.equal((await waitForLog(p.logs, (l) => l.msg === 'admin write refused', 5000, from)).client_ip, LB);
  const bad = await rawFrom(LB, p.adminPort, 'PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\nGET /healthz HTTP/1.1\r\n\r\n');
  t.equal(bad, '', 'a malformed header is still refused');
  const spoof = await rawFrom(LB, p.adminPort, 'PROXY TCP4 127.0.0.5 127.0.0.1 1000 80\r\nPOST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  t.match(spoof, /^HTTP\/1\.1 200/, 'and a header it sends is read (the client 127.0.0.5 may write)');
});

t.test('a header from a peer that is not listed is refused', async (t) => {
  const from = p.logs.length;
  const answer = await rawFrom('127.0.0.1', p.httpPort, 'PROXY TCP4 1.2.3.4 5.6.7.8 1000 80\r\nGET /x HTTP/1.1\r\nHost: localhost\r\n\r\n');
  t.equal(answer, '', 'http: closed without an answer');
  await waitForLog(p.logs, (l) => l.msg === 'connection refused: PROXY protocol header from a peer not in server.proxy_protocol', 5000, from);
  const v2 = Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a2111000c', 'hex'), Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2])]);
  const tlsAnswer = await rawFrom('127.0.0.1', p.port, v2);
  t.notMatch(tlsAnswer, /HTTP\//, 'https: the handshake fails, nothing is served');
  t.ok(backend.requests.every((r) => r.url !== '/x'), 'nothing reached the upstream');
});

t.test('a reload turning it off serves direct connections again', async (t) => {
  await p.writeConfig(config('proxy_protocol = []'));
  t.equal((await p.portico.reload()).result, 'success');
  const r = await request({ port: p.port, path: '/direct', localAddress: LB });
  t.equal(r.status, 200);
  t.equal(lastSeen()['x-forwarded-for'], LB);
});

t.test('data-plane workers (server.workers = 2) read the header too', async (t) => {
  const wdir = testDir(t);
  const s = await spawnReady(t, wdir, proxyConfig(routes, { server: 'workers = 2\nproxy_protocol = ["127.0.0.1/32"]' }));
  t.teardown(() => s.child.kill('SIGTERM'));
  const port = s.portOf('https');
  for (let i = 0; i < 4; i++) {
    const client = `10.9.8.${i + 1}`;
    const raw = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => raw.once('connect', r));
    const hdr = `PROXY TCP4 ${client} 127.0.0.1 5555 ${port}\r\n`;
    raw.write(hdr);
    const body = await new Promise<string>((resolve, reject) => {
      const sock = tls.connect({ socket: raw, servername: 'localhost', rejectUnauthorized: false }, () => {
        sock.write(`GET /workers-${i} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      });
      let got = '';
      sock.on('data', (c: Buffer) => (got += c.toString()));
      sock.on('close', () => resolve(got));
      sock.on('error', reject);
    });
    t.match(body, /^HTTP\/1\.1 200/);
    await waitUntil(() => backend.requests.some((r) => r.url === `/workers-${i}`));
    t.equal(backend.requests.find((r) => r.url === `/workers-${i}`)!.headers['x-forwarded-for'], client, `worker connection ${i}`);
  }
});
