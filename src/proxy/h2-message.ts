/**
 * HTTP/2 requests on Node's core stream API. One `H2Message` per stream is both the request and the
 * response side of an exchange: it has the few members of IncomingMessage/ServerResponse that
 * `Exchange` uses, over the `ServerHttp2Stream` itself. Node's compatibility API
 * (Http2ServerRequest/Response) was measured to cost ~30 µs per request more than this on a
 * 2-core EPYC (issue 14: portico's h2 at 1.47x a minimal core-API proxy, h1 at 1.19x its floor).
 *
 * Where h2 differs from HTTP/1.1 (the header side is in passes.ts):
 * - a body is announced by the HEADERS frame (no END_STREAM), not by Content-Length/Transfer-Encoding;
 * - connection-specific response fields are refused (respond throws), and so are repeated
 *   single-value fields (two Content-Type lines from an HTTP/1.1 upstream);
 * - "close the connection after this answer" is "reset this stream after this answer": once the
 *   answer is out, a client still sending its body gets RST_STREAM NO_ERROR, "stop sending"
 *   (RFC 9113 §8.1). Without it a client whose body the upstream did not read (an early answer to
 *   an upload) waits for flow-control credit that never comes (found with curl: 200, then a hang).
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import http2 from 'node:http2';

const { NGHTTP2_NO_ERROR } = http2.constants;

/** H2Message is one h2 stream seen as an exchange's request and response. */
export class H2Message {
  readonly httpVersionMajor = 2;
  readonly method: string;
  readonly url: string;

  constructor(
    readonly stream: http2.ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    readonly rawHeaders: string[],
    /** the peer address (IPv4-mapped IPv6 unwrapped), TLS version and SNI name ('' without one) of the session */
    readonly ip: string,
    readonly tlsVersion: string | null,
    readonly servername: string = '',
  ) {
    this.method = headers[':method'] as string;
    this.url = headers[':path'] as string;
    stream.on('error', ignore); // a stream error is also a 'close' (the exchange sees it there)
    stream.once('finish', onAnswered);
  }

  // ─── request side ───

  /** the request body ended (or the stream is gone: nothing more will arrive) */
  get complete(): boolean {
    const s = this.stream;
    return s.readableEnded || s.destroyed || s.closed;
  }

  /** hasBody: the HEADERS frame did not end the stream, so DATA frames follow (length may be unknown). */
  get hasBody(): boolean {
    return !this.stream.endAfterHeaders;
  }

  setTimeout(ms: number, cb: () => void): void {
    this.stream.setTimeout(ms, cb);
  }

  on(event: 'data' | 'end' | 'close', fn: (chunk: Buffer) => void): this {
    this.stream.on(event, fn);
    return this;
  }

  once(event: 'end' | 'drain' | 'close', fn: (chunk: Buffer) => void): this {
    this.stream.once(event, fn);
    return this;
  }

  off(event: 'data' | 'end' | 'drain' | 'close', fn: (chunk: Buffer) => void): this {
    this.stream.off(event, fn);
    return this;
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  // ─── response side ───

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  get writableFinished(): boolean {
    return this.stream.writableFinished;
  }

  /** bytes written and not yet taken by the session (the client's flow-control window is shut, or it reads slowly) */
  get writableLength(): number {
    return this.stream.writableLength;
  }

  /**
   * delivered: the stream closed without a reset by the client (NO_ERROR): the whole answer went out.
   * `writableFinished` cannot tell: a stream the client reset reports itself finished.
   */
  get delivered(): boolean {
    const code = this.stream.rstCode;
    return code === undefined || code === NGHTTP2_NO_ERROR;
  }

  /**
   * writeHead sends the response HEADERS. `h` has had the hop-by-hop fields removed already;
   * `http2-settings` goes too. Node refuses repeated single-value fields (content-type, location…),
   * which an HTTP/1.1 upstream can send: then each repeated field but set-cookie keeps its first value.
   */
  writeHead(status: number, h: OutgoingHttpHeaders): void {
    if (h['http2-settings'] !== undefined) delete h['http2-settings'];
    h[':status'] = status;
    try {
      this.stream.respond(h);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_HTTP2_HEADER_SINGLE_VALUE') throw err;
      for (const [k, v] of Object.entries(h)) if (Array.isArray(v) && k !== 'set-cookie') h[k] = v[0];
      this.stream.respond(h);
    }
  }

  write(chunk: Buffer): boolean {
    return this.stream.write(chunk);
  }

  end(body?: string): void {
    if (body === undefined) this.stream.end();
    else this.stream.end(body);
  }

  /** destroy cuts the stream: RST_STREAM INTERNAL_ERROR, so the client knows the answer is incomplete (a bare destroy() would send NO_ERROR) */
  destroy(): void {
    this.stream.destroy(CUT);
  }
}

function ignore(): void {}

/** CUT is the reason a stream portico cuts is destroyed with (its 'error' event is ignored). */
const CUT = new Error('portico cut the stream');

/** onAnswered: our answer is out; a request side still open is told to stop (the other streams go on). */
function onAnswered(this: http2.ServerHttp2Stream): void {
  if (!this.readableEnded) setImmediate(resetStream, this);
}

function resetStream(stream: http2.ServerHttp2Stream): void {
  if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
}
