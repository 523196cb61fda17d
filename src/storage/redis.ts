/**
 * RedisLink: the one file that imports a Redis client (node-redis's core, `@redis/client`: the
 * client DESIGN §7 names, maintained by Redis itself, no dependencies of its own, RESP3, TLS with
 * `rediss://`). It keeps two connections (commands, and pub/sub, which Redis dedicates to
 * subscriptions), reconnects on its own with exponential backoff, and gives every command a
 * deadline: a slow or absent Redis rejects a call within `timeoutMs` (`RedisUnavailableError`),
 * never blocks one. Commands are refused at once while disconnected (no offline queue): callers
 * fall back to the local cache.
 */
import { createClient, RESP_TYPES } from '@redis/client';
import { RedisUnavailableError } from '../errors.js';

export { RedisUnavailableError } from '../errors.js';

/** RedisLinkOptions: the URL and the timings (tests use short ones). */
export interface RedisLinkOptions {
  url: string;
  /** deadline of every command (default 2 s) */
  timeoutMs?: number;
  /** reconnect backoff: from min doubling to max (default 100 ms .. 5 s) */
  backoff?: { min: number; max: number };
  /** called when the command connection is ready (connected, authenticated, database selected) */
  onUp?: () => void;
  /** called when the command connection is lost or could not be made (with why) */
  onDown?: (reason: string) => void;
  /** the pub/sub connection came back (messages may have been missed meanwhile) */
  onResubscribed?: () => void;
}

type Reply = null | string | number | Buffer | Reply[];
const BUFFERS = { [RESP_TYPES.BLOB_STRING]: Buffer } as const;

/** redactUrl is a Redis URL without its password (for logs, /status and `check`). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return 'redis://(invalid URL)';
  }
}

/** RedisLink is a connection pair to one Redis. */
export class RedisLink {
  private readonly cmd: ReturnType<typeof createClient>;
  private sub: ReturnType<typeof createClient> | null = null;
  private readonly timeoutMs: number;
  private closed = false;
  private ready = false;
  private lastError = '';

  constructor(private readonly o: RedisLinkOptions) {
    this.timeoutMs = o.timeoutMs ?? 2000;
    const b = o.backoff ?? { min: 100, max: 5000 };
    this.cmd = createClient({
      url: o.url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout: Math.max(1000, this.timeoutMs),
        // exponential with ±20 % jitter, so replicas do not reconnect in step
        reconnectStrategy: (retries: number) => Math.round(Math.min(b.max, b.min * 2 ** Math.min(retries, 20)) * (0.8 + Math.random() * 0.4)),
      },
    });
    this.cmd.on('error', (err: Error) => this.down(err.message));
    this.cmd.on('end', () => this.down('connection closed'));
    this.cmd.on('ready', () => {
      this.ready = true;
      this.lastError = '';
      o.onUp?.();
    });
  }

  private down(reason: string): void {
    if (this.closed) return;
    const was = this.ready;
    this.ready = false;
    if (reason !== this.lastError || was) {
      this.lastError = reason;
      this.o.onDown?.(reason);
    }
  }

  /** connect starts connecting (and keeps trying in the background); it never rejects. */
  connect(): void {
    this.cmd.connect().catch((err: Error) => this.down(err.message));
  }

  /** isReady: the command connection is up. */
  get isReady(): boolean {
    return this.ready;
  }

  /** call sends one command; Buffers come back as Buffers when `buffers` is set. */
  async call(args: ReadonlyArray<string | Buffer>, buffers = false): Promise<Reply> {
    if (this.closed) throw new RedisUnavailableError('redis link closed');
    if (!this.ready) throw new RedisUnavailableError(`redis not connected${this.lastError ? `: ${this.lastError}` : ''}`);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisUnavailableError(`redis did not answer ${String(args[0])} within ${this.timeoutMs}ms`)), this.timeoutMs);
    });
    try {
      const sent = this.cmd.sendCommand(args as Array<string | Buffer>, buffers ? { typeMapping: BUFFERS } : undefined) as Promise<Reply>;
      sent.catch(() => undefined); // a late failure after the deadline is nobody's
      return await Promise.race([sent, deadline]);
    } catch (err) {
      if (err instanceof RedisUnavailableError) throw err;
      throw new RedisUnavailableError(`redis ${String(args[0])}: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** subscribe listens to a channel on the pub/sub connection (made on first use; resubscribes after reconnects). */
  async subscribe(channel: string, fn: (message: string) => void): Promise<void> {
    if (this.sub === null) {
      const sub = this.cmd.duplicate({ disableOfflineQueue: false }); // SUBSCRIBE waits for the connection
      this.sub = sub;
      let first = true;
      sub.on('error', () => undefined); // the command connection reports the state
      sub.on('ready', () => {
        if (!first) this.o.onResubscribed?.();
        first = false;
      });
      sub.connect().catch(() => undefined);
    }
    const sub = this.sub;
    // subscribing waits for the connection (node-redis queues SUBSCRIBE until it is up)
    await sub.subscribe(channel, (message: string) => fn(message));
  }

  /**
   * close ends both connections. The command connection, when up, is closed politely (the replies
   * of commands sent are waited for, at most `timeoutMs`); a connection that is down, and the pub/sub
   * one (whose queued SUBSCRIBE a Redis that is away never answers), are destroyed: node-redis's own
   * close would wait for those replies forever. `waitMs` shortens the wait (a shutdown's deadline).
   */
  async close(waitMs = this.timeoutMs): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const wasReady = this.ready;
    this.ready = false;
    const destroy = (c: ReturnType<typeof createClient> | null) => {
      try {
        c?.destroy();
      } catch {
        // already closed
      }
    };
    destroy(this.sub);
    if (!wasReady) return destroy(this.cmd);
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      this.cmd.close().then(() => true, () => true),
      new Promise<false>((r) => (timer = setTimeout(r, Math.max(0, Math.min(waitMs, this.timeoutMs)), false))),
    ]);
    clearTimeout(timer);
    if (!closed) destroy(this.cmd);
  }
}
