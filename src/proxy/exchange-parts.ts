/**
 * The parts of an exchange (handler.ts) that are not its logic: what it serves (`ServedRoute`,
 * `UpstreamTarget`), and small per-connection helpers. handler.ts re-exports the types.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { MalformedRequestError } from '../errors.js';
import type { RouteMetrics } from '../metrics.js';
import type { UpstreamState } from '../upstream/health-state.js';
import type { Load, Selector } from '../upstream/selector.js';
import type { UpstreamClient } from './engine.js';
import type { H2Message } from './h2-message.js';
import type { RouteExtras } from './route-extras.js';
import type { Routable } from './router.js';

/** UpstreamTarget is one upstream of a route, as the data plane holds it. */
export interface UpstreamTarget {
  readonly origin: string;
  readonly client: UpstreamClient;
  /** in the pool: up, or on trial with no trial request running */
  available: boolean;
  state: UpstreamState;
  /** requests in flight to this origin from this process (shared by the routes using it; the load policies read it) */
  readonly load: Load;
}

/** ServedRoute is a route ready to serve: matched hosts/prefix, pool, selector, limits, metrics. */
export interface ServedRoute extends Routable {
  readonly name: string;
  readonly upstreams: readonly UpstreamTarget[];
  readonly selector: Selector<UpstreamTarget>;
  readonly maxBody: number;
  readonly metrics: RouteMetrics;
  /** extra attempts allowed by the retry rule */
  readonly retries: number;
  /** upstream statuses that count as failures (passed on, not retried); null when none */
  readonly failStatuses: ReadonlySet<number> | null;
  /** Retry-After seconds on 503 when no upstream is available */
  readonly retryAfter: string;
  /** rate limit, redirect, compression, header rules; null when the route uses none (issue 29) */
  readonly extras: RouteExtras | null;
}


/** Matcher finds a request's route (the data plane's Router). */
export interface Matcher {
  match(host: string, path: string): ServedRoute | null;
}

/** ClientRequest is the client's request as an exchange reads it: HTTP/1.1's IncomingMessage, or an h2 stream. */
export type ClientRequest = IncomingMessage | H2Message;
/** ClientReply is where an exchange writes its answer: HTTP/1.1's ServerResponse, or the same h2 stream. */
export type ClientReply = ServerResponse | H2Message;

const kTlsVersion = Symbol('portico.tlsVersion');
type TaggedSocket = TLSSocket & { [kTlsVersion]?: string | null };

/** tlsVersionOf reads the negotiated protocol once per connection. */
export function tlsVersionOf(socket: IncomingMessage['socket']): string | null {
  const s = socket as TaggedSocket;
  let v = s[kTlsVersion];
  if (v === undefined) {
    v = typeof s.getProtocol === 'function' ? s.getProtocol() : null;
    s[kTlsVersion] = v;
  }
  return v;
}

/** servernameOf is the SNI name the client sent on an HTTP/1.1 connection ('' without one). */
export function servernameOf(req: IncomingMessage): string {
  const sn = (req.socket as TLSSocket).servername;
  return typeof sn === 'string' ? sn : '';
}

const kMalformed = Symbol('portico.malformed');
type MarkedRequest = IncomingMessage & { [kMalformed]?: MalformedRequestError };

/**
 * markMalformed tells the exchange of `req` that its body failed to parse (the listener's clientError
 * handler answers 400 and closes the connection; the exchange then logs 400, not 499).
 */
export function markMalformed(req: IncomingMessage, detail: string): void {
  (req as MarkedRequest)[kMalformed] = new MalformedRequestError(detail);
}

export function malformedOf(req: IncomingMessage): MalformedRequestError | null {
  return (req as MarkedRequest)[kMalformed] ?? null;
}

/**
 * DrainKit is an exchange's backpressure state, made the first time its client falls behind (most
 * exchanges never do: nothing is allocated for them): the 'drain' listener, which resumes the
 * upstream in a microtask, and the send timer.
 */
export class DrainKit {
  timer: NodeJS.Timeout | null = null;
  constructor(private readonly ex: { drained(): void; sendTimedOut(): void }) {}

  readonly onDrain = (): void => {
    queueMicrotask(this.resume);
  };

  private readonly resume = (): void => {
    this.ex.drained();
  };

  readonly onSendTimeout = (): void => {
    this.ex.sendTimedOut();
  };

  close(res: ClientReply): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    res.off('drain', this.onDrain);
  }
}

/** errorText is an error as one line of text (`CODE: message`). */
export function errorText(err: unknown): string {
  if (typeof err === 'string') return err;
  const e = err as { message?: string; code?: string };
  return e.code ? `${e.code}: ${e.message}` : String(e.message ?? err);
}
