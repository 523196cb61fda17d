/**
 * The one pino root logger and its child loggers. JSON to stdout (for the container platform to
 * ship); pretty-printed only when asked or when stdout is a TTY. Secrets are redacted.
 * JSON lines to stdout go through one `LineSink` per process (whole lines in writes of ≤ 4096 bytes,
 * 64 KiB to a regular file; see log-sink.ts). Hot paths (the access log) build their line by hand with `lineHead` + `jsonString`
 * and hand it to `writeLine`: the same shape and destination as the logger's own lines, a fraction of
 * the cost (issue 14).
 * This module imports nothing internal but its sink; pino lives behind it.
 */
import { fstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import pino from 'pino';
import { LineSink } from './log-sink.js';

/** Logger is pino's logger type, re-exported so other modules do not import pino. */
export type Logger = pino.Logger;

/** LogOptions: the `[log]` section's level and format. */
export interface LogOptions {
  level: string;
  format: 'json' | 'pretty' | 'auto';
  /** Where JSON lines go (default: stdout). Tests pass a stream to read them. */
  destination?: NodeJS.WritableStream;
}

/** REDACT lists paths that must never reach a log line. */
export const REDACT = [
  'authorization',
  'cookie',
  'headers.authorization',
  'headers.cookie',
  'headers["proxy-authorization"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'key',
  'private_key',
];

/** Children of each root logger, so a reload can change the level of every component's logger. */
const children = new WeakMap<Logger, Set<WeakRef<Logger>>>();

/** setLogLevel changes the level of a root logger and of every child made from it (a reload). */
export function setLogLevel(root: Logger, level: string): void {
  if (root.level === level) return;
  root.level = level;
  for (const ref of children.get(root) ?? []) {
    const child = ref.deref();
    if (child !== undefined) child.level = level;
  }
}

let isoSecond = -1;
let isoPrefix = '';

/**
 * isoTime is pino's `isoTime` (`,"time":"2026-11-25T14:46:40.123Z"`) with the date part formatted once
 * per second instead of a `Date` and `toISOString()` per line.
 */
export function isoTime(): string {
  const now = Date.now();
  const ms = now % 1000;
  const second = now - ms;
  if (second !== isoSecond) {
    const iso = new Date(second).toISOString();
    isoPrefix = `,"time":"${iso.slice(0, iso.length - 4)}`;
    isoSecond = second;
  }
  return isoPrefix + (ms < 10 ? '00' : ms < 100 ? '0' : '') + ms + 'Z"';
}

let stdoutSink: LineSink | null = null;

/**
 * stdoutWriteSize: 4096 (PIPE_BUF) unless stdout is a regular file. Writes to a pipe are atomic only
 * up to PIPE_BUF; writes to a regular file are whole whatever their size (Linux serialises writers
 * sharing a file offset, and O_APPEND writers), and 64 KiB writes cost 0.1 µs per 300-byte line
 * against 0.6 µs with 4 KiB ones.
 */
function stdoutWriteSize(): number {
  try {
    return fstatSync(1).isFile() ? 65536 : 4096;
  } catch {
    return 4096;
  }
}

/** sharedStdout is the process's one stdout sink, flushed when the process exits. */
function sharedStdout(): LineSink {
  if (stdoutSink === null) {
    const sink = new LineSink({
      fd: 1,
      maxWrite: stdoutWriteSize(),
      droppedLine: (n) =>
        `{"level":"warn"${isoTime()},"pid":${process.pid},"component":"log","dropped_lines":${n},"msg":"stdout did not accept log lines: some were dropped"}\n`,
    });
    process.once('exit', () => sink.flushSync());
    stdoutSink = sink;
  }
  return stdoutSink;
}

/** droppedLogLines counts log lines this process could not write to stdout (see log-sink.ts). */
export function droppedLogLines(): number {
  return stdoutSink?.dropped ?? 0;
}

/** createLogger builds the root logger: JSON lines, ISO time, redaction; pretty only on a TTY or when asked. */
export function createLogger(opts: LogOptions): Logger {
  const pretty = opts.format === 'pretty' || (opts.format === 'auto' && process.stdout.isTTY === true && !opts.destination);
  const base: pino.LoggerOptions = {
    level: opts.level,
    base: { pid: process.pid },
    timestamp: isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  };
  const made = new Set<WeakRef<Logger>>();
  base.onChild = (child) => {
    if (made.size > 1000) for (const ref of made) if (ref.deref() === undefined) made.delete(ref);
    made.add(new WeakRef(child));
  };
  const track = (root: Logger): Logger => {
    children.set(root, made);
    return root;
  };
  if (pretty) {
    // pino-pretty is loaded only here, only on a TTY: it is not on any hot path.
    const require = createRequire(import.meta.url);
    const pinoPretty = require('pino-pretty') as (o: object) => NodeJS.WritableStream;
    return track(pino(base, pinoPretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })));
  }
  const dest = opts.destination ?? sharedStdout();
  return track(pino(base, dest as pino.DestinationStream));
}

type LineLevel = 'info' | 'warn' | 'error';
const LEVEL_VALUE: Record<LineLevel, number> = { info: 30, warn: 40, error: 50 };
type Internals = Record<symbol, unknown> & { levelVal: number };
const { lsCacheSym, timeSym, chindingsSym, streamSym } = pino.symbols;

/**
 * lineHead starts a hand-built line as `log` would start it at `level`: `{"level":"info","time":"…",
 * "pid":1,"component":"proxy"` (pino's level formatter, timestamp and bindings); null when the
 * logger's current level (it changes at runtime: setLogLevel) drops `level`. The caller appends
 * `,"key":value` fields, `,"msg":"…"}` and a newline, and passes the line to `writeLine`. Fields need
 * no redaction only if the caller writes none of the REDACT keys.
 */
export function lineHead(log: Logger, level: LineLevel): string | null {
  const l = log as unknown as Internals;
  const value = LEVEL_VALUE[level];
  if (value < l.levelVal) return null;
  return (l[lsCacheSym] as Record<number, string>)[value]! + (l[timeSym] as () => string)() + (l[chindingsSym] as string);
}

/** writeLine writes one complete JSON line (built from lineHead) to the logger's destination. */
export function writeLine(log: Logger, line: string): void {
  ((log as unknown as Internals)[streamSym] as { write(s: string): unknown }).write(line);
}

/** jsonString renders a string as a JSON value (what pino writes for a string field). */
export function jsonString(s: string): string {
  if (s.length > 100) return JSON.stringify(s);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // control characters, quote, backslash, surrogates (a lone one must be escaped)
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

/** flushLogger writes out what the async destination buffered (call before exit). */
export function flushLogger(log: Logger): void {
  try {
    log.flush();
  } catch {
    // a destination that cannot flush (pretty stream) has nothing buffered
  }
}

/** silentLogger is a logger that writes nothing (for tests and `check`). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
