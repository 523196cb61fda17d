/**
 * Chaos (issue 11): three real upstream processes under a steady keep-alive GET load. One is
 * SIGKILLed and restarted: no client request fails, it leaves the pool and comes back. One hangs
 * (SIGSTOP: the kernel still accepts connections, nothing answers): only requests sent before it was
 * dropped may time out; every later request avoids it; after SIGCONT it is restored.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ROOT, failures, freePort, proxyConfig, runLoad, startProxy, waitUntil, type ProxyHandle } from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

const APP = join(ROOT, 'test-support', 'upstream-app.mjs');

/** spawnApp starts test-support/upstream-app.mjs on `port` and waits until it listens. */
async function spawnApp(t: Test, name: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [APP], { env: { ...process.env, PORT: String(port), NAME: name }, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  return child;
}

const killed = (c: ChildProcess): Promise<void> => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r() : c.once('exit', () => r())));

function transitionsOf(p: ProxyHandle, origin: string): Array<Record<string, unknown>> {
  return p.logs.filter((l) => (l.msg === 'upstream down' || l.msg === 'upstream up') && l.upstream === origin);
}

async function threeApps(t: Test): Promise<{ ports: number[]; apps: ChildProcess[]; origins: string[] }> {
  const ports = [await freePort(), await freePort(), await freePort()];
  const apps = await Promise.all(ports.map((port, i) => spawnApp(t, `app${i}`, port)));
  return { ports, apps, origins: ports.map((port) => `http://127.0.0.1:${port}`) };
}

t.test('SIGKILL of one upstream process under load costs the clients nothing; restarted, it rejoins', async (t) => {
  const { ports, apps, origins } = await threeApps(t);
  const p = await startProxy(testDir(t), proxyConfig(
    [{ hosts: ['app.test'], upstreams: origins, health: 'interval = "100ms", timeout = "500ms", unhealthy_threshold = 2, healthy_threshold = 2' }],
    { timeouts: 'upstream_response = "5s"', log: 'access = false' },
  ));
  t.teardown(() => p.close());
  const victim = origins[2]!;
  const outcomes = await runLoad({
    port: p.port,
    servername: 'app.test',
    total: 3000,
    concurrency: 8,
    before: async (i) => {
      if (i === 500) {
        apps[2]!.kill('SIGKILL');
        await killed(apps[2]!);
      }
      if (i === 2000) apps[2] = await spawnApp(t, 'app2', ports[2]!);
    },
  });
  const failed = failures(outcomes);
  t.equal(failed.length, 0, '0 failed client requests', { failed: failed.slice(0, 5) });
  t.equal(outcomes.length, 3000);
  t.match(transitionsOf(p, victim)[0], { msg: 'upstream down' }, 'the killed upstream was dropped');
  await waitUntil(() => transitionsOf(p, victim).some((l) => l.msg === 'upstream up'), 10_000, 'restored after restart');
  const after = await runLoad({ port: p.port, servername: 'app.test', total: 30, concurrency: 3 });
  t.equal(failures(after).length, 0);
  t.ok(after.some((o) => o.upstream === 'app2'), 'the restarted upstream serves again');
  const retried = p.portico.metrics.upstreamRetries.get();
  t.ok((await retried).values.some((v) => v.value > 0), 'the lost requests were retried elsewhere');
});

t.test('an upstream that hangs: only requests sent before it was dropped may time out; later ones avoid it', async (t) => {
  const { apps, origins } = await threeApps(t);
  const p = await startProxy(testDir(t), proxyConfig(
    [{ hosts: ['app.test'], upstreams: origins, health: 'interval = "100ms", timeout = "400ms", unhealthy_threshold = 2, healthy_threshold = 2' }],
    { timeouts: 'upstream_response = "2s"', log: 'access = false' },
  ));
  t.teardown(() => p.close());
  const victim = origins[1]!;
  const outcomes = await runLoad({
    port: p.port,
    servername: 'app.test',
    total: 2000,
    concurrency: 8,
    before: (i) => {
      if (i === 300) apps[1]!.kill('SIGSTOP');
    },
  });
  const down = transitionsOf(p, victim).find((l) => l.msg === 'upstream down');
  t.ok(down, 'the hung upstream was dropped');
  const droppedAt = Date.parse(down!.time as string);
  const failed = failures(outcomes);
  t.ok(failed.every((f) => f.status === 504), 'failures are upstream timeouts', { failed: failed.slice(0, 5) });
  t.ok(failed.every((f) => f.sent <= droppedAt), 'every failed request was sent before the upstream was dropped');
  const later = outcomes.filter((o) => o.sent > droppedAt);
  t.ok(later.length > 500, `most of the load ran after the drop (${later.length})`);
  t.ok(later.every((o) => o.status === 200 && o.upstream !== 'app1'), 'later requests all succeed on the other upstreams');
  t.ok(failed.length <= 16, `only the requests in flight on it failed (${failed.length})`);
  apps[1]!.kill('SIGCONT');
  await waitUntil(() => transitionsOf(p, victim).some((l) => l.msg === 'upstream up'), 10_000, 'restored after SIGCONT');
});
