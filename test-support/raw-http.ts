/**
 * Raw HTTP/1.1 clients for the adversarial suite (issue 23): exact bytes over TLS (portico's public
 * listener, ALPN http/1.1) or plain TCP (the redirect listener), and an incremental parser for what
 * comes back: every response in order (status, headers, body, interim 1xx too), whether the server
 * closed, and when. A slow-reader mode reads `bytes` every `interval` ms (or nothing: `pause()`), so
 * the server's writes back up the way a slow client's do.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';

/** RawResponse is one response parsed off the wire. */
export interface RawResponse {
  status: number;
  /** the status line as sent */
  statusLine: string;
  /** lower-case name → values, in order */
  headers: Map<string, string[]>;
  body: Buffer;
  /** the body's framing was complete (a close-delimited body is complete once the server closed) */
  complete: boolean;
}

/** rawHeader returns a response header's values joined with ", " (undefined when absent). */
export function rawHeader(r: RawResponse, name: string): string | undefined {
  return r.headers.get(name.toLowerCase())?.join(', ');
}

/** RawConnOptions for rawH1. */
export interface RawConnOptions {
  /** plain TCP instead of TLS (the http listener) */
  plain?: boolean;
  /** SNI (TLS only; default 'localhost'; null: send none, as a client connecting by IP address does) */
  servername?: string | null;
  /** read `bytes` every `interval` ms instead of as fast as possible */
  slowRead?: { bytes: number; interval: number };
  /** methods of the requests sent, in order (a HEAD response has no body); default GET for all */
  methods?: string[];
  /** extra TLS options (ciphers, versions…) */
  tlsOptions?: tls.ConnectionOptions;
}

/** RawConn is an open raw connection; `responses` fills as the server writes. */
export interface RawConn {
  socket: net.Socket | tls.TLSSocket;
  responses: RawResponse[];
  /** final (non-1xx) responses */
  finals(): RawResponse[];
  /** statuses of every response so far, 1xx included */
  statuses(): number[];
  /** bytes read so far */
  received: number;
  /** every byte read so far, as latin1 text */
  text(): string;
  closed: boolean;
  /** performance.now() when the socket closed (0 while open) */
  closedAt: number;
  write(data: string | Buffer): void;
  /** stop reading (the server's writes back up) / read again at the configured speed */
  pause(): void;
  resume(): void;
  /** resolves once `n` final responses are complete (rejects after `ms`) */
  waitResponses(n: number, ms?: number): Promise<RawResponse[]>;
  /** resolves once the socket is closed (rejects after `ms`) */
  waitClosed(ms?: number): Promise<void>;
  /**
   * settle: resolves when the server has closed, or once `n` final responses are complete and
   * nothing more arrived for `quiet` ms (a late, smuggled response would arrive in that time), or
   * after `ms` whatever happened. The connection is left open.
   */
  settle(n: number, opts?: { quiet?: number; ms?: number }): Promise<void>;
  destroy(): void;
}

/** rawH1 opens a raw HTTP/1.1 connection to 127.0.0.1:port (TLS with ALPN http/1.1 unless `plain`). */
export function rawH1(port: number, opts: RawConnOptions = {}): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const methods = opts.methods ?? [];
    let socket: net.Socket | tls.TLSSocket;
    const onConnect = (): void => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(conn);
    };
    if (opts.plain) {
      socket = net.connect({ host: '127.0.0.1', port }, onConnect);
    } else {
      const servername = opts.servername === null ? undefined : (opts.servername ?? 'localhost');
      socket = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['http/1.1'], rejectUnauthorized: false, ...opts.tlsOptions }, onConnect);
    }
    socket.once('error', reject);
    let buf = Buffer.alloc(0);
    const chunks: Buffer[] = [];
    let cur: (RawResponse & { remaining: number; chunked: boolean; untilClose: boolean; chunkState: 'size' | 'data' | 'crlf' | 'trailers'; chunkLeft: number }) | null = null;
    let lastData = performance.now();
    const listeners = new Set<() => void>();
    const changed = (): void => {
      for (const l of [...listeners]) l();
    };
    const conn: RawConn = {
      socket,
      responses: [],
      finals: () => conn.responses.filter((r) => r.status >= 200 && r.complete),
      statuses: () => conn.responses.map((r) => r.status),
      received: 0,
      text: () => Buffer.concat(chunks).toString('latin1'),
      closed: false,
      closedAt: 0,
      write: (d) => void (socket.writable && socket.write(d)),
      pause: () => {
        paused = true;
        socket.pause();
      },
      resume: () => {
        paused = false;
        if (!opts.slowRead) socket.resume();
      },
      waitResponses: (n, ms = 10_000) =>
        until(() => conn.finals().length >= n, ms, `${n} responses (got ${conn.statuses().join(',') || 'none'}${conn.closed ? ', closed' : ''})`).then(() => conn.finals()),
      waitClosed: (ms = 10_000) => until(() => conn.closed, ms, 'server close'),
      settle: (n, o = {}) => {
        const quiet = o.quiet ?? 100;
        const end = performance.now() + (o.ms ?? 5000);
        return new Promise<void>((r) => {
          const tick = (): void => {
            const now = performance.now();
            if (conn.closed || now > end || (conn.finals().length >= n && now - lastData >= quiet)) return r();
            setTimeout(tick, 10);
          };
          tick();
        });
      },
      destroy: () => socket.destroy(),
    };
    const until = (pred: () => boolean, ms: number, what: string): Promise<void> =>
      new Promise((res, rej) => {
        if (pred()) return res();
        const timer = setTimeout(() => {
          listeners.delete(check);
          rej(new Error(`raw HTTP/1.1 client: ${what} not reached within ${ms}ms`));
        }, ms);
        const check = (): void => {
          if (!pred()) return;
          clearTimeout(timer);
          listeners.delete(check);
          res();
        };
        listeners.add(check);
      });

    const parse = (): void => {
      for (;;) {
        if (cur === null) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
          buf = buf.subarray(end + 4);
          const statusLine = lines[0]!;
          const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(statusLine)?.[1] ?? 0);
          const headers = new Map<string, string[]>();
          for (const l of lines.slice(1)) {
            const c = l.indexOf(':');
            if (c < 0) continue;
            const k = l.slice(0, c).trim().toLowerCase();
            headers.set(k, [...(headers.get(k) ?? []), l.slice(c + 1).trim()]);
          }
          const interim = status >= 100 && status < 200;
          const method = interim ? 'GET' : (methods.shift() ?? 'GET');
          const te = headers.get('transfer-encoding')?.join(',').toLowerCase() ?? '';
          const cl = headers.get('content-length')?.[0];
          const noBody = interim || status === 204 || status === 304 || method === 'HEAD';
          cur = {
            status, statusLine, headers, body: Buffer.alloc(0), complete: false,
            remaining: noBody ? 0 : cl !== undefined ? Number(cl) : 0,
            chunked: !noBody && te.includes('chunked'),
            untilClose: !noBody && cl === undefined && !te.includes('chunked'),
            chunkState: 'size', chunkLeft: 0,
          };
          conn.responses.push(cur);
        }
        const r = cur;
        if (r.untilClose) {
          r.body = Buffer.concat([r.body, buf]);
          buf = Buffer.alloc(0);
          return;
        }
        if (!r.chunked) {
          const take = Math.min(r.remaining, buf.length);
          if (take > 0) r.body = Buffer.concat([r.body, buf.subarray(0, take)]);
          buf = buf.subarray(take);
          r.remaining -= take;
          if (r.remaining > 0) return;
          r.complete = true;
          cur = null;
          continue;
        }
        // chunked
        if (r.chunkState === 'size') {
          const e = buf.indexOf('\r\n');
          if (e < 0) return;
          r.chunkLeft = parseInt(buf.subarray(0, e).toString('latin1'), 16);
          buf = buf.subarray(e + 2);
          r.chunkState = r.chunkLeft === 0 ? 'trailers' : 'data';
          continue;
        }
        if (r.chunkState === 'data') {
          const take = Math.min(r.chunkLeft, buf.length);
          r.body = Buffer.concat([r.body, buf.subarray(0, take)]);
          buf = buf.subarray(take);
          r.chunkLeft -= take;
          if (r.chunkLeft > 0) return;
          r.chunkState = 'crlf';
          continue;
        }
        if (r.chunkState === 'crlf') {
          if (buf.length < 2) return;
          buf = buf.subarray(2);
          r.chunkState = 'size';
          continue;
        }
        // trailers: lines until an empty one
        const e = buf.indexOf('\r\n');
        if (e < 0) return;
        const line = buf.subarray(0, e);
        buf = buf.subarray(e + 2);
        if (line.length === 0) {
          r.complete = true;
          cur = null;
        }
      }
    };
    const onData = (d: Buffer): void => {
      chunks.push(d);
      conn.received += d.length;
      lastData = performance.now();
      buf = Buffer.concat([buf, d]);
      parse();
      changed();
    };
    let paused = false;
    if (opts.slowRead) {
      const { bytes, interval } = opts.slowRead;
      socket.pause();
      const timer = setInterval(() => {
        if (paused || socket.destroyed) return;
        const n = Math.min(bytes, socket.readableLength);
        if (n > 0) {
          const c = socket.read(n) as Buffer | null;
          if (c) onData(c);
        } else {
          socket.read(0); // ask the stream to fill its buffer
        }
      }, interval);
      socket.once('close', () => clearInterval(timer));
    } else {
      socket.on('data', onData);
    }
    socket.on('close', () => {
      conn.closed = true;
      conn.closedAt = performance.now();
      if (cur !== null && cur.untilClose) cur.complete = true;
      changed();
    });
  });
}

/** exchangeRaw sends `data` on a new connection, waits for `settle(n)`, and returns the connection (destroyed). */
export async function exchangeRaw(port: number, data: string | Buffer, n = 1, opts: RawConnOptions & { quiet?: number; ms?: number } = {}): Promise<RawConn> {
  const c = await rawH1(port, opts);
  c.write(data);
  await c.settle(n, { quiet: opts.quiet, ms: opts.ms });
  c.destroy();
  return c;
}
