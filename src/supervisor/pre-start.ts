/**
 * The pre-start step (migrations): run an app's `pre_start` to success before any of its workers,
 * once per definition. The definition hash covers pre_start, command, env and cwd; a marker in the
 * storage records success, and a storage lock makes replicas sharing the storage run it on one of
 * them only (the others wait, then find the marker). A failure or timeout is an error for the app.
 */
import { createHash } from 'node:crypto';
import type { AppSpec } from './spec.js';
import type { Logger } from '../log.js';
import { safeSegment, type Storage } from '../storage/storage.js';
import { ChildRun, describeExit, type GroupWatcher } from './app-worker.js';

/** definitionHash identifies what a pre-start step ran for. */
export function definitionHash(app: AppSpec): string {
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
 * with an Error saying why they may not. A lock lost while the step runs (a file lock taken over
 * after missed heartbeats, a Redis lease not renewed in time: another replica may start the step)
 * stops the step, as a leader that lost its lease stops its work; then the lock is waited for again
 * and the marker read again (the replica that took it over has usually run the step by then). After
 * MAX_LOCK_LOSSES such stops the step fails: a lock that cannot be kept is an error to see.
 */
export async function runPreStart(app: AppSpec, o: PreStartOptions): Promise<PreStartResult> {
  const hash = definitionHash(app);
  if (app.pre_start.length === 0) return { ran: false, hash, at: null };
  const marker = doneKey(app, hash);
  const log = o.log.child({ app: app.name, pre_start: true });
  for (let losses = 0; ; losses++) {
    const done = await o.storage.read(marker);
    if (done !== null) return { ran: false, hash, at: done.toString().trim() || null };
    if (losses === MAX_LOCK_LOSSES) {
      const error = `pre-start step ${JSON.stringify(app.pre_start.join(' '))} failed: stopped ${losses} times, its storage lock lost each time (the storage is unreachable or too slow for the lock's heartbeats)`;
      await o.storage.write(failedKey(app, hash), JSON.stringify({ at: new Date().toISOString(), error })).catch(() => undefined);
      throw new Error(error);
    }
    const lock = await o.storage.lock(`${baseKey(app)}/pre-start`, { signal: o.signal });
    try {
      // another replica may have run it while we waited for the lock
      const again = await o.storage.read(marker);
      if (again !== null) return { ran: false, hash, at: again.toString().trim() || null };
      const r = await runStep(app, hash, o, log, lock.signal);
      if (r !== 'lock lost') return r;
    } finally {
      await lock.release();
    }
  }
}

/** runStep runs the step once under its lock; 'lock lost' when it was stopped for losing the lock. */
async function runStep(app: AppSpec, hash: string, o: PreStartOptions, log: Logger, lockLost: AbortSignal | undefined): Promise<PreStartResult | 'lock lost'> {
  const marker = doneKey(app, hash);
  if (lockLost?.aborted) return 'lock lost';
  log.info({ argv: app.pre_start, hash }, 'pre-start step running');
  const run = new ChildRun({ argv: app.pre_start, cwd: app.cwd, env: o.env }, log, o.watcher);
  const grace = o.killGrace ?? 5000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void run.stop(grace);
  }, app.pre_start_timeout);
  const stop = AbortSignal.any(lockLost === undefined ? [o.signal] : [o.signal, lockLost]);
  let forLock = false;
  const onStop = () => {
    // a lock lost while a timed-out step is being stopped: the timeout is what it failed of
    forLock = !o.signal.aborted && !timedOut;
    void run.stop(grace);
  };
  stop.addEventListener('abort', onStop, { once: true });
  const exit = await run.exited;
  clearTimeout(timer);
  stop.removeEventListener('abort', onStop);
  const took = Date.now() - run.startedAt;
  if (o.signal.aborted) throw new Error('pre-start step stopped: portico is shutting down');
  if (forLock && exit.code !== 0) {
    // (a step that finished with success despite the stop is done: its marker is written below)
    log.warn({ hash, err: (lockLost?.reason as Error | undefined)?.message, exit: describeExit(exit) }, 'pre-start step stopped: its lock was lost (another replica may be running it); waiting for the lock again');
    return 'lock lost';
  }
  const at = new Date().toISOString();
  if (exit.code !== 0) {
    const why = timedOut && exit.error === null ? `timed out after ${app.pre_start_timeout}ms` : describeExit(exit);
    const error = `pre-start step ${JSON.stringify(app.pre_start.join(' '))} failed: ${why}`;
    // recorded for `portico check` (and other replicas' operators); cleared by the next success
    await o.storage.write(failedKey(app, hash), JSON.stringify({ at, error })).catch(() => undefined);
    throw new Error(error);
  }
  await o.storage.write(marker, `${at}\n`);
  await o.storage.delete(failedKey(app, hash)).catch(() => undefined);
  log.info({ hash, took_ms: took }, 'pre-start step succeeded');
  return { ran: true, hash, at };
}

/** MAX_LOCK_LOSSES: stops for a lost lock after which the step fails instead of waiting for the lock again. */
const MAX_LOCK_LOSSES = 3;

const baseKey = (app: AppSpec): string => `apps/${safeSegment(app.name)}`;
const doneKey = (app: AppSpec, hash: string): string => `${baseKey(app)}/pre-start-${hash}.done`;
const failedKey = (app: AppSpec, hash: string): string => `${baseKey(app)}/pre-start-${hash}.failed`;

/** PreStartState is what `portico check` says about an app's pre-start step for its current definition. */
export type PreStartState =
  | { state: 'none' }
  | { state: 'done'; at: string }
  | { state: 'failed'; at: string; error: string }
  | { state: 'pending' };

/** inspectPreStart reads the step's record for the app's current definition (no lock, read-only). */
export async function inspectPreStart(app: AppSpec, storage: Storage): Promise<PreStartState> {
  if (app.pre_start.length === 0) return { state: 'none' };
  const hash = definitionHash(app);
  try {
    const done = await storage.read(doneKey(app, hash));
    if (done !== null) return { state: 'done', at: done.toString().trim() };
    const failed = await storage.read(failedKey(app, hash));
    if (failed !== null) {
      const f = JSON.parse(failed.toString()) as { at: string; error: string };
      return { state: 'failed', at: f.at, error: f.error };
    }
  } catch {
    // an unreadable record: the step will simply run
  }
  return { state: 'pending' };
}
