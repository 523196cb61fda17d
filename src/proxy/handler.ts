/**
 * The request path: ordered passes, then one undici dispatch whose handler (an `Exchange`) writes the
 * upstream response into the client response with backpressure.
 *
 *   requestProblem → route → body limit (buffer ≤ 64 KiB) → select upstream → outgoing headers
 *   → dispatch → (error) passive report → retry on another upstream when the retry rule allows
 *   → statusFor(err) → error response or cut-off → access log + metrics
 *
 * Retry rule (DESIGN §4): another attempt, up to `retries`, on another upstream when one is
 * available, within the upstream_response budget, when (a) the connection failed before the request
 * was written (any method, body still replayable), or (b) the request was written, its method is
 * idempotent and its body empty or buffered; never once response bytes reached the client.
 *
 * One `Exchange` object per request holds all per-request state; it is the undici handler, so no
 * per-request closures are created beyond one `close` listener.
 *
 * HTTP/2 requests (an `H2Message` over Node's core stream API, as both `req` and `res`) take the
 * same path; where h2 differs (host from :authority, pseudo-headers, body announced by the frame,
 * no Connection header, stream reset instead of connection close) the exchange branches on `h2` to
 * H2Message and the helpers in passes.ts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ClientGoneError, MalformedRequestError, NoUpstreamError } from '../errors.js';
import { writeAccess, type AccessRecord } from './access-log.js';
import { sendAnswer, sendRedirect } from './answers.js';
import { RequestBody, type BodyEvents } from './body.js';
import type { DispatchController, DispatchHandler, DispatchOptions } from './engine.js';
import type { H2Message } from './h2-message.js';
import {
  h1RawHeaders, h2Authority, h2RequestProblem, hostOf, outgoingHeaders, requestProblem, responseHeaders, splitTarget, unwrapIp, validHost, type ForwardContext,
} from './passes.js';
import { CLIENT_GONE, blameOf, catalogued, statusFor } from './failures.js';
import type { Load } from '../upstream/selector.js';
import { Compression, planCompression, type CompressionSink } from './compress.js';
import { applyRequestRules, featureAnswer, setResponseFields, type RouteExtras } from './route-extras.js';
import {
  DrainKit, errorText, malformedOf, servernameOf, tlsVersionOf, type ClientReply, type ClientRequest, type Matcher, type ServedRoute, type UpstreamTarget,
} from './exchange-parts.js';
import type { Logger } from '../log.js';
import type { Metrics, RouteMetrics } from '../metrics.js';

export { markMalformed } from './exchange-parts.js';
export type { ClientReply, ClientRequest, Matcher, ServedRoute, UpstreamTarget } from './exchange-parts.js';

/** ExchangeHost is what an exchange needs from its data plane (kept small so it is easy to fake). */
export interface ExchangeHost {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly accessLog: boolean;
  readonly draining: boolean;
  readonly noRoute: RouteMetrics;
  /** body idle timeout (ms): a client that stops sending its body this long gets 408 */
  readonly bodyTimeout: number;
  /** upstream_response (ms): the budget every attempt of one request shares */
  readonly responseTimeout: number;
  /** send timeout (ms): a response the client does not read for this long is cut (0: never) */
  readonly sendTimeout: number;
  isTrusted(ip: string): boolean;
  /**
   * misdirected: the connection's certificate (picked by SNI `servername`) does not cover `host`,
   * so the request was sent on a connection that is not for it (→ 421, RFC 9110 §15.5.20)
   */
  misdirected(servername: string, host: string): boolean;
  exchangeDone(ex: Exchange): void;
  /** the current snapshot's route of that name, or null (retries pick from current health) */
  routeNamed(name: string): ServedRoute | null;
  /** report tells the control plane what real traffic saw (failures; trial outcomes) */
  report(route: ServedRoute, upstream: UpstreamTarget, ok: boolean, detail: string): void;
}

/** DELIVERED_SLACK: an answer whose unsent rest fits in a socket buffer (16 KiB, Node's high-water mark) counts as delivered at its end. */
const DELIVERED_SLACK = 16 * 1024;

/** Methods that may be sent twice (RFC 9110 §9.2.2). */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Exchange is one proxied request: the passes' state and the undici dispatch handler. */
export class Exchange implements DispatchHandler, BodyEvents, CompressionSink {
  readonly start = performance.now();
  route: ServedRoute | null = null;
  upstream: UpstreamTarget | null = null;
  host = '';
  path: string;
  status = 0;
  bytes = 0;
  attempts = 0;
  private ctrl: DispatchController | null = null;
  private gone = false;
  private finished = false;
  private error: unknown = null;
  private body: RequestBody | null = null;
  private headers: string[] | null = null;
  /** performance.now() after which no new attempt starts (upstream_response budget) */
  private deadline = 0;
  /** the current attempt's request was written to the upstream (onRequestStart ran) */
  private sent = false;
  /** the current attempt is the one trial request of an ejected upstream */
  private trial = false;
  /** this attempt's failure was already reported (a fail_statuses response whose body then broke) */
  private reported = false;
  /** HTTP/1.1: close the connection after this answer (HTTP/1.0 with Transfer-Encoding, RFC 9112 §6.1) */
  private closeConn = false;
  /** absolute-form target: its authority is the Host the upstream sees (RFC 9112 §3.2.2) */
  private authority: string | null = null;
  /** the upstream response ended: the exchange finishes when the answer has left portico (res 'close') */
  private ending = false;
  /** the upstream is paused until the client drains its response (backpressure), and the send timer for it */
  private waitingDrain = false;
  private drainKit: DrainKit | null = null;
  /** the in-flight count of the upstream the current attempt went to, until its response ended or failed */
  private load: Load | null = null;
  /** the response's compressor (compressed responses only) and its coding */
  private zip: Compression | null = null;
  private encoding: string | undefined = undefined;
  /** an HTTP/2 request (an h2 stream as request and response) */
  readonly h2: boolean;
  constructor(
    readonly owner: ExchangeHost,
    readonly req: ClientRequest,
    readonly res: ClientReply,
    /** the data plane state this exchange started on (kept open until it finishes) */
    readonly plane: unknown = null,
    /**
     * an h2 stream (from the h2 sessions), never decided from the request: an HTTP/1.1 connection's
     * request line may say `HTTP/2.0` (issue 23: it was taken for an h2 stream and threw)
     */
    h2 = false,
  ) {
    this.path = req.url ?? '/';
    res.on('close', this.onClientClose); // 'close' comes once; `on` spares once()'s wrapper per request
    this.h2 = h2;
    // read (and cache on the connection) while it is up: a client gone before the access line (499)
    // leaves a socket whose getProtocol() is null
    if (!h2) tlsVersionOf((req as IncomingMessage).socket);
  }

  /**
   * queue holds a pipelined HTTP/1.1 request until the responses before it on its connection are
   * done (Node hands it its socket then): one request per connection is proxied at a time, as nginx
   * and HAProxy do. Proxying them all at once let one client open N upstream requests with one
   * packet, and their responses' buffered writes re-entered undici's parser from a 'drain'
   * (issue 23: `assert(currentParser === null)`, blamed on the upstream). Until its turn, the
   * request is watched through `req` (Node 20 emits no 'close' on a response that never got the socket).
   */
  queue(router: Matcher): void {
    const req = this.req as IncomingMessage;
    const onGone = (): void => {
      if (req.socket === null || (req.socket as Socket).destroyed) this.onClientClose();
    };
    req.once('close', onGone);
    (this.res as ServerResponse).once('socket', () => {
      req.off('close', onGone);
      if (!this.finished) this.run(router);
    });
  }

  /** run executes the passes and dispatches; every outcome ends in `finish`. */
  run(router: Matcher): void {
    const { req } = this;
    const problem = this.h2 ? h2RequestProblem(req) : requestProblem(req as IncomingMessage);
    if (problem !== null) return this.fail(problem.status, problem.reason, true);
    const target = splitTarget(this.path);
    this.path = target.path;
    if (target.host !== null) {
      if (!validHost(target.host)) return this.fail(400, 'invalid authority in the request target', true);
      this.authority = target.host;
    }
    this.host = hostOf(target.host ?? (this.h2 ? h2Authority(req.headers) : req.headers.host));
    const route = router.match(this.host, target.path);
    if (route === null) return this.fail(404, 'no route', false);
    this.route = route;
    route.metrics.started++;
    const sni = this.h2 ? (req as H2Message).servername : servernameOf(req as IncomingMessage);
    if (sni !== '' && sni !== this.host && this.owner.misdirected(sni, this.host)) return this.fail(421, 'certificate does not cover the host (SNI differs)', false);
    const cl = req.headers['content-length'];
    const te = req.headers['transfer-encoding'];
    if (route.extras !== null && this.answered(route.extras, cl, te)) return;
    // HTTP/1.0 with Transfer-Encoding: framing is suspect; answer, then close (RFC 9112 §6.1)
    if (te !== undefined && !this.h2 && (req as IncomingMessage).httpVersionMinor === 0) this.closeConn = true;
    if (cl !== undefined) {
      if (Number(cl) > route.maxBody) return this.fail(413, 'body too large', true);
      if (cl === '0') return this.attempt();
    } else if (te === undefined && !(this.h2 && (req as H2Message).hasBody)) {
      return this.attempt();
    }
    // no upstream at all: 503 at once, before reading the body (attempt() does the same without one)
    if (!route.upstreams.some((u) => u.available)) return this.failWith(new NoUpstreamError(route.name));
    if (this.owner.bodyTimeout > 0) req.setTimeout(this.owner.bodyTimeout, this.onBodyTimeout);
    // a body declared too large to buffer streams at once; otherwise ready() starts the first attempt
    this.body = new RequestBody(req, route.maxBody, cl === undefined ? null : Number(cl), this);
    if (this.body.streamsNow) this.attempt();
  }

  /** ready: the body is buffered (or streams): start the first attempt. */
  ready(): void {
    if (!this.finished && this.attempts === 0) this.attempt();
  }

  /** failed: the body broke its limit before an attempt read it. */
  failed(err: Error): void {
    if (this.attempts > 0) this.ctrl?.abort(err);
    this.failWith(err);
  }

  /** attempt picks the next upstream (another than the last one when possible) and dispatches. */
  private attempt(): void {
    if (this.finished) return;
    let route = this.route!;
    let last = this.upstream;
    if (last !== null) {
      // a retry picks from the current snapshot's health (a reload may have replaced the route)
      const current = this.owner.routeNamed(route.name);
      if (current !== null && current !== route) {
        route = this.route = current;
        last = current.upstreams.find((u) => u.origin === last!.origin) ?? null;
      }
    }
    const upstream = route.selector.select(route.upstreams, last);
    if (upstream === null) return this.failWith(this.attempts === 0 ? new NoUpstreamError(route.name) : this.error);
    if (upstream.state === 'trial') {
      upstream.available = false; // one trial request at a time
      this.trial = true;
    } else {
      this.trial = false;
    }
    this.upstream = upstream;
    const { req } = this;
    if (this.headers === null) {
      const ip = this.clientIp();
      const authority = this.authority;
      const host = authority ?? (this.h2 ? h2Authority(req.headers) : req.headers.host) ?? '';
      const ctx: ForwardContext = { clientIp: ip, trusted: this.owner.isTrusted(ip), host, proto: 'https', authority };
      this.headers = outgoingHeaders(this.h2 ? h1RawHeaders(req.rawHeaders) : req.rawHeaders, ctx);
      const rules = route.extras?.request;
      if (rules) this.headers = applyRequestRules(this.headers, rules);
      this.deadline = performance.now() + this.owner.responseTimeout;
    }
    this.attempts++;
    this.unload();
    (this.load = upstream.load).n++;
    this.ctrl = null;
    this.sent = false;
    this.reported = false;
    const opts: DispatchOptions = { path: this.path, method: req.method ?? 'GET', headers: this.headers, body: this.body === null ? null : this.body.forAttempt() };
    // a retry gets what is left of the request's budget
    if (this.attempts > 1) opts.headersTimeout = Math.max(1, Math.round(this.deadline - performance.now()));
    // undici reports invalid input (bad header values: the client's fault) through onResponseError
    upstream.client.dispatch(opts, this);
  }

  onRequestStart(controller: DispatchController): void {
    this.ctrl = controller;
    this.sent = true;
    if (this.gone || this.finished) controller.abort(new ClientGoneError());
  }

  onResponseStart(_c: DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    if (statusCode < 200) return; // informational responses are not forwarded
    this.status = statusCode;
    const route = this.route!;
    const failing = route.failStatuses !== null && route.failStatuses.has(statusCode);
    if (failing) this.owner.report(route, this.upstream!, false, `status ${statusCode}`);
    else if (this.trial) this.owner.report(route, this.upstream!, true, `status ${statusCode}`);
    this.trial = false;
    this.reported = failing;
    const res = this.res;
    if (res.destroyed) return;
    const x = route.extras;
    const h = responseHeaders(headers, x === null || x.response === null ? null : x.response.drop);
    if (x !== null) this.decorate(x, statusCode, h);
    if (this.h2) return (res as H2Message).writeHead(statusCode, h);
    if (this.owner.draining || this.closeConn) h.connection = 'close';
    (res as ServerResponse).writeHead(statusCode, statusMessage, h as Record<string, string | string[]>);
  }

  onResponseData(controller: DispatchController, chunk: Buffer): void {
    if (this.zip !== null) {
      // compressed: the compressor's input full pauses the upstream until compressorDrained
      if (!this.zip.write(chunk)) controller.pause();
      return;
    }
    this.bytes += chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.awaitDrain();
    }
  }

  /**
   * awaitDrain: the client's buffer is full; the upstream stays paused until 'drain'. The resume runs
   * in a microtask, never inside the 'drain' emit: Node's HTTP/1.1 server emits 'drain' from inside
   * a write, which can be inside another exchange's undici parser callback, and undici's parser must
   * not be re-entered (issue 23). A client that reads nothing for `sendTimeout` is cut (send timer).
   */
  private awaitDrain(): void {
    if (this.waitingDrain) return; // a chunk undici had parsed before the pause took effect
    this.waitingDrain = true;
    this.res.once('drain', this.kit().onDrain);
    this.armSendTimer();
  }

  private kit(): DrainKit {
    return (this.drainKit ??= new DrainKit(this));
  }

  /** armSendTimer (re)starts the send timer: the client must take some of its response within `sendTimeout`. */
  private armSendTimer(): void {
    const ms = this.owner.sendTimeout;
    if (ms <= 0) return;
    const kit = this.kit();
    if (kit.timer === null) kit.timer = setTimeout(kit.onSendTimeout, ms);
    else kit.timer.refresh();
  }

  /** drained: the client took the buffered bytes; the upstream (or, compressing, the compressor) may send more. */
  drained(): void {
    this.waitingDrain = false;
    if (this.finished) return;
    if (this.zip !== null) this.zip.resume();
    else this.ctrl?.resume();
  }

  /** sendTimedOut: the client read nothing of its response for `sendTimeout`: cut it (a client fault, 499). */
  sendTimedOut(): void {
    if (this.finished || !(this.waitingDrain || this.ending)) return;
    this.cancel(new ClientGoneError(`client read nothing of the response for ${this.owner.sendTimeout}ms`));
    this.res.destroy();
  }

  /**
   * onResponseEnd: the upstream's response is complete. When portico still holds more of the answer
   * than one socket buffer (a slow reader, a pipelining client that stopped reading), the exchange
   * finishes only once that has left (res 'close': onClientClose) — a client that leaves before it
   * took the rest is a 499, not a 200 (issue 23) — and the rest must be taken within the send
   * timeout. Otherwise (nearly always) it finishes now, as nginx logs an answer written to the socket.
   */
  onResponseEnd(): void {
    this.unload();
    if (this.zip !== null) return this.zip.end(); // compressedEnd follows
    this.endAnswer();
  }

  /** endAnswer ends the client response once the upstream's (and the compressor's) bytes are all written. */
  private endAnswer(): void {
    const res = this.res;
    res.end();
    if (res.writableLength <= DELIVERED_SLACK) return this.finish(this.status);
    this.ending = true;
    this.armSendTimer();
  }

  onResponseError(_c: DispatchController, err: Error): void {
    if (this.finished) return;
    this.unload();
    const upstream = this.upstream!;
    const blame = this.gone ? 'client' : blameOf(err);
    const error = catalogued(err, blame, upstream.origin);
    if (blame !== 'upstream') {
      // not the upstream's fault: an unfinished trial is given to the next request
      if (this.trial && upstream.state === 'trial') upstream.available = true;
      if (blame === 'portico') this.engineFault(err);
      return this.failWith(error);
    }
    if (!this.reported) this.owner.report(this.route!, upstream, false, errorText(err));
    this.error = error;
    if (this.mayRetry()) {
      this.route!.metrics.retries.inc();
      return this.attempt();
    }
    this.failWith(error);
  }

  /** engineFault logs a failure nobody outside portico caused (an engine assertion, an unclassified error): a bug to fix. */
  private engineFault(err: Error): void {
    this.closeConn = true;
    this.owner.log.error(
      {
        code: 'PORTICO_ERR_ENGINE', err: errorText(err), stack: err.stack, route: this.route?.name ?? null, upstream: this.upstream?.origin ?? null, method: this.req.method,
        path: this.path, proto: this.h2 ? 'h2' : 'http/1.1', attempt: this.attempts, sent: this.sent, response_started: this.res.headersSent, bytes: this.bytes,
      },
      'portico bug: proxying failed inside portico (not counted against the upstream)',
    );
  }

  /** mayRetry applies the retry rule to the attempt that just failed. */
  private mayRetry(): boolean {
    if (this.attempts > this.route!.retries || this.res.headersSent || performance.now() >= this.deadline) return false;
    const body = this.body;
    if (!this.sent) return body === null || body.replayable;
    return IDEMPOTENT.has(this.req.method ?? 'GET') && (body === null || body.buffered !== null);
  }

  /** failWith ends the exchange for an error: status from statusFor, error page if nothing was sent yet. */
  failWith(err: unknown): void {
    if (this.finished) return;
    this.error = err;
    const status = this.gone ? CLIENT_GONE : statusFor(err);
    if (status === CLIENT_GONE || this.res.headersSent) {
      this.res.destroy();
    } else {
      const extra: Record<string, string> = {};
      if (status === 503) extra['retry-after'] = this.route?.retryAfter ?? '1';
      this.ownFields(extra);
      // an unread request body would stall the connection: close it after the answer
      if (status === 413 || this.closeConn || (this.body !== null && !this.req.complete)) this.closeAfter(extra);
      sendAnswer(this.res, status, extra);
    }
    this.finish(status);
  }

  /** fail answers by itself (`location`: a redirect), closing the connection after it when `close`. */
  private fail(status: number, reason: string | null, close: boolean, extra: Record<string, string> = {}, location: string | null = null): void {
    this.error = reason;
    if (close || this.closeConn) this.closeAfter(extra);
    this.ownFields(extra);
    if (location === null) sendAnswer(this.res, status, extra);
    else sendRedirect(this.res, status, location, extra);
    this.finish(status);
  }

  // ─── route features (issue 29) ───

  /** answered: the route's features answered the request (rate limit, redirect: route-extras.ts); false: it goes upstream. */
  private answered(x: RouteExtras, cl: string | string[] | undefined, te: string | string[] | undefined): boolean {
    const a = featureAnswer(x, this.path, this.clientIp(), this.req.headers['x-forwarded-for'], this.owner);
    if (a === null) return false;
    if (a.status === 429) this.route!.metrics.rateLimited.inc();
    // a request body is not read: close after the answer (h2: the stream is reset)
    this.fail(a.status, a.reason, (cl !== undefined && cl !== '0') || te !== undefined, a.fields, a.location);
    return true;
  }

  /** ownFields adds the route's response fields (`headers.response.set`, `hsts`) to one of portico's own answers. */
  private ownFields(extra: Record<string, string>): void {
    const rules = this.route?.extras?.response;
    if (rules) setResponseFields(extra, rules);
  }

  /** decorate applies the route's response rules to an upstream response and starts compressing it when it should be. */
  private decorate(x: RouteExtras, status: number, h: Record<string, string | string[] | undefined>): void {
    if (x.response !== null) setResponseFields(h, x.response);
    if (x.codings === null) return;
    const cl = h['content-length'];
    const rh = this.req.headers;
    const coding = planCompression(this.req.method, status, h, rh['accept-encoding'], x.codings, rh['if-none-match']);
    if (coding === null || coding === 'vary') return;
    this.encoding = coding;
    this.zip = new Compression(this, coding, typeof cl === 'string' ? Number(cl) : null);
  }

  /** writeCompressed writes compressed bytes to the client; false: its buffer is full (the compressor waits for drained). */
  writeCompressed(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.res.write(chunk)) return true;
    this.awaitDrain();
    return false;
  }

  /**
   * compressorDrained: the compressor took what was queued; the upstream may send more (even while the
   * client is full: the compressor's buffers then fill and pause the upstream again).
   */
  compressorDrained(): void {
    if (!this.finished) this.ctrl?.resume();
  }

  /** compressedEnd: the compressor wrote its last bytes. */
  compressedEnd(): void {
    if (!this.finished) this.endAnswer();
  }

  /** compressionFailed: zlib failed (never the upstream's or the client's fault): cut the response, logged 502 as a portico bug. */
  compressionFailed(err: Error): void {
    if (this.finished) return;
    this.engineFault(err);
    this.error = err;
    this.res.destroy();
    this.finish(502);
    this.ctrl?.abort(err);
  }

  /** unload ends the current attempt's share of its upstream's in-flight count (once). */
  private unload(): void {
    const l = this.load;
    if (l !== null) {
      l.n--;
      this.load = null;
    }
  }

  /** closeAfter: HTTP/1.1 closes the connection after this answer (`Connection: close`); h2 resets just this stream, as H2Message does for every answer that leaves the body unread. */
  private closeAfter(extra: Record<string, string>): Record<string, string> {
    if (!this.h2) extra.connection = 'close';
    return extra;
  }

  private readonly onBodyTimeout = (): void => {
    if (this.finished || this.req.complete) return;
    // answer first, then abort the upstream side: the abort's error callback then finds us finished
    this.fail(408, 'client body timeout', true);
    this.ctrl?.abort(new ClientGoneError());
  };

  /**
   * onClientClose: the client connection closed, or (h2) the client reset the stream or the session
   * went away, before our answer was complete. The upstream request is aborted at once (its
   * connection destroyed by undici) and the exchange ends now with 499, whatever phase it was in:
   * connecting, waiting for headers, streaming. Our own `finished` flag decides, never the stream's
   * `writableFinished`: a stream the client reset reports itself finished (issue 23: the upstream
   * request then ran on until the upstream closed it, was retried and ejected the upstream).
   */
  private readonly onClientClose = (): void => {
    if (this.finished) return;
    if (!this.h2) {
      const bad = malformedOf(this.req as IncomingMessage);
      if (bad !== null) return this.malformed(bad);
    }
    if (this.ending && this.delivered()) return this.finish(this.status);
    this.cancel(new ClientGoneError(this.ending ? 'client closed the connection before it took the whole response' : undefined));
  };

  /** delivered: the answer left portico whole (the response was flushed, or the h2 stream closed without a reset). */
  private delivered(): boolean {
    return this.h2 ? (this.res as H2Message).delivered : (this.res as ServerResponse).writableFinished;
  }

  /** malformed ends an exchange whose request body Node's parser refused mid-way (the listener answered 400 and closes). */
  private malformed(err: MalformedRequestError): void {
    this.error = err;
    this.finish(400);
    // after finish: the abort's error callback then finds the exchange done
    this.ctrl?.abort(err);
  }

  /** cancel ends the exchange for a client-side reason: the upstream request is aborted, nothing is counted against it. */
  private cancel(err: ClientGoneError): void {
    this.gone = true;
    this.error = err;
    // abort() reports back through onResponseError → failWith → finish, synchronously
    this.ctrl?.abort(err);
    // not dispatched yet, or still connecting: onRequestStart aborts it when the engine gets to it
    this.finish(CLIENT_GONE);
  }

  private finish(status: number): void {
    if (this.finished) return;
    this.finished = true;
    // a trial that ended without a verdict (client gone, 408, 413…) is offered to the next request
    const u = this.upstream;
    if (this.trial && u !== null && u.state === 'trial') u.available = true;
    this.body?.close();
    this.unload();
    if (this.zip !== null) this.zip.destroy();
    const kit = this.drainKit;
    if (kit !== null) kit.close(this.res);
    if (this.gone) status = CLIENT_GONE;
    this.status = status;
    const owner = this.owner;
    owner.exchangeDone(this);
    const seconds = (performance.now() - this.start) / 1000;
    owner.metrics.observe(this.route?.metrics ?? owner.noRoute, status, seconds);
    if (owner.accessLog) this.logLine(seconds);
  }

  private clientIp(): string {
    return this.h2 ? (this.req as H2Message).ip : unwrapIp((this.req as IncomingMessage).socket.remoteAddress);
  }

  private logLine(seconds: number): void {
    const { req } = this;
    const q = this.path.indexOf('?');
    const line: AccessRecord = {
      route: this.route?.name ?? null,
      host: this.host,
      method: req.method,
      path: q < 0 ? this.path : this.path.slice(0, q),
      status: this.status,
      upstream: this.upstream?.origin ?? null,
      attempts: this.attempts,
      duration_ms: Math.round(seconds * 1e6) / 1e3,
      bytes: this.bytes,
      client_ip: this.clientIp(),
      tls_version: this.h2 ? (req as H2Message).tlsVersion : tlsVersionOf((req as IncomingMessage).socket),
      proto: this.h2 ? 'h2' : 'http/1.1',
      error: this.error === null ? undefined : errorText(this.error),
      encoding: this.encoding,
    };
    writeAccess(this.owner.log, this.status >= 500 && this.status !== CLIENT_GONE ? 'warn' : 'info', line);
  }
}
