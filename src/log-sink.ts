/**
 * LineSink: where JSON log lines go when they go to a file descriptor (stdout). Issue 14: pino's
 * async destination (sonic-boom, one libuv threadpool `fs.write` per batch) was most of what the access
 * log cost; this sink writes from the event loop with `write(2)`, batched:
 *
 * - Lines are packed whole into writes of at most `maxWrite` bytes (4096 = PIPE_BUF): on a pipe shared
 *   by several processes (Docker's stdout) each write is atomic, so lines never interleave. A line
 *   longer than that is written alone (and may interleave on a pipe; nothing cuts it). The caller may
 *   pass a larger `maxWrite` for a regular file, where any whole write stays whole.
 * - A full batch is written at once; a partial one at most `flushMs` later (a timer armed by the first
 *   line after a write), and by `flushSync()` (graceful exit, `process.on('exit')`). A crash loses at
 *   most one batch: < 4 KiB and < `flushMs`.
 * - A blocking descriptor (a file, a pipe in its default blocking mode) that stops accepting blocks the
 *   process in write(2): memory stays at one batch, nothing is dropped (the same as pino's sync mode
 *   and Docker's default `mode=blocking` log driver). A non-blocking descriptor (O_NONBLOCK, set by
 *   whoever shares it) answers EAGAIN instead: batches wait, up to `maxPending` bytes, retried every
 *   `flushMs`; past that, new lines are DROPPED and counted (`dropped`), and once writes go through
 *   again one warning line says how many were lost. Other write errors (EPIPE: the reader is gone)
 *   drop and count too: there is nobody to tell.
 */
import { writeSync } from 'node:fs';

/** LineSinkOptions: the descriptor and the limits; the rest is injectable for tests. */
export interface LineSinkOptions {
  fd: number;
  /** largest write in bytes (default 4096 = PIPE_BUF, atomic on a pipe) */
  maxWrite?: number;
  /** a partial batch is written at most this long after its first line (ms, default 50) */
  flushMs?: number;
  /** bytes kept while a non-blocking descriptor refuses writes (default 1 MiB); beyond, lines are dropped */
  maxPending?: number;
  /** the warning line written after drops (a complete JSON line with its newline) */
  droppedLine?: (count: number) => string;
  /** write(2) (default fs.writeSync) */
  write?: (fd: number, buf: Uint8Array, offset: number, length: number) => number;
  /** timer functions (default: global, timers unref'd) */
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (t: unknown) => void;
}

interface Pending {
  buf: Buffer;
  lines: number;
}

/** LineSink is a pino destination (`write(line)`, `flush(cb)`, `flushSync()`) for a file descriptor. */
export class LineSink {
  /** lines dropped so far (non-blocking descriptor full past maxPending, or write errors) */
  dropped = 0;
  private readonly fd: number;
  private readonly maxWrite: number;
  private readonly flushMs: number;
  private readonly maxPending: number;
  private readonly droppedLine: ((count: number) => string) | null;
  private readonly writeFn: (fd: number, buf: Uint8Array, offset: number, length: number) => number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;
  /** the batch being filled */
  private readonly buf: Buffer;
  private len = 0;
  private lines = 0;
  /** batches the descriptor refused (EAGAIN) or took in part, oldest first */
  private readonly pending: Pending[] = [];
  private pendingBytes = 0;
  /** drops not yet reported by a warning line */
  private unreported = 0;
  private timer: unknown = null;
  private readonly onTimer = (): void => {
    this.timer = null;
    this.flushBatch();
    if (this.pending.length > 0) this.arm();
  };

  constructor(opts: LineSinkOptions) {
    this.fd = opts.fd;
    this.maxWrite = opts.maxWrite ?? 4096;
    this.flushMs = opts.flushMs ?? 50;
    this.maxPending = opts.maxPending ?? 1 << 20;
    this.droppedLine = opts.droppedLine ?? null;
    this.writeFn = opts.write ?? writeSync;
    this.setTimer = opts.setTimeout ?? ((fn, ms) => setTimeout(fn, ms).unref());
    this.clearTimer = opts.clearTimeout ?? ((t) => clearTimeout(t as NodeJS.Timeout));
    this.buf = Buffer.allocUnsafe(this.maxWrite);
  }

  /** write adds one complete line (ending in a newline); it never throws. */
  write(line: string): boolean {
    const room = this.maxWrite - this.len;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: measure only when the line might not fit
    if (line.length * 3 > room) {
      const n = Buffer.byteLength(line);
      if (n > room) {
        this.flushBatch();
        if (n > this.maxWrite) {
          const big = Buffer.from(line);
          if (this.pending.length > 0) this.queue(big, 1);
          else this.put(big, 0, n, 1);
          return true;
        }
      }
    }
    this.len += this.buf.write(line, this.len);
    this.lines++;
    if (this.timer === null) this.arm();
    return true;
  }

  /** flush writes everything buffered now (pino's `logger.flush(cb)` calls this). */
  flush(cb?: (err?: Error) => void): void {
    this.flushBatch();
    cb?.();
  }

  /**
   * flushSync writes everything buffered before returning (exit). On a non-blocking descriptor that
   * keeps refusing, it retries for up to `waitMs` and then drops the rest.
   */
  flushSync(waitMs = 1000): void {
    this.flushBatch();
    const until = Date.now() + waitMs;
    while (this.pending.length > 0 && Date.now() < until) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
      this.drain();
    }
    if (this.pending.length > 0) {
      for (const p of this.pending) this.dropped += p.lines;
      this.pending.length = 0;
      this.pendingBytes = 0;
    }
    if (this.timer !== null) {
      this.clearTimer(this.timer);
      this.timer = null;
    }
  }

  /** pendingBytes is what waits for a non-blocking descriptor (for tests and status). */
  get waiting(): number {
    return this.pendingBytes + this.len;
  }

  private arm(): void {
    this.timer = this.setTimer(this.onTimer, this.flushMs);
  }

  /** flushBatch hands the current batch to the descriptor (behind any pending ones). */
  private flushBatch(): void {
    if (this.pending.length > 0) this.drain();
    if (this.len === 0) return;
    const len = this.len;
    const lines = this.lines;
    this.len = 0;
    this.lines = 0;
    if (this.pending.length > 0) this.queue(Buffer.from(this.buf.subarray(0, len)), lines);
    else this.put(this.buf, 0, len, lines);
  }

  /**
   * put writes one batch; what the descriptor does not take waits in `pending` (a copy). Not named
   * `emit`: pino calls `stream.emit('message', …)` on a destination that has one.
   */
  private put(buf: Buffer, offset: number, length: number, lines: number): void {
    let written: number;
    try {
      written = this.writeFn(this.fd, buf, offset, length);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        this.queue(Buffer.from(buf.subarray(offset, offset + length)), lines);
      } else {
        this.drop(lines);
      }
      return;
    }
    // a short write (a full disk, a signal): the rest goes next, still in order
    if (written < length) this.queue(Buffer.from(buf.subarray(offset + written, offset + length)), lines);
  }

  private queue(buf: Buffer, lines: number): void {
    if (this.pendingBytes + buf.length > this.maxPending) return this.drop(lines);
    this.pending.push({ buf, lines });
    this.pendingBytes += buf.length;
    if (this.timer === null) this.arm();
  }

  private drop(lines: number): void {
    this.dropped += lines;
    this.unreported += lines;
  }

  /** drain retries the pending batches in order; after drops, a warning line once writes go through. */
  private drain(): void {
    while (this.pending.length > 0) {
      const p = this.pending[0]!;
      let written: number;
      try {
        written = this.writeFn(this.fd, p.buf, 0, p.buf.length);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return;
        this.pending.shift();
        this.pendingBytes -= p.buf.length;
        this.drop(p.lines);
        continue;
      }
      this.pendingBytes -= written;
      if (written < p.buf.length) {
        p.buf = p.buf.subarray(written);
        return;
      }
      this.pending.shift();
    }
    if (this.unreported > 0 && this.droppedLine !== null) {
      const n = this.unreported;
      this.unreported = 0;
      const line = Buffer.from(this.droppedLine(n));
      this.put(line, 0, line.length, 1);
    }
  }
}
