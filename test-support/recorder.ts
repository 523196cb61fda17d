/**
 * startRecorder: a real HTTP/1.1 upstream on 127.0.0.1:0 that records exactly what it received and
 * when it saw the proxy give up on a request, for the adversarial suite (issue 23).
 *
 * Per request it keeps the method, url, raw header list, body bytes, the id of the TCP connection it
 * came on, when it arrived and when it ended: `finishedAt` when the whole response was written,
 * `abortedAt` when the request or its connection closed first (the proxy aborted it). A test then
 * asserts "the exact requests the upstream saw": a smuggled request is an extra record, a
 * desynchronised one a record with a mangled method, url or body.
 *
 * The response is planned per request: by `plan(req)` when given, else from the query string, so a
 * test's URL says what it wants: `?status=404&size=65536&delay=500&trickle=20&chunk=1024&hang=1`.
 * `bodyFor(url, size)` is the body the recorder sends for that url, so clients can check every byte.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/** Plan is how the recorder answers one request. */
export interface Plan {
  /** status (default 200) */
  status?: number;
  /** response body bytes (default 2: "ok"-sized pattern); sent with content-length unless `chunked` */
  size?: number;
  /** ms before the response headers */
  delay?: number;
  /** the body in `chunk`-byte pieces every `trickle` ms (a slow upstream) */
  trickle?: number;
  chunk?: number;
  /** never answer ('headers': never send headers; 'body': send headers and the first chunk, then nothing) */
  hang?: 'headers' | 'body';
  /** send the body chunked (no content-length) */
  chunked?: boolean;
  /**
   * an endless chunked body, written as fast as the connection takes it, until the request is
   * aborted: a response no socket buffer can hold (loopback buffers here grow to 32 MiB, tcp_rmem)
   */
  stream?: boolean;
  /** extra response headers */
  headers?: Record<string, string>;
}

/** Recorded is one request as the upstream saw it. */
export interface Recorded {
  /** 1, 2, 3… in arrival order */
  seq: number;
  method: string;
  url: string;
  /** the request's header list as received (name, value, name, value…) */
  rawHeaders: string[];
  /** lower-case name → value (repeated fields joined with ", ", as Node does) */
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** the TCP connection it came on (1, 2… in accept order) */
  conn: number;
  /** performance.now() when the request head arrived */
  at: number;
  /** performance.now() when the request body ended (null: never) */
  bodyEndAt: number | null;
  /** performance.now() when the response was completely written (null: not, or not yet) */
  finishedAt: number | null;
  /** performance.now() when the request/connection closed before the response was complete (null: it was not) */
  abortedAt: number | null;
}

/** Recorder is a running recording upstream. */
export interface Recorder {
  name: string;
  server: http.Server;
  port: number;
  /** `http://127.0.0.1:PORT` */
  origin: string;
  /** every request but portico's health probes, in arrival order */
  requests: Recorded[];
  /** portico's health probes (user-agent portico-health/…) */
  probes: Recorded[];
  /** TCP connections accepted so far */
  connections: number;
  /** requests whose response neither finished nor was aborted yet */
  inFlight(): Recorded[];
  /** resolves once `pred` holds for some request (checked as requests arrive and end) */
  waitFor(pred: (r: Recorded) => boolean, ms?: number, what?: string): Promise<Recorded>;
  /** the largest number of requests matching `pred` that were open upstream at the same moment */
  maxConcurrent(pred?: (r: Recorded) => boolean): number;
  /** forget what was recorded (between cases of a table-driven test) */
  reset(): void;
  close(): Promise<void>;
}

/** bodyFor is the body the recorder sends for `url` and `size`: a pattern that differs per url, so a response given to the wrong request is caught. */
export function bodyFor(url: string, size: number): Buffer {
  let h = 2166136261;
  for (let i = 0; i < url.length; i++) h = Math.imul(h ^ url.charCodeAt(i), 16777619) >>> 0;
  // byte i is 'a' + (h + i) % 26: a 26-byte pattern, repeated
  const pattern = Buffer.alloc(26);
  for (let i = 0; i < 26; i++) pattern[i] = 97 + ((h + i) % 26);
  return Buffer.alloc(size, pattern);
}

/** planFromQuery reads a Plan from a url's query string (`?status=&size=&delay=&trickle=&chunk=&hang=&chunked=`). */
export function planFromQuery(url: string): Plan {
  const q = url.indexOf('?');
  if (q < 0) return {};
  const p = new URLSearchParams(url.slice(q + 1));
  const num = (k: string): number | undefined => (p.has(k) ? Number(p.get(k)) : undefined);
  const hang = p.get('hang');
  return {
    status: num('status'),
    size: num('size'),
    delay: num('delay'),
    trickle: num('trickle'),
    chunk: num('chunk'),
    hang: hang === null ? undefined : hang === 'body' ? 'body' : 'headers',
    chunked: p.has('chunked'),
    stream: p.has('stream'),
  };
}

/** startRecorder starts a recording upstream named `name` (it sets `x-upstream: name`). */
export async function startRecorder(name = 'rec', opts: { plan?: (req: http.IncomingMessage) => Plan; keepAliveTimeout?: number } = {}): Promise<Recorder> {
  let seq = 0;
  let connSeq = 0;
  const connIds = new WeakMap<Socket, number>();
  const waiters: Array<{ pred: (r: Recorded) => boolean; resolve: (r: Recorded) => void }> = [];
  const timers = new Set<NodeJS.Timeout>();
  const rec: Recorder = {
    name,
    requests: [],
    probes: [],
    connections: 0,
  } as unknown as Recorder;
  const notify = (r: Recorded): void => {
    for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.pred(r)) waiters.splice(i, 1)[0]!.resolve(r);
  };
  const later = (ms: number, fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };

  const server = http.createServer((req, res) => {
    const r: Recorded = {
      seq: ++seq,
      method: req.method ?? '',
      url: req.url ?? '',
      rawHeaders: req.rawHeaders.slice(),
      headers: req.headers,
      body: Buffer.alloc(0),
      conn: connIds.get(req.socket) ?? 0,
      at: performance.now(),
      bodyEndAt: null,
      finishedAt: null,
      abortedAt: null,
    };
    const probe = String(req.headers['user-agent'] ?? '').startsWith('portico-health/');
    (probe ? rec.probes : rec.requests).push(r);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      r.body = Buffer.concat(chunks);
      r.bodyEndAt = performance.now();
      notify(r);
    });
    req.on('error', () => undefined);
    res.on('finish', () => {
      r.finishedAt = performance.now();
      notify(r);
    });
    res.on('close', () => {
      if (r.finishedAt === null && r.abortedAt === null) {
        r.abortedAt = performance.now();
        notify(r);
      }
    });
    notify(r);
    if (probe) {
      res.writeHead(200, { 'content-length': 3 }).end('ok\n');
      return;
    }
    const plan = opts.plan?.(req) ?? planFromQuery(r.url);
    answer(req, res, plan, later);
  });
  server.keepAliveTimeout = opts.keepAliveTimeout ?? 30_000;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  server.on('connection', (s: Socket) => {
    rec.connections++;
    connIds.set(s, ++connSeq);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  Object.assign(rec, {
    server,
    port,
    origin: `http://127.0.0.1:${port}`,
    inFlight: () => rec.requests.filter((r) => r.finishedAt === null && r.abortedAt === null),
    waitFor(pred: (r: Recorded) => boolean, ms = 10_000, what = 'a matching upstream request') {
      const hit = rec.requests.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise<Recorded>((resolve, reject) => {
        const timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`${what}: not seen by upstream ${name} within ${ms}ms`));
        }, ms);
        const w = { pred, resolve: (r: Recorded) => (clearTimeout(timer), resolve(r)) };
        waiters.push(w);
      });
    },
    maxConcurrent(pred: (r: Recorded) => boolean = () => true) {
      const events: Array<[number, number]> = [];
      for (const r of rec.requests.filter(pred)) {
        events.push([r.at, 1]);
        events.push([r.finishedAt ?? r.abortedAt ?? Infinity, -1]);
      }
      // an end and a start at the same instant: the end first (not concurrent)
      events.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      let open = 0;
      let max = 0;
      for (const [, d] of events) max = Math.max(max, (open += d));
      return max;
    },
    reset() {
      rec.requests.length = 0;
      rec.probes.length = 0;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
  return rec;
}

/** answer writes the planned response (delay, size, trickle, hang). */
function answer(req: http.IncomingMessage, res: http.ServerResponse, plan: Plan, later: (ms: number, fn: () => void) => void): void {
  const size = plan.size ?? 2;
  const body = bodyFor(req.url ?? '', size);
  const head = (): void => {
    if (res.destroyed) return;
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream', 'x-url': encodeURI(req.url ?? ''), ...plan.headers };
    if (!plan.chunked && !plan.stream) headers['content-length'] = size;
    res.writeHead(plan.status ?? 200, headers);
    if (plan.stream) {
      const piece = Buffer.alloc(64 * 1024, 0x61);
      const more = (): void => {
        while (!res.destroyed) if (!res.write(piece)) return void res.once('drain', more);
      };
      more();
      return;
    }
    if (plan.hang === 'body') {
      res.write(body.subarray(0, Math.min(size, plan.chunk ?? 1024)));
      return;
    }
    if (!plan.trickle) {
      res.end(body);
      return;
    }
    const chunk = plan.chunk ?? 1024;
    let off = 0;
    const step = (): void => {
      if (res.destroyed) return;
      if (off >= size) return void res.end();
      res.write(body.subarray(off, (off += chunk)));
      later(plan.trickle!, step);
    };
    step();
  };
  if (plan.hang === 'headers') return;
  // the request body is read before answering (the record keeps it); the delay counts from the head
  const go = (): void => (plan.delay ? later(plan.delay, head) : head());
  if (req.complete) go();
  else {
    req.once('end', go);
    req.resume();
  }
}
