/**
 * main: one portico process. `Portico.start()` loads the config, builds the first runtime, applies
 * its snapshot to the data plane, binds the listeners, and reports ready. `run()` additionally wires
 * the signals: SIGHUP reload, SIGTERM/SIGINT graceful shutdown (a second one exits at once).
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from './config/index.js';
import type { Config } from './config/types.js';
import { ChallengeStore } from './acme/challenges.js';
import type { Issuer } from './acme/issuer.js';
import { OrderLimiter } from './acme/limiter.js';
import { ConfigInvalidError, formatProblem, type Problem } from './errors.js';
import { build, type AcmeDeps, type BuildDeps } from './lifecycle/build.js';
import { ControlPlane } from './lifecycle/control.js';
import { waitForAppRoutes, type AppRoutesView } from './lifecycle/readiness.js';
import { ConfigWatcher, type WatchOptions } from './lifecycle/watch.js';
import { snapshotServer, type Runtime } from './lifecycle/runtime.js';
import { statusDocument } from './lifecycle/status-document.js';
import { createLogger, flushLogger, setLogLevel, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { Router, type Routable } from './proxy/router.js';
import { DataPlane, blockListOf } from './proxy/data-plane.js';
import { Engine } from './proxy/engine.js';
import { SelfSignedSource } from './cert-sources/self-signed.js';
import { createAdminListener } from './server/admin.js';
import { createRedirectListener } from './server/http-redirect.js';
import { WorkerPool } from './cluster/pool.js';
import { ListenerSet, localListener, type Bindable, type Change, type ListenerSpec } from './server/listener-set.js';
import { applyListenerSettings, createHttpsListener, formatAddress, listenerSettings } from './server/listeners.js';
import { HealthRegistry } from './health/registry.js';
import { FileStorage } from './storage/file.js';
import { DEFAULT_READY_TIMEOUT_MS, Supervisor, waitAccepting, type SupervisorOptions } from './supervisor/apps.js';
import { detectMemory, memoryBudget, type DetectedMemory } from './supervisor/memory.js';
import { Watchdog } from './supervisor/watchdog.js';
import type { GroupWatcher } from './supervisor/app-worker.js';
import { VERSION } from './version.js';

/** StartOptions: where the config is and, for tests, where log lines go. */
export interface StartOptions {
  configPath: string;
  env?: NodeJS.ProcessEnv;
  logDestination?: NodeJS.WritableStream;
  /** tests: shorter ACME timings (lock polling, check interval, challenge polling) */
  acmeTuning?: AcmeDeps['tuning'];
  /** tests: faster RSS sampling, shorter ready timeout */
  supervisorTuning?: Pick<SupervisorOptions, 'sampleMs' | 'readyTimeoutMs'>;
}

/** Addresses are the bound listeners (port 0 in the config → the port the OS chose). */
export interface Addresses {
  https: AddressInfo;
  http: AddressInfo | null;
  admin: AddressInfo | null;
}

/** RESTART_KEYS are the config parts a reload cannot change (DESIGN §4 "Reload scope"). */
const RESTART_KEYS: Array<[string, (c: Config) => unknown]> = [
  ['server.workers', (c) => c.server.workers],
  ['storage.dir', (c) => c.storage.dir],
  ['log.format', (c) => c.log.format],
];

/** ReloadResult is what a reload reports (log, /status.json last_reload, POST /reload, `portico reload`). */
export interface ReloadResult {
  at: string;
  result: 'success' | 'failure';
  /** snapshot version serving after the reload */
  version: number;
  problems: string[];
  /** listeners rebound, opened or closed by this reload */
  listeners: string[];
}

/** Portico is a running proxy process (control plane + in-process data plane + listeners). */
export class Portico {
  readonly startedAt = new Date();
  private certHosts = new Set<string>();
  private ready = false;
  private shuttingDown: Promise<void> | null = null;
  /** the reload running now, and the one queued behind it (signals during a reload coalesce into it) */
  private reloadRunning: Promise<ReloadResult> | null = null;
  private reloadQueued: Promise<ReloadResult> | null = null;
  private lastReload: ReloadResult | null = null;
  private readonly listeners = new ListenerSet();
  private detected: DetectedMemory | null = null;
  /** the one abort path for process-wide background work (health probes); runtimes stop ACME through their own signal, the supervisor through stop() */
  private readonly stopping = new AbortController();
  /** generation of the https listener in the data-plane workers (a moved listener gets a new one) */
  private httpsGen = 0;
  private hostsOf: { runtime: Runtime | null; router: Router<Routable> } | null = null;
  /** how long a new app worker may take to become ready (the start timeout builds on it) */
  private readyTimeoutMs = DEFAULT_READY_TIMEOUT_MS;

  private constructor(
    readonly configPath: string,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly control: ControlPlane,
    /** the in-process data plane (server.workers = 1); null when data-plane workers serve */
    readonly dataPlane: DataPlane | null,
    /** the data-plane workers (server.workers > 1); null when this process serves */
    readonly pool: WorkerPool | null,
    readonly health: HealthRegistry,
    private readonly deps: BuildDeps,
    private readonly env: NodeJS.ProcessEnv,
    readonly supervisor: Supervisor,
    private readonly watchdog: LazyWatchdog,
  ) {
    this.stopping.signal.addEventListener('abort', () => health.close(), { once: true });
  }

  /** start opens portico (see open) and waits until it is ready (see becomeReady). */
  static async start(opts: StartOptions): Promise<Portico> {
    const p = await Portico.open(opts);
    await p.becomeReady();
    return p;
  }

  /** open loads, builds, applies and binds; it throws (ConfigInvalidError, ListenError…) without leaving anything open. */
  static async open(opts: StartOptions): Promise<Portico> {
    const env = opts.env ?? process.env;
    const config = await loadConfig(opts.configPath, { env });
    const log = createLogger({ level: config.log.level, format: config.log.format, destination: opts.logDestination });
    const metrics = new Metrics();
    const control = new ControlPlane(log.child({ component: 'lifecycle' }));
    const health = new HealthRegistry({ log, metrics, onChange: (u) => control.health(u) });
    const storage = new FileStorage(config.storage.dir, {
      staleRemoved: (path, ageMs) => log.warn({ component: 'storage', path, age_ms: Math.round(ageMs) }, 'removed a stale storage lock (its holder stopped)'),
    });
    const acme = acmeDeps(storage, log, metrics, opts.acmeTuning);
    // a challenge answer missing from the snapshot: ask the control plane (it reads the shared storage)
    const challenges = { httpToken: (t: string) => acme.challenges.lookupHttp(t), alpnCertificate: (n: string) => acme.challenges.lookupAlpn(n) };
    let dataPlane: DataPlane | null = null;
    let pool: WorkerPool | null = null;
    if (config.server.workers > 1) {
      pool = new WorkerPool({
        size: config.server.workers,
        log: log.child({ component: 'cluster' }),
        logOptions: { level: config.log.level, format: config.log.format },
        current: () => control.currentSnapshot(),
        report: (r) => health.report(r),
        challenge: (kind, key) => (kind === 'http' ? challenges.httpToken(key) : challenges.alpnCertificate(key)),
      });
      const workers = pool;
      metrics.setPeers(() => workers.metrics());
      control.attach(pool);
    } else {
      dataPlane = new DataPlane({ engine: new Engine(), log: log.child({ component: 'proxy' }), metrics, report: (r) => health.report(r), challenges });
      control.attach(dataPlane);
    }
    acme.challenges.setOnChange(() => control.publish());
    const watchdog = new LazyWatchdog();
    const supervisor = new Supervisor({
      log,
      metrics,
      storage,
      watcher: watchdog,
      env,
      ready: (app, url, signal) => workerReady(control, health, app, url, signal),
      // with workers: first every worker has the snapshot that took the upstream out of its routes, then count
      inFlight: async (url) => (pool !== null ? (await pool.synced(control.snapshotVersion, 2000), await pool.inFlightTo(url)) : dataPlane!.inFlightTo(url)),
      onChange: () => control.runtime?.syncApps(),
      grace: () => control.runtime?.config.server.shutdown_grace ?? 30_000,
      ...opts.supervisorTuning,
    });
    const deps: BuildDeps = { selfSigned: new SelfSignedSource(), health, acme, apps: supervisor };
    const p = new Portico(opts.configPath, log, metrics, control, dataPlane, pool, health, deps, env, supervisor, watchdog);
    try {
      await pool?.start();
      p.swap(await build(config, deps));
      // the workers take the first snapshot before anything binds
      await pool?.ready();
      supervisor.apply(config.apps);
      await p.listeners.open(p.listenerSpecs(config));
    } catch (err) {
      await p.closeAll(false);
      flushLogger(log);
      throw err;
    }
    for (const name of ['https', 'http', 'admin'] as const) {
      const a = p.listeners.address(name);
      if (a !== null) log.child({ component: 'server' }).info({ listener: name, address: formatAddress(a) }, 'listening');
    }
    p.readyTimeoutMs = opts.supervisorTuning?.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    return p;
  }

  /**
   * becomeReady reports ready (/readyz 200, "portico ready") once every route that balances to an app
   * has a worker in its pool (lifecycle/readiness.ts), or at the start timeout with a warning. Not
   * after shutdown began.
   */
  async becomeReady(): Promise<void> {
    const config = this.control.runtime!.config;
    const startMs = Date.now();
    const timeoutMs = Math.max(0, ...config.apps.map((a) => (a.pre_start.length > 0 ? a.pre_start_timeout : 0) + this.readyTimeoutMs));
    const missing = await waitForAppRoutes(appRoutesView(this.control, this.health, this.supervisor), { timeoutMs, cancelled: () => this.shuttingDown !== null });
    if (this.shuttingDown !== null) return;
    if (missing.length > 0) this.log.warn({ routes: missing, waited_ms: Date.now() - startMs }, 'ready, but these routes have no app worker in their pool yet (start timeout or failed app)');
    this.ready = true;
    const workers = this.pool === null ? {} : { workers: config.server.workers, sharing: this.pool.share };
    this.log.info({ version: VERSION, config: config.source, routes: config.routes.length, ...workers }, 'portico ready');
  }

  /** addresses are the bound listeners (port 0 in the config → the port the OS chose). */
  get addresses(): Addresses {
    return { https: this.listeners.address('https')!, http: this.listeners.address('http'), admin: this.listeners.address('admin') };
  }

  /** listenerSpecs describes the listeners a config wants; servers are created only when (re)bound. */
  private listenerSpecs(config: Config): ListenerSpec[] {
    const component = this.log.child({ component: 'server' });
    const t = config.server.timeouts;
    const settings = listenerSettings(snapshotServer(config));
    return [
      {
        name: 'https',
        address: config.server.https,
        create: () => {
          if (this.pool !== null) return workersListener(this.pool, ++this.httpsGen);
          const server = createHttpsListener(
            this.dataPlane!,
            { settings, minVersion: config.tls.min_version, defaultCertificate: this.control.runtime!.defaultCertificate },
            component,
            this.metrics,
          );
          return localListener(server, 'https');
        },
      },
      {
        name: 'http',
        address: config.server.http,
        create: () =>
          localListener(
            createRedirectListener(
              {
                httpsPort: () => this.control.runtime?.config.server.public_https_port || this.listeners.address('https')!.port,
                routed: (host) => this.routedHosts().match(host, '/') !== null,
                headerTimeout: t.header,
                idleTimeout: t.idle,
                maxHeaderBytes: config.server.limits.max_header_bytes,
                acmeAnswer: (token) => this.acmeHttpAnswer(token),
              },
              component,
              this.metrics,
            ),
            'http',
          ),
      },
      {
        name: 'admin',
        address: config.admin.listen,
        create: () =>
          localListener(createAdminListener({
            metrics: this.metrics,
            log: this.log.child({ component: 'admin' }),
            status: () => this.status(),
            ready: () => this.ready,
            writeFrom: () => blockListOf(this.control.runtime?.config.admin.write_from ?? []),
            post: new Map([
              ['/reload', async () => this.reloadResponse()],
              ['/apps/', async (req: http.IncomingMessage) => this.restartAppResponse(req.url ?? '')],
            ]),
          }), 'admin'),
      },
    ];
  }

  /** routedHosts matches the current config's route hosts (the redirect listener serves only those); rebuilt when the runtime changes. */
  private routedHosts(): Router<Routable> {
    const runtime = this.control.runtime;
    if (this.hostsOf?.runtime !== runtime) {
      this.hostsOf = { runtime, router: new Router((runtime?.config.routes ?? []).map((r) => ({ hosts: r.hosts, prefix: '' }))) };
    }
    return this.hostsOf.router;
  }

  /** acmeHttpAnswer answers HTTP-01 on the plain listener (always in this process): the data plane's snapshot, else the challenge store. */
  private async acmeHttpAnswer(token: string): Promise<{ body: string; source: 'snapshot' | 'storage' } | null> {
    if (this.dataPlane !== null) return this.dataPlane.acmeHttpAnswer(token);
    const body = (await this.deps.acme?.challenges.lookupHttp(token)) ?? null;
    return body === null ? null : { body, source: 'storage' };
  }

  /**
   * reconfigureListeners applies a new config's settings to the listeners that were kept: limits and
   * timeouts for connections accepted from now on; h2 on/off (ALPN), the reset limit and the session
   * timers at once, the h2 SETTINGS (streams, header list size) for sessions opened from now on.
   */
  private reconfigureListeners(config: Config): void {
    const settings = listenerSettings(snapshotServer(config));
    this.listeners.each((name, server) => {
      if (name !== 'admin') applyListenerSettings(server, settings);
    });
  }

  /** buildRuntime provisions a runtime for a config without touching the running one. */
  buildRuntime(config: Config): Promise<Runtime> {
    return build(config, this.deps);
  }

  /** swap makes a built runtime current (DESIGN §1); in-flight requests finish on the old state. */
  swap(runtime: Runtime): void {
    this.control.swap(runtime);
    this.certMetrics(runtime);
  }

  /** certMetrics sets the expiry of file certificates (ACME ones are set by their manager) and drops hosts no longer routed. */
  private certMetrics(runtime: Runtime): void {
    const hosts = new Set(runtime.certPlan.hosts.map((h) => h.host));
    for (const gone of this.certHosts) {
      if (hosts.has(gone)) continue;
      this.metrics.certNotAfter.remove(gone);
      this.metrics.certRenewalFailing.remove(gone);
    }
    this.certHosts = hosts;
    for (const h of runtime.certPlan.hosts) {
      if (h.source === 'file' && h.notAfter) this.metrics.certNotAfter.labels(h.host).set(Math.floor(h.notAfter.getTime() / 1000));
    }
  }

  /**
   * reload re-reads the config file, builds, and swaps; on any problem the running config stays and
   * every problem is logged with its key path. Never two at once: a reload asked for while one runs
   * is queued, and every further request joins that queued one (it reads the newest file).
   */
  reload(): Promise<ReloadResult> {
    if (this.reloadQueued !== null) return this.reloadQueued;
    const after = this.reloadRunning ?? Promise.resolve();
    const next: Promise<ReloadResult> = after.then(() => {
      this.reloadQueued = null;
      this.reloadRunning = next;
      return this.reloadOnce();
    });
    this.reloadQueued = next;
    void next.finally(() => {
      if (this.reloadRunning === next) this.reloadRunning = null;
    });
    return next;
  }

  /** restartAppResponse answers POST /apps/NAME/restart: a rolling restart (or a retry of a failed app). */
  private async restartAppResponse(path: string): Promise<{ status: number; body: unknown }> {
    const m = /^\/apps\/([^/?]+)\/restart(?:\?.*)?$/.exec(path);
    if (m === null) return { status: 404, body: { error: 'use POST /apps/NAME/restart' } };
    const name = decodeURIComponent(m[1]!);
    if (!this.control.runtime?.config.apps.some((a) => a.name === name)) return { status: 404, body: { error: `no app named ${JSON.stringify(name)}` } };
    this.log.info({ component: 'admin', app: name }, 'app restart requested');
    const r = await this.supervisor.restart(name);
    return { status: r.ok ? 200 : 500, body: { app: name, result: r.ok ? 'restarted' : 'failed', error: r.error, status: this.supervisor.status().find((a) => a.name === name) ?? null } };
  }

  private async reloadResponse(): Promise<{ status: number; body: unknown }> {
    const r = await this.reload();
    return { status: r.result === 'success' ? 200 : 422, body: r };
  }

  private async reloadOnce(): Promise<ReloadResult> {
    const log = this.log.child({ component: 'reload' });
    if (this.shuttingDown !== null) return this.recordReload(log, ['reload refused: shutting down'], []);
    let runtime: Runtime | null = null;
    let change: Change | null = null;
    try {
      const config = await loadConfig(this.configPath, { env: this.env });
      const current = this.control.runtime!.config;
      const fixed = RESTART_KEYS.filter(([, get]) => JSON.stringify(get(config)) !== JSON.stringify(get(current)));
      if (fixed.length > 0) {
        throw new ConfigInvalidError(config.source, fixed.map(([path]) => ({ path, message: 'changing this needs a restart' })));
      }
      runtime = await this.buildRuntime(config);
      change = await this.listeners.prepare(this.listenerSpecs(config));
      this.swap(runtime);
      runtime = null;
      this.supervisor.apply(config.apps);
      this.reconfigureListeners(config);
      setLogLevel(this.log, config.log.level);
      // every data-plane worker applies the new snapshot (listener settings and log level come with it)
      const late = (await this.pool?.synced(this.control.snapshotVersion, undefined, true)) ?? [];
      // moved listeners: the new ones serve already; the old ones finish their connections in the background
      const retiring = change.commit(config.server.shutdown_grace);
      retiring.catch((err: unknown) => log.error({ err }, 'closing a moved listener failed'));
      for (const name of change.changed) {
        const a = this.listeners.address(name);
        log.info({ listener: name, address: a === null ? null : formatAddress(a) }, a === null ? 'listener closed' : 'listening');
      }
      return this.recordReload(log, late, change.changed, true);
    } catch (err) {
      runtime?.retire();
      await change?.abort();
      const problems: Problem[] = err instanceof ConfigInvalidError ? [...err.problems] : [{ path: '', message: (err as Error).message }];
      return this.recordReload(log, problems.map(formatProblem), []);
    }
  }

  /** recordReload logs, counts and keeps a reload's result; `applied`: the new config is running (problems are then data-plane workers that did not ack it) */
  private recordReload(log: Logger, problems: string[], listeners: string[], applied = false): ReloadResult {
    const result = problems.length === 0 ? 'success' : 'failure';
    const r: ReloadResult = { at: new Date().toISOString(), result, version: this.control.snapshotVersion, problems, listeners };
    this.metrics.configReloads.labels(result).inc();
    this.lastReload = r;
    if (result === 'success') log.info({ version: r.version }, 'config reloaded');
    else if (applied) log.error({ version: r.version, problems }, 'config reloaded, but not every data-plane worker acked it');
    else log.error({ problems }, 'config reload failed; keeping the running config');
    return r;
  }

  /** status is the /status.json document. */
  status(): Record<string, unknown> {
    return statusDocument({
      version: VERSION,
      startedAt: this.startedAt,
      ready: this.ready,
      runtime: this.control.runtime,
      snapshotVersion: this.control.snapshotVersion,
      addresses: this.addresses,
      inFlight: this.inFlight,
      websockets: this.websockets,
      dataPlane: this.pool === null ? null : { sharing: this.pool.share, workers: this.pool.status() },
      lastReload: this.lastReload,
      upstream: (route, url) => this.health.status(route, url),
      apps: this.supervisor.status(),
      appsMemory: this.control.runtime !== null && this.control.runtime.config.apps.length > 0 ? this.appsMemory(this.control.runtime.config) : null,
      upstreamsOf: (r) => (r.app === null ? r.upstreams : this.supervisor.endpoints(r.app).map((e) => e.url)),
    });
  }

  /** appsMemory is the apps' planned and used memory against the budget (/status.json). */
  private appsMemory(config: Config): Record<string, unknown> {
    this.detected ??= detectMemory();
    const b = memoryBudget(config, this.detected);
    const rss = this.supervisor.status().reduce((n, a) => n + a.memory.rss_total, 0);
    return { planned_bytes: b.need, rss_bytes: rss, budget_bytes: b.available, memory_total_bytes: b.total, memory_total_source: b.totalSource, reserve_bytes: b.reserve };
  }

  /** inFlight counts requests being served (the workers' as of their last report, at most a second old). */
  get inFlight(): number {
    return this.dataPlane?.inFlight ?? this.pool!.status().reduce((n, w) => n + w.in_flight, 0);
  }

  /** websockets counts open WebSocket tunnels (the workers' as of their last report). */
  get websockets(): number {
    return this.dataPlane?.websockets.tunnels ?? this.pool!.status().reduce((n, w) => n + w.websockets, 0);
  }

  /** isReady is what /readyz reports. */
  get isReady(): boolean {
    return this.ready;
  }

  /**
   * shutdown: readiness 503 at once → keep serving for shutdown_delay → stop accepting, close
   * WebSockets with 1001 → let in-flight requests finish (responses say Connection: close) up to
   * shutdown_grace → cut the rest.
   */
  shutdown(): Promise<void> {
    this.shuttingDown ??= this.drain();
    return this.shuttingDown;
  }

  private async drain(): Promise<void> {
    const config = this.control.runtime?.config;
    const delay = config?.server.shutdown_delay ?? 0;
    const grace = config?.server.shutdown_grace ?? 0;
    this.ready = false;
    this.log.info({ shutdown_delay_ms: delay, shutdown_grace_ms: grace, in_flight: this.inFlight, websockets: this.websockets }, 'shutting down');
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    // (data-plane workers do this themselves when drained, in closeAll)
    this.dataPlane?.startDraining();
    this.dataPlane?.goingAway();
    await this.closeAll(true, grace, Date.now() + grace);
    this.log.info({}, 'stopped');
    flushLogger(this.log);
  }

  /** closeAll stops everything; with `deadline` (epoch ms), the app workers get what is left of it (at least 0.5 s) once traffic is gone. */
  private async closeAll(graceful: boolean, grace = 0, deadline = 0): Promise<void> {
    const upgraded = setTimeout(() => this.dataPlane?.closeUpgraded(), grace);
    upgraded.unref();
    // the workers first: they close their listeners themselves while draining (an unbind now would cut their connections)
    const workers = this.pool === null ? null : graceful ? this.pool.drain(grace) : this.pool.kill();
    await Promise.all([workers, this.listeners.close(graceful ? grace : 0, ['https', 'http'])]);
    clearTimeout(upgraded);
    this.control.stop();
    this.stopping.abort();
    // clients are gone (or cut at the grace): an upstream request still running has nobody to answer
    await this.dataPlane?.close(graceful, 200);
    // traffic is gone: now the app workers (SIGTERM, SIGKILL after the grace)
    await this.supervisor.stop(graceful ? Math.max(deadline - Date.now(), 500) : 1000);
    this.watchdog.close();
    await this.listeners.close(0);
  }
}

/**
 * acmeDeps creates the process-wide ACME state on the storage (`storage.dir` needs a restart to change):
 * the challenge answers, the order limiter and the issuer cache. Nothing touches the disk or loads
 * acme-client until a host uses ACME.
 */
function acmeDeps(storage: FileStorage, log: Logger, metrics: Metrics, tuning: AcmeDeps['tuning']): AcmeDeps {
  const acmeLog = log.child({ component: 'acme' });
  return {
    storage,
    challenges: new ChallengeStore(storage),
    limiter: new OrderLimiter(tuning?.limiter),
    issuers: new Map<string, Promise<Issuer>>(),
    log: acmeLog,
    metrics,
    tuning,
  };
}

/** workersListener is the https listener of the data-plane workers: each binds it (see WorkerPool.bind). */
function workersListener(pool: WorkerPool, gen: number): Bindable {
  return { server: null, bind: (address) => pool.bind(gen, address), close: (grace) => pool.unbind(gen, grace) };
}

/** LazyWatchdog starts the orphan watchdog with the first worker (no extra process without [[apps]]). */
class LazyWatchdog implements GroupWatcher {
  private dog: Watchdog | null = null;

  add(pgid: number): void {
    this.dog ??= new Watchdog();
    this.dog.add(pgid);
  }

  remove(pgid: number): void {
    this.dog?.remove(pgid);
  }

  close(): void {
    this.dog?.close();
    this.dog = null;
  }
}

/**
 * workerReady: a new worker is ready when it joined the pool of a route that probes it (its first
 * passing probe); when no route using the app probes, once it accepts connections.
 */
async function workerReady(control: ControlPlane, health: HealthRegistry, app: string, url: string, signal: AbortSignal): Promise<void> {
  const routes = (control.runtime?.config.routes ?? []).filter((r) => r.app === app);
  if (routes.some((r) => r.health.enabled)) await health.waitUp(url, signal);
  else await waitAccepting(Number(new URL(url).port), signal);
  // routes that run no probes take it in now
  health.joined(url);
}

/** SHUTDOWN_SLACK_MS: how long past shutdown_delay + shutdown_grace a shutdown may take before the process just exits. */
const SHUTDOWN_SLACK_MS = 900;

/** appRoutesView shows the readiness wait the app routes, their pools and failed apps. */
function appRoutesView(control: ControlPlane, health: HealthRegistry, supervisor: Supervisor): AppRoutesView {
  return {
    appRoutes: () => (control.runtime?.config.routes ?? []).flatMap((r) => (r.app === null ? [] : [{ route: r.name, app: r.app }])),
    hasWorker: (route, app) => supervisor.endpoints(app).some((e) => e.ready && health.stateOf(route, e.url) === 'up'),
    failed: (app) => supervisor.status().some((a) => a.name === app && a.state === 'failed'),
  };
}

/** RunOptions: StartOptions, plus `watch` (`portico run --watch`: reload when the config file changes). */
export interface RunOptions extends StartOptions {
  watch?: boolean;
  watchTuning?: WatchOptions;
}

/** run starts portico from a config file and wires signals (and, with `watch`, the config watcher); resolves with the exit code. Handlers are
 * installed before start, so a signal during start-up is honoured afterwards instead of killing the process. */
export async function run(opts: RunOptions): Promise<number> {
  let portico: Portico | null = null;
  let signals = 0;
  let pendingStop: NodeJS.Signals | null = null;
  let finish!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  let watcher: ConfigWatcher | null = null;
  const stop = (p: Portico, signal: NodeJS.Signals) => {
    p.log.info({ signal }, 'signal received');
    watcher?.close();
    // the last resort: whatever hangs, the process is gone shortly after shutdown_delay + shutdown_grace (DESIGN §8)
    const server = p.control.runtime?.config.server;
    const limit = (server?.shutdown_delay ?? 0) + (server?.shutdown_grace ?? 0) + SHUTDOWN_SLACK_MS;
    setTimeout(() => {
      p.log.error({ in_flight: p.inFlight, limit_ms: limit }, 'shutdown did not finish in time: exiting now');
      flushLogger(p.log);
      finish(1);
    }, limit).unref();
    p.shutdown().then(
      () => finish(0),
      (err: Error) => {
        p.log.error({ err: err.message }, 'shutdown failed');
        finish(1);
      },
    );
  };
  const onStop = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      if (portico) {
        portico.log.warn({ signal }, 'second signal: exiting now');
        flushLogger(portico.log);
      }
      finish(1);
      return;
    }
    if (portico) stop(portico, signal);
    else pendingStop = signal;
  };
  const onHup = () => {
    if (!portico) return; // still starting: the file is being read right now anyway
    portico.log.info({ signal: 'SIGHUP' }, 'signal received');
    void portico.reload();
  };
  process.on('SIGTERM', onStop);
  process.on('SIGINT', onStop);
  process.on('SIGHUP', onHup);
  // the watcher reads the file first, so a change made while portico starts is not missed
  watcher = opts.watch ? await ConfigWatcher.create(opts.configPath, opts.watchTuning) : null;
  try {
    portico = await Portico.open(opts);
  } catch (err) {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
    throw err;
  }
  const p = portico;
  if (pendingStop === null) watcher?.start(p.log.child({ component: 'reload' }), () => void p.reload());
  if (pendingStop !== null) stop(portico, pendingStop);
  else void portico.becomeReady();
  return done.finally(() => watcher?.close());
}
