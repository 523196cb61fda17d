/**
 * The command line as a user runs it (DESIGN §3): `node dist/cli.js` in a child process, its exit
 * codes, what it prints, and `run`'s signals (SIGTERM drains, SIGHUP reloads). Every listener is on
 * 127.0.0.1:0 except the admin port `health` must know up front (freePort()).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type http from 'node:http';
import net from 'node:net';
import { dirname, join } from 'node:path';
import t, { type Test } from 'tap';
import {
  ROOT, freePort, makeCA, proxyConfig, request, spawnPortico, startBackend, writePair, type Backend, type RouteSpec, type Spawned,
} from '../../test-support/index.js';
import { connectError, httpRequest, runCli } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** within fails loudly instead of hanging when `p` does not settle (a hang guard, not a speed check). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms}ms`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** HeldBackend answers only when the test releases a request. */
interface HeldBackend {
  backend: Backend;
  /** resolves once `n` requests have arrived */
  arrived(n: number): Promise<void>;
  /** answer the i-th request with 200 */
  release(i: number): void;
}

async function heldBackend(t: Test): Promise<HeldBackend> {
  const held: http.ServerResponse[] = [];
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  const backend = await startBackend('held', (_req, res) => {
    held.push(res);
    for (const w of waiting.filter((w) => held.length >= w.n)) w.resolve();
  });
  t.teardown(() => backend.close());
  return {
    backend,
    arrived: (n) => (held.length >= n ? Promise.resolve() : new Promise((resolve) => waiting.push({ n, resolve }))),
    release: (i) => held[i]!.writeHead(200, { 'content-type': 'text/plain' }).end('released\n'),
  };
}

/** writeConfig writes config.toml into a fresh test dir and returns its path. */
async function writeConfig(t: Test, toml: string): Promise<string> {
  const path = join(testDir(t), 'config.toml');
  await writeFile(path, toml);
  return path;
}

// tls = "self-signed" unless a test is about certificate files (the tls-sni test covers "auto").
const route = (origin: string, hosts = ['app.test'], name = 'app'): RouteSpec => ({ name, hosts, upstreams: [origin], tls: 'self-signed' });

/** start spawns `portico run` and waits until it serves (signal handlers are wired once /readyz answers). */
async function start(t: Test, configPath: string): Promise<Spawned> {
  const s = spawnPortico(['run', '--config', configPath]);
  t.teardown(() => {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  });
  await s.waitFor((l) => l.msg === 'portico ready');
  // `portico ready` is logged just before run() installs its signal handlers; one admin round trip
  // through the child's event loop guarantees they are installed.
  t.equal((await httpRequest({ port: s.portOf('admin'), path: '/readyz' })).status, 200, 'ready');
  return s;
}

t.test('--help, --version, unknown arguments', async (t) => {
  const [help, version, bad] = await Promise.all([runCli(['--help']), runCli(['--version']), runCli(['--frobnicate'])]);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage:/);
  for (const cmd of ['run', 'check', 'health']) t.match(help.stdout, new RegExp(`portico (\\[${cmd}\\]|${cmd}) `), `usage names ${cmd}`);
  t.equal(version.code, 0);
  t.match(version.stdout, new RegExp(`^portico ${VERSION.replace(/\./g, '\\.')}\\b`));
  t.equal(bad.code, 2, 'unknown argument: exit 2');
  t.match(bad.stderr, /unknown argument: --frobnicate/);
  t.equal(bad.stdout, '', 'nothing on stdout');
});

t.test('check on a valid config prints the plan and exits 0', async (t) => {
  const ca = await makeCA();
  const dir = testDir(t);
  const pair = await ca.issue(['a.test']);
  await writePair(join(dir, 'certs'), 'a.test', pair);
  const toml = proxyConfig([
    { name: 'web', hosts: ['a.test'], upstreams: ['http://127.0.0.1:3001', 'http://127.0.0.1:3002'] },
    { name: 'docs', hosts: ['b.test', 'c.test'], upstreams: ['http://127.0.0.1:3003'], tls: 'self-signed' },
  ]);
  await writeFile(join(dir, 'config.toml'), toml);
  const r = await runCli(['check', '--config', 'config.toml'], { cwd: dir });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /config\.toml: valid/);
  t.match(r.stdout, /listeners:\n\s+https\s+127\.0\.0\.1:0\b.*\n\s+http\s+127\.0\.0\.1:0\b.*\n\s+admin\s+127\.0\.0\.1:0\b/);
  t.match(r.stdout, /^\s+web\n\s+hosts\s+a\.test\n(?:.*\n)*?\s+upstreams\s+http:\/\/127\.0\.0\.1:3001, http:\/\/127\.0\.0\.1:3002\b/m);
  t.match(r.stdout, /^\s+docs\n\s+hosts\s+b\.test, c\.test\n(?:.*\n)*?\s+upstreams\s+http:\/\/127\.0\.0\.1:3003\b/m);
  const notAfter = new Date(new X509Certificate(pair.leaf).validTo).toISOString();
  t.match(r.stdout, new RegExp(`^\\s+a\\.test\\s+file certs/a\\.test\\.crt .*expires ${notAfter.replace(/\./g, '\\.')}`, 'm'), 'file source with expiry');
  t.match(r.stdout, /^\s+b\.test\s+self-signed\b/m);
  t.match(r.stdout, /^\s+c\.test\s+self-signed\b/m);
  t.notMatch(r.stdout, /PROXY protocol/, 'no PROXY protocol line without server.proxy_protocol');
  await writeFile(join(dir, 'config.toml'), toml.replace('[server]\n', '[server]\nproxy_protocol = ["10.0.0.0/8"]\n'));
  const pp = await runCli(['check', '--config', 'config.toml'], { cwd: dir });
  t.match(pp.stdout, /^\s+PROXY protocol \(v1\/v2\) required on https and http from 10\.0\.0\.0\/8 \(header within 10000 ms; optional on admin\)/m);
});

t.test('check on a config with several problems lists each with its key path and exits 1', async (t) => {
  const path = await writeConfig(
    t,
    [
      '[server]',
      'https = "127.0.0.1:0"',
      'shutdown_grace = "soon"',
      'colour = "blue"',
      '[[routes]]',
      'hosts = ["x.test"]',
      'upstreams = ["ftp://127.0.0.1:1"]',
      '',
    ].join('\n'),
  );
  const r = await runCli(['check', '--config', path]);
  t.equal(r.code, 1);
  t.match(r.stderr, /3 problems/);
  t.match(r.stderr, /^\s+- server\.shutdown_grace: .*soon/m);
  t.match(r.stderr, /^\s+- server\.colour: unknown key/m);
  t.match(r.stderr, /^\s+- routes\[0\]\.upstreams\[0\]: .*ftp/m);
  t.equal(r.stdout, '', 'no plan for an invalid config');
});

t.test('check: a missing file exits 2, a TOML syntax error exits 1 with line and column', async (t) => {
  const path = await writeConfig(t, '[server]\nhttps = "127.0.0.1:0"\nhttp = = "x"\n');
  const [missing, syntax] = await Promise.all([runCli(['check', '--config', join(dirname(path), 'nope.toml')]), runCli(['check', '--config', path])]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /nope\.toml/);
  t.equal(syntax.code, 1);
  t.match(syntax.stderr, /line 3, column \d+/);
});

t.test('the embedded config/config.toml passes check', async (t) => {
  const r = await runCli(['check', '--config', 'config/config.toml'], { cwd: ROOT });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /config\/config\.toml: valid/);
  t.match(r.stdout, /^\s+demo$/m);
  t.match(r.stdout, /^\s+localhost\s+self-signed\b/m);
});

t.test('run: SIGTERM lets in-flight requests finish, refuses new connections, exits 0', async (t) => {
  const held = await heldBackend(t);
  const s = await start(t, await writeConfig(t, proxyConfig([route(held.backend.origin)])));
  const port = s.portOf('https');
  const a = request({ port, servername: 'app.test' });
  const b = request({ port, servername: 'app.test' });
  await held.arrived(2);
  s.child.kill('SIGTERM');
  await s.waitFor((l) => l.msg === 'shutting down');
  held.release(0);
  const ra = await a;
  t.equal(ra.status, 200, 'in-flight request completed');
  t.equal(ra.body, 'released\n');
  t.equal(ra.headers.connection, 'close', 'draining responses close the connection');
  // The response above was handled after the SIGTERM handler closed the listeners, and the second
  // request still holds the process open: a refusal now is the closed listener, not an exit.
  t.equal(s.child.exitCode, null, 'still running while a request is in flight');
  t.equal(await connectError(port), 'ECONNREFUSED', 'new connections are refused');
  held.release(1);
  t.equal((await b).status, 200);
  t.equal(await within(s.exited, 10_000, 'exit after drain'), 0);
  t.ok(s.logs.some((l) => l.msg === 'stopped'), 'logs "stopped"');
});

t.test('run: shutdown_grace cuts a never-ending request and still exits 0', async (t) => {
  const held = await heldBackend(t);
  const s = await start(t, await writeConfig(t, proxyConfig([route(held.backend.origin)], { server: 'shutdown_grace = "300ms"' })));
  const pending = request({ port: s.portOf('https'), servername: 'app.test' }).then(
    (r) => r.status,
    (err: NodeJS.ErrnoException) => err.code ?? err.message,
  );
  await held.arrived(1);
  s.child.kill('SIGTERM');
  t.equal(await within(s.exited, 10_000, 'exit after shutdown_grace'), 0, 'exit 0 (the grace deadline is enforced)');
  t.match(await pending, /ECONNRESET|socket hang up/, 'the unfinished request was cut off');
  t.ok(s.logs.some((l) => l.msg === 'stopped'));
});

t.test('run: SIGHUP reloads; an invalid file keeps the running routes', async (t) => {
  const backend = await startBackend('b');
  t.teardown(() => backend.close());
  const path = await writeConfig(t, proxyConfig([route(backend.origin, ['one.test'], 'one')]));
  const s = await start(t, path);
  const port = s.portOf('https');
  t.equal((await request({ port, servername: 'two.test' })).status, 404, 'two.test not routed yet');

  await writeFile(path, proxyConfig([route(backend.origin, ['one.test'], 'one'), route(backend.origin, ['two.test'], 'two')]));
  s.child.kill('SIGHUP');
  await s.waitFor((l) => l.msg === 'config reloaded');
  t.equal(s.child.exitCode, null, 'SIGHUP does not stop the process');
  t.equal((await request({ port, servername: 'two.test' })).status, 200, 'new route served after reload');

  await writeFile(path, proxyConfig([{ ...route(backend.origin, ['one.test'], 'one'), upstreams: ['ftp://127.0.0.1:1'] }], { server: 'colour = "blue"' }));
  s.child.kill('SIGHUP');
  const failed = await s.waitFor((l) => String(l.msg).startsWith('config reload failed'));
  t.match(failed.problems, [/server\.colour/, /routes\[0\]\.upstreams\[0\]/], 'every problem logged with its key path');
  t.equal(s.child.exitCode, null);
  t.equal((await request({ port, servername: 'one.test' })).status, 200, 'old routes still served');
  t.equal((await request({ port, servername: 'two.test' })).status, 200);
  const status = JSON.parse((await httpRequest({ port: s.portOf('admin'), path: '/status.json' })).body) as { last_reload: { result: string; problems: string[] } };
  t.equal(status.last_reload.result, 'failure');
  t.equal(status.last_reload.problems.length, 2);
  const metrics = (await httpRequest({ port: s.portOf('admin'), path: '/metrics' })).body;
  t.match(metrics, /^portico_config_reloads_total\{result="failure"\} 1$/m);
  t.match(metrics, /^portico_config_reloads_total\{result="success"\} 1$/m);
});

t.test('health: 0 against a running portico, 1 when nothing listens', async (t) => {
  const adminPort = await freePort();
  const path = await writeConfig(t, proxyConfig([route('http://127.0.0.1:9')]).replace('listen = "127.0.0.1:0"', `listen = "127.0.0.1:${adminPort}"`));
  const s = await start(t, path);
  t.equal(s.portOf('admin'), adminPort);
  const up = await runCli(['health', '--config', path]);
  t.equal(up.code, 0, up.stderr);
  t.match(up.stdout, /healthy/);
  s.child.kill('SIGTERM');
  t.equal(await within(s.exited, 10_000, 'exit'), 0);
  const down = await runCli(['health', '--config', path]);
  t.equal(down.code, 1);
  t.match(down.stderr, new RegExp(`127\\.0\\.0\\.1:${adminPort}.*unreachable|unreachable.*${adminPort}`));
});

t.test('run: config problems exit 1 and are listed on stderr', async (t) => {
  const path = await writeConfig(t, proxyConfig([{ ...route('http://127.0.0.1:9'), upstreams: ['ftp://127.0.0.1:1'] }], { server: 'shutdown_grace = "soon"' }));
  const r = await runCli(['run', '--config', path]);
  t.equal(r.code, 1);
  t.match(r.stderr, /server\.shutdown_grace/);
  t.match(r.stderr, /routes\[0\]\.upstreams\[0\]/);
});

t.test('run: an https port already in use exits 1 naming the address', async (t) => {
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
  const port = (squatter.address() as net.AddressInfo).port;
  const path = await writeConfig(t, proxyConfig([route('http://127.0.0.1:9')]).replace('https = "127.0.0.1:0"', `https = "127.0.0.1:${port}"`));
  const r = await runCli(['run', '--config', path]);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`));
  t.match(r.stderr, /EADDRINUSE|in use/);
});
