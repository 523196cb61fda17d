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
import type { AppSpec } from './spec.js';
import { expandWorkerVars, usesWorkerVars } from './worker-vars.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Storage } from '../storage/storage.js';
import { definitionHash, runPreStart } from './pre-start.js';
import { groupUsage } from './proc.js';
import { ChildRun, describeExit, type Exit, type GroupWatcher } from './app-worker.js';
import { App, newSlot, type AppStatus, type Slot } from './app-state.js';
import { canBind, sleep, urlOf } from './ports.js';

export type { AppStatus, WorkerStatus } from './app-state.js';
export { waitAccepting } from './ports.js';

/** A worker that stayed up this long gets its backoff reset. */
export const RESET_AFTER_MS = 60_000;
/** How long a new worker may take to become ready unless told otherwise (SupervisorOptions.readyTimeoutMs). */
export const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** RSS above the app's memory for this many samples in a row recycles the worker. */
export const OVER_BUDGET_SAMPLES = 3;

/** Endpoint is one worker as a route sees it. */
export interface Endpoint {
  url: string;
  port: number;
  slot: number;
  /** ready for traffic (passed its first probe / accepts connections) */
  ready: boolean;
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
  inFlight(url: string): number | Promise<number>;
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
  apply(configs: readonly AppSpec[]): void {
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
        void this.enqueue(fresh, () => this.boot(fresh, c));
      } else {
        void this.enqueue(app, () => this.reconcile(app, c));
      }
    }
  }

  /** endpoints are an app's workers that routes should know (starting or running, not draining). */
  endpoints(name: string): Endpoint[] {
    const app = this.apps.get(name);
    if (app === undefined) return [];
    return app.slots
      .filter((s) => s.run !== null && s.run.running && (s.state === 'starting' || s.state === 'running'))
      .map((s) => ({ url: urlOf(s.port), port: s.port, slot: s.index, ready: s.state === 'running' }));
  }

  /**
   * restart replaces an app's workers one at a time (POST /apps/NAME/restart); a failed app is
   * started again from its pre-start step. Queued behind any other change of the app.
   */
  async restart(name: string): Promise<{ ok: boolean; error: string | null }> {
    const app = this.apps.get(name);
    if (app === undefined) return { ok: false, error: `no app named ${JSON.stringify(name)}` };
    try {
      return await this.enqueue(app, async () => {
        const c = app.config;
        if (app.state === 'failed' || app.state === 'pre-start' || definitionHash(c) !== app.preStart.hash) {
          await this.boot(app, c);
          return app.state === 'running' ? { ok: true, error: null } : { ok: false, error: app.error };
        }
        const failed = await this.rollAll(app, 'rolling restart');
        await this.scale(app);
        if (failed > 0) return { ok: false, error: `${failed} worker${failed === 1 ? '' : 's'} could not be replaced (kept the old one; see the log)` };
        return { ok: true, error: null };
      });
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  /** enqueue runs `task` after every change queued before it for this app. */
  private enqueue<T>(app: App, task: () => Promise<T>): Promise<T> {
    const run = app.queue.then(() => (app.abort.signal.aborted ? Promise.reject(new Error('app stopped')) : task()));
    app.queue = run.catch((err: unknown) => {
      if (!app.abort.signal.aborted) app.log.error({ err }, 'app change failed');
    });
    return run;
  }

  /** reconcile applies a reloaded config to a running app: restart when its definition changed, else scale. */
  private async reconcile(app: App, c: AppSpec): Promise<void> {
    const prev = app.config;
    const changed = App.restartKey(prev) !== App.restartKey(c) || definitionHash(prev) !== definitionHash(c);
    app.config = c;
    if (app.state === 'failed') {
      // a failed app is retried by a reload that changes it (or by restart-app)
      if (changed || c.workers !== prev.workers) await this.boot(app, c);
      return;
    }
    if (changed) {
      app.log.info({}, 'app definition changed: restarting its workers');
      if (definitionHash(prev) !== definitionHash(c)) await this.boot(app, c);
      else {
        await this.rollAll(app, 'definition changed');
        await this.scale(app);
      }
      return;
    }
    if (app.state === 'running') await this.scale(app);
  }

  /** rollAll replaces every current worker one at a time; returns how many could not be replaced. */
  private async rollAll(app: App, reason: string): Promise<number> {
    let failed = 0;
    for (const slot of [...app.slots]) {
      if (this.stopped || app.abort.signal.aborted) break;
      if (!app.slots.includes(slot)) continue;
      if (!(await this.replace(app, slot, reason))) failed++;
    }
    return failed;
  }

  /** status lists every app for /status.json. */
  status(): AppStatus[] {
    return [...this.apps.values()].map((app) => ({
      name: app.config.name,
      state: app.state,
      error: app.error,
      command: [...app.config.command],
      pre_start: { ...app.preStart },
      workers: app.slots.map((s) => ({
        index: s.index,
        pid: s.run !== null && s.run.running ? (s.run.pid ?? null) : null,
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

  /** boot runs the pre-start step for `c`, then starts (or replaces) every slot with it. */
  private async boot(app: App, c: AppSpec): Promise<void> {
    app.config = c;
    app.state = 'pre-start';
    app.error = null;
    app.exits = [];
    this.o.metrics.appFailed.labels(c.name).set(0);
    app.preStart = { hash: definitionHash(c), state: c.pre_start.length === 0 ? 'none' : 'running', at: null };
    try {
      const r = await runPreStart(c, { storage: this.o.storage, log: this.log, env: this.preStartEnv(c), watcher: this.o.watcher, signal: app.abort.signal, killGrace: this.o.grace() });
      app.preStart = { hash: r.hash, state: c.pre_start.length === 0 ? 'none' : 'done', at: r.at };
    } catch (err) {
      if (app.abort.signal.aborted) return;
      app.preStart.state = 'failed';
      this.fail(app, (err as Error).message);
      return;
    }
    if (app.abort.signal.aborted || this.stopped) return;
    app.state = 'running';
    // workers of an earlier definition (or of a failed app being retried) are replaced one by one
    await this.rollAll(app, 'app restarted');
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
      this.o.metrics.appRss.remove(app.config.name, String(slot.index));
      this.o.metrics.appCpu.remove(app.config.name, String(slot.index));
    }
  }

  /** startSlot starts a worker in a slot and waits until it is ready (or has failed). */
  private async startSlot(app: App, slot: Slot, isRestart: boolean): Promise<void> {
    if (this.stopped || app.abort.signal.aborted || app.state === 'failed') return;
    const port = await this.freePort(app, new Set());
    if (!app.slots.includes(slot) || this.stopped || app.abort.signal.aborted) return;
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
    if (slot.run !== run) return;
    if (ok) {
      slot.state = 'running';
      slot.readyAt = Date.now();
      app.log.info({ worker: slot.index, worker_pid: run.pid, port }, 'worker ready');
    } else if (run.running && !app.abort.signal.aborted) {
      // never became ready: stop it; its exit counts like a crash (backoff, crash loop)
      await run.stop(this.o.grace());
    }
  }

  /**
   * replace starts a new worker for a slot, then retires the old one (zero failed requests). Returns
   * false when the new one did not become ready (the old one keeps serving).
   */
  private async replace(app: App, slot: Slot, reason: string): Promise<boolean> {
    if (this.stopped || app.abort.signal.aborted) return false;
    const old = slot.run;
    if (old === null || !old.running) {
      // nothing to keep serving meanwhile: start the slot afresh (a backoff timer gives way)
      if (slot.timer !== null) clearTimeout(slot.timer);
      slot.timer = null;
      await this.startSlot(app, slot, true);
      return slot.state === 'running';
    }
    const oldPort = slot.port;
    const port = await this.freePort(app, new Set([oldPort]));
    if (port === null) {
      app.log.error({ worker: slot.index }, 'no free port for a replacement worker; keeping the old one');
      return false;
    }
    if (!app.slots.includes(slot) || this.stopped || app.abort.signal.aborted) return false;
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
      shadow.state = 'stopped';
      const i = app.slots.indexOf(shadow);
      if (i !== -1) app.slots.splice(i, 1);
      this.o.onChange(app.config.name);
      if (run.running) await run.stop(this.o.grace());
      app.log.error({ worker: slot.index, reason }, 'replacement worker did not become ready; keeping the old one');
      return false;
    }
    shadow.state = 'running';
    shadow.readyAt = Date.now();
    app.log.info({ worker: slot.index, worker_pid: run.pid, port }, 'worker ready');
    const i = app.slots.indexOf(slot);
    if (i !== -1) app.slots.splice(i, 1);
    await this.retire(app, slot, reason);
    return true;
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
    while ((await this.o.inFlight(url)) > 0 && Date.now() < deadline && !this.stopped) await sleep(50);
    app.log.info({ worker: slot.index, worker_pid: run.pid, port: slot.port, reason }, 'stopping worker');
    const exit = await run.stop(Math.max(1000, deadline - Date.now()));
    slot.state = 'stopped';
    slot.lastExit = describeExit(exit);
    app.retiring.delete(run);
  }

  /** exited handles a worker's exit: planned ones are done; others are restarted (backoff, crash loop). */
  private exited(app: App, slot: Slot, run: ChildRun, e: Exit): void {
    if (slot.run !== run || !app.slots.includes(slot) || slot.state === 'draining' || slot.state === 'stopped' || this.stopped || app.abort.signal.aborted) return;
    const now = Date.now();
    const upFor = now - run.startedAt;
    slot.lastExit = describeExit(e);
    slot.rss = 0;
    slot.cpuSeconds = 0;
    // the backoff starts over for a worker that was ready (in the pool) long enough
    if (slot.readyAt !== null && now - slot.readyAt >= RESET_AFTER_MS) slot.crashes = 0;
    slot.readyAt = null;
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
      void this.enqueue(app, async () => {
        if (slot.state === 'backoff' && app.slots.includes(slot)) await this.startSlot(app, slot, true);
      });
    }, delay);
    slot.timer.unref();
  }

  /** fail marks an app failed (no more restarts) and says so loudly. */
  private fail(app: App, error: string): void {
    app.state = 'failed';
    app.error = error;
    for (const s of app.slots) {
      if (s.timer !== null) clearTimeout(s.timer);
      s.timer = null;
      if (s.state === 'backoff') s.state = 'stopped';
    }
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
    // the change in progress (a pre-start step stopping, a replacement) ends through the abort
    await app.queue;
    const late = app.slots.map((s) => s.run).filter((r): r is ChildRun => r !== null && r.running);
    await Promise.all(late.map((r) => r.stop(grace)));
    for (const s of app.slots) {
      s.state = 'stopped';
      this.o.metrics.appRss.remove(app.config.name, String(s.index));
      this.o.metrics.appCpu.remove(app.config.name, String(s.index));
    }
    this.o.metrics.appFailed.remove(app.config.name);
  }

  // ─── helpers ──────────────────────────────────────────────────────────────

  /** preStartEnv is a pre-start step's environment: env values that name a worker's `${PORT}`/`${PORTICO_WORKER_INDEX}` are left out (it is no worker). */
  private preStartEnv(c: AppSpec): NodeJS.ProcessEnv {
    const own = Object.entries(c.env).filter(([, v]) => !usesWorkerVars(v));
    return { ...(this.o.env ?? process.env), ...Object.fromEntries(own), HOST: '127.0.0.1' };
  }

  /** spawn starts one worker: `${PORT}` and `${PORTICO_WORKER_INDEX}` in its command and env are its own. */
  private spawn(app: App, index: number, port: number): ChildRun {
    const c = app.config;
    const vars = { PORT: String(port), PORTICO_WORKER_INDEX: String(index) };
    const own = Object.entries(c.env).map(([k, v]) => [k, expandWorkerVars(v, vars)]);
    const env = { ...(this.o.env ?? process.env), ...Object.fromEntries(own), HOST: '127.0.0.1', ...vars };
    const argv = c.command.map((a) => expandWorkerVars(a, vars));
    const run = new ChildRun({ argv, cwd: c.cwd, env }, app.log.child({ worker: index }), this.o.watcher);
    app.log.info({ worker: index, worker_pid: run.pid, port }, 'worker started');
    return run;
  }

  /** whenReady waits until the worker is ready, has exited, or the ready timeout passed. */
  private async whenReady(app: App, run: ChildRun, port: number): Promise<boolean> {
    const abort = new AbortController();
    const timeout = this.o.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
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
      if (slot.readyAt !== null && Date.now() - slot.readyAt >= RESET_AFTER_MS) slot.crashes = 0;
      slot.overBudget = u.rss > app.config.memory ? slot.overBudget + 1 : 0;
      if (slot.overBudget >= OVER_BUDGET_SAMPLES && slot.state === 'running' && !app.recycling) {
        app.log.warn({ worker: slot.index, worker_pid: pid, rss_bytes: u.rss, memory: app.config.memory, samples: slot.overBudget }, 'worker over its memory budget: recycling it');
        slot.overBudget = 0;
        app.recycling = true;
        void this.enqueue(app, async () => {
          if (app.slots.includes(slot) && slot.state === 'running') await this.replace(app, slot, 'memory budget exceeded');
        }).finally(() => (app.recycling = false));
      }
    }
  }
}

