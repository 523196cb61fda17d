/**
 * Issue 23, items 2 and 3 (HTTP/1.1): a client that closes mid-request cancels its upstream request
 * at once, and pipelined requests are answered in order, whole, whatever their size and however fast
 * the client reads, one at a time per connection, never blamed on the upstream (DESIGN §8).
 *
 * The pipelining bug: three pipelined GETs with responses of 16 KiB or more on one connection tripped
 * an undici assertion (`ERR_ASSERTION … assert(currentParser === null)`) for the third request; it
 * was answered 502 and counted against the upstream: 10 such connections ejected both upstreams, and
 * under a slow reader 29 of 136 normal requests got 503. With 1 MiB responses one request stayed in
 * flight more than 70 s after its client left, holding 363,520 unread bytes, with no access line.
 */
import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';
import {
  accessLines, assertRoutesIntact, assertionLines, bodyFor, inFlight, proxyConfig, rawH1, rawHeader, startProxy, startRecorder, waitUntil,
  type ProxyHandle, type Recorded, type Recorder,
} from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

/** ABORT_WITHIN: the spec says 1 s; 1.5 s leaves room for a loaded CI machine. */
const ABORT_WITHIN = 1500;

async function setup(t: Test): Promise<{ a: Recorder; b: Recorder; p: ProxyHandle }> {
  const a = await startRecorder('a');
  t.teardown(() => a.close());
  const b = await startRecorder('b');
  t.teardown(() => b.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin, b.origin], passive: 'max_fails = 3, fail_window = "10s"' }], { server: 'shutdown_grace = "1s"' }));
  t.teardown(() => p.close());
  return { a, b, p };
}

const seenBy = (recs: Recorder[], prefix: string): Recorded[] => recs.flatMap((r) => r.requests.filter((q) => q.url.startsWith(prefix))).sort((x, y) => x.at - y.at);

t.test('HTTP/1.1 client close', async (t) => {
  const s = await setup(t);
  const cases: Array<{ name: string; path: string; send: (path: string) => string; ready: (c: Awaited<ReturnType<typeof rawH1>>, r: Recorded) => boolean }> = [
    { name: 'before the upstream answered', path: '/h1-close-head?delay=3000', send: (p) => `GET ${p} HTTP/1.1\r\nHost: localhost\r\n\r\n`, ready: () => true },
    {
      name: 'mid response body', path: '/h1-close-body?size=1048576&trickle=50&chunk=4096',
      send: (p) => `GET ${p} HTTP/1.1\r\nHost: localhost\r\n\r\n`, ready: (c) => c.received > 0,
    },
    {
      name: 'mid request body (a declared 1 MiB body, 16 KiB sent)', path: '/h1-close-upload',
      send: (p) => `POST ${p} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1048576\r\n\r\n${'x'.repeat(16 * 1024)}`, ready: () => true,
    },
  ];
  for (const k of cases) {
    t.test(`a client that closes ${k.name}: the upstream request is aborted within 1 s, one 499 line`, async (t) => {
      const prefix = k.path.split('?')[0]!;
      const c = await rawH1(s.p.port);
      c.write(k.send(k.path));
      const r = await Promise.race([s.a.waitFor((q) => q.url === k.path), s.b.waitFor((q) => q.url === k.path)]);
      await waitUntil(() => k.ready(c, r), 5000, 'ready to close');
      const at = performance.now();
      c.destroy();
      await waitUntil(() => r.abortedAt !== null || r.finishedAt !== null, ABORT_WITHIN + 1500).catch(() => undefined);
      t.ok(r.abortedAt !== null, 'the upstream saw its request aborted');
      if (r.abortedAt !== null) t.ok(r.abortedAt - at < ABORT_WITHIN, `within 1 s (+ CI margin): ${Math.round(r.abortedAt - at)} ms`);
      await waitUntil(() => accessLines(s.p.logs, prefix).length > 0, 3000).catch(() => undefined);
      const lines = accessLines(s.p.logs, prefix);
      t.equal(lines.length, 1, 'exactly one access line', { lines });
      t.match(lines[0], { status: 499, attempts: 1, tls_version: /^TLSv1\.[23]$/ }, 'logged 499, one attempt, with the TLS version the gone connection had');
      t.equal(seenBy([s.a, s.b], prefix).length, 1, 'one upstream request (no retry)');
      await assertRoutesIntact(t, s.p);
    });
  }
});

/** pipeline writes `n` GETs in one write (sizes cycling through `sizes`), tagged with `client`. */
function pipelined(client: string, sizes: number[], n: number): { bytes: string; urls: string[]; sizes: number[] } {
  const urls: string[] = [];
  const sz: number[] = [];
  let bytes = '';
  for (let i = 0; i < n; i++) {
    const size = sizes[i % sizes.length]!;
    const url = `/pipe-${client}-${i}?size=${size}`;
    urls.push(url);
    sz.push(size);
    bytes += `GET ${url} HTTP/1.1\r\nHost: localhost\r\nX-Client: ${client}\r\n\r\n`;
  }
  return { bytes, urls, sizes: sz };
}

const KiB = 1024;
const MiB = 1024 * 1024;

t.test('pipelined GETs on one connection are answered in order, whole and correct, one at a time, never 502', async (t) => {
  // the issue's trigger: 3 pipelined GETs with responses >= 16 KiB (the third tripped an undici assertion)
  const s = await setup(t);
  const runs: Array<{ n: number; sizes: number[]; slow: boolean }> = [];
  for (const size of [1 * KiB, 16 * KiB, 64 * KiB, 1 * MiB]) for (const slow of [false, true]) runs.push({ n: 3, sizes: [size], slow });
  runs.push({ n: 10, sizes: [16 * KiB], slow: false });
  runs.push({ n: 10, sizes: [1 * KiB, 16 * KiB, 64 * KiB, 1 * MiB], slow: false });
  runs.push({ n: 10, sizes: [1 * KiB, 16 * KiB, 64 * KiB, 1 * MiB], slow: true });
  let k = 0;
  for (const run of runs) {
    const client = `c${k++}`;
    const label = `${run.n} pipelined, ${run.sizes.map((x) => (x >= MiB ? `${x / MiB} MiB` : `${x / KiB} KiB`)).join('/')}, ${run.slow ? 'slow reader' : 'read fast'}`;
    t.test(label, async (t) => {
      const { bytes, urls, sizes } = pipelined(client, run.sizes, run.n);
      // slow reader: 16 KiB every 5 ms (~3 MB/s): portico's writes to the client back up for the larger bodies
      const c = await rawH1(s.p.port, run.slow ? { slowRead: { bytes: 16 * KiB, interval: 5 } } : {});
      t.teardown(() => c.destroy());
      c.write(bytes);
      // generous: at most ~3.3 MiB at ~3 MB/s; a stuck response fails the case instead of hanging the file
      await c.waitResponses(run.n, run.slow ? 8000 : 4000).catch(() => undefined);
      const got = c.finals();
      t.same(got.map((r) => r.status), urls.map(() => 200), 'every response 200 (never 502)');
      t.same(got.map((r) => decodeURI(rawHeader(r, 'x-url') ?? '')), urls, 'answered in order');
      const wrong = got.filter((r, i) => urls[i] === undefined || !r.body.equals(bodyFor(urls[i]!, sizes[i]!))).map((r) => decodeURI(rawHeader(r, 'x-url') ?? ''));
      t.same(wrong, [], 'every body complete and byte-exact');
      const seen = seenBy([s.a, s.b], `/pipe-${client}-`);
      t.same(seen.map((r) => r.url), urls, 'the upstreams saw exactly these requests, in order');
      t.equal(concurrentAcross([s.a, s.b], client), 1, 'one at a time: the upstreams never saw two of this connection\'s requests at once');
      // an access line is written once its answer has left portico (after the client may have read it)
      await waitUntil(() => accessLines(s.p.logs).filter((l) => l.path.startsWith(`/pipe-${client}-`)).length >= urls.length, 3000).catch(() => undefined);
      t.same(accessLines(s.p.logs).filter((l) => l.path.startsWith(`/pipe-${client}-`)).map((l) => [l.status, l.attempts]), urls.map(() => [200, 1]), 'one access line each: 200, one attempt');
      t.same(assertionLines(s.p.logs).map((l) => l.msg), [], 'no ERR_ASSERTION in the logs');
    });
  }
  t.test('afterwards', async (t) => assertRoutesIntact(t, s.p));
});

/** concurrentAcross: the largest number of one client's requests open at once over several upstreams. */
function concurrentAcross(recs: Recorder[], client: string): number {
  const all = recs.flatMap((r) => r.requests.filter((q) => q.headers['x-client'] === client));
  const events = all.flatMap((r) => [[r.at, 1], [r.finishedAt ?? r.abortedAt ?? Infinity, -1]] as Array<[number, number]>).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let max = 0;
  for (const [, d] of events) max = Math.max(max, (open += d));
  return max;
}

t.test('a pipelining client that closes mid-way: every upstream request ends within 1 s, nothing stays in flight, one access line per request', async (t) => {
  // the issue: with 1 MiB responses one request stayed in flight > 70 s after its client left, with no access line
  const s = await setup(t);
  for (const n of [3, 10]) {
    t.test(`${n} pipelined 1 MiB GETs, the client reads 100 KiB and closes`, async (t) => {
      const client = `gone${n}`;
      const { bytes, urls } = pipelined(client, [MiB], n);
      const c = await rawH1(s.p.port, { slowRead: { bytes: 16 * KiB, interval: 10 } });
      c.write(bytes);
      await waitUntil(() => c.received >= 100 * KiB, 10_000, '100 KiB read');
      const at = performance.now();
      c.destroy();
      const ended = await waitUntil(() => seenBy([s.a, s.b], `/pipe-${client}-`).every((r) => r.abortedAt !== null || r.finishedAt !== null), ABORT_WITHIN + 1500).then(() => true, () => false);
      const seen = seenBy([s.a, s.b], `/pipe-${client}-`);
      t.ok(ended, `every upstream request of the client ended (${seen.filter((r) => r.abortedAt !== null || r.finishedAt !== null).length} of ${seen.length})`);
      const late = seen.filter((r) => (r.abortedAt ?? r.finishedAt ?? Infinity) - at >= ABORT_WITHIN).map((r) => r.url);
      t.same(late, [], 'each within 1 s of the close (+ CI margin)');
      const idle = await waitUntil(async () => (await inFlight(s.p.adminPort)) === 0, 3000).then(() => true, () => false);
      t.ok(idle, 'admin in_flight back to 0');
      await waitUntil(() => urls.every((u) => accessLines(s.p.logs, u.split('?')[0]).length > 0), 3000).catch(() => undefined);
      t.same(urls.map((u) => accessLines(s.p.logs, u.split('?')[0]).length), urls.map(() => 1), 'exactly one access line per pipelined request');
      // 1 MiB can fit in the loopback socket buffers: a response portico handed over whole is a 200
      const statuses = urls.map((u) => accessLines(s.p.logs, u.split('?')[0])[0]?.status);
      // (on Node 26 all three 1 MiB responses of the 3-request case fit: 200, 200, 200)
      t.same(statuses.filter((x) => x !== 200 && x !== 499), [], `each logged 200 (handed over whole) or 499 (${statuses.join(',')})`);
      t.ok(seen.length <= n, `the upstreams saw at most the ${n} requests sent (${seen.length})`);
    });
  }
  t.test('afterwards', async (t) => assertRoutesIntact(t, s.p));
});
