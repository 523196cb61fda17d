/**
 * Issue 23, item 1: an h2 stream the client cancels is cancelled upstream, at once, whatever the
 * phase, and never counts against the upstream (DESIGN §8).
 *
 * The bug: HEADERS(END_STREAM) then RST_STREAM(CANCEL) — what a browser sends when the user
 * navigates away from a slow page — left the upstream request running until the upstream closed its
 * idle connection (11 s behind a 10 s keep-alive upstream); it was then logged 502
 * (`UND_ERR_SOCKET: other side closed`), retried (attempts=3) and counted as a passive failure. Ten
 * cancelled streams on one connection made 24 upstream requests over 33 s, ejected both upstreams
 * and every client got 503 for ~7 s. On Node 20.20 a cancelled h2 stream reports
 * `writableFinished === true` when it closes, and `Exchange.onClientClose` returned early on that flag.
 *
 * Every case here: the recording upstream sees its request aborted within 1 s of the cancel (asserted
 * with a 1.5 s margin: a loaded 2-core CI machine jitters), exactly one access line with status 499
 * and attempts 1, one upstream request (no retry), no ejection, and a fresh request served 200.
 */
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import t, { type Test } from 'tap';
import {
  accessLines, assertRoutesIntact, dataFrame, ejections, getHead, goawayFrame, h2Connect, headersFrame, proxyConfig, rawH2, reqHead, request, rstFrame,
  sleep, startProxy, startRecorder, waitUntil, type ProxyHandle, type Recorded, type Recorder,
} from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** ABORT_WITHIN: the spec says 1 s; 1.5 s leaves room for a loaded CI machine. */
const ABORT_WITHIN = 1500;

async function setup(t: Test, keepAliveTimeout = 30_000): Promise<{ a: Recorder; b: Recorder; p: ProxyHandle }> {
  const a = await startRecorder('a', { keepAliveTimeout });
  t.teardown(() => a.close());
  const b = await startRecorder('b', { keepAliveTimeout });
  t.teardown(() => b.close());
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['localhost'], upstreams: [a.origin, b.origin], passive: 'max_fails = 3, fail_window = "10s"' }], { server: 'shutdown_grace = "1s"' }));
  t.teardown(() => p.close());
  return { a, b, p };
}

const seenBy = (recs: Recorder[], path: string): Recorded[] => recs.flatMap((r) => r.requests.filter((q) => q.url.startsWith(path)));

/**
 * assertCancelled: the upstream request for `path` was aborted within ABORT_WITHIN of `cancelledAt`,
 * it was the only one (no retry), and the request has one access line: 499, attempts 1.
 */
async function assertCancelled(t: Test, s: { a: Recorder; b: Recorder; p: ProxyHandle }, path: string, cancelledAt: number): Promise<void> {
  const recs = [s.a, s.b];
  const aborted = await waitUntil(() => seenBy(recs, path).some((r) => r.abortedAt !== null || r.finishedAt !== null), ABORT_WITHIN + 1500).then(() => true, () => false);
  const seen = seenBy(recs, path);
  const first = seen[0];
  t.ok(aborted && first?.abortedAt != null, `the upstream saw its request aborted (aborted: ${first?.abortedAt != null}, finished: ${first?.finishedAt != null})`);
  if (first?.abortedAt != null) {
    const delay = first.abortedAt - cancelledAt;
    t.ok(delay < ABORT_WITHIN, `within 1 s of the cancel (+ CI margin): ${Math.round(delay)} ms`);
  }
  await waitUntil(() => accessLines(s.p.logs, path.split('?')[0]).length > 0, 3000, 'an access line').catch(() => undefined);
  const lines = accessLines(s.p.logs, path.split('?')[0]);
  t.equal(lines.length, 1, 'exactly one access line', { lines });
  t.match(lines[0], { status: 499, attempts: 1 }, 'logged 499, one attempt', { lines });
  t.equal(seenBy(recs, path).length, 1, 'the upstream saw one request (no retry)');
}

t.test('h2 RST_STREAM(CANCEL) before the upstream answered: the upstream request is aborted at once, logged 499, never retried', async (t) => {
  // the repro: HEADERS(END_STREAM) + RST_STREAM(CANCEL) while the upstream thinks (500 ms)
  const s = await setup(t);
  const c = await rawH2(s.p.port);
  t.teardown(() => c.close());
  const path = '/before-headers?delay=500';
  c.write(headersFrame(1, getHead(path)));
  await Promise.race([s.a.waitFor((r) => r.url === path), s.b.waitFor((r) => r.url === path)]);
  const at = performance.now();
  c.write(rstFrame(1, NGHTTP2_CANCEL));
  await assertCancelled(t, s, '/before-headers', at);
  await assertRoutesIntact(t, s.p);
});

t.test('h2 RST_STREAM(CANCEL) mid response body: the trickling upstream response is aborted, logged 499', async (t) => {
  const s = await setup(t);
  const c = await rawH2(s.p.port);
  t.teardown(() => c.close());
  const path = '/mid-body?size=1048576&trickle=50&chunk=4096';
  c.write(headersFrame(1, getHead(path)));
  await waitUntil(() => c.body(1).data.length > 0, 5000, 'the first DATA bytes');
  const at = performance.now();
  c.write(rstFrame(1, NGHTTP2_CANCEL));
  await assertCancelled(t, s, '/mid-body', at);
  await assertRoutesIntact(t, s.p);
});

t.test('h2 RST_STREAM(CANCEL) after the client sent its whole body (END_STREAM): the upstream request is aborted, logged 499', async (t) => {
  const s = await setup(t);
  const c = await rawH2(s.p.port);
  t.teardown(() => c.close());
  const path = '/after-end-stream?delay=2000';
  c.write(Buffer.concat([headersFrame(1, reqHead('POST', path), true), dataFrame(1, 'x'.repeat(1024), true)]));
  const r = await Promise.race([s.a.waitFor((q) => q.url === path && q.bodyEndAt !== null), s.b.waitFor((q) => q.url === path && q.bodyEndAt !== null)]);
  t.equal(r.body.length, 1024, 'the upstream got the whole body');
  const at = performance.now();
  c.write(rstFrame(1, NGHTTP2_CANCEL));
  await assertCancelled(t, s, '/after-end-stream', at);
  await assertRoutesIntact(t, s.p);
});

t.test('h2 RST_STREAM(CANCEL) while the request body still streams upstream: the upstream request is aborted, logged 499', async (t) => {
  const s = await setup(t);
  const c = await rawH2(s.p.port);
  t.teardown(() => c.close());
  const path = '/mid-request-body';
  // a declared 1 MiB body streams at once (only bodies up to 64 KiB are buffered); 32 KiB of it (two
  // frames of the default 16 KiB maximum), then nothing
  c.write(Buffer.concat([headersFrame(1, reqHead('POST', path, 'localhost', [['content-length', String(1024 * 1024)]]), true), dataFrame(1, Buffer.alloc(16 * 1024, 120)), dataFrame(1, Buffer.alloc(16 * 1024, 121))]));
  await Promise.race([s.a.waitFor((q) => q.url === path), s.b.waitFor((q) => q.url === path)]);
  const at = performance.now();
  c.write(rstFrame(1, NGHTTP2_CANCEL));
  await assertCancelled(t, s, path, at);
  await assertRoutesIntact(t, s.p);
});

t.test('h2 GOAWAY with an error code from the client mid-stream: its open stream is cancelled upstream, logged 499', async (t) => {
  // Node destroys a session on a GOAWAY with an error code; its streams end with it
  const s = await setup(t);
  const c = await rawH2(s.p.port);
  t.teardown(() => c.close());
  const path = '/goaway-error?delay=3000';
  c.write(headersFrame(1, getHead(path)));
  await Promise.race([s.a.waitFor((r) => r.url === path), s.b.waitFor((r) => r.url === path)]);
  const at = performance.now();
  c.write(goawayFrame(0, NGHTTP2_INTERNAL_ERROR));
  await assertCancelled(t, s, '/goaway-error', at);
  await assertRoutesIntact(t, s.p);
});

t.test('h2 GOAWAY(NO_ERROR) then the client closes the connection mid-stream: cancelled upstream, logged 499', async (t) => {
  const s = await setup(t);
  const c = await rawH2(s.p.port);
  const path = '/goaway-close?delay=3000';
  c.write(headersFrame(1, getHead(path)));
  await Promise.race([s.a.waitFor((r) => r.url === path), s.b.waitFor((r) => r.url === path)]);
  const at = performance.now();
  c.socket.end(goawayFrame(1, 0));
  c.close();
  await assertCancelled(t, s, '/goaway-close', at);
  await assertRoutesIntact(t, s.p);
});

t.test('h2 client destroys the TCP connection mid-stream: cancelled upstream, logged 499', async (t) => {
  // this one worked before issue 23 (499 after ~100 ms, one upstream request): kept as a guard
  const s = await setup(t);
  const c = await rawH2(s.p.port);
  const path = '/tcp-destroy?delay=3000';
  c.write(headersFrame(1, getHead(path)));
  await Promise.race([s.a.waitFor((r) => r.url === path), s.b.waitFor((r) => r.url === path)]);
  const at = performance.now();
  c.close();
  await assertCancelled(t, s, '/tcp-destroy', at);
  await assertRoutesIntact(t, s.p);
});

t.test('browser-like timing: a 500 ms request reset 100 ms in (Node http2 client) is aborted upstream, logged 499', async (t) => {
  const s = await setup(t);
  const session = await h2Connect(s.p.port);
  t.teardown(() => session.destroy());
  const path = '/browser?delay=500';
  const stream = session.request({ ':path': path });
  stream.on('error', () => undefined);
  stream.resume();
  await sleep(100); // the timing under test: a user navigating away 100 ms into the request
  const at = performance.now();
  stream.close(NGHTTP2_CANCEL);
  await assertCancelled(t, s, '/browser', at);
  await assertRoutesIntact(t, s.p);
});

t.test('10 cancelled streams on one connection against 2 upstreams (passive max_fails = 3 in 10s) eject nothing; later requests get 200', async (t) => {
  // the repro: today the 10 cancels became 24 upstream requests, both upstreams were ejected
  // ("3 failures within 10000ms") and every client got 503 for ~7 s. The upstreams close idle
  // connections after 1 s here, so what used to happen after their keep-alive happens within the test.
  const s = await setup(t, 1000);
  const c = await rawH2(s.p.port);
  t.teardown(() => c.close());
  const ids = Array.from({ length: 10 }, (_, i) => 1 + 2 * i);
  c.write(Buffer.concat(ids.map((id) => headersFrame(id, getHead(`/ten-${id}?delay=3000`)))));
  await waitUntil(() => seenBy([s.a, s.b], '/ten-').length === 10, 5000, 'all 10 upstream');
  const at = performance.now();
  c.write(Buffer.concat(ids.map((id) => rstFrame(id, NGHTTP2_CANCEL))));
  const allEnded = await waitUntil(() => seenBy([s.a, s.b], '/ten-').every((r) => r.abortedAt !== null), ABORT_WITHIN + 1500).then(() => true, () => false);
  const seen = seenBy([s.a, s.b], '/ten-');
  t.ok(allEnded, `every upstream request was aborted (${seen.filter((r) => r.abortedAt !== null).length} of ${seen.length})`);
  const late = seen.filter((r) => r.abortedAt === null || r.abortedAt - at >= ABORT_WITHIN);
  t.same(late.map((r) => r.url), [], 'each within 1 s of its cancel (+ CI margin)');
  // what the bug did happened once the upstreams closed their idle connections (1 s): look after that
  await sleep(2000);
  t.equal(seenBy([s.a, s.b], '/ten-').length, 10, 'the upstreams saw exactly 10 requests (no retry)');
  const lines = ids.map((id) => accessLines(s.p.logs, `/ten-${id}`));
  t.same(lines.map((l) => l.length), ids.map(() => 1), 'one access line per stream');
  t.same(lines.map((l) => [l[0]?.status, l[0]?.attempts]), ids.map(() => [499, 1]), 'each 499, one attempt');
  t.equal(await ejections(s.p.adminPort), 0, 'no ejection');
  const after = await Promise.all(Array.from({ length: 10 }, (_, i) => request({ port: s.p.port, path: `/after-${i}` })));
  t.same(after.map((r) => r.status), after.map(() => 200), 'the 10 following requests get 200');
  await assertRoutesIntact(t, s.p);
});
