/**
 * The one pino root logger and its child loggers. JSON to stdout (for the container platform to
 * ship); pretty-printed only when asked or when stdout is a TTY. Secrets are redacted.
 * This module imports nothing internal; pino lives behind it.
 */
import { createRequire } from 'node:module';
import pino from 'pino';

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

/** createLogger builds the root logger: JSON lines, ISO time, redaction; pretty only on a TTY or when asked. */
export function createLogger(opts: LogOptions): Logger {
  const pretty = opts.format === 'pretty' || (opts.format === 'auto' && process.stdout.isTTY === true && !opts.destination);
  const base: pino.LoggerOptions = {
    level: opts.level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
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
  const dest = opts.destination ?? pino.destination({ dest: 1, sync: false });
  return track(pino(base, dest as pino.DestinationStream));
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
