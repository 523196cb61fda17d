/**
 * One app worker process (or a pre-start step): spawned without a shell in its own process group,
 * its stdout/stderr turned into log lines (whole lines, bounded; at the level a line starts with, else
 * info: app-log.ts), stopped with SIGTERM to the group and SIGKILL after a grace period. The watchdog (watchdog.ts) learns every group so none survives
 * portico.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import { appLineLevel } from './app-log.js';

/** Longest log line kept from a child; longer ones are cut and marked. */
export const MAX_LINE = 16 * 1024;

/** ProcessSpec is what to run. */
export interface ProcessSpec {
  argv: readonly string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

/** Exit is how a process ended. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** the spawn itself failed (ENOENT, EACCES…) */
  error: string | null;
}

/** GroupWatcher is told about every process group started and ended (the orphan watchdog). */
export interface GroupWatcher {
  add(pgid: number): void;
  remove(pgid: number): void;
}

/** ChildRun is one started process. */
export class ChildRun {
  readonly child: ChildProcess;
  readonly startedAt = Date.now();
  /** resolves once, when the process has exited (or failed to start) */
  readonly exited: Promise<Exit>;
  private exitInfo: Exit | null = null;

  constructor(spec: ProcessSpec, log: Logger, private readonly watcher: GroupWatcher | null) {
    const [cmd, ...args] = spec.argv;
    this.child = spawn(cmd!, args, { cwd: spec.cwd, env: spec.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pid = this.child.pid;
    if (pid !== undefined) watcher?.add(pid);
    // at the level the line names (uvicorn and gunicorn write INFO lines to stderr), else info
    lines(this.child.stdout!, (line) => log[appLineLevel(line)]({ stream: 'stdout' }, line));
    lines(this.child.stderr!, (line) => log[appLineLevel(line)]({ stream: 'stderr' }, line));
    this.exited = new Promise((resolve) => {
      const done = (e: Exit) => {
        if (this.exitInfo !== null) return;
        this.exitInfo = e;
        if (pid !== undefined) {
          // whatever the worker started dies with it (its process group), then the watchdog forgets it
          killGroup(pid, 'SIGKILL');
          watcher?.remove(pid);
        }
        resolve(e);
      };
      this.child.once('error', (err) => done({ code: null, signal: null, error: err.message }));
      this.child.once('exit', (code, signal) => done({ code, signal, error: null }));
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** running tells whether the process has not exited yet. */
  get running(): boolean {
    return this.exitInfo === null && this.child.pid !== undefined;
  }

  /** signal sends a signal to the whole process group (the worker and anything it started). */
  signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid !== undefined) killGroup(pid, sig);
  }

  /** stop: SIGTERM to the group, SIGKILL after `grace` ms; resolves when the process exited. */
  async stop(grace: number): Promise<Exit> {
    if (!this.running) return this.exited;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), grace);
    timer.unref();
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}

/** killGroup signals a whole process group (no error when it is gone already). */
function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // the group is gone already
  }
}

/** describeExit renders an exit for log lines and status. */
export function describeExit(e: Exit): string {
  if (e.error !== null) return `could not start: ${e.error}`;
  if (e.signal !== null) return `killed by ${e.signal}`;
  return `exited with code ${e.code}`;
}

/** lines calls `fn` with each whole line of a stream (a line over MAX_LINE comes in marked pieces). */
export function lines(stream: Readable, fn: (line: string) => void): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    for (const p of parts) emit(p);
    while (partial.length > MAX_LINE) {
      fn(`${partial.slice(0, MAX_LINE)} [line continues]`);
      partial = partial.slice(MAX_LINE);
    }
  });
  function emit(line: string): void {
    let l = line.endsWith('\r') ? line.slice(0, -1) : line;
    while (l.length > MAX_LINE) {
      fn(`${l.slice(0, MAX_LINE)} [line continues]`);
      l = l.slice(MAX_LINE);
    }
    fn(l);
  }
  stream.on('end', () => {
    if (partial !== '') emit(partial);
    partial = '';
  });
}
