// Balancing by load (issue 29) with real upstreams: one slow (300 ms per request, like a sync
// FastAPI endpoint busy with a slow query) and one fast, under concurrency. round_robin sends the
// slow one half the requests; least_requests and p2c see it busy and send it few. Also: a retry still
// avoids the upstream that failed, and `check` and /status.json name the policy.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import https from 'node:https';
import t from 'tap';
import { CLI, proxyConfig, request, startProxy } from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

interface Counted {
  origin: string;
  served: number;
  close(): Promise<void>;
}

/** upstream answers every request after `delay` ms, counting them. */
async function upstream(name: string, delay: number): Promise<Counted> {
  const c = { served: 0 } as Counted;
  const server = http.createServer((_req, res) => {
    c.served++;
    const answer = () => res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name }).end(name);
    if (delay > 0) setTimeout(answer, delay);
    else answer();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  c.origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  c.close = () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())));
  return c;
}

/** drive runs `clients` concurrent loops of sequential requests, `each` per loop, on kept-alive connections. */
async function drive(port: number, clients: number, each: number): Promise<number[]> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: clients });
  const statuses: number[] = [];
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let i = 0; i < each; i++) statuses.push((await request({ port, agent })).status);
  }));
  agent.destroy();
  return statuses;
}

for (const policy of ['round_robin', 'least_requests', 'p2c'] as const) {
  t.test(`${policy}: one slow (300 ms) and one fast upstream, 6 concurrent clients`, async (t) => {
    const slow = await upstream('slow', 300);
    t.teardown(() => slow.close());
    const fast = await upstream('fast', 0);
    t.teardown(() => fast.close());
    const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [slow.origin, fast.origin], extra: `balance = "${policy}"` }]));
    t.teardown(() => p.close());
    const statuses = await drive(p.port, 6, 8);
    t.same([...new Set(statuses)], [200], 'every request answered 200');
    const share = slow.served / (slow.served + fast.served);
    t.equal(slow.served + fast.served, 48);
    if (policy === 'round_robin') {
      t.ok(share >= 0.4 && share <= 0.6, `round-robin: the slow upstream got half (${slow.served} of 48)`);
    } else {
      t.ok(share <= 0.3, `${policy}: the busy slow upstream got a small share (${slow.served} of 48)`);
    }
  });
}

t.test('least_requests: with equal upstreams the load is shared evenly; a retry avoids the one that failed', async (t) => {
  const a = await upstream('a', 20);
  t.teardown(() => a.close());
  const b = await upstream('b', 20);
  t.teardown(() => b.close());
  // c refuses connections: its port is closed
  const gone = await upstream('gone', 0);
  await gone.close();
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [gone.origin, a.origin, b.origin], extra: 'balance = "least_requests"', passive: 'max_fails = 0' }]));
  t.teardown(() => p.close());
  const statuses = await drive(p.port, 4, 10);
  t.same([...new Set(statuses)], [200], 'the refusing upstream never costs a client its request (retried elsewhere)');
  t.ok(Math.abs(a.served - b.served) <= 10, `a and b share the load (${a.served} / ${b.served})`);
});

t.test('check prints the policy; /status.json shows it', async (t) => {
  const a = await upstream('a', 0);
  t.teardown(() => a.close());
  const dir = testDir(t);
  const toml = proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin], extra: 'balance = "p2c"' }, { hosts: ['x.test'], upstreams: [a.origin], extra: 'balance = "least_requests"' }]);
  await writeFile(join(dir, 'check.toml'), toml);
  const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'check', '--config', join(dir, 'check.toml')]);
  t.match(stdout, /upstreams {2}http:\/\/127\.0\.0\.1:\d+ {2}\(p2c: the less busy of two at random, 2 retries\)/);
  t.match(stdout, /\(least requests in flight, 2 retries\)/);
  const p = await startProxy(dir, toml);
  t.teardown(() => p.close());
  const status = await new Promise<Record<string, unknown>>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: p.adminPort, path: '/status.json' }, (res) => {
      let s = '';
      res.on('data', (c: Buffer) => (s += c.toString()));
      res.on('end', () => resolve(JSON.parse(s) as Record<string, unknown>));
    }).on('error', reject);
  });
  t.same((status.routes as Array<{ balance: string }>).map((r) => r.balance), ['p2c', 'least_requests']);
});
