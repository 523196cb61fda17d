/**
 * Hot reload (issue 13) against a real portico process and real signals: 50 SIGHUPs under load
 * (keep-alive and new connections) lose nothing and leak no file descriptor; a bad file keeps the
 * running config (`portico reload` lists every problem, exit 1); WebSockets on unchanged routes
 * survive reloads while one on a removed route gets 1001 after the grace period; a moved https
 * listener is bound before the old one closes. In-process: coalesced reloads, no timers left behind.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type http from 'node:http';
import t, { type Test } from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import {
  failures, freePort, proxyConfig, request, runLoad, spawnReady, startBackend, startProxy, waitUntil, type Backend, type RouteSpec, type Spawned,
} from '../../test-support/index.js';
import { connectError, httpRequest, runCli } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const route = (b: Backend, host: string, name: string, extra: Partial<RouteSpec> = {}): RouteSpec => ({ name, hosts: [host], upstreams: [b.origin], tls: 'self-signed', ...extra });
const reloads = (s: { logs: Array<Record<string, unknown>> }, msg = 'config reloaded'): number => s.logs.filter((l) => l.msg === msg).length;

const spawn = spawnReady;

/** hup writes the file, sends SIGHUP and waits for the reload's log line (success or failure). */
async function hup(s: Spawned & { configPath: string }, toml: string): Promise<Record<string, unknown>> {
  const done = reloads(s) + reloads(s, 'config reload failed; keeping the running config');
  await writeFile(s.configPath, toml);
  s.child.kill('SIGHUP');
  await waitUntil(() => reloads(s) + reloads(s, 'config reload failed; keeping the running config') > done, 10_000, 'reload');
  return s.logs.filter((l) => l.msg === 'config reloaded' || l.msg === 'config reload failed; keeping the running config').at(-1)!;
}

const fdCount = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

t.test('50 SIGHUPs alternating two configs under load: 0 failed requests, routes follow, no fd left behind', async (t) => {
  const stable = await startBackend('stable');
  t.teardown(() => stable.close());
  const two = await startBackend('two');
  t.teardown(() => two.close());
  const three = await startBackend('three');
  t.teardown(() => three.close());
  const extra = { timeouts: 'upstream_idle = "200ms"', log: 'access = false' };
  const configA = proxyConfig([route(stable, 'stable.test', 'stable'), route(two, 'two.test', 'two')], extra);
  const configB = proxyConfig([route(stable, 'stable.test', 'stable'), route(three, 'three.test', 'three')], extra);
  const s = await spawn(t, testDir(t), configA);
  const port = s.portOf('https');
  // warm up (certificates for both configs generated and cached), then settle and count fds
  await hup(s, configB);
  await hup(s, configA);
  t.equal((await request({ port, servername: 'two.test' })).status, 200);
  await new Promise((r) => setTimeout(r, 600));
  const fdsBefore = fdCount(s.child.pid!);

  let stop = false;
  const loads = Promise.all([
    runLoad({ port, servername: 'stable.test', total: 1_000_000, concurrency: 4, until: () => stop }),
    runLoad({ port, servername: 'stable.test', total: 1_000_000, concurrency: 2, until: () => stop, fresh: true }),
  ]);
  for (let i = 0; i < 50; i++) {
    const useB = i % 2 === 0;
    const line = await hup(s, useB ? configB : configA);
    if (line.msg !== 'config reloaded') t.fail(`reload ${i} failed`, { line });
    const [r2, r3] = await Promise.all([request({ port, servername: 'two.test' }), request({ port, servername: 'three.test' })]);
    if (r2.status !== (useB ? 404 : 200) || r3.status !== (useB ? 200 : 404)) t.fail(`after reload ${i}: two.test ${r2.status}, three.test ${r3.status}`);
  }
  stop = true;
  const [keepAlive, fresh] = await loads;
  t.ok(keepAlive.length > 100 && fresh.length > 20, `load ran throughout (${keepAlive.length} keep-alive, ${fresh.length} new-connection requests)`);
  t.same(failures([...keepAlive, ...fresh]), [], '0 failed requests');
  t.equal(reloads(s), 52, 'every reload succeeded');
  await waitUntil(() => fdCount(s.child.pid!) <= fdsBefore, 10_000, `fds back to ${fdsBefore}`).catch(() => undefined);
  t.ok(fdCount(s.child.pid!) <= fdsBefore, `no file descriptor left behind (${fdsBefore} before, ${fdCount(s.child.pid!)} after)`);
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0);
});

t.test('an invalid file keeps the running config; `portico reload` lists every problem and exits 1; the fixed file applies', async (t) => {
  const b = await startBackend('b');
  t.teardown(() => b.close());
  const adminPort = await freePort();
  const good = (hosts: string) => proxyConfig([route(b, hosts, 'app')]).replace('listen = "127.0.0.1:0"', `listen = "127.0.0.1:${adminPort}"`);
  const s = await spawn(t, testDir(t), good('app.test'));
  const port = s.portOf('https');
  const bad = good('app.test')
    .replace('[server.timeouts]', '[server.timeouts]\nheader = "soon"')
    .replace('[log]', '[log]\nlevel = "loud"')
    .replace('upstreams = [', 'retries = -1\nupstreams = [');
  await writeFile(s.configPath, bad);
  const cli = await runCli(['reload', '--config', s.configPath]);
  t.equal(cli.code, 1, 'portico reload exits 1');
  t.match(cli.stderr, /reload failed, the running config is kept; 3 problems/);
  t.match(cli.stderr, /server\.timeouts\.header: "soon" is not a duration/);
  t.match(cli.stderr, /log\.level: must be one of/);
  t.match(cli.stderr, /routes\[0\]\.retries: must be an integer 0\.\.10, not -1/);
  // the access/event log is flushed within 50 ms of the line (LineSink), not before the admin answer
  const failed = await s.waitFor((l) => l.msg === 'config reload failed; keeping the running config', 2_000);
  t.match(failed, { level: 'error', problems: [/server\.timeouts\.header/, /log\.level/, /routes\[0\]\.retries/] }, 'the log names every problem');
  t.equal((await request({ port, servername: 'app.test' })).status, 200, 'the old routes keep serving');
  const status = JSON.parse((await httpRequest({ port: adminPort, path: '/status.json' })).body);
  t.match(status.last_reload, { result: 'failure', problems: [/header/, /level/, /retries/] });
  t.equal(s.child.exitCode, null, 'alive');

  await writeFile(s.configPath, good('new.test'));
  const ok = await runCli(['reload', '--config', s.configPath]);
  t.equal(ok.code, 0, ok.stderr);
  t.match(ok.stdout, /reloaded \(snapshot version \d+\)/);
  t.equal((await request({ port, servername: 'new.test' })).status, 200, 'the fixed file applies');
  t.equal((await request({ port, servername: 'app.test' })).status, 404);
  const status2 = JSON.parse((await httpRequest({ port: adminPort, path: '/status.json' })).body);
  t.match(status2.last_reload, { result: 'success', problems: [] });
});

/** echoServer: a WebSocket echo upstream. */
async function echoServer(t: Test, name: string): Promise<{ origin: string }> {
  const b = await startBackend(name);
  const wss = new WebSocketServer({ server: b.server as http.Server });
  wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(binary ? m : `${name}:${m.toString()}`)));
  t.teardown(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await b.close();
  });
  return { origin: b.origin };
}

function openWs(port: number, host: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { servername: host, headers: { host }, rejectUnauthorized: false } as WebSocket.ClientOptions);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const onClose = () => reject(new Error('closed'));
    ws.once('message', (m) => {
      ws.off('close', onClose);
      resolve(m.toString());
    });
    ws.once('close', onClose);
    ws.send(text);
  });
}

t.test('a WebSocket on an unchanged route survives 10 reloads; one on a removed route is closed with 1001 after the grace period', async (t) => {
  const live = await echoServer(t, 'live');
  const doomed = await echoServer(t, 'doomed');
  const wsRoute = (): RouteSpec => ({ name: 'ws', hosts: ['ws.test'], upstreams: [live.origin], tls: 'self-signed' });
  const goneRoute: RouteSpec = { name: 'gone', hosts: ['gone.test'], upstreams: [doomed.origin], tls: 'self-signed' };
  const server = 'shutdown_grace = "300ms"';
  const withGone = proxyConfig([wsRoute(), goneRoute], { server });
  const s = await spawn(t, testDir(t), withGone);
  const port = s.portOf('https');
  const ws = await openWs(port, 'ws.test');
  t.teardown(() => ws.terminate());
  const gone = await openWs(port, 'gone.test');
  t.teardown(() => gone.terminate());
  t.equal(await echo(gone, 'hi'), 'doomed:hi');
  const goneClosed = new Promise<number>((r) => gone.once('close', (code) => r(code)));

  // a large binary message in flight while the route is removed must arrive whole
  const big = Buffer.alloc(2 * 1024 * 1024, 7);
  const bigBack = new Promise<Buffer>((r) => gone.once('message', (m) => r(m as Buffer)));
  gone.send(big);
  await hup(s, proxyConfig([wsRoute()], { server }));
  t.equal(gone.readyState, WebSocket.OPEN, 'still open right after the reload (the grace period runs)');
  t.equal((await bigBack).length, big.length, 'a message relayed during the grace period arrived whole');
  t.equal(await goneClosed, 1001, 'closed with 1001 (going away) after the grace period');

  for (let i = 0; i < 10; i++) {
    const variant = i % 2 === 0 ? proxyConfig([wsRoute(), { ...goneRoute, name: `other${i}`, hosts: [`other${i}.test`] }], { server }) : proxyConfig([wsRoute()], { server });
    const line = await hup(s, variant);
    t.equal(line.msg, 'config reloaded');
    t.equal(await echo(ws, `m${i}`), `live:m${i}`, `echo after reload ${i + 1}`);
  }
  t.equal(ws.readyState, WebSocket.OPEN, 'the WebSocket on the unchanged route is still open');
  const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
  s.child.kill('SIGTERM');
  t.equal(await closed, 1001, 'shutdown closes it with 1001');
  t.equal(await s.exited, 0);
});

t.test('moving server.https: the new port serves, a request in flight on the old one completes, then the old port refuses', async (t) => {
  const held: http.ServerResponse[] = [];
  const slow = await startBackend('slow', (req, res) => {
    if (req.url === '/slow') held.push(res);
    else res.writeHead(200).end('fast\n');
  });
  t.teardown(() => slow.close());
  const [p1, p2] = [await freePort(), await freePort()];
  const config = (p: number) => proxyConfig([route(slow, 'app.test', 'app')]).replace('https = "127.0.0.1:0"', `https = "127.0.0.1:${p}"`);
  const s = await spawn(t, testDir(t), config(p1));
  const inFlight = request({ port: p1, servername: 'app.test', path: '/slow' });
  await waitUntil(() => held.length === 1, 5000, 'slow request arrived');
  const line = await hup(s, config(p2));
  t.equal(line.msg, 'config reloaded');
  t.match(s.logs.filter((l) => l.msg === 'listening' && l.listener === 'https').at(-1), { address: `127.0.0.1:${p2}` });
  t.equal((await request({ port: p2, servername: 'app.test' })).body, 'fast\n', 'the new port serves');
  held[0]!.writeHead(200).end('slow done\n');
  t.equal((await inFlight).body, 'slow done\n', 'the request in flight on the old port completed');
  await waitUntil(async () => (await connectError(p1)) === 'ECONNREFUSED', 5000, 'old port closed').catch(() => undefined);
  t.equal(await connectError(p1), 'ECONNREFUSED', 'the old port refuses new connections');

  // a port that cannot be bound fails the reload as a whole: the running listener stays
  const blocker = await startBackend('blocker');
  t.teardown(() => blocker.close());
  const failed = await hup(s, config(blocker.port));
  t.match(failed, { msg: 'config reload failed; keeping the running config', problems: [/https.*EADDRINUSE|EADDRINUSE.*https|address/i] });
  t.equal((await request({ port: p2, servername: 'app.test' })).body, 'fast\n', 'still serving on the old address');
});

t.test('in-process: reloads asked for during a reload coalesce (the last file wins); 50 reloads leave no timer or socket behind', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const b = await startBackend('b');
  t.teardown(() => b.close());
  // health probes on (with a long interval: one pending timer per prober) to exercise their ref-counting
  const cfg = (host: string) => proxyConfig([
    { name: 'one', hosts: ['one.test'], upstreams: [a.origin], tls: 'self-signed', health: 'interval = "1h"' },
    { name: host, hosts: [`${host}.test`], upstreams: [b.origin], tls: 'self-signed', health: 'interval = "1h"' },
  ], { log: 'access = false', timeouts: 'upstream_idle = "100ms"' });
  const p = await startProxy(testDir(t), cfg('x'));
  t.teardown(() => p.close());
  await p.writeConfig(cfg('y'));
  await p.portico.reload();
  t.equal((await request({ port: p.port, servername: 'y.test' })).status, 200);
  const count = () => {
    const m = new Map<string, number>();
    for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
    return m;
  };
  await new Promise((r) => setTimeout(r, 400)); // idle upstream connections closed (upstream_idle)
  const before = count();

  const reloadsBefore = p.logs.filter((l) => l.msg === 'config reloaded').length;
  writeFileSync(p.configPath, cfg('slowgen')); // a new host: its certificate is generated during the build
  const first = p.portico.reload();
  await new Promise((r) => setTimeout(r, 20)); // the first one is running now
  writeFileSync(p.configPath, cfg('c'));
  const second = p.portico.reload();
  writeFileSync(p.configPath, cfg('d'));
  const third = p.portico.reload();
  t.not(second, first, 'a reload asked for while one runs is queued behind it');
  t.equal(third, second, 'a reload asked for while one is queued joins it');
  const results = await Promise.all([first, second]);
  t.match(results, [{ result: 'success' }, { result: 'success' }]);
  t.equal(p.logs.filter((l) => l.msg === 'config reloaded').length, reloadsBefore + 2, 'three requests, two reloads');
  t.equal((await request({ port: p.port, servername: 'd.test' })).status, 200, 'the last file won');
  t.equal((await request({ port: p.port, servername: 'c.test' })).status, 404);

  for (let i = 0; i < 50; i++) {
    await p.writeConfig(cfg(i % 2 === 0 ? 'x' : 'y'));
    const r = await p.portico.reload();
    if (r.result !== 'success') t.fail(`reload ${i}`, { r });
  }
  t.equal((await request({ port: p.port, servername: 'y.test' })).status, 200);
  await new Promise((r) => setTimeout(r, 400));
  const after = count();
  for (const kind of ['Timeout', 'TCPServerWrap', 'TCPSocketWrap']) {
    t.ok((after.get(kind) ?? 0) <= (before.get(kind) ?? 0), `${kind}: ${before.get(kind) ?? 0} before, ${after.get(kind) ?? 0} after 50 reloads`);
  }
});
