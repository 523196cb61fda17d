// The route features with `server.workers = 2` (issue 29): the snapshot carries them over IPC to each
// data-plane process (compression, HSTS, header rules, redirect routes, the balancing policy), and a
// rate limit is per process: a client whose connections land on both gets at most 2 × the limit.
import zlib from 'node:zlib';
import t from 'tap';
import { proxyConfig, request, spawnReady, startBackend } from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

t.test('features in data-plane workers', async (t) => {
  const body = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ i, name: `item ${i}` })) });
  const a = await startBackend('a', (_req, res) => res.writeHead(200, { 'content-type': 'application/json', server: 'app' }).end(body));
  t.teardown(() => a.close());
  const s = await spawnReady(t, testDir(t), proxyConfig([
    { hosts: ['localhost'], upstreams: [a.origin], extra: 'balance = "least_requests"\ncompress = ["gzip"]\nhsts = "max-age=600"\nrate_limit = "2 in 1m"\n[routes.headers]\nresponse = { remove = ["Server"] }' },
    { hosts: ['example.test'], upstreams: [], extra: 'redirect = "https://www.example.test"' },
  ], { server: 'workers = 2' }));
  const port = s.portOf('https');
  const statuses: number[] = [];
  let checked = false;
  for (let i = 0; i < 6; i++) {
    // a new connection each time: the kernel picks the worker
    const r = await request({ port, headers: { 'accept-encoding': 'gzip' } });
    statuses.push(r.status);
    if (r.status === 200 && !checked) {
      checked = true;
      t.equal(r.headers['content-encoding'], 'gzip');
      t.equal(zlib.gunzipSync(r.raw!).toString(), body, 'compressed in the worker, decodes to the upstream\'s body');
      t.equal(r.headers['strict-transport-security'], 'max-age=600');
      t.equal(r.headers.server, undefined);
    }
  }
  const allowed = statuses.filter((x) => x === 200).length;
  t.ok(allowed >= 2 && allowed <= 4, `per process: between the limit (2) and 2 × the limit were allowed (${allowed} of 6)`);
  t.same(statuses.filter((x) => x !== 200 && x !== 429), [], 'the others got 429');
  const redirect = await request({ port, servername: 'example.test', path: '/p?q=1' });
  t.equal(redirect.status, 308);
  t.equal(redirect.headers.location, 'https://www.example.test/p?q=1');
  const plain = await httpRequest({ port: s.portOf('http'), path: '/x', headers: { host: 'example.test' } });
  t.equal(plain.headers.location, 'https://www.example.test/x', 'the plain listener (in the control plane) too');
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0);
});
