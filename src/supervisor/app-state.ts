/**
 * The supervisor's state of one app: its slots (worker positions, PORTICO_WORKER_INDEX), its queue of
 * changes, and what /status.json shows of it.
 */
import type { Logger } from '../log.js';
import type { ChildRun } from './app-worker.js';
import { definitionHash } from './pre-start.js';
import type { AppSpec } from './spec.js';

export type SlotState = 'starting' | 'running' | 'draining' | 'backoff' | 'stopped';

/** Slot is one worker position of an app (PORTICO_WORKER_INDEX). */
export interface Slot {
  index: number;
  run: ChildRun | null;
  port: number;
  state: SlotState;
  /** consecutive unexpected exits (backoff exponent); reset after RESET_AFTER_MS up */
  crashes: number;
  restarts: number;
  overBudget: number;
  rss: number;
  cpuSeconds: number;
  cpuPercent: number;
  lastExit: string | null;
  timer: NodeJS.Timeout | null;
  /** when the current worker became ready (joined the pool), or null */
  readyAt: number | null;
}

/** WorkerStatus is one worker on /status.json. */
export interface WorkerStatus {
  index: number;
  pid: number | null;
  port: number;
  state: SlotState;
  uptime_s: number | null;
  restarts: number;
  rss_bytes: number;
  cpu_percent: number;
  last_exit: string | null;
}

/** AppStatus is one app on /status.json. */
export interface AppStatus {
  name: string;
  state: 'pre-start' | 'running' | 'failed' | 'stopped';
  error: string | null;
  command: string[];
  pre_start: { hash: string; state: 'none' | 'running' | 'done' | 'failed'; at: string | null };
  workers: WorkerStatus[];
  memory: { per_worker: number; rss_total: number };
}

/** App is one supervised app. */
export class App {
  config: AppSpec;
  state: AppStatus['state'] = 'pre-start';
  error: string | null = null;
  preStart: AppStatus['pre_start'];
  slots: Slot[] = [];
  exits: number[] = [];
  /** draining or replaced workers still running (stopped in the background) */
  readonly retiring = new Set<ChildRun>();
  readonly log: Logger;
  readonly abort = new AbortController();
  /**
   * Every change to the app's workers (boot, reconcile after a reload, restart, scale, crash restart,
   * memory recycle) runs through this queue, one at a time, each with the config it was queued with.
   */
  queue: Promise<unknown> = Promise.resolve();
  /** a memory recycle is queued or running */
  recycling = false;

  constructor(config: AppSpec, log: Logger) {
    this.config = config;
    this.log = log.child({ app: config.name });
    this.preStart = { hash: definitionHash(config), state: config.pre_start.length === 0 ? 'none' : 'running', at: null };
  }

  /** restartKey: a change to any of these replaces the workers. */
  static restartKey(c: AppSpec): string {
    return JSON.stringify([c.command, c.env, c.cwd, c.port]);
  }
}

export function newSlot(index: number): Slot {
  return { index, run: null, port: 0, state: 'starting', crashes: 0, restarts: 0, overBudget: 0, rss: 0, cpuSeconds: 0, cpuPercent: 0, lastExit: null, timer: null, readyAt: null };
}
