/**
 * HTTP/2 on the https listener. The https.Server does the TLS handshake and ALPN; a socket that
 * negotiated `h2` is handed to an `http2` server that never listens itself (`emit('connection')`),
 * so HTTP/1.1 keeps Node's http.Server path unchanged (431 via maxHeaderSize, 408 via
 * headersTimeout, keep-alive, Connection: close) and h2 gets its own session handling here.
 * Requests are served on the core stream API (one `H2Message` per stream, no compat objects: the
 * server has no 'request' listener, so Node never builds Http2ServerRequest/Response):
 *
 * - sessions are tracked, so shutdown and listener moves send GOAWAY (`goAway`) and cut what is left
 *   after the grace period (`destroyAll`): http.Server's closeIdleConnections/closeAllConnections
 *   know only HTTP/1.1 connections;
 * - a session must open its first stream within `headerTimeout`, and is closed (GOAWAY) after
 *   `idleTimeout` with no open stream; PINGs do not keep it open;
 * - rapid reset (CVE-2023-44487): more than `maxResets.count` streams reset by the client within
 *   `maxResets.window` ms destroy the session with GOAWAY ENHANCE_YOUR_CALM. Node's own mitigation
 *   is nghttp2's token bucket (1000 resets, then 33/s). Measured on Node 20.20 and 26.10 with one
 *   write of 3000 HEADERS+RST_STREAM pairs: the request handler still ran for ~1160–1350 of them
 *   before the session closed. The `streamResetBurst`/`streamResetRate` options (Node 26 honours
 *   them, 20 ignores them) only move nghttp2's GOAWAY earlier: the frames already read are still
 *   handed to the handler. Destroying the session from JS stops that at once;
 * - a request head larger than `maxHeaderListSize` gets 431: nghttp2 enforces the advertised
 *   SETTINGS_MAX_HEADER_LIST_SIZE only once the client has acknowledged it (a stream reset with
 *   ENHANCE_YOUR_CALM), so the first requests of a session are checked here.
 *
 * Concurrent streams above `maxConcurrentStreams` are refused by nghttp2 (RST_STREAM REFUSED_STREAM
 * before the client acknowledged the setting; a connection error after).
 *
 * Sockets are tracked apart from sessions: once a session has closed, Node ends the socket but
 * leaves it open while the client keeps its side open (measured: a half-open client holds it, and
 * with it the listener's close(), forever); LINGER_MS after our FIN the socket is destroyed.
 */
import type { IncomingHttpHeaders } from 'node:http';
import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../log.js';
import { H2Message } from '../proxy/h2-message.js';

/** H2Settings are the listener's h2 settings; `configure` replaces them (new sessions get the SETTINGS values, timers and the reset limit apply at once). */
export interface H2Settings {
  /** offer `h2` in ALPN */
  enabled: boolean;
  maxConcurrentStreams: number;
  /** bytes, counted as HTTP/2 does: name + value + 32 per field (RFC 9113 §6.5.2) */
  maxHeaderListSize: number;
  /** more than `count` client resets within `window` ms close the session */
  maxResets: { count: number; window: number };
  /** ms until the first stream of a session */
  headerTimeout: number;
  /** ms a session may stay without open streams */
  idleTimeout: number;
  /**
   * ms a session with open streams may go without a frame either way before it is destroyed: longer
   * than any request may legitimately wait. Node 20 leaves a session nghttp2 gave up on (GOAWAY after
   * a connection error, e.g. a DATA frame over SETTINGS_MAX_FRAME_SIZE) with its streams open and its
   * socket unread forever, even after the client closed it (issue 23); Node 26 destroys it itself.
   */
  stallTimeout: number;
}

/** H2Handler takes one request: its stream as an H2Message (request and response in one). */
export type H2Handler = (msg: H2Message) => void;

/** H2Hooks: where requests go, and how refused ones (431) are answered and counted. */
export interface H2Hooks {
  onRequest: H2Handler;
  /** answer a request refused before routing (431 head too large) */
  onRefused(status: number, reason: string, msg: H2Message): void;
}

const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

const kState = Symbol('portico.h2');

/** LINGER_MS: how long a client may keep a connection open after our FIN (the session is over). */
const LINGER_MS = 1000;

/** SessionState is the per-connection bookkeeping (on the session and on each of its streams). */
interface SessionState {
  readonly owner: H2Sessions;
  readonly session: http2.ServerHttp2Session;
  readonly peer: string;
  /** the session's TLS version ("TLSv1.3") and SNI name ('' without one), read once */
  readonly tls: string | null;
  readonly sni: string;
  /** streams open now */
  streams: number;
  /** the header/idle timer and the delay it was armed with */
  timer: NodeJS.Timeout | null;
  timerMs: number;
  /** ring of the last `count` reset times (performance.now()), allocated at the first reset */
  resetTimes: Float64Array | null;
  resets: number;
}

type Tagged<T> = T & { [kState]?: SessionState };

/** headerListSize is the HTTP/2 size of a raw header list (pseudo-headers included). */
export function headerListSize(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) n += raw[i]!.length + raw[i + 1]!.length + 32;
  return n;
}

/** H2Sessions is the http2 side of one https listener. */
export class H2Sessions {
  readonly server: http2.Http2Server;
  private settings: H2Settings;
  private readonly live = new Set<SessionState>();
  private readonly sockets = new Set<TLSSocket>();
  private closing = false;

  constructor(settings: H2Settings, private readonly hooks: H2Hooks, private readonly log: Logger) {
    this.settings = settings;
    this.server = http2.createServer({ settings: nativeSettings(settings) });
    this.server.on('session', this.onSession);
    this.server.on('sessionError', (err: NodeJS.ErrnoException, session: http2.ServerHttp2Session) => {
      log.debug({ code: err.code, reason: err.message, client_ip: peerOf(session) }, 'h2 session error');
    });
  }

  /** enabled tells ALPN whether to offer h2. */
  get enabled(): boolean {
    return this.settings.enabled && !this.closing;
  }

  /** accept takes a TLS socket that negotiated h2. */
  accept(socket: TLSSocket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.once('finish', () => setTimeout(() => socket.destroy(), LINGER_MS).unref());
    this.server.emit('connection', socket);
  }

  /** configure applies reloaded settings: SETTINGS for sessions opened from now on; timers and the reset limit at once. */
  configure(settings: H2Settings): void {
    this.settings = settings;
    this.server.updateSettings(nativeSettings(settings));
    for (const st of this.live) st.session.setTimeout(settings.stallTimeout);
  }

  /** goAway sends GOAWAY to every session (and to sessions still opening): open streams finish, no new ones start. */
  goAway(): void {
    this.closing = true;
    for (const st of this.live) st.session.close();
  }

  /** destroyAll cuts every session and connection (end of the grace period). */
  destroyAll(): void {
    this.closing = true;
    for (const st of this.live) st.session.destroy();
    for (const socket of this.sockets) socket.destroy();
  }

  private readonly onSession = (session: http2.ServerHttp2Session): void => {
    const st: SessionState = {
      owner: this,
      session,
      peer: peerOf(session),
      tls: (session.socket as TLSSocket | undefined)?.getProtocol?.() ?? null,
      sni: sniOf(session.socket as TLSSocket | undefined),
      streams: 0,
      timer: null,
      timerMs: 0,
      resetTimes: null,
      resets: 0,
    };
    // until its first stream, a session has `header` ms; then `idle` ms whenever no stream is open
    this.arm(st, this.settings.headerTimeout);
    // Node's own session timer: refreshed by every frame in or out, natively (no cost per frame here)
    session.setTimeout(this.settings.stallTimeout, onSessionStalled);
    (session as Tagged<http2.ServerHttp2Session>)[kState] = st;
    this.live.add(st);
    session.on('stream', onStream);
    session.once('close', onSessionClose);
    if (this.closing) session.close();
  };

  /** request hands a new stream to the data plane (431 first when its header list is over the limit). */
  request(st: SessionState, stream: http2.ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: string[]): void {
    const msg = new H2Message(stream, headers, rawHeaders, st.peer, st.tls, st.sni);
    if (headerListSize(rawHeaders) > this.settings.maxHeaderListSize) return this.hooks.onRefused(431, 'request header list too large', msg);
    this.hooks.onRequest(msg);
  }

  /** arm (re)starts a session's timer with `ms`. */
  arm(st: SessionState, ms: number): void {
    if (st.timer !== null && st.timerMs === ms) {
      st.timer.refresh();
      return;
    }
    if (st.timer !== null) clearTimeout(st.timer);
    st.timer = setTimeout(onTimer, ms, st);
    st.timer.unref();
    st.timerMs = ms;
  }

  /** streamClosed: the last open stream closing starts the idle timer. */
  streamClosed(st: SessionState): void {
    if (--st.streams === 0 && !st.session.closed && !st.session.destroyed) this.arm(st, this.settings.idleTimeout);
  }

  /** timerFired: no stream opened in time (or idle): GOAWAY; a session with open streams is left alone. */
  timerFired(st: SessionState): void {
    if (st.streams > 0 || st.session.closed || st.session.destroyed) return;
    st.session.close();
  }

  /** resetSeen records a stream the client reset; past the limit the session is destroyed with ENHANCE_YOUR_CALM. */
  resetSeen(st: SessionState): void {
    const { count, window } = this.settings.maxResets;
    let ring = st.resetTimes;
    if (ring === null || ring.length !== count) {
      ring = st.resetTimes = new Float64Array(count);
      st.resets = 0;
    }
    const now = performance.now();
    const i = st.resets % count;
    // the slot holds the count-th most recent reset before this one
    const oldest = ring[i]!;
    ring[i] = now;
    st.resets++;
    if (st.resets > count && now - oldest < window && !st.session.destroyed) {
      this.log.warn({ client_ip: st.peer, resets: count + 1, window_ms: window }, 'h2 session closed: too many stream resets');
      // (an Error is needed for the code to be used: destroy(undefined, code) sends NO_ERROR)
      st.session.destroy(new Error('too many stream resets'), NGHTTP2_ENHANCE_YOUR_CALM);
    }
  }

  /** stalled: no frame in or out for stallTimeout; with streams open, nothing can finish them any more: destroy. */
  stalled(st: SessionState): void {
    if (st.streams === 0 || st.session.destroyed) return;
    this.log.warn({ client_ip: st.peer, streams: st.streams, stall_ms: this.settings.stallTimeout }, 'h2 session stalled with open streams: closed');
    st.session.destroy();
  }

  /** sessionClosed forgets a session whose connection closed. */
  sessionClosed(st: SessionState): void {
    if (st.timer !== null) clearTimeout(st.timer);
    this.live.delete(st);
  }
}

function nativeSettings(s: H2Settings): http2.Settings {
  return { maxConcurrentStreams: s.maxConcurrentStreams, maxHeaderListSize: s.maxHeaderListSize };
}

function sniOf(socket: TLSSocket | undefined): string {
  const sn = socket?.servername;
  return typeof sn === 'string' ? sn : '';
}

function peerOf(session: http2.ServerHttp2Session): string {
  const ip = session.socket?.remoteAddress ?? '';
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

// Listeners shared by every session and stream (no closures per stream): the state travels on them.

function onTimer(st: SessionState): void {
  st.owner.timerFired(st);
}

function onStream(this: Tagged<http2.ServerHttp2Session>, stream: Tagged<http2.ServerHttp2Stream>, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]): void {
  const st = this[kState]!;
  st.streams++;
  stream[kState] = st;
  stream.once('close', onStreamClose);
  stream.once('aborted', onStreamAborted);
  st.owner.request(st, stream, headers, rawHeaders);
}

function onStreamClose(this: Tagged<http2.ServerHttp2Stream>): void {
  const st = this[kState];
  if (st !== undefined) st.owner.streamClosed(st);
}

/**
 * onStreamAborted: the stream closed before our response ended. When we cut it ourselves
 * (res.destroy) it is already destroyed; otherwise nghttp2 closed it: the client's RST_STREAM (or a
 * stream error the client caused), which is what rapid reset is made of.
 */
function onStreamAborted(this: Tagged<http2.ServerHttp2Stream>): void {
  const st = this[kState];
  if (st !== undefined && !this.destroyed) st.owner.resetSeen(st);
}

function onSessionStalled(this: Tagged<http2.ServerHttp2Session>): void {
  const st = this[kState];
  if (st !== undefined) st.owner.stalled(st);
}

function onSessionClose(this: Tagged<http2.ServerHttp2Session>): void {
  const st = this[kState];
  if (st !== undefined) st.owner.sessionClosed(st);
}
