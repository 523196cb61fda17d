/**
 * The pre-start step (migrations): run an app's `pre_start` to success before any of its workers,
 * once per definition. The definition hash covers pre_start, command, env and cwd; a marker in the
 * storage records success, and a storage lock makes replicas sharing the storage run it on one of
 * them only (the others wait, then find the marker). A failure or timeout is an error for the app.
 */
import { createHash } from 'node:crypto';
import type { AppConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import { safeSegment, type Storage } from '../storage/storage.js';
import { ChildRun, describeExit, type GroupWatcher } from './worker.js';

/** definitionHash identifies what a pre-start step ran for. */
export function definitionHash(app: AppConfig): string {
  const def = JSON.stringify({ pre_start: app.pre_start, command: app.command, env: app.env, cwd: app.cwd });
  return createHash('sha256').update(def).digest('hex').slice(0, 16);
}

/** PreStartResult says whether the step ran here, was already done, or was not needed. */
export type PreStartResult = { ran: boolean; hash: string; at: string | null };

/** PreStartOptions are the step's collaborators. */
export interface PreStartOptions {
  storage: Storage;
  log: Logger;
  env: NodeJS.ProcessEnv;
  watcher: GroupWatcher | null;
  signal: AbortSignal;
  /** grace for the step's process group when it is stopped (timeout, shutdown) */
  killGrace?: number;
}

/**
 * runPreStart runs the step unless its marker exists; resolves when the workers may start, rejects
 * with an Error saying why they may not.
 */
export async function runPreStart(app: AppConfig, o: PreStartOptions): Promise<PreStartResult> {
  const hash = definitionHash(app);
  if (app.pre_start.length === 0) return { ran: false, hash, at: null };
  const base = `apps/${safeSegment(app.name)}`;
  const marker = `${base}/pre-start-${hash}.done`;
  const done = await o.storage.read(marker);
  if (done !== null) return { ran: false, hash, at: done.toString().trim() || null };
  const lock = await o.storage.lock(`${base}/pre-start`, { signal: o.signal });
  try {
    // another replica may have run it while we waited for the lock
    const again = await o.storage.read(marker);
    if (again !== null) return { ran: false, hash, at: again.toString().trim() || null };
    const log = o.log.child({ app: app.name, pre_start: true });
    log.info({ argv: app.pre_start, hash }, 'pre-start step running');
    const run = new ChildRun({ argv: app.pre_start, cwd: app.cwd, env: o.env }, log, o.watcher);
    const grace = o.killGrace ?? 5000;
    const timer = setTimeout(() => void run.stop(grace), app.pre_start_timeout);
    const onAbort = () => void run.stop(grace);
    o.signal.addEventListener('abort', onAbort, { once: true });
    const exit = await run.exited;
    clearTimeout(timer);
    o.signal.removeEventListener('abort', onAbort);
    const took = Date.now() - run.startedAt;
    if (o.signal.aborted) throw new Error('pre-start step stopped: portico is shutting down');
    if (exit.code !== 0) {
      const why = took >= app.pre_start_timeout && exit.error === null ? `timed out after ${app.pre_start_timeout}ms` : describeExit(exit);
      throw new Error(`pre-start step ${JSON.stringify(app.pre_start.join(' '))} failed: ${why}`);
    }
    const at = new Date().toISOString();
    await o.storage.write(marker, `${at}\n`);
    log.info({ hash, took_ms: took }, 'pre-start step succeeded');
    return { ran: true, hash, at };
  } finally {
    await lock.release();
  }
}
