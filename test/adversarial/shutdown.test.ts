/**
 * Issue 23, item 4 (DESIGN §8 "Nothing outlives its deadlines"): SIGTERM exits within
 * `shutdown_grace` (+1 s), whatever is in flight or was reloaded.
 *
 * The bug: with `shutdown_grace = "5s"`, a request stuck on an upstream that never answers, then a
 * SIGHUP, then SIGTERM: portico was still running 78 s later (readiness 503, no "stopped" line).
 * After the reload the retired runtime still held the stuck request, and shutdown waited on that
 * pool's in-flight request (`engine.close`, graceful) instead of cutting it at the grace deadline.
 * Without the reload portico exited on time.
 *
 * A spawned portico (real signals, real exit code). The deadline asserted is grace + 3 s: the spec's
 * +1 s, plus 2 s for process start-up noise on a loaded 2-core CI machine.
 */
import http2 from 'node:http2';
import { performance } from 'node:perf_hooks';
import { writeFile } from 'node:fs/promises';
import t, { type Test } from 'tap';
import { h2Connect, proxyConfig, rawH1, spawnReady, startRecorder, type Recorder } from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

const GRACE_MS = 2000;
const DEADLINE_MS = GRACE_MS + 3000;

async function recorders(t: Test): Promise<[Recorder, Recorder]> {
  const a = await startRecorder('a');
  t.teardown(() => a.close());
  const b = await startRecorder('b');
  t.teardown(() => b.close());
  return [a, b];
}

const config = (upstreams: string[], extraRoute = false): string =>
  proxyConfig([{ hosts: ['localhost'], upstreams }, ...(extraRoute ? [{ hosts: ['other.test'], upstreams }] : [])], { server: `shutdown_grace = "${GRACE_MS / 1000}s"` });

type Reload = 'none' | 'route added (pool kept)' | 'upstream replaced (pool retired)';

type Client = 'still connected' | 'cancelled its stream (RST_STREAM)' | 'gone (TCP closed)';

/**
 * The cases: the client still waiting (its connection is cut at the grace deadline), and the client
 * that left after the request reached the upstream (before issue 23's cancellation fix that left the
 * upstream request running with no client connection to cut: the case that hung after a reload).
 */
const CASES: Array<[proto: 'http/1.1' | 'h2', client: Client, reload: Reload]> = [
  ['http/1.1', 'still connected', 'none'],
  ['http/1.1', 'still connected', 'upstream replaced (pool retired)'],
  ['h2', 'still connected', 'none'],
  ['h2', 'still connected', 'upstream replaced (pool retired)'],
  ['h2', 'cancelled its stream (RST_STREAM)', 'none'],
  ['h2', 'cancelled its stream (RST_STREAM)', 'route added (pool kept)'],
  ['h2', 'cancelled its stream (RST_STREAM)', 'upstream replaced (pool retired)'],
  ['h2', 'gone (TCP closed)', 'upstream replaced (pool retired)'],
  ['http/1.1', 'gone (TCP closed)', 'upstream replaced (pool retired)'],
];

for (const [proto, client, reload] of CASES) {
  t.test(`SIGTERM with a stuck ${proto} request, client ${client}, reload: ${reload}: exits 0 within shutdown_grace + 1 s, logs "stopped"`, async (t) => {
    const [a, b] = await recorders(t);
    const s = await spawnReady(t, testDir(t), config([a.origin]));
    const port = s.portOf('https');
    // a request the upstream never answers
    let leave: () => void;
    if (proto === 'h2') {
      const session = await h2Connect(port);
      t.teardown(() => session.destroy());
      const st = session.request({ ':path': '/stuck?hang=headers' });
      st.on('error', () => undefined);
      leave = client === 'cancelled its stream (RST_STREAM)' ? () => st.close(http2.constants.NGHTTP2_CANCEL) : () => session.destroy();
    } else {
      const c = await rawH1(port);
      t.teardown(() => c.destroy());
      c.write('GET /stuck?hang=headers HTTP/1.1\r\nHost: localhost\r\n\r\n');
      leave = () => c.destroy();
    }
    await a.waitFor((r) => r.url === '/stuck?hang=headers', 5000, 'the stuck request upstream');
    if (client !== 'still connected') leave();
    if (reload !== 'none') {
      await writeFile(s.configPath, reload === 'route added (pool kept)' ? config([a.origin], true) : config([b.origin]));
      s.child.kill('SIGHUP');
      await s.waitFor((l) => l.msg === 'config reloaded', 10_000);
    }
    const at = performance.now();
    s.child.kill('SIGTERM');
    const exited = await Promise.race([s.exited, new Promise<'still running'>((r) => setTimeout(() => r('still running'), DEADLINE_MS + 2000))]);
    const took = performance.now() - at;
    t.equal(exited, 0, `exit code 0 (got ${exited})`);
    t.ok(took < DEADLINE_MS, `exited ${Math.round(took)} ms after SIGTERM (grace ${GRACE_MS} ms + 1 s, + 2 s CI margin)`);
    t.ok(s.logs.some((l) => l.msg === 'stopped'), 'logged "stopped"');
    const stuck = a.requests.find((r) => r.url === '/stuck?hang=headers');
    t.ok(stuck?.abortedAt != null, 'the stuck upstream request was cut');
  });
}
