/**
 * OrderLimiter (one per process, shared by every runtime so a reload does not reset it): missing
 * certificates are ordered concurrently, but at most `concurrency` at a time and at most `perWindow`
 * order starts per `windowMs`, so a config with many new hosts cannot burst into a CA's rate limits.
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
  private readonly concurrency: number;
  private readonly perWindow: number;
  private readonly windowMs: number;

  constructor(o: LimiterOptions = {}) {
    this.concurrency = o.concurrency ?? 4;
    this.perWindow = o.perWindow ?? 10;
    this.windowMs = o.windowMs ?? 60_000;
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
    }
  }
}
