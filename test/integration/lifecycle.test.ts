// build(config) → runtime, swap(runtime), retire(old), DataPlane.apply(snapshot): swapping runtimes
// under a running client load changes what is served, closes no listener and fails no request.
import https from 'node:https';
import t from 'tap';
import { loadConfig } from '../../src/config/index.js';
import { proxyConfig, request, startBackend, startProxy } from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

t.test('a runtime swap under client load: 0 failed requests, the new route served, listener untouched', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const b = await startBackend('b');
  t.teardown(() => b.close());
  const dir = testDir(t);
  const before = proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }]);
  const after = proxyConfig([
    { hosts: ['localhost'], upstreams: [a.origin] },
    { hosts: ['new.test'], upstreams: [b.origin] },
  ]);
  const p = await startProxy(dir, before);
  t.teardown(() => p.close());
  const https0 = p.portico.addresses.https.port;

  t.equal((await request({ port: p.port, servername: 'new.test' })).status, 404, 'new.test is not routed yet');

  // steady load: 4 keep-alive clients and 2 that open a new connection per request
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 4 });
  t.teardown(() => keepAlive.destroy());
  let stop = false;
  let ok = 0;
  const failures: string[] = [];
  const client = async (agent: https.Agent | false) => {
    while (!stop) {
      try {
        const r = await request({ port: p.port, agent });
        if (r.status === 200) ok++;
        else failures.push(`status ${r.status}`);
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
  };
  const clients = [keepAlive, keepAlive, keepAlive, keepAlive, false as const, false as const].map(client);

  const versions: number[] = [];
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const text = i % 2 === 0 ? after : before;
    await p.writeConfig(text);
    const runtime = await p.portico.buildRuntime(await loadConfig(p.configPath));
    p.portico.swap(runtime);
    versions.push(p.portico.dataPlane!.version);
  }
  await p.writeConfig(after);
  p.portico.swap(await p.portico.buildRuntime(await loadConfig(p.configPath)));
  await new Promise((r) => setTimeout(r, 50));
  stop = true;
  await Promise.all(clients);

  t.same(failures, [], 'no request failed during the swaps');
  t.ok(ok > 50, `requests were served during the swaps (${ok})`);
  t.same(versions, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'every swap applied a new snapshot version');
  const r = await request({ port: p.port, servername: 'new.test' });
  t.equal(r.status, 200);
  t.equal(r.body, 'b\n', 'the new route is served');
  t.equal(p.portico.addresses.https.port, https0, 'same listener');
  t.equal(p.portico.inFlight, 0);
});

t.test('retire stops the old runtime; upstream connections survive the swap', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }]));
  t.teardown(() => p.close());
  await request({ port: p.port });
  const acceptedBefore = a.accepted;
  const old = p.portico.publisher.runtime!;
  const next = await p.portico.buildRuntime(await loadConfig(p.configPath));
  t.equal(old.running, true);
  p.portico.swap(next);
  t.equal(old.running, false, 'old runtime retired');
  t.ok(old.signal.aborted, 'its abort signal fired');
  t.equal(next.running, true, 'new runtime started');
  for (let i = 0; i < 5; i++) await request({ port: p.port });
  t.equal(a.accepted, acceptedBefore, 'the warm upstream connection was reused after the swap');
});

t.test('a failed build leaves the running runtime in place', async (t) => {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin] }]));
  t.teardown(() => p.close());
  const current = p.portico.publisher.runtime;
  await p.writeConfig(proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin], tls: 'file' }]));
  await t.rejects(p.portico.buildRuntime(await loadConfig(p.configPath)), { code: 'PORTICO_ERR_CONFIG_INVALID' });
  t.equal(p.portico.publisher.runtime, current, 'nothing swapped');
  t.equal((await request({ port: p.port })).status, 200);
});
