/**
 * Resource use of a worker's whole process group (the worker and everything it started), read from
 * Linux /proc: RSS (resident pages × page size) and CPU time (utime + stime clock ticks). Elsewhere
 * (no /proc) it returns null and the supervisor skips memory recycling.
 */
import { readdir, readFile } from 'node:fs/promises';

/** Usage is a group's resident memory and total CPU time so far. */
export interface Usage {
  rss: number;
  cpuSeconds: number;
  processes: number;
}

const PAGE = 4096;
const TICKS = 100; // USER_HZ: 100 on every Linux ABI Node ships for

/** parseStat reads pgrp, utime, stime and rss (pages) from a /proc/PID/stat line. */
export function parseStat(line: string): { pgrp: number; ticks: number; rssPages: number } | null {
  // the command name is in parentheses and may contain spaces: split after the last ')'
  const close = line.lastIndexOf(')');
  if (close === -1) return null;
  const f = line.slice(close + 2).split(' ');
  // f[0] = state (field 3); pgrp = field 5, utime = 14, stime = 15, rss = 24 → indexes 2, 11, 12, 21
  const pgrp = Number(f[2]);
  const ticks = Number(f[11]) + Number(f[12]);
  const rssPages = Number(f[21]);
  return Number.isFinite(pgrp) && Number.isFinite(ticks) && Number.isFinite(rssPages) ? { pgrp, ticks, rssPages } : null;
}

/** groupUsage sums, in one pass over /proc, the usage of every process in each of `pgids`; null without /proc. */
export async function groupUsage(pgids: ReadonlySet<number>, proc = '/proc'): Promise<Map<number, Usage> | null> {
  let entries: string[];
  try {
    entries = await readdir(proc);
  } catch {
    return null;
  }
  const out = new Map<number, Usage>();
  await Promise.all(
    entries.filter((e) => /^\d+$/.test(e)).map(async (pid) => {
      try {
        const st = parseStat(await readFile(`${proc}/${pid}/stat`, 'utf8'));
        if (st === null || !pgids.has(st.pgrp)) return;
        const u = out.get(st.pgrp) ?? { rss: 0, cpuSeconds: 0, processes: 0 };
        u.rss += st.rssPages * PAGE;
        u.cpuSeconds += st.ticks / TICKS;
        u.processes++;
        out.set(st.pgrp, u);
      } catch {
        // the process ended while we looked
      }
    }),
  );
  return out;
}
