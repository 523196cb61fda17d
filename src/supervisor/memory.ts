/**
 * The memory budget of app workers (issue 15; DESIGN §4 `[supervisor]`): how much memory portico
 * and its workers may use (detectMemory), and whether Σ workers × memory over all apps fits in
 * `memory_total − memory_reserve` (budgetProblems, which `portico check` and every build refuse
 * a plan on). Only detectMemory touches the system, and every source it reads is injectable.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Problem } from '../errors.js';

/** MemorySource says where a detected memory limit came from. */
export type MemorySource = 'cgroup v2' | 'cgroup v1' | 'process.constrainedMemory()' | 'RAM';

/** DetectedMemory is the memory available to this process (and so to its children). */
export interface DetectedMemory {
  bytes: number;
  source: MemorySource;
}

/** DetectOptions replaces the system's sources (tests). */
export interface DetectOptions {
  /** cgroup v2 limit file (default /sys/fs/cgroup/memory.max; "max" = no limit). */
  cgroupV2?: string;
  /** cgroup v1 limit file (default /sys/fs/cgroup/memory/memory.limit_in_bytes; ≥ 2^60 = no limit). */
  cgroupV1?: string;
  /** Default `process.constrainedMemory` (0 or about 2^64 = no limit); undefined where Node lacks it. */
  constrainedMemory?: (() => number | undefined) | undefined;
  /** Default `os.totalmem`. */
  totalmem?: () => number;
}

/** The default cgroup v2 limit file (the container's own cgroup when it has a cgroup namespace). */
export const CGROUP_V2_MAX = '/sys/fs/cgroup/memory.max';
/** The default cgroup v1 limit file. */
export const CGROUP_V1_LIMIT = '/sys/fs/cgroup/memory/memory.limit_in_bytes';

/** cgroup v1 writes "no limit" as a huge page-aligned number (9223372036854771712): anything this large is none. */
const V1_UNLIMITED = 2 ** 60;
/** process.constrainedMemory() gives about 2^64 when there is no limit. */
const CONSTRAINED_UNLIMITED = 2 ** 62;

/** Reads a limit file holding a byte count; null when absent, unreadable, "max", or not a positive number below `ceiling`. */
function readLimit(file: string, ceiling: number): number | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
  if (!/^\d+$/.test(text)) return null; // "max": no limit
  const n = Number(text);
  return n > 0 && n < ceiling ? n : null;
}

/**
 * detectMemory finds the memory this process may use: the smallest of the cgroup v2 `memory.max`
 * (else the cgroup v1 limit), `process.constrainedMemory()` (libuv's view of the cgroup, which
 * also finds a limit on a cgroup that is not mounted at /sys/fs/cgroup) and the machine's RAM.
 * Ties go to the source listed first. Never throws.
 */
export function detectMemory(opts: DetectOptions = {}): DetectedMemory {
  const candidates: [number | null, MemorySource][] = [];
  const v2 = readLimit(opts.cgroupV2 ?? CGROUP_V2_MAX, Number.POSITIVE_INFINITY);
  candidates.push([v2, 'cgroup v2']);
  if (v2 === null) candidates.push([readLimit(opts.cgroupV1 ?? CGROUP_V1_LIMIT, V1_UNLIMITED), 'cgroup v1']);
  const constrained = 'constrainedMemory' in opts ? opts.constrainedMemory : defaultConstrainedMemory();
  const c = constrained?.();
  candidates.push([c !== undefined && c > 0 && c < CONSTRAINED_UNLIMITED ? c : null, 'process.constrainedMemory()']);
  let best: DetectedMemory = { bytes: (opts.totalmem ?? os.totalmem)(), source: 'RAM' };
  for (const [bytes, source] of candidates.reverse()) {
    if (bytes !== null && bytes <= best.bytes) best = { bytes, source };
  }
  return best;
}

/** process.constrainedMemory where this Node has it (18.15+, 20+). */
function defaultConstrainedMemory(): (() => number | undefined) | undefined {
  const p = process as { constrainedMemory?: () => number | undefined };
  return typeof p.constrainedMemory === 'function' ? () => p.constrainedMemory!() : undefined;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/**
 * formatBytes writes a byte count in binary units, short and readable back by the config's
 * size grammar up to GiB: `512B`, `16KiB`, `256MiB`, `2.75GiB`, `23.54GiB` (at most two decimals).
 */
export function formatBytes(n: number): string {
  let i = 0;
  while (i < UNITS.length - 1 && Math.abs(n) >= 1024 ** (i + 1)) i++;
  let v = Number((n / 1024 ** i).toFixed(2));
  if (Math.abs(v) >= 1024 && i < UNITS.length - 1) v = Number((n / 1024 ** ++i).toFixed(2));
  return `${v}${UNITS[i]}`;
}

/** The parts of the config the budget reads (a Config has them). */
export interface BudgetConfig {
  supervisor: { memory_total: number | 'auto'; memory_reserve: number };
  apps: readonly { name: string; workers: number; memory: number }[];
}

/** Budget is the memory arithmetic of a config, in bytes. */
export interface Budget {
  /** Σ workers over all apps. */
  workers: number;
  /** Σ workers × memory over all apps. */
  need: number;
  /** memory_total, with "auto" resolved. */
  total: number;
  /** Where `total` came from: "config" when memory_total is a size. */
  totalSource: 'config' | MemorySource;
  reserve: number;
  /** total − reserve (≤ 0 when the reserve takes everything). */
  available: number;
}

/** memoryBudget computes a config's budget; `detected` is used only when memory_total is "auto". */
export function memoryBudget(config: BudgetConfig, detected: DetectedMemory): Budget {
  const auto = config.supervisor.memory_total === 'auto';
  const total = config.supervisor.memory_total === 'auto' ? detected.bytes : config.supervisor.memory_total;
  const reserve = config.supervisor.memory_reserve;
  return {
    workers: config.apps.reduce((n, a) => n + a.workers, 0),
    need: config.apps.reduce((n, a) => n + a.workers * a.memory, 0),
    total,
    totalSource: auto ? detected.source : 'config',
    reserve,
    available: total - reserve,
  };
}

/** totalText names memory_total and, for "auto", where the figure came from: `3GiB (auto: detected from cgroup v2)`. */
export function totalText(b: Budget): string {
  return `${formatBytes(b.total)}${b.totalSource === 'config' ? '' : ` (auto: detected from ${b.totalSource})`}`;
}

/** What the apps need, term by term: `4 workers × 1GiB = 4GiB` (names added when there are several apps). */
function needText(config: BudgetConfig, b: Budget): string {
  const term = (a: BudgetConfig['apps'][number]) => `${a.workers} worker${a.workers === 1 ? '' : 's'} × ${formatBytes(a.memory)}`;
  if (config.apps.length === 1) return `app ${JSON.stringify(config.apps[0]!.name)} needs ${term(config.apps[0]!)} = ${formatBytes(b.need)}`;
  return `apps need ${config.apps.map((a) => `${term(a)} (${JSON.stringify(a.name)})`).join(' + ')} = ${formatBytes(b.need)}`;
}

/**
 * budgetProblems refuses a config whose app workers cannot all fit: Σ workers × memory must be at
 * most memory_total − memory_reserve, and the reserve must leave something. Each message names the
 * numbers. No apps, no problems.
 */
export function budgetProblems(config: BudgetConfig, detected: DetectedMemory): Problem[] {
  if (config.apps.length === 0) return [];
  const b = memoryBudget(config, detected);
  if (b.available <= 0) {
    return [{
      path: 'supervisor.memory_reserve',
      message: `memory_reserve ${formatBytes(b.reserve)} leaves nothing of memory_total ${totalText(b)} for app workers`,
    }];
  }
  if (b.need <= b.available) return [];
  const budget = `memory_total ${totalText(b)} − memory_reserve ${formatBytes(b.reserve)} = ${formatBytes(b.available)}`;
  return [{
    path: 'apps',
    message: `${needText(config, b)}, but the budget is ${budget}; lower workers or memory, or raise [supervisor] memory_total`,
  }];
}
