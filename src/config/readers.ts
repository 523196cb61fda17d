/**
 * The building blocks of config validation: the problem collector (Ctx), table and field helpers
 * (unknown keys with suggestions, absent/invalid/default), and one Reader per kind of value
 * (durations, sizes, addresses, hosts, lists…). A Reader returns the normalised value, or reports a
 * problem at the key's path and returns undefined, so the caller falls back to the default.
 */

import { resolve } from 'node:path';
import {
  editDistance, expandEnv, parseAddress, parseCidr, parseDuration, parseHost, parseSize, parseStatusRange,
  parseUpstream, WORKER_VARS,
} from './grammar.js';
import type { Address, ConfigProblem, RouteTls } from './types.js';

export type Table = Record<string, unknown>;

/** Reads one value at `path`: the normalised value, or undefined after reporting a problem. */
export type Reader<T> = (v: unknown, path: string, ctx: Ctx) => T | undefined;

/** A list item with its index in the file (for error paths after invalid items were dropped). */
export type Indexed<T> = [index: number, value: T];

/** Intervals and timeouts below this are refused (DESIGN §4). */
export const MIN_TIMEOUT_MS = 10;
/** setTimeout's ceiling: Node fires larger delays after 1ms (with a warning), so refuse them. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Collects problems and carries what readers need (env for `${NAME}`, baseDir for paths). */
export class Ctx {
  readonly problems: ConfigProblem[] = [];

  constructor(readonly baseDir: string, readonly env: NodeJS.ProcessEnv) {}

  /** Records a problem; returns undefined so a Reader can `return ctx.report(...)`. */
  report(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }
}

// ─── paths, types, tables ─────────────────────────────────────────────────────

/** Appends a key to a path (`server` + `https`); keys that are not bare TOML keys are quoted. */
export function join(path: string, key: string): string {
  const k = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
  return path === '' ? k : `${path}.${k}`;
}

export function q(v: unknown): string {
  return JSON.stringify(v);
}

export function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** The TOML type of a value, with its article, for "must be X, not Y" messages. */
export function typeName(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date-time';
  if (isTable(v)) return 'a table';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a float';
  if (typeof v === 'boolean') return 'a boolean';
  return typeof v === 'string' ? 'a string' : typeof v;
}

export function wrongType(ctx: Ctx, path: string, want: string, v: unknown): undefined {
  return ctx.report(path, `must be ${want}, not ${typeName(v)}`);
}

/** urlOf parses a URL-valued key; undefined (reported as `notUrl`) when it is not a URL. */
export function urlOf(s: string, path: string, ctx: Ctx, notUrl: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return ctx.report(path, notUrl);
  }
}

/** The known key within edit distance 2 of `key` (and closer than its own length), if any. */
export function suggest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(key, k);
    if (d < bestDistance && d < k.length) [best, bestDistance] = [k, d];
  }
  return best;
}

/**
 * Checks that v is a table (absent = empty) and reports each key not in `known`.
 * Returns the table, or an empty one after reporting a wrong type.
 */
export function table(v: unknown, path: string, known: readonly string[], ctx: Ctx): Table {
  if (v === undefined) return {};
  if (!isTable(v)) return wrongType(ctx, path, 'a table', v) ?? {};
  for (const key of Object.keys(v)) {
    if (known.includes(key)) continue;
    const hint = suggest(key, known);
    ctx.report(join(path, key), hint === undefined ? 'unknown key' : `unknown key, did you mean ${q(hint)}?`);
  }
  return v;
}

export function get(t: Table, key: string): unknown {
  return Object.hasOwn(t, key) ? t[key] : undefined;
}

// ─── fields: absent, invalid, default ─────────────────────────────────────────

/** Reads an optional key whose default is already normalised: absent or invalid → `fallback`. */
export function orElse<T>(t: Table, key: string, path: string, ctx: Ctx, read: Reader<T>, fallback: T): T {
  const v = get(t, key);
  if (v === undefined) return fallback;
  const r = read(v, join(path, key), ctx);
  return r === undefined ? fallback : r;
}

/** Reads an optional key whose default is a raw DEFAULTS value, normalised by the same reader. */
export function opt<T>(t: Table, key: string, path: string, ctx: Ctx, read: Reader<T>, raw: unknown): T {
  const p = join(path, key);
  const v = get(t, key);
  const r = v === undefined ? undefined : read(v, p, ctx);
  if (r !== undefined) return r;
  const d = read(raw, p, ctx);
  if (d === undefined) throw new Error(`portico bug: the built-in default of ${p} (${q(raw)}) is invalid`);
  return d;
}

/** Reads a required key: absent → "is required" and `fallback` (only used while problems exist). */
export function req<T>(t: Table, key: string, path: string, ctx: Ctx, read: Reader<T>, fallback: T): T {
  if (get(t, key) === undefined) ctx.report(join(path, key), 'is required');
  return orElse(t, key, path, ctx, read, fallback);
}

// ─── readers ──────────────────────────────────────────────────────────────────

/**
 * A string with `${NAME}` replaced from the environment; each unset name is a problem. `keep`: names
 * left as written (an app's WORKER_VARS, filled in per worker).
 */
export function envString(keep?: ReadonlySet<string>): Reader<string> {
  return (v, p, ctx) => {
    if (typeof v !== 'string') return wrongType(ctx, p, 'a string', v);
    const { value, missing } = expandEnv(v, ctx.env, keep);
    for (const name of missing) ctx.report(p, `environment variable ${name} is not set`);
    return missing.length > 0 ? undefined : value;
  };
}

export const str = envString();
/** An [[apps]] command argument or env value: `${PORT}` and `${PORTICO_WORKER_INDEX}` are the worker's. */
export const workerStr = envString(WORKER_VARS);

/**
 * A string turned into T by a grammar function; null from it is reported as `"x" is not <what>`,
 * a non-string as `must be <want>, not <type>`.
 */
export function parsed<T>(parse: (s: string) => T | null, what: string, want = 'a string'): Reader<T> {
  return (v, p, ctx) => {
    if (typeof v !== 'string') return wrongType(ctx, p, want, v);
    const s = str(v, p, ctx);
    if (s === undefined) return undefined;
    const r = parse(s);
    return r === null ? ctx.report(p, `${q(s)} is not ${what}`) : r;
  };
}

export const ADDRESS = 'a host:port address';
export const ADDRESS_TYPE = 'a "host:port" string';
export const address = parsed(parseAddress, ADDRESS, ADDRESS_TYPE);
export const cidr = parsed(parseCidr, 'a CIDR (like "10.0.0.0/8", "::1/128") or IP address');
export const host = parsed(parseHost, 'a valid host (a DNS name, "*.example.com", an IP address, or "*")');

/** An address, or null for `""` (listener disabled). */
export const optionalAddress: Reader<Address | null> = (v, p, ctx) => {
  if (typeof v !== 'string') return wrongType(ctx, p, ADDRESS_TYPE, v);
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  if (s === '') return null;
  return parseAddress(s) ?? ctx.report(p, `${q(s)} is not ${ADDRESS}`);
};

/** A duration in ms, at least `min` and at most what setTimeout can honour. */
export function duration(min: number): Reader<number> {
  const read = parsed(parseDuration, 'a duration (like "500ms", "10s", "5m")', 'a duration string (like "10s")');
  return (v, p, ctx) => {
    const ms = read(v, p, ctx);
    if (ms === undefined) return undefined;
    if (ms < min) return ctx.report(p, `must be at least ${min}ms`);
    return ms <= MAX_TIMER_MS ? ms : ctx.report(p, `must be at most ${MAX_TIMER_MS}ms (about 24.8d)`);
  };
}

export const timeout = duration(MIN_TIMEOUT_MS);
export const grace = duration(0);

/** A positive size in bytes: `"16KiB"`-style string or an integer. */
export const size: Reader<number> = (v, p, ctx) => {
  if (typeof v !== 'number' && typeof v !== 'string') return wrongType(ctx, p, 'a size string (like "16KiB") or an integer', v);
  const s = typeof v === 'string' ? str(v, p, ctx) : v;
  if (s === undefined) return undefined;
  const n = parseSize(s);
  if (n === null) return ctx.report(p, `${q(s)} is not a size (like "512B", "16KiB", "10MiB")`);
  return n > 0 ? n : ctx.report(p, 'must be positive');
};

/** An integer in [min, max]. */
export function integer(min: number, max: number): Reader<number> {
  return (v, p, ctx) => {
    if (typeof v !== 'number' || !Number.isInteger(v)) return wrongType(ctx, p, 'an integer', v);
    return v >= min && v <= max ? v : ctx.report(p, `must be an integer ${min}..${max}, not ${v}`);
  };
}

export const bool: Reader<boolean> = (v, p, ctx) => (typeof v === 'boolean' ? v : wrongType(ctx, p, 'a boolean', v));

export const port: Reader<number> = (v, p, ctx) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) return wrongType(ctx, p, 'an integer', v);
  return v >= 1 && v <= 65535 ? v : ctx.report(p, `must be a port number 1..65535, not ${v}`);
};

/** One of a fixed set of strings; `special` gives a dedicated message for some refused values. */
export function oneOf<T extends string>(values: readonly T[], special: Readonly<Record<string, string>> = {}): Reader<T> {
  return (v, p, ctx) => {
    const s = str(v, p, ctx);
    if (s === undefined) return undefined;
    if ((values as readonly string[]).includes(s)) return s as T;
    if (Object.hasOwn(special, s)) return ctx.report(p, special[s]!);
    return ctx.report(p, `must be one of ${values.map(q).join(', ')}, not ${q(s)}`);
  };
}

/** A non-empty path, made absolute against the config file's directory. */
export const filePath: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  return s === '' ? ctx.report(p, 'must not be empty') : resolve(ctx.baseDir, s);
};

export function nonEmpty(read: Reader<string>): Reader<string> {
  return (v, p, ctx) => {
    const s = read(v, p, ctx);
    return s === '' ? ctx.report(p, 'must not be empty') : s;
  };
}

export const nonEmptyString = nonEmpty(str);

/** An array of `item`s, keeping the valid ones with their indexes; `unique` reports repeats. */
export function indexedList<T>(item: Reader<T>, opts: { nonEmpty?: boolean; unique?: boolean } = {}): Reader<Indexed<T>[]> {
  return (v, p, ctx) => {
    if (!Array.isArray(v)) return wrongType(ctx, p, 'an array', v);
    if (opts.nonEmpty === true && v.length === 0) return ctx.report(p, 'must not be empty');
    const out: Indexed<T>[] = [];
    v.forEach((x: unknown, i) => {
      const r = item(x, `${p}[${i}]`, ctx);
      if (r !== undefined) out.push([i, r]);
    });
    return opts.unique === true ? dropRepeats(out, p, ctx) : out;
  };
}

/** Reports and drops items equal to an earlier one (`upstreams[2]: duplicate "…" (same as upstreams[0])`). */
export function dropRepeats<T>(items: Indexed<T>[], p: string, ctx: Ctx): Indexed<T>[] {
  const first = new Map<string, number>();
  const name = p.slice(p.lastIndexOf('.') + 1);
  return items.filter(([i, v]) => {
    const key = String(v);
    const j = first.get(key);
    if (j === undefined) first.set(key, i);
    else ctx.report(`${p}[${i}]`, `duplicate ${q(v)} (same as ${name}[${j}])`);
    return j === undefined;
  });
}

export function list<T>(item: Reader<T>, opts: { nonEmpty?: boolean; unique?: boolean } = {}): Reader<T[]> {
  const read = indexedList(item, opts);
  return (v, p, ctx) => read(v, p, ctx)?.map(([, x]) => x);
}

/** An array of tables (`[[name]]`); entries that are not tables are reported and skipped. */
export function tableList<T>(known: readonly string[], syntax: string, item: (t: Table, p: string, ctx: Ctx, i: number) => T): Reader<T[]> {
  return (v, p, ctx) => {
    if (!Array.isArray(v)) return wrongType(ctx, p, `an array of tables (${syntax})`, v);
    const out: T[] = [];
    v.forEach((x: unknown, i) => {
      const ip = `${p}[${i}]`;
      if (isTable(x)) out.push(item(table(x, ip, known, ctx), ip, ctx, i));
      else wrongType(ctx, ip, 'a table', x);
    });
    return out;
  };
}

export const upstream: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  const r = parseUpstream(s);
  return 'origin' in r ? r.origin : ctx.report(p, r.error);
};

export const pathPrefix: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  if (!s.startsWith('/')) return ctx.report(p, `must start with "/", not ${q(s)}`);
  return /[?#\s]/.test(s) ? ctx.report(p, 'must not contain "?", "#" or whitespace') : s;
};

export const statusRange = parsed(parseStatusRange, 'a status range (like "2xx", "200" or "200-399")');

/** A probe path: starts with "/", may carry a query. */
export const probePath: Reader<string> = (v, p, ctx) => {
  const s = str(v, p, ctx);
  if (s === undefined) return undefined;
  if (!s.startsWith('/')) return ctx.report(p, `must start with "/", not ${q(s)}`);
  return /[#\s]/.test(s) ? ctx.report(p, 'must not contain "#" or whitespace') : s;
};

export const failStatuses = list(integer(400, 599), { unique: true });

export const routeTls = oneOf<RouteTls>(['auto', 'file', 'acme', 'self-signed']);

/** Whether two listeners would fight over one socket (port 0 = "any free port" never does). */
export function clash(a: Address, b: Address): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  if (a.host === b.host || a.host === '::' || b.host === '::') return true;
  return (a.host === '0.0.0.0' && !b.host.includes(':')) || (b.host === '0.0.0.0' && !a.host.includes(':'));
}

export function formatAddress(a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
