/**
 * The value grammar of config.toml (DESIGN §4): durations, sizes, addresses, CIDRs, route hosts,
 * upstream URLs and `${NAME}` environment references. Pure string functions: each returns the
 * normalised value, or null (or an error message) when the input does not match; none throws.
 */

import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import type { Address } from './types.js';

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * parseDuration turns `"500ms"`, `"10s"`, `"1.5s"`, `"5m"`, `"1h"`, `"2d"` into whole milliseconds
 * (rounded). A bare number, a negative value, spaces or an unknown unit give null.
 */
export function parseDuration(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(s);
  if (!m) return null;
  const ms = Math.round(Number(m[1]) * (DURATION_UNITS[m[2]!] ?? Number.NaN));
  return Number.isSafeInteger(ms) ? ms : null;
}

/**
 * parseStatusRange turns `"2xx"`, `"200"` or `"200-399"` into an inclusive [min, max] of HTTP
 * statuses (100..599); anything else, or min > max, gives null.
 */
export function parseStatusRange(s: string): [number, number] | null {
  let m = /^([1-5])xx$/.exec(s);
  if (m) return [Number(m[1]) * 100, Number(m[1]) * 100 + 99];
  m = /^(\d{3})(?:-(\d{3}))?$/.exec(s);
  if (!m) return null;
  const min = Number(m[1]);
  const max = m[2] === undefined ? min : Number(m[2]);
  return min >= 100 && max <= 599 && min <= max ? [min, max] : null;
}

/** DurationRange is a backoff range: exponential from `min` doubling to `max` (ms). */
export interface DurationRange {
  min: number;
  max: number;
}

/**
 * parseRange parses `"MIN..MAX"` of durations (`"1m..1d"`, `"100ms..2s"`) into milliseconds;
 * null when either side is not a duration or MIN > MAX.
 */
export function parseRange(s: string): DurationRange | null {
  const parts = s.split('..');
  if (parts.length !== 2) return null;
  const min = parseDuration(parts[0]!);
  const max = parseDuration(parts[1]!);
  return min === null || max === null || min > max ? null : { min, max };
}

/** Rate is a crash-loop limit: more than `count` events within `window` ms. */
export interface Rate {
  count: number;
  window: number;
}

/**
 * parseRate parses `"N in D"` (`"5 in 60s"`): a positive integer count and a positive duration
 * window (ms), separated by ` in ` (single spaces). Null otherwise.
 */
export function parseRate(s: string): Rate | null {
  const m = /^([1-9]\d{0,5}) in (\S+)$/.exec(s);
  if (!m) return null;
  const window = parseDuration(m[2]!);
  return window === null || window === 0 ? null : { count: Number(m[1]), window };
}

/** RenewBefore is `acme.renew_before`: a fraction of the lifetime, or a fixed time before expiry (ms). */
export type RenewBefore = { fraction: number } | { ms: number };

/**
 * parseRenewBefore parses a fraction of a certificate's lifetime (`"1/3"`: renew when a third is
 * left; 0 < N/D < 1) or a duration before expiry (`"30d"`). Null otherwise.
 */
export function parseRenewBefore(s: string): RenewBefore | null {
  const m = /^(\d+)\/(\d+)$/.exec(s);
  if (m) {
    const n = Number(m[1]);
    const d = Number(m[2]);
    return n > 0 && d > 0 && n < d ? { fraction: n / d } : null;
  }
  const ms = parseDuration(s);
  return ms === null || ms === 0 ? null : { ms };
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1, B: 1,
  KB: 1e3, MB: 1e6, GB: 1e9,
  KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3,
};

/**
 * parseSize turns `"16KiB"`, `"10MiB"`, `"1GiB"`, `"512B"`, `"512"` or an integer into bytes.
 * KiB/MiB/GiB are powers of 1024, KB/MB/GB powers of 1000; decimals are allowed with those units
 * (`"1.5MiB"`, rounded to whole bytes) but not with bytes (`"1.5"`, `"1.5B"`). Negative or
 * fractional numbers, spaces, or unknown units give null. Zero is returned as 0
 * (callers decide whether it is allowed).
 */
export function parseSize(v: string | number): number | null {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : null;
  const m = /^(\d+(?:\.\d+)?)(B|KB|MB|GB|KiB|MiB|GiB)?$/.exec(v);
  const unit = SIZE_UNITS[m?.[2] ?? ''] ?? 1;
  if (!m || (unit === 1 && m[1]!.includes('.'))) return null;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** Host and port text split from `host:port` / `[v6]:port` / `host` (port undefined when absent). */
interface HostPort {
  host: string;
  bracketed: boolean;
  port: string | undefined;
}

function splitHostPort(s: string): HostPort | null {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*))(?::([^:]*))?$/.exec(s);
  if (!m) return null;
  const bracketed = m[1] !== undefined;
  return { host: bracketed ? m[1]! : m[2]!, bracketed, port: m[3] };
}

function parsePort(s: string | undefined, min: number): number | null {
  if (s === undefined || !/^\d{1,5}$/.test(s)) return null;
  const n = Number(s);
  return n >= min && n <= 65535 ? n : null;
}

/**
 * parseAddress parses a listen address: `"0.0.0.0:8443"`, `"[::]:443"`, `"localhost:9901"`, or
 * `":8080"` (host `0.0.0.0`). The port is an integer 0..65535 (0 = any free port, for tests).
 * IPv6 must be bracketed; the returned host has no brackets. Null when invalid.
 */
export function parseAddress(s: string): Address | null {
  const hp = splitHostPort(s);
  if (!hp) return null;
  const port = parsePort(hp.port, 0);
  if (port === null) return null;
  if (hp.bracketed) return isPlainIpv6(hp.host) ? { host: hp.host.toLowerCase(), port } : null;
  if (hp.host === '') return { host: '0.0.0.0', port };
  if (isIP(hp.host) === 4) return { host: hp.host, port };
  const name = normaliseDnsName(hp.host);
  return name === null ? null : { host: name, port };
}

/** isIP(s) === 6 without a zone index (`%eth0`), which neither CIDRs nor route hosts can carry. */
function isPlainIpv6(s: string): boolean {
  return isIP(s) === 6 && !s.includes('%');
}

/** canonicalIpv6 gives the RFC 5952-style text of an IPv6 address (lower case, `::` compressed). */
function canonicalIpv6(s: string): string {
  return new URL(`http://[${s}]/`).hostname.slice(1, -1);
}

/** Eight 16-bit groups of a canonical IPv6 address (whose only shorthand is `::`). */
function ipv6Groups(canonical: string): number[] {
  const [head = '', tail] = canonical.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? 0 : 8 - h.length - t.length;
  return [...h, ...Array<string>(zeros).fill('0'), ...t].map((g) => parseInt(g, 16));
}

/** Keeps the first `bits` bits of each `width`-bit word, zeroing the rest (host bits of a CIDR). */
function maskWords(words: number[], width: number, bits: number): number[] {
  return words.map((w, i) => {
    const keep = Math.min(Math.max(bits - i * width, 0), width);
    const mask = keep === 0 ? 0 : ((2 ** width - 1) >>> (width - keep)) << (width - keep);
    return (w & mask) >>> 0;
  });
}

/**
 * parseCidr normalises `"10.0.0.0/8"`, `"::1/128"` or a bare address (→ /32 or /128): the address
 * in canonical form with host bits cleared (`"10.1.2.3/8"` → `"10.0.0.0/8"`), so it can be given to
 * `net.BlockList#addSubnet`. Null when invalid (zone indexes are refused).
 */
export function parseCidr(s: string): string | null {
  const [addr = '', prefix, extra] = s.split('/');
  const version = isIP(addr);
  if (extra !== undefined || version === 0 || addr.includes('%')) return null;
  const max = version === 4 ? 32 : 128;
  if (prefix !== undefined && !/^\d{1,3}$/.test(prefix)) return null;
  const bits = prefix === undefined ? max : Number(prefix);
  if (bits > max) return null;
  if (version === 4) return `${maskWords(addr.split('.').map(Number), 8, bits).join('.')}/${bits}`;
  const groups = maskWords(ipv6Groups(canonicalIpv6(addr)), 16, bits);
  return `${canonicalIpv6(groups.map((g) => g.toString(16)).join(':'))}/${bits}`;
}

const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * normaliseDnsName lower-cases a DNS name, strips one trailing dot, converts Unicode to
 * punycode, and checks labels (1..63 of `a-z 0-9 -`, no leading/trailing hyphen), total length
 * (≤ 253) and that the last label is not all digits (that would read as an IPv4 address).
 */
function normaliseDnsName(s: string): string | null {
  let name = s.endsWith('.') ? s.slice(0, -1) : s;
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(name)) name = domainToASCII(name);
  name = name.toLowerCase();
  if (name === '' || name.length > 253) return null;
  const labels = name.split('.');
  if (!labels.every((l) => DNS_LABEL.test(l))) return null;
  return /^\d+$/.test(labels[labels.length - 1]!) ? null : name;
}

/**
 * parseHost normalises one `routes[].hosts` entry: a DNS name (lower case, no trailing dot), a
 * wildcard whose whole leftmost label is `*` (`*.example.com`), an IPv4 literal, an IPv6
 * literal with or without brackets (returned canonical, without brackets), or `*` alone (any host
 * no other route lists). Null when invalid.
 */
export function parseHost(s: string): string | null {
  if (s === '*') return '*';
  const inner = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  if (isPlainIpv6(inner)) return canonicalIpv6(inner);
  if (inner !== s) return null;
  if (isIP(s) === 4) return s;
  if (s.startsWith('*.')) {
    const rest = normaliseDnsName(s.slice(2));
    return rest === null ? null : `*.${rest}`;
  }
  return normaliseDnsName(s);
}

/** Result of parseUpstream: the normalised origin, or why the URL was refused. */
export type UpstreamResult = { origin: string } | { error: string };

/**
 * parseUpstream normalises an upstream URL to its origin `http://host:port` (port 80 when
 * absent; IPv6 bracketed and canonical). Only `http://` is supported; userinfo, a query, a
 * fragment or a path other than `""`/`"/"` are refused with a message saying so.
 */
export function parseUpstream(s: string): UpstreamResult {
  const q = JSON.stringify(s);
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(s);
  if (!m) return { error: `${q} is not a URL like "http://127.0.0.1:3001"` };
  if (m[1]!.toLowerCase() !== 'http') return { error: `${q}: only http:// upstreams are supported (not ${m[1]}://)` };
  const rest = m[2]!;
  if (rest.includes('@')) return { error: `${q}: user info in upstream URLs is not supported` };
  if (/[?#]/.test(rest)) return { error: `${q}: upstream URLs must not have a query or fragment` };
  const slash = rest.indexOf('/');
  if (slash !== -1 && slash !== rest.length - 1) return { error: `${q}: upstream URLs must not have a path (only "" or "/")` };
  const origin = upstreamOrigin(slash === -1 ? rest : rest.slice(0, slash));
  return origin === null ? { error: `${q} is not a valid http://host:port URL` } : { origin };
}

function upstreamOrigin(authority: string): string | null {
  const hp = splitHostPort(authority);
  if (!hp) return null;
  const port = hp.port === undefined ? 80 : parsePort(hp.port, 1);
  if (port === null) return null;
  if (hp.bracketed) return isPlainIpv6(hp.host) ? `http://[${canonicalIpv6(hp.host)}]:${port}` : null;
  const host = isIP(hp.host) === 4 ? hp.host : normaliseDnsName(hp.host);
  return host === null ? null : `http://${host}:${port}`;
}

/** Result of expandEnv: the string with references replaced, and the names that were unset. */
export interface EnvExpansion {
  value: string;
  missing: string[];
}

/**
 * WORKER_VARS are the references an `[[apps]]` command or env value keeps for each worker: they are
 * the worker's own values (its port, its index), filled in by the supervisor when it starts the
 * worker (supervisor/worker-vars.ts, which names the same two), not portico's environment at load.
 */
export const WORKER_VARS: ReadonlySet<string> = new Set(['PORT', 'PORTICO_WORKER_INDEX']);

const NO_NAMES: ReadonlySet<string> = new Set();

/**
 * expandEnv replaces each `${NAME}` (NAME = `[A-Za-z_][A-Za-z0-9_]*`) with `env[NAME]`. Unset
 * names are listed in `missing` (and replaced by ""); an empty but set variable is fine. Names in
 * `keep` stay as they are written (`${PORT}` in an app's command).
 */
export function expandEnv(s: string, env: NodeJS.ProcessEnv, keep: ReadonlySet<string> = NO_NAMES): EnvExpansion {
  const missing: string[] = [];
  const value = s.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (ref: string, name: string) => {
    if (keep.has(name)) return ref;
    const v = env[name];
    if (v === undefined) missing.push(name);
    return v ?? '';
  });
  return { value, missing };
}

/** editDistance is the Levenshtein distance between a and b (used to suggest a known key). */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
    }
    prev = cur;
  }
  return prev[b.length]!;
}
