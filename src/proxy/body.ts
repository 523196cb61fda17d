/**
 * RequestBody: a client request body as the upstream attempts consume it (DESIGN §4 retry rule).
 *
 * - A body declared (Content-Length) or found (chunked, ended early) to be at most REPLAY_MAX bytes
 *   is buffered whole before the first attempt, so any attempt can send it again.
 * - A larger body streams: each attempt gets a fresh `BodyFeed`, and the body can be handed to a
 *   next attempt only while no attempt has pulled from its feed yet (the connection failed before a
 *   body byte was sent). Until an attempt pulls, at most REPLAY_MAX bytes are held and the client is
 *   paused (backpressure).
 * - The route's max_body_bytes is enforced as bytes arrive (chunked bodies have no declared length).
 */
import { Readable } from 'node:stream';
import { BodyTooLargeError } from '../errors.js';

/** Bodies up to this size are buffered so an idempotent request can be retried after it was sent. */
export const REPLAY_MAX = 64 * 1024;

/** BodyFeed is the stream one upstream attempt reads the body from. */
export class BodyFeed extends Readable {
  /** true once the engine asked for data: the body is no longer replayable */
  pulled = false;

  constructor(private readonly source: RequestBody) {
    super();
  }

  override _read(): void {
    this.pulled = true;
    this.source.pull(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.source.detach(this);
    cb(err);
  }
}

/** BodySource is the client side a body is read from (HTTP/1.1's IncomingMessage, or an h2 stream). */
export interface BodySource {
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  once(event: 'end', fn: () => void): unknown;
  off(event: 'data' | 'end', fn: (chunk: Buffer) => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/** BodyEvents: how the body tells its exchange that it is ready, or failed before any attempt. */
export interface BodyEvents {
  /** the body is buffered, or turned out too large to buffer: the first attempt may start */
  ready(): void;
  /** the body broke a limit while no attempt was reading it */
  failed(err: Error): void;
}

/** RequestBody reads one request's body and serves it to the exchange's attempts. */
export class RequestBody {
  /** the whole body, once it arrived within REPLAY_MAX (replayable by any attempt) */
  buffered: Buffer | null = null;
  private chunks: Buffer[] = [];
  private held = 0;
  private seen = 0;
  private ended = false;
  /** true when the body does not wait to be buffered: the first attempt may start at once */
  readonly streamsNow: boolean;
  private streaming: boolean;
  private feed: BodyFeed | null = null;
  private readyFired: boolean;
  /** some attempt read from a feed: a streamed body cannot be sent again */
  private pulledEver = false;
  private closed = false;

  constructor(
    private readonly req: BodySource,
    private readonly limit: number,
    declared: number | null,
    private readonly events: BodyEvents,
  ) {
    this.streaming = declared !== null && declared > REPLAY_MAX;
    this.streamsNow = this.streaming;
    this.readyFired = this.streaming;
    req.on('data', this.onData);
    req.once('end', this.onEnd);
  }

  /** replayable tells whether a next attempt can send the whole body again. */
  get replayable(): boolean {
    return this.buffered !== null || !this.pulledEver;
  }

  /** close ends this body's part in the exchange: no more pulling; the current feed is dropped. */
  close(): void {
    this.closed = true;
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    const feed = this.feed;
    this.feed = null;
    feed?.destroy();
  }

  /** forAttempt gives the next attempt its body: the buffer, or a new feed (the previous one is dropped). */
  forAttempt(): Buffer | BodyFeed {
    if (this.buffered !== null) return this.buffered;
    if (this.closed) throw new Error('portico bug: body used after its exchange finished');
    const old = this.feed;
    this.feed = new BodyFeed(this);
    old?.destroy();
    return this.feed;
  }

  /** pull moves held chunks into the feed that asked, then lets the client send more. */
  pull(feed: BodyFeed): void {
    if (feed !== this.feed || this.closed) return;
    this.pulledEver = true;
    while (this.chunks.length > 0) {
      const c = this.chunks.shift()!;
      this.held -= c.length;
      if (!feed.push(c)) {
        this.req.pause();
        return;
      }
    }
    if (this.ended) feed.push(null);
    else this.req.resume();
  }

  /** detach forgets a feed that was destroyed (its attempt ended). */
  detach(feed: BodyFeed): void {
    if (feed === this.feed) this.feed = null;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.seen += chunk.length;
    if (this.seen > this.limit) {
      this.req.pause();
      const err = new BodyTooLargeError(this.limit);
      if (this.feed !== null && this.feed.pulled) this.feed.destroy(err);
      else this.events.failed(err);
      return;
    }
    this.chunks.push(chunk);
    this.held += chunk.length;
    if (this.feed !== null && this.feed.pulled) {
      this.pull(this.feed);
      return;
    }
    if (this.held > REPLAY_MAX) {
      // too large to buffer (chunked) or nobody reading yet (streaming): wait for an attempt to pull
      this.req.pause();
      this.streaming = true;
      this.fireReady();
    }
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    if (!this.streaming) {
      this.buffered = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      this.chunks = [];
      this.held = 0;
      this.fireReady();
    } else if (this.feed !== null && this.feed.pulled) {
      this.pull(this.feed);
    }
  };

  private fireReady(): void {
    if (this.readyFired) return;
    this.readyFired = true;
    this.events.ready();
  }
}
