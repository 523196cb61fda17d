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
  if (pretty) {
    // pino-pretty is loaded only here, only on a TTY: it is not on any hot path.
    const require = createRequire(import.meta.url);
    const pinoPretty = require('pino-pretty') as (o: object) => NodeJS.WritableStream;
    return pino(base, pinoPretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  const dest = opts.destination ?? pino.destination({ dest: 1, sync: false });
  return pino(base, dest as pino.DestinationStream);
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
