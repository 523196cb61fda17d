/**
 * The level of a line an app worker (or a pre-start step) wrote. Servers like uvicorn and gunicorn
 * write their INFO lines to stderr, so the stream says nothing about severity (issue 24): a line that
 * starts with a common level word is logged at that level, any other line at info (with its stream).
 */

/** AppLineLevel is a pino level an app's line is logged at. */
export type AppLineLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Readonly<Record<string, AppLineLevel>> = {
  TRACE: 'trace', DEBUG: 'debug', INFO: 'info', NOTICE: 'info',
  WARN: 'warn', WARNING: 'warn',
  ERR: 'error', ERROR: 'error', CRIT: 'error', CRITICAL: 'error', ALERT: 'error', EMERG: 'error', FATAL: 'error', PANIC: 'error',
};

/**
 * A level word at the start: followed by `:` or `]` (uvicorn `INFO:     Started server process`,
 * Python's `WARNING:root:…`, `Error: …`, `[warn] …`), or, when written in capitals, by a space
 * (`ERROR    something`). "Info about…" is no level word.
 */
const LEVEL_WORD = /^\[?(?:([A-Za-z]{3,8})[\]:]|([A-Z]{3,8})(?:\s|$))/;
/** A bracketed prefix before the level word (gunicorn: `[2026-12-01 10:00:00 +0000] [42] [INFO] Booting worker`). */
const PREFIX = /^\[[^\]]{0,64}\]\s*/;
const MAX_PREFIXES = 3;

/** appLineLevel is the level of one line: its leading level word's (after at most three bracketed prefixes), else info. */
export function appLineLevel(line: string): AppLineLevel {
  let rest = line;
  for (let i = 0; i <= MAX_PREFIXES; i++) {
    const m = LEVEL_WORD.exec(rest);
    const level = m === null ? undefined : LEVELS[(m[1] ?? m[2])!.toUpperCase()];
    if (level !== undefined) return level;
    const p = PREFIX.exec(rest);
    if (p === null) break;
    rest = rest.slice(p[0].length);
  }
  return 'info';
}
