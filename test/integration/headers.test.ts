// HSTS and header rules (issue 29) on h1 and h2: request rules reach the upstream (after the
// forwarding headers, which they cannot touch), response rules and HSTS reach the client, on the
// upstream's answers and on portico's own (502, 503, 429); and `check` refuses rules on the fields
// portico owns, each with its key path.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { CLI, h2Connect, h2Request, proxyConfig, request, startBackend, startProxy } from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

const RULES = `hsts = "max-age=31536000; includeSubDomains"
[routes.headers]
request = { set = { "X-Env" = "prod", "X-Request-Source" = "portico" }, remove = ["X-Debug", "Cookie"] }
response = { set = { "X-Frame-Options" = "DENY" }, remove = ["Server", "X-Powered-By"] }`;

t.test('header rules and HSTS on h1 and h2', async (t) => {
  const a = await startBackend('a', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', server: 'app/1.0', 'x-powered-by': 'Express', 'x-frame-options': 'SAMEORIGIN', 'strict-transport-security': 'max-age=0', 'x-kept': 'yes' });
    res.end('ok');
  });
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin], extra: RULES }]));
  t.teardown(() => p.close());
  const check = (h: Record<string, unknown>, proto: string) => {
    t.equal(h['strict-transport-security'], 'max-age=31536000; includeSubDomains', `${proto}: HSTS replaces the upstream's`);
    t.equal(h['x-frame-options'], 'DENY', `${proto}: a set field replaces the upstream's`);
    t.equal(h.server, undefined, `${proto}: Server removed`);
    t.equal(h['x-powered-by'], undefined, `${proto}: X-Powered-By removed`);
    t.equal(h['x-kept'], 'yes', `${proto}: other fields pass`);
  };
  const r = await request({ port: p.port, headers: { 'x-debug': '1', cookie: 'session=1', 'x-env': 'dev', 'x-other': 'kept' } });
  t.equal(r.status, 200);
  check(r.headers, 'h1');
  const session = await h2Connect(p.port);
  t.teardown(() => session.close());
  const h2 = await h2Request(session, { ':path': '/h2', 'x-debug': '1', cookie: 'a=1', 'x-env': 'dev' });
  t.equal(h2.status, 200);
  check(h2.headers, 'h2');
  for (const [i, seen] of a.requests.map((q) => q.headers).entries()) {
    const proto = i === 0 ? 'h1' : 'h2';
    t.equal(seen['x-env'], 'prod', `${proto}: the upstream sees the set value, not the client's`);
    t.equal(seen['x-request-source'], 'portico');
    t.equal(seen['x-debug'], undefined, `${proto}: removed`);
    t.equal(seen.cookie, undefined, `${proto}: Cookie removed`);
    t.equal(seen['x-forwarded-for'], '127.0.0.1', `${proto}: the forwarding headers are portico's as always`);
  }
  t.equal(a.requests[0]!.headers['x-other'], 'kept');
});

t.test('portico\'s own answers on the route carry HSTS and the set fields too (502, 503, 429); a 404 has no route', async (t) => {
  const gone = await startBackend('gone');
  await gone.close();
  const p = await startProxy(testDir(t), proxyConfig([
    { hosts: ['localhost'], upstreams: [gone.origin], passive: 'max_fails = 0', extra: RULES },
    { hosts: ['limited.test'], upstreams: [gone.origin], extra: `rate_limit = "1 in 1m"\n${RULES}` },
  ]));
  t.teardown(() => p.close());
  const bad = await request({ port: p.port });
  t.equal(bad.status, 502);
  t.equal(bad.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
  t.equal(bad.headers['x-frame-options'], 'DENY');
  await request({ port: p.port, servername: 'limited.test' });
  const limited = await request({ port: p.port, servername: 'limited.test' });
  t.equal(limited.status, 429);
  t.equal(limited.headers['strict-transport-security'], 'max-age=31536000; includeSubDomains');
  t.ok(limited.headers['retry-after']);
  const none = await request({ port: p.port, servername: 'unrouted.test' });
  t.equal(none.status, 404);
  t.equal(none.headers['strict-transport-security'], undefined, 'no route: no route\'s fields');
});

t.test('check refuses rules that would re-add hop-by-hop or forwarding fields, naming each key path', async (t) => {
  const dir = testDir(t);
  const file = join(dir, 'bad.toml');
  await writeFile(file, proxyConfig([{
    hosts: ['localhost'], upstreams: ['http://127.0.0.1:9'],
    extra: `[routes.headers]
request = { set = { "X-Forwarded-For" = "10.0.0.1", "Connection" = "close", "X-Real-IP" = "1.2.3.4" }, remove = ["Forwarded", "Transfer-Encoding"] }
response = { set = { "Keep-Alive" = "timeout=5", "X-Bad" = "a\\r\\nInjected: 1" } }`,
  }]));
  const out = await promisify(execFile)(process.execPath, [CLI, 'check', '--config', file]).then(
    () => ({ code: 0, stderr: '', stdout: '' }),
    (e: { code: number; stderr: string; stdout: string }) => e,
  );
  t.equal(out.code, 1, 'exit 1: invalid');
  const text = out.stderr + out.stdout;
  for (const line of [
    'routes[0].headers.request.set.X-Forwarded-For: "X-Forwarded-For" cannot be changed by a rule: a forwarding field portico writes itself',
    'routes[0].headers.request.set.Connection: "Connection" cannot be changed by a rule: a hop-by-hop field',
    'routes[0].headers.request.set.X-Real-IP: "X-Real-IP" cannot be changed by a rule: a forwarding field',
    'routes[0].headers.request.remove[0]: "Forwarded" cannot be changed by a rule',
    'routes[0].headers.request.remove[1]: "Transfer-Encoding" cannot be changed by a rule: a hop-by-hop field',
    'routes[0].headers.response.set.Keep-Alive: "Keep-Alive" cannot be changed by a rule: a hop-by-hop field',
    'routes[0].headers.response.set.X-Bad: must be printable ASCII without control characters',
  ]) t.ok(text.includes(line), line);
  t.match(text, /7 problems/, 'exactly these seven');
});
