/**
 * Supervisor: runs the `[[apps]]` workers portico balances to (DESIGN §4 [[apps]], issue 15).
 *
 * Per app: the pre-start step once per definition, then `workers` slots. Each slot holds one worker
 * process on a port from the app's range [port, port + 2×workers). A worker is an endpoint of the
 * app's routes from its start; it joins their pools after its first passing probe (or, with checks
 * off, once it accepts connections: `ready`). A worker that exits is taken out at once and restarted
 * with exponential backoff (reset after it stayed up for RESET_AFTER_MS); more than crash_loop exits
 * in the window mark the app failed and stop the restarts. Replacements (rolling restart, memory
 * recycle, changed definition) start the new worker first, wait until it is ready, take the old one
 * out of the pool, let its requests drain, then stop it (SIGTERM to its group, SIGKILL after grace).
 *
 * Background work cannot crash the process: every loop catches, logs and continues; everything
 * stops through `stop()`.
 */
import net from 'node:net';
import type { AppConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Storage } from '../storage/storage.js';
import { definitionHash, runPreStart } from './pre-start.js';
import { groupUsage } from './proc.js';
import { ChildRun, describeExit, type Exit, type GroupWatcher } from './worker.js';

/** A worker that stayed up this long gets its backoff reset. */
export const RESET_AFTER_MS = 60_000;
/** RSS above the app's memory for this many samples in a row recycles the worker. */
export const OVER_BUDGET_SAMPLES = 3;

/** Endpoint is one worker as a route sees it. */
export interface Endpoint {
  url: string;
  port: number;
  slot: number;
}

/** SupervisorOptions are the supervisor's collaborators and tuning. */
export interface SupervisorOptions {
  log: Logger;
  metrics: Metrics;
  storage: Storage;
  watcher: GroupWatcher | null;
  /** resolves once a started worker is ready for traffic (joined a pool / accepts connections) */
  ready(app: string, url: string, signal: AbortSignal): Promise<void>;
  /** requests in flight to an upstream right now (drain before stopping a worker) */
  inFlight(url: string): number;
  /** the app's endpoints changed: routes re-sync */
  onChange(app: string): void;
  /** how long a replaced worker may drain and then take to stop (server.shutdown_grace) */
  grace(): number;
  /** RSS/CPU sampling period (default 5s) */
  sampleMs?: number;
  /** how long a new worker may take to become ready (default 60s) */
  readyTimeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

type SlotState = 'starting' | 'running' | 'draining' | 'backoff' | 'stopped';

/** Slot is one worker position of an app (PORTICO_WORKER_INDEX). */
interface Slot {
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
class App {
  config: AppConfig;
  state: AppStatus['state'] = 'pre-start';
  error: string | null = null;
  preStart: AppStatus['pre_start'];
  slots: Slot[] = [];
  exits: number[] = [];
  /** draining or replaced workers still running (stopped in the background) */
  readonly retiring = new Set<ChildRun>();
  readonly log: Logger;
  readonly abort = new AbortController();
  rolling: Promise<void> | null = null;

  constructor(config: AppConfig, log: Logger) {
    this.config = config;
    this.log = log.child({ app: config.name });
    this.preStart = { hash: definitionHash(config), state: config.pre_start.length === 0 ? 'none' : 'running', at: null };
  }

  /** restartKey: a change to any of these replaces the workers. */
  static restartKey(c: AppConfig): string {
    return JSON.stringify([c.command, c.env, c.cwd, c.port]);
  }
}

/** Supervisor owns every app of the process. */
export class Supervisor {
  private readonly apps = new Map<string, App>();
  private readonly log: Logger;
  private readonly sampler: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: SupervisorOptions) {
    this.log = o.log.child({ component: 'supervisor' });
    this.sampler = setInterval(() => void this.sample().catch((err: unknown) => this.log.error({ err }, 'sampling failed')), o.sampleMs ?? 5000);
    this.sampler.unref();
  }

  /** apply reconciles the running apps with a config's [[apps]] (start, roll, scale, stop). */
  apply(configs: readonly AppConfig[]): void {
    if (this.stopped) return;
    const wanted = new Map(configs.map((c) => [c.name, c]));
    for (const [name, app] of this.apps) {
      if (!wanted.has(name)) {
        this.apps.delete(name);
        void this.stopApp(app, this.o.grace());
      }
    }
    for (const c of configs) {
      const app = this.apps.get(c.name);
      if (app === undefined) {
        const fresh = new App(c, this.log);
        this.apps.set(c.name, fresh);
        void this.boot(fresh);
        continue;
      }
      const restart = App.restartKey(app.config) !== App.restartKey(c) || definitionHash(app.config) !== definitionHash(c);
      const retry = app.state === 'failed';
      app.config = c;
      if (restart || retry) {
        app.log.info({ reason: retry ? 'failed app, changed or reloaded' : 'definition changed' }, 'restarting app');
        void this.restart(c.name);
      } else if (c.workers !== app.slots.length && app.state === 'running') {
        void this.scale(app);
      }
    }
  }

  /** endpoints are an app's workers that routes should know (starting or running, not draining). */
  endpoints(name: string): Endpoint[] {
    const app = this.apps.get(name);
    if (app === undefined) return [];
    return app.slots
      .filter((s) => s.run !== null && (s.state === 'starting' || s.state === 'running'))
      .map((s) => ({ url: urlOf(s.port), port: s.port, slot: s.index }));
  }

  /**
   * restart replaces an app's workers one at a time (POST /apps/NAME/restart, changed definition); a
   * failed app is started again from its pre-start step.
   */
  async restart(name: string): Promise<{ ok: boolean; error: string | null }> {
    const app = this.apps.get(name);
    if (app === undefined) return { ok: false, error: `no app named ${JSON.stringify(name)}` };
    if (app.rolling !== null) await app.rolling.catch(() => undefined);
    const run = (async () => {
      if (app.state === 'failed' || app.state === 'pre-start' || definitionHash(app.config) !== app.preStart.hash) {
        app.exits = [];
        this.o.metrics.appFailed.labels(name).set(0);
        await this.boot(app);
        return;
      }
      for (const slot of [...app.slots]) {
        if (this.stopped || !this.apps.has(name)) return;
        await this.replace(app, slot, 'rolling restart');
      }
      await this.scale(app);
    })();
    app.rolling = run;
    try {
      await run;
      return app.state === 'running' ? { ok: true, error: null } : { ok: false, error: app.error };
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    } finally {
      if (app.rolling === run) app.rolling = null;
    }
  }

  /** status lists every app for /status.json. */
  status(): AppStatus[] {
    return [...this.apps.values()].map((app) => ({
      name: app.config.name,
      state: app.state,
      error: app.error,
      command: app.config.command,
      pre_start: { ...app.preStart },
      workers: app.slots.map((s) => ({
        index: s.index,
        pid: s.run?.pid ?? null,
        port: s.port,
        state: s.state,
        uptime_s: s.run !== null && s.run.running ? Math.round((Date.now() - s.run.startedAt) / 1000) : null,
        restarts: s.restarts,
        rss_bytes: s.rss,
        cpu_percent: s.cpuPercent,
        last_exit: s.lastExit,
      })),
      memory: { per_worker: app.config.memory, rss_total: app.slots.reduce((n, s) => n + s.rss, 0) },
    }));
  }

  /** stop ends every worker: SIGTERM to each group, SIGKILL after `grace` (shutdown). */
  async stop(grace: number): Promise<void> {
    this.stopped = true;
    clearInterval(this.sampler);
    await Promise.all([...this.apps.values()].map((a) => this.stopApp(a, grace)));
    this.apps.clear();
  }

  // ─── lifecycle of an app ──────────────────────────────────────────────────

  /** boot runs the pre-start step, then starts every slot. */
  private async boot(app: App): Promise<void> {
    const c = app.config;
    app.state = 'pre-start';
    app.error = null;
    app.preStart = { hash: definitionHash(c), state: c.pre_start.length === 0 ? 'none' : 'running', at: null };
    try {
      const r = await runPreStart(c, { storage: this.o.storage, log: this.log, env: this.baseEnv(c), watcher: this.o.watcher, signal: app.abort.signal, killGrace: this.o.grace() });
      app.preStart = { hash: r.hash, state: c.pre_start.length === 0 ? 'none' : 'done', at: r.at };
    } catch (err) {
      if (app.abort.signal.aborted) return;
      app.preStart.state = 'failed';
      this.fail(app, (err as Error).message);
      return;
    }
    if (app.abort.signal.aborted || this.stopped) return;
    app.state = 'running';
    const old = app.slots;
    if (old.some((s) => s.run !== null && s.run.running)) {
      // a failed app being retried may still have live workers: replace them one by one
      for (const slot of old) await this.replace(app, slot, 'app restarted');
    } else {
      app.slots = [];
    }
    await this.scale(app);
  }

  /** scale adds or drains slots to match `workers`. */
  private async scale(app: App): Promise<void> {
    const want = app.config.workers;
    const starts: Array<Promise<void>> = [];
    while (app.slots.length < want) {
      const slot = newSlot(app.slots.length);
      app.slots.push(slot);
      starts.push(this.startSlot(app, slot, false));
    }
    await Promise.all(starts);
    while (app.slots.length > want) {
      const slot = app.slots.pop()!;
      await this.retire(app, slot, 'scaled down');
    }
  }

  /** startSlot starts a worker in a slot and waits until it is ready (or has failed). */
  private async startSlot(app: App, slot: Slot, isRestart: boolean): Promise<void> {
    if (this.stopped || app.abort.signal.aborted || app.state === 'failed') return;
    const port = await this.freePort(app, new Set());
    if (port === null) {
      this.fail(app, `no free port in ${app.config.port}..${app.config.port + 2 * app.config.workers - 1}`);
      return;
    }
    const run = this.spawn(app, slot.index, port);
    slot.run = run;
    slot.port = port;
    slot.state = 'starting';
    slot.overBudget = 0;
    if (isRestart) {
      slot.restarts++;
      this.o.metrics.appRestarts.labels(app.config.name).inc();
    }
    this.o.onChange(app.config.name);
    void run.exited.then((e) => this.exited(app, slot, run, e));
    const ok = await this.whenReady(app, run, port);
    if (ok && slot.run === run) {
      slot.state = 'running';
      app.log.info({ worker: slot.index, worker_pid: run.pid, port }, 'worker ready');
    }
  }

  /** replace starts a new worker for a slot, then retires the old one (zero failed requests). */
  private async replace(app: App, slot: Slot, reason: string): Promise<void> {
    if (this.stopped || app.abort.signal.aborted) return;
    const old = slot.run;
    if (old === null || !old.running) {
      if (slot.state !== 'backoff') await this.startSlot(app, slot, true);
      return;
    }
    const oldPort = slot.port;
    const port = await this.freePort(app, new Set([oldPort]));
    if (port === null) {
      app.log.error({ worker: slot.index }, 'no free port for a replacement worker; keeping the old one');
      return;
    }
    // the new worker gets its own slot entry next to the old one: both are endpoints until the new
    // one is ready, then the old one leaves
    const run = this.spawn(app, slot.index, port);
    const shadow: Slot = { ...newSlot(slot.index), run, port, restarts: slot.restarts + 1 };
    app.slots.splice(app.slots.indexOf(slot) + 1, 0, shadow);
    this.o.metrics.appRestarts.labels(app.config.name).inc();
    this.o.onChange(app.config.name);
    void run.exited.then((e) => this.exited(app, shadow, run, e));
    app.log.info({ worker: slot.index, reason, old_worker_pid: old.pid, old_port: oldPort, new_worker_pid: run.pid, new_port: port }, 'replacing worker');
    const ok = await this.whenReady(app, run, port);
    if (!ok) {
      app.slots.splice(app.slots.indexOf(shadow), 1);
      this.o.onChange(app.config.name);
      if (run.running) await run.stop(this.o.grace());
      app.log.error({ worker: slot.index, reason }, 'replacement worker did not become ready; keeping the old one');
      return;
    }
    shadow.state = 'running';
    app.log.info({ worker: slot.index, worker_pid: run.pid, port }, 'worker ready');
    app.slots.splice(app.slots.indexOf(slot), 1);
    await this.retire(app, slot, reason);
  }

  /** retire takes a worker out of the pool, waits for its requests, then stops it. */
  private async retire(app: App, slot: Slot, reason: string): Promise<void> {
    const run = slot.run;
    slot.state = 'draining';
    if (slot.timer !== null) clearTimeout(slot.timer);
    this.o.onChange(app.config.name);
    if (run === null || !run.running) {
      slot.state = 'stopped';
      return;
    }
    app.retiring.add(run);
    const url = urlOf(slot.port);
    const deadline = Date.now() + this.o.grace();
    // the pool no longer picks it; wait until what it is serving is done
    await sleep(50);
    while (this.o.inFlight(url) > 0 && Date.now() < deadline && !this.stopped) await sleep(50);
    app.log.info({ worker: slot.index, worker_pid: run.pid, port: slot.port, reason }, 'stopping worker');
    const exit = await run.stop(Math.max(1000, deadline - Date.now()));
    slot.state = 'stopped';
    slot.lastExit = describeExit(exit);
    app.retiring.delete(run);
  }

  /** exited handles a worker's exit: planned ones are done; others are restarted (backoff, crash loop). */
  private exited(app: App, slot: Slot, run: ChildRun, e: Exit): void {
    if (slot.run !== run || slot.state === 'draining' || slot.state === 'stopped' || this.stopped || app.abort.signal.aborted) return;
    const now = Date.now();
    const upFor = now - run.startedAt;
    slot.lastExit = describeExit(e);
    slot.rss = 0;
    if (upFor >= RESET_AFTER_MS) slot.crashes = 0;
    slot.crashes++;
    slot.state = 'backoff';
    this.o.onChange(app.config.name);
    const c = app.config;
    if (app.state === 'failed') {
      // the app is already failed: its last workers end without a restart
      slot.state = 'stopped';
      app.log.warn({ worker: slot.index, worker_pid: run.pid, exit: slot.lastExit }, 'worker exited (app failed: not restarted)');
      return;
    }
    app.exits = app.exits.filter((t) => t > now - c.crash_loop.window);
    app.exits.push(now);
    app.log.warn({ worker: slot.index, worker_pid: run.pid, port: slot.port, exit: slot.lastExit, up_ms: upFor, exits_in_window: app.exits.length }, 'worker exited');
    if (app.exits.length > c.crash_loop.count) {
      this.fail(app, `crash loop: ${app.exits.length} exits within ${c.crash_loop.window}ms (limit ${c.crash_loop.count}); last: ${slot.lastExit}`);
      return;
    }
    const delay = Math.min(c.restart_backoff.max, c.restart_backoff.min * 2 ** (slot.crashes - 1));
    app.log.info({ worker: slot.index, in_ms: delay }, 'restarting worker after backoff');
    slot.timer = setTimeout(() => {
      slot.timer = null;
      if (slot.state === 'backoff') void this.startSlot(app, slot, true);
    }, delay);
    slot.timer.unref();
  }

  /** fail marks an app failed (no more restarts) and says so loudly. */
  private fail(app: App, error: string): void {
    app.state = 'failed';
    app.error = error;
    for (const s of app.slots) if (s.timer !== null) clearTimeout(s.timer);
    this.o.metrics.appFailed.labels(app.config.name).set(1);
    app.log.error({ error }, 'app failed: not restarting it (a reload changing it, or POST /apps/NAME/restart, tries again)');
  }

  private async stopApp(app: App, grace: number): Promise<void> {
    app.abort.abort();
    app.state = 'stopped';
    for (const s of app.slots) {
      if (s.timer !== null) clearTimeout(s.timer);
      if (s.state !== 'stopped') s.state = 'draining';
    }
    const runs = [...app.slots.map((s) => s.run), ...app.retiring].filter((r): r is ChildRun => r !== null && r.running);
    await Promise.all(runs.map((r) => r.stop(grace)));
    for (const s of app.slots) s.state = 'stopped';
    this.o.metrics.appFailed.remove(app.config.name);
  }

  // ─── helpers ──────────────────────────────────────────────────────────────

  private baseEnv(c: AppConfig): NodeJS.ProcessEnv {
    return { ...(this.o.env ?? process.env), ...c.env, HOST: '127.0.0.1' };
  }

  private spawn(app: App, index: number, port: number): ChildRun {
    const c = app.config;
    const env = { ...this.baseEnv(c), PORT: String(port), PORTICO_WORKER_INDEX: String(index) };
    const run = new ChildRun({ argv: c.command, cwd: c.cwd, env }, app.log.child({ worker: index }), this.o.watcher);
    app.log.info({ worker: index, worker_pid: run.pid, port }, 'worker started');
    return run;
  }

  /** whenReady waits until the worker is ready, has exited, or the ready timeout passed. */
  private async whenReady(app: App, run: ChildRun, port: number): Promise<boolean> {
    const abort = new AbortController();
    const timeout = this.o.readyTimeoutMs ?? 60_000;
    const onStop = () => abort.abort();
    app.abort.signal.addEventListener('abort', onStop, { once: true });
    const timer = setTimeout(() => abort.abort(), timeout);
    try {
      const outcome = await Promise.race([
        this.o.ready(app.config.name, urlOf(port), abort.signal).then(() => 'ready' as const),
        run.exited.then(() => 'exited' as const),
      ]);
      if (outcome === 'exited') return false;
      return true;
    } catch {
      if (!app.abort.signal.aborted && run.running) app.log.warn({ worker_pid: run.pid, port, timeout_ms: timeout }, 'worker not ready in time');
      return false;
    } finally {
      abort.abort();
      clearTimeout(timer);
      app.abort.signal.removeEventListener('abort', onStop);
    }
  }

  /** freePort picks a port of the app's range that no worker of it uses and that can be bound now. */
  private async freePort(app: App, avoid: ReadonlySet<number>): Promise<number | null> {
    const used = new Set(avoid);
    for (const s of app.slots) if (s.run !== null && s.run.running) used.add(s.port);
    const c = app.config;
    for (let p = c.port; p < c.port + 2 * c.workers; p++) {
      if (used.has(p)) continue;
      if (await canBind(p)) return p;
    }
    return null;
  }

  /** sample reads RSS and CPU of every worker group; RSS over budget 3 times in a row recycles it. */
  private async sample(): Promise<void> {
    const live = new Map<number, { app: App; slot: Slot }>();
    for (const app of this.apps.values()) {
      for (const slot of app.slots) if (slot.run?.pid !== undefined && slot.run.running) live.set(slot.run.pid, { app, slot });
    }
    if (live.size === 0) return;
    const usage = await groupUsage(new Set(live.keys()));
    if (usage === null) return;
    const period = (this.o.sampleMs ?? 5000) / 1000;
    for (const [pid, { app, slot }] of live) {
      const u = usage.get(pid);
      if (u === undefined) continue;
      const label = [app.config.name, String(slot.index)] as const;
      const delta = Math.max(0, u.cpuSeconds - slot.cpuSeconds);
      if (slot.cpuSeconds > 0) this.o.metrics.appCpu.labels(...label).inc(delta);
      slot.cpuPercent = slot.cpuSeconds > 0 ? Math.round((delta / period) * 1000) / 10 : 0;
      slot.cpuSeconds = u.cpuSeconds;
      slot.rss = u.rss;
      this.o.metrics.appRss.labels(...label).set(u.rss);
      if (slot.state === 'running' && Date.now() - slot.run!.startedAt >= RESET_AFTER_MS) slot.crashes = 0;
      slot.overBudget = u.rss > app.config.memory ? slot.overBudget + 1 : 0;
      if (slot.overBudget >= OVER_BUDGET_SAMPLES && slot.state === 'running' && app.rolling === null) {
        app.log.warn({ worker: slot.index, worker_pid: pid, rss_bytes: u.rss, memory: app.config.memory, samples: slot.overBudget }, 'worker over its memory budget: recycling it');
        slot.overBudget = 0;
        const run = this.replace(app, slot, 'memory budget exceeded');
        app.rolling = run;
        void run.finally(() => {
          if (app.rolling === run) app.rolling = null;
        });
      }
    }
  }
}

function newSlot(index: number): Slot {
  return { index, run: null, port: 0, state: 'starting', crashes: 0, restarts: 0, overBudget: 0, rss: 0, cpuSeconds: 0, cpuPercent: 0, lastExit: null, timer: null };
}

function urlOf(port: number): string {
  return `http://127.0.0.1:${port}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/** canBind tells whether 127.0.0.1:port is free right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** waitAccepting resolves once 127.0.0.1:port accepts a TCP connection (polling; rejects on abort). */
export async function waitAccepting(port: number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw signal.reason as Error;
}
