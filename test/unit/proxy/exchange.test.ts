// Exchange against a fake host and a fake engine: the retry rule, who gets blamed, cancellation,
// backpressure and the send timer, driven call by call (no sockets). The behaviour over real sockets
// is in test/integration and test/adversarial; this is the logic, phase by phase.
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import t from 'tap';
import { createLogger, flushLogger } from '../../../src/log.js';
import { Metrics } from '../../../src/metrics.js';
import type { DispatchController, DispatchHandler, DispatchOptions, UpstreamClient } from '../../../src/proxy/engine.js';
import { Exchange, type ExchangeHost, type ServedRoute, type UpstreamTarget } from '../../../src/proxy/handler.js';
import { Router } from '../../../src/proxy/router.js';
import { RoundRobin } from '../../../src/upstream/selector.js';

/** FakeEngine records every dispatch; the test plays the upstream by calling the handler. */
class FakeEngine implements UpstreamClient {
  readonly calls: Array<{ opts: DispatchOptions; handler: DispatchHandler; ctrl: FakeController }> = [];
  constructor(readonly origin: string) {}
  dispatch(opts: DispatchOptions, handler: DispatchHandler): boolean {
    this.calls.push({ opts, handler, ctrl: new FakeController(handler) });
    return true;
  }
}

class FakeController implements DispatchController {
  aborted = false;
  reason: Error | null = null;
  paused = false;
  resumed = 0;
  constructor(private readonly handler: DispatchHandler) {}
  abort(reason: Error): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.handler.onResponseError?.(this, reason); // undici reports the abort back at once
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.resumed++;
  }
}

/** FakeRes is the slice of ServerResponse an exchange uses. */
class FakeRes extends EventEmitter {
  status = 0;
  head: Record<string, unknown> = {};
  chunks: Buffer[] = [];
  ended = false;
  destroyed = false;
  headersSent = false;
  writableFinished = false;
  writableLength = 0;
  socket: object | null = {};
  /** what write() returns (false: the client's buffer is full) */
  accept = true;
  writeHead(status: number, msgOrHeaders?: unknown, headers?: Record<string, unknown>): this {
    this.status = status;
    this.head = (typeof msgOrHeaders === 'object' ? msgOrHeaders : headers) as Record<string, unknown>;
    this.headersSent = true;
    return this;
  }
  write(c: Buffer): boolean {
    this.chunks.push(c);
    return this.accept;
  }
  end(body?: string): void {
    if (body !== undefined) this.chunks.push(Buffer.from(body));
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  /** finishes as Node does after the last byte left: 'close' with writableFinished */
  flushed(): void {
    this.writableFinished = true;
    this.emit('close');
  }
}

/** FakeReq is an IncomingMessage-like request without a body. */
class FakeReq extends EventEmitter {
  httpVersionMajor = 1;
  httpVersionMinor = 1;
  complete = true;
  socket = { remoteAddress: '::ffff:198.51.100.7', servername: 'app.test' };
  constructor(
    readonly method: string,
    readonly url: string,
    readonly headers: Record<string, string>,
    readonly rawHeaders: string[] = Object.entries(headers).flat(),
  ) {
    super();
  }
  setTimeout(): void {}
  pause(): void {}
  resume(): void {}
}

function setup(opts: { retries?: number; sendTimeout?: number } = {}) {
  const sink = new PassThrough();
  const lines: Array<Record<string, unknown>> = [];
  sink.on('data', (c: Buffer) => {
    for (const l of c.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
  });
  const log = createLogger({ level: 'info', format: 'json', destination: sink });
  const metrics = new Metrics();
  const engines = [new FakeEngine('http://u1'), new FakeEngine('http://u2')];
  const upstreams: UpstreamTarget[] = engines.map((e) => ({ origin: e.origin, client: e, available: true, state: 'up', load: { n: 0 } }));
  const route: ServedRoute = {
    name: 'app', hosts: ['app.test'], prefix: '/', upstreams, selector: new RoundRobin<UpstreamTarget>(), maxBody: 1 << 20,
    metrics: metrics.forRoute('app'), retries: opts.retries ?? 2, failStatuses: null, retryAfter: '1', extras: null,
  };
  const reports: Array<{ upstream: string; ok: boolean; detail: string }> = [];
  let done = 0;
  const host: ExchangeHost = {
    log, metrics, accessLog: true, draining: false, noRoute: metrics.forRoute(''), bodyTimeout: 0, responseTimeout: 60_000,
    sendTimeout: opts.sendTimeout ?? 0,
    isTrusted: () => false,
    misdirected: () => false,
    exchangeDone: () => void done++,
    routeNamed: () => route,
    report: (_r, u, ok, detail) => void reports.push({ upstream: u.origin, ok, detail }),
  };
  const router = new Router([route]);
  const run = (req: FakeReq, res = new FakeRes()) => {
    const ex = new Exchange(host, req as never, res as never, null);
    ex.run(router);
    return { ex, res };
  };
  const access = async () => {
    flushLogger(log);
    await new Promise((r) => setImmediate(r));
    return lines.filter((l) => l.msg === 'request');
  };
  return { engines, reports, run, access, done: () => done, lines, log, inFlight: () => upstreams.map((u) => u.load.n) };
}

const GET = () => new FakeReq('GET', '/x', { host: 'app.test' });
const err = (code: string, message = code) => Object.assign(new Error(message), { code });

t.test('a plain request: one dispatch, the response written through, one access line', async (t) => {
  const s = setup();
  const { res } = s.run(GET());
  t.equal(s.engines[0]!.calls.length, 1, 'dispatched to the first upstream');
  const { handler, ctrl, opts } = s.engines[0]!.calls[0]!;
  t.equal(opts.path, '/x');
  t.match(opts.headers as string[], ['host', 'app.test'], 'Host kept');
  handler.onRequestStart!(ctrl, {});
  handler.onResponseStart!(ctrl, 200, { 'content-type': 'text/plain', connection: 'keep-alive' }, 'OK');
  handler.onResponseData!(ctrl, Buffer.from('hello'));
  handler.onResponseEnd!(ctrl, {});
  t.equal(res.status, 200);
  t.notOk('connection' in res.head, 'hop-by-hop response field dropped');
  t.equal(Buffer.concat(res.chunks).toString(), 'hello');
  t.ok(res.ended);
  t.equal(s.done(), 1, 'exchangeDone once');
  t.match(await s.access(), [{ status: 200, attempts: 1, bytes: 5, upstream: 'http://u1' }]);
});

t.test('a connection refused before the request was written is retried on the other upstream and reported', async (t) => {
  const s = setup();
  const { res } = s.run(new FakeReq('POST', '/x', { host: 'app.test', 'content-length': '0' }));
  const first = s.engines[0]!.calls[0]!;
  first.handler.onResponseError!(first.ctrl, err('ECONNREFUSED', 'connect ECONNREFUSED'));
  t.same(s.reports, [{ upstream: 'http://u1', ok: false, detail: 'ECONNREFUSED: connect ECONNREFUSED' }], 'the upstream failure is reported');
  t.equal(s.engines[1]!.calls.length, 1, 'retried on u2 (a POST too: nothing was sent)');
  const second = s.engines[1]!.calls[0]!;
  second.handler.onRequestStart!(second.ctrl, {});
  second.handler.onResponseStart!(second.ctrl, 201, {}, 'Created');
  second.handler.onResponseEnd!(second.ctrl, {});
  t.equal(res.status, 201);
  t.match(await s.access(), [{ status: 201, attempts: 2, upstream: 'http://u2' }]);
});

t.test('a non-idempotent request that was written is not retried; the failure is a 502 naming the upstream', async (t) => {
  const s = setup();
  const { res } = s.run(new FakeReq('POST', '/x', { host: 'app.test', 'content-length': '0' }));
  const c = s.engines[0]!.calls[0]!;
  c.handler.onRequestStart!(c.ctrl, {});
  c.handler.onResponseError!(c.ctrl, err('UND_ERR_SOCKET', 'other side closed'));
  t.equal(s.engines[1]!.calls.length, 0, 'no retry');
  t.equal(res.status, 502);
  t.equal(s.reports.length, 1, 'reported once');
  t.match(await s.access(), [{ status: 502, error: /^PORTICO_ERR_UPSTREAM: upstream http:\/\/u1: UND_ERR_SOCKET: other side closed/ }]);
});

t.test('issue 23: a client that leaves aborts the upstream request at once, logs 499, and blames nobody', async (t) => {
  for (const phase of ['connecting', 'waiting for headers', 'streaming the body'] as const) {
    t.test(phase, async (t) => {
      const s = setup();
      const { res } = s.run(GET());
      const c = s.engines[0]!.calls[0]!;
      if (phase !== 'connecting') c.handler.onRequestStart!(c.ctrl, {});
      if (phase === 'streaming the body') {
        c.handler.onResponseStart!(c.ctrl, 200, {}, 'OK');
        c.handler.onResponseData!(c.ctrl, Buffer.alloc(100));
      }
      // an h2 stream the client reset reports itself finished: only portico's own flag may decide
      res.writableFinished = true;
      res.emit('close');
      if (phase === 'connecting') {
        t.notOk(c.ctrl.aborted, 'nothing to abort yet');
        c.handler.onRequestStart!(c.ctrl, {});
      }
      t.ok(c.ctrl.aborted, 'the upstream request is aborted');
      t.equal(c.ctrl.reason?.name, 'ClientGoneError');
      t.same(s.reports, [], 'nothing reported against the upstream');
      t.equal(s.engines[1]!.calls.length, 0, 'no retry');
      t.equal(s.done(), 1, 'finished once');
      t.match(await s.access(), [{ status: 499, attempts: 1 }]);
    });
  }
});

t.test('an engine assertion is portico’s bug: 502 with the connection closed, logged at error, never reported or retried', async (t) => {
  const s = setup();
  const { res } = s.run(GET());
  const c = s.engines[0]!.calls[0]!;
  c.handler.onRequestStart!(c.ctrl, {});
  c.handler.onResponseError!(c.ctrl, err('ERR_ASSERTION', 'assert(currentParser === null)'));
  t.same(s.reports, [], 'not reported');
  t.equal(s.engines[1]!.calls.length, 0, 'not retried');
  t.equal(res.status, 502);
  t.equal(res.head.connection, 'close', 'the connection is closed after the answer');
  t.match(await s.access(), [{ status: 502, error: /^PORTICO_ERR_ENGINE/ }]);
  t.match(s.lines.find((l) => l.level === 'error'), { code: 'PORTICO_ERR_ENGINE', msg: /portico bug/, route: 'app', upstream: 'http://u1', sent: true });
});

t.test('backpressure: a full client buffer pauses the upstream; drain resumes it in a microtask, never inside the emit', async (t) => {
  const s = setup();
  const res = new FakeRes();
  s.run(GET(), res);
  const c = s.engines[0]!.calls[0]!;
  c.handler.onRequestStart!(c.ctrl, {});
  c.handler.onResponseStart!(c.ctrl, 200, {}, 'OK');
  res.accept = false;
  c.handler.onResponseData!(c.ctrl, Buffer.alloc(10));
  t.ok(c.ctrl.paused, 'paused');
  c.handler.onResponseData!(c.ctrl, Buffer.alloc(10)); // a chunk undici parsed before the pause
  t.equal(res.listenerCount('drain'), 1, 'one drain listener, not one per chunk');
  res.accept = true;
  res.emit('drain');
  t.equal(c.ctrl.resumed, 0, 'not resumed inside the drain emit (issue 23: undici parser re-entry)');
  await Promise.resolve();
  t.equal(c.ctrl.resumed, 1, 'resumed in a microtask');
});

t.test('the send timer: a client that takes nothing for timeouts.send is cut (499), its upstream request aborted', async (t) => {
  const s = setup({ sendTimeout: 20 });
  const res = new FakeRes();
  s.run(GET(), res);
  const c = s.engines[0]!.calls[0]!;
  c.handler.onRequestStart!(c.ctrl, {});
  c.handler.onResponseStart!(c.ctrl, 200, {}, 'OK');
  res.accept = false;
  c.handler.onResponseData!(c.ctrl, Buffer.alloc(10));
  await new Promise((r) => setTimeout(r, 60));
  t.ok(c.ctrl.aborted, 'upstream request aborted');
  t.ok(res.destroyed, 'response cut');
  t.same(s.reports, [], 'not the upstream’s fault');
  t.match(await s.access(), [{ status: 499, error: /read nothing of the response for 20ms/ }]);
});

t.test('an answer still held by portico at its end finishes when it left: 200 once flushed, 499 if the client leaves first', async (t) => {
  for (const leaves of [false, true]) {
    t.test(leaves ? 'the client leaves first' : 'flushed', async (t) => {
      const s = setup({ sendTimeout: 10_000 });
      const res = new FakeRes();
      s.run(GET(), res);
      const c = s.engines[0]!.calls[0]!;
      c.handler.onRequestStart!(c.ctrl, {});
      c.handler.onResponseStart!(c.ctrl, 200, {}, 'OK');
      c.handler.onResponseData!(c.ctrl, Buffer.alloc(100_000));
      res.writableLength = 100_000; // more than a socket buffer is still in portico
      c.handler.onResponseEnd!(c.ctrl, {});
      t.equal(s.done(), 0, 'not finished at the upstream’s end');
      if (leaves) res.emit('close');
      else res.flushed();
      t.equal(s.done(), 1);
      t.match(await s.access(), [{ status: leaves ? 499 : 200 }]);
    });
  }
});

t.test('early refusals: absolute-form Host, invalid Host, two Hosts, codings, misdirected', async (t) => {
  const s = setup();
  const abs = s.run(new FakeReq('GET', 'http://app.test:8443/p?q=1', { host: 'evil.example' }));
  const sent = s.engines[0]!.calls[0]!.opts;
  t.equal(sent.path, '/p?q=1');
  t.same((sent.headers as string[]).slice(0, 2), ['host', 'app.test:8443'], 'the target’s authority is the Host (RFC 9112 §3.2.2)');
  t.notOk((sent.headers as string[]).includes('evil.example'), 'the client Host never reaches the upstream');
  t.equal(abs.res.status, 0, 'still in flight');
  const cases: Array<[FakeReq, number]> = [
    [new FakeReq('GET', '/', { host: 'app.test:abc' }), 400],
    [new FakeReq('GET', '/', { host: 'app.test' }, ['Host', 'app.test', 'Host', 'evil.example']), 400],
    [new FakeReq('POST', '/', { host: 'app.test', 'transfer-encoding': 'gzip, chunked' }), 501],
    [new FakeReq('GET', 'http://user@app.test/', { host: 'app.test' }), 400],
  ];
  for (const [req, status] of cases) t.equal(s.run(req).res.status, status, `${req.url} ${JSON.stringify(req.rawHeaders)}: ${status}`);
  t.equal(s.engines[0]!.calls.length + s.engines[1]!.calls.length, 1, 'none of them dispatched');
});

t.test('issue 29: each attempt counts once in its upstream\'s in-flight count, until its response ended or failed', async (t) => {
  t.test('a retry moves the count to the next upstream; the response end releases it', async (t) => {
    const s = setup();
    s.run(GET());
    t.same(s.inFlight(), [1, 0], 'dispatched: u1 busy');
    const first = s.engines[0]!.calls[0]!;
    first.handler.onResponseError!(first.ctrl, err('ECONNREFUSED', 'connect ECONNREFUSED'));
    t.same(s.inFlight(), [0, 1], 'retried on u2: u1 released, u2 busy');
    const second = s.engines[1]!.calls[0]!;
    second.handler.onRequestStart!(second.ctrl, {});
    second.handler.onResponseStart!(second.ctrl, 200, {}, 'OK');
    second.handler.onResponseData!(second.ctrl, Buffer.from('x'));
    t.same(s.inFlight(), [0, 1], 'still busy while the body streams');
    second.handler.onResponseEnd!(second.ctrl, {});
    t.same(s.inFlight(), [0, 0], 'released at the end');
  });
  for (const phase of ['connecting', 'streaming'] as const) {
    t.test(`a client that leaves while ${phase} releases it`, async (t) => {
      const s = setup();
      const { res } = s.run(GET());
      const c = s.engines[0]!.calls[0]!;
      if (phase === 'streaming') {
        c.handler.onRequestStart!(c.ctrl, {});
        c.handler.onResponseStart!(c.ctrl, 200, {}, 'OK');
      }
      res.emit('close');
      t.same(s.inFlight(), [0, 0]);
      t.match(await s.access(), [{ status: 499 }]);
    });
  }
  t.test('a failure that is not retried releases it', async (t) => {
    const s = setup();
    s.run(new FakeReq('POST', '/x', { host: 'app.test', 'content-length': '0' }));
    const c = s.engines[0]!.calls[0]!;
    c.handler.onRequestStart!(c.ctrl, {});
    c.handler.onResponseError!(c.ctrl, err('UND_ERR_SOCKET', 'other side closed'));
    t.same(s.inFlight(), [0, 0]);
  });
});
