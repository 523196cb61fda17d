/**
 * OrderLimiter (one per process, shared by every runtime so a reload does not reset it): missing
 * certificates are ordered concurrently, but at most `concurrency` at a time and at most `perWindow`
 * order starts per `windowMs`, so a config with many new hosts cannot burst into a CA's rate limits.
 * `acme.order_rate` and `acme.order_concurrency` set the limits (`configure`, at every build).
 * `settled` lets a shutdown wait for the orders still running (an order past finalize finishes).
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** LimiterOptions (defaults: 4 at a time, 10 per minute). */
export interface LimiterOptions {
  concurrency?: number;
  perWindow?: number;
  windowMs?: number;
}

/** OrderLimiter runs tasks within the limits. */
export class OrderLimiter {
  private active = 0;
  private starts: number[] = [];
  private concurrency: number;
  private perWindow: number;
  private windowMs: number;
  private readonly idle = new Set<() => void>();

  constructor(o: LimiterOptions = {}) {
    this.concurrency = o.concurrency ?? 4;
    this.perWindow = o.perWindow ?? 10;
    this.windowMs = o.windowMs ?? 60_000;
  }

  /** configure changes the limits (order starts already counted stay counted). */
  configure(o: LimiterOptions): void {
    this.concurrency = o.concurrency ?? this.concurrency;
    this.perWindow = o.perWindow ?? this.perWindow;
    this.windowMs = o.windowMs ?? this.windowMs;
  }

  /** running is how many tasks run now. */
  get running(): number {
    return this.active;
  }

  /** run waits for a slot (or the signal), then runs fn. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (;;) {
      signal?.throwIfAborted();
      const now = Date.now();
      this.starts = this.starts.filter((t) => now - t < this.windowMs);
      if (this.active < this.concurrency && this.starts.length < this.perWindow) break;
      const untilSlot = this.starts.length >= this.perWindow ? this.starts[0]! + this.windowMs - now : 50;
      await sleep(Math.max(10, Math.min(untilSlot, 1000)), undefined, { signal }).catch((err: unknown) => {
        signal?.throwIfAborted();
        throw err;
      });
    }
    this.active++;
    this.starts.push(Date.now());
    try {
      return await fn();
    } finally {
      this.active--;
      if (this.active === 0) for (const done of [...this.idle]) done();
    }
  }

  /** settled resolves true once no task runs, or false after `ms`. */
  settled(ms: number): Promise<boolean> {
    if (this.active === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.idle.delete(done);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idle.delete(done);
        resolve(false);
      }, ms);
      this.idle.add(done);
    });
  }
}
