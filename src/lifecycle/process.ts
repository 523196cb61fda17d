/**
 * Portico: one portico process, provisioned (DESIGN §1). `Portico.open()` loads the config, creates the
 * process-wide collaborators (logger, metrics, control plane, health registry, storage, ACME state, the
 * in-process data plane or the data-plane workers, the app supervisor), builds and swaps the first
 * runtime, binds the listeners; `becomeReady()` reports ready once the app routes have workers.
 * Reloads are `Reloader`'s (reload.ts), shutdown is `shutdown()`'s (shutdown.ts), with the steps this
 * class provides; main.ts wires the signals to them.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../config/index.js';
import type { Config } from '../config/types.js';
import { ChallengeStore } from '../acme/challenges.js';
import type { Issuer } from '../acme/issuer.js';
import { OrderLimiter } from '../acme/limiter.js';
import { OnDemand } from '../acme/on-demand.js';
import { build, type AcmeDeps, type BuildDeps } from './build.js';
import { SnapshotPublisher } from './publisher.js';
import { waitForAppRoutes, type AppRoutesView } from './readiness.js';
import { snapshotServer, type Runtime } from './runtime.js';
import { statusDocument } from './status-document.js';
import { PlainRedirects } from './plain-redirects.js';
import { History } from './history.js';
import { keyTypeDefectText, keyTypeMismatches, keyTypeOf, SNI_KEY_TYPE_DEFECT } from '../tls/key-types.js';
import { Reloader, type ReloadResult, type ReloadSteps } from './reload.js';
import { shutdown, type ShutdownSteps } from './shutdown.js';
import { createLogger, flushLogger, setLogLevel, type Logger } from '../log.js';
import { Metrics } from '../metrics.js';
import { Router, type Routable } from '../proxy/router.js';
import { DataPlane, blockListOf } from '../proxy/data-plane.js';
import { Engine } from '../proxy/engine.js';
import { SelfSignedSource } from '../cert-sources/self-signed.js';
import { createAdminListener } from '../server/admin.js';
import { createRedirectListener } from '../server/http-redirect.js';
import { WorkerPool } from '../cluster/pool.js';
import { ListenerSet, localListener, type Bindable, type ListenerSpec } from '../server/listener-set.js';
import { drainDataPlane } from '../server/drain.js';
import { applyListenerSettings, createHttpsListener, formatAddress, listenerSettings } from '../server/listeners.js';
import { setProxyProtocol } from '../server/proxy-protocol.js';
import { HealthRegistry } from '../health/registry.js';
import type { Storage } from '../storage/storage.js';
import { openStorage, type Fleet, type FleetTuning } from './fleet.js';
import { DEFAULT_READY_TIMEOUT_MS, Supervisor, waitAccepting, type SupervisorOptions } from '../supervisor/apps.js';
import { detectMemory, memoryBudget, type DetectedMemory } from '../supervisor/memory.js';
import { Watchdog } from '../supervisor/watchdog.js';
import type { GroupWatcher } from '../supervisor/app-worker.js';
import { VERSION } from '../version.js';

export type { ReloadResult } from './reload.js';

/** FINISH_ORDERS_MS: at shutdown, how long ACME orders still running may take to finish. */
const FINISH_ORDERS_MS = 10_000;
/** ORDERS_SLACK_MS: past shutdown_delay + shutdown_grace, how long orders may still take (main.ts exits 0.9 s past them whatever hangs). */
const ORDERS_SLACK_MS = 500;

/** StartOptions: where the config is and, for tests, where log lines go. */
export interface StartOptions {
  configPath: string;
  env?: NodeJS.ProcessEnv;
  logDestination?: NodeJS.WritableStream;
  /** tests: shorter ACME timings (lock polling, check interval, challenge polling) */
  acmeTuning?: AcmeDeps['tuning'];
  /** tests: faster RSS sampling, shorter ready timeout */
  supervisorTuning?: Pick<SupervisorOptions, 'sampleMs' | 'readyTimeoutMs'>;
  /** tests: shorter Redis timings (storage.redis) */
  fleetTuning?: FleetTuning;
  /** tests: a shorter history step than 5 s (the window stays 180 steps long) */
  historyStepMs?: number;
}

/** Addresses are the bound listeners (port 0 in the config → the port the OS chose). */
export interface Addresses {
  https: AddressInfo;
  http: AddressInfo | null;
  admin: AddressInfo | null;
}

/** Portico is a running proxy process (control plane + in-process data plane + listeners). */
export class Portico {
  readonly startedAt = new Date();
  private certHosts = new Set<string>();
  private ready = false;
  private shuttingDown: Promise<void> | null = null;
  /** when ACME orders must have finished at shutdown, within the bound main.ts enforces (epoch ms) */
  private ordersBy = Number.POSITIVE_INFINITY;
  readonly reloader: Reloader<Runtime>;
  private readonly listeners = new ListenerSet();
  private detected: DetectedMemory | null = null;
  /** the one abort path for process-wide background work (health probes); runtimes stop ACME through their own signal, the supervisor through stop() */
  private readonly stopping = new AbortController();
  /** generation of the https listener in the data-plane workers (a moved listener gets a new one) */
  private httpsGen = 0;
  private hostsOf: { runtime: Runtime | null; router: Router<Routable> } | null = null;
  private readonly plainRedirects = new PlainRedirects();
  /** how long a new app worker may take to become ready (the start timeout builds on it) */
  private readyTimeoutMs = DEFAULT_READY_TIMEOUT_MS;

  private constructor(
    readonly configPath: string,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly publisher: SnapshotPublisher,
    /** the in-process data plane (server.workers = 1); null when data-plane workers serve */
    readonly dataPlane: DataPlane | null,
    /** the data-plane workers (server.workers > 1); null when this process serves */
    readonly pool: WorkerPool | null,
    readonly health: HealthRegistry,
    private readonly deps: BuildDeps,
    private readonly env: NodeJS.ProcessEnv,
    readonly supervisor: Supervisor,
    private readonly watchdog: LazyWatchdog,
    /** Redis shared with other replicas (storage.redis); null: storage.dir alone */
    private readonly fleet: Fleet | null,
    /** the dashboard's last 15 minutes (lifecycle/history.ts) */
    readonly history: History,
  ) {
    this.stopping.signal.addEventListener('abort', () => health.close(), { once: true });
    this.reloader = new Reloader(this.reloadSteps(), log.child({ component: 'reload' }));
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
    const publisher = new SnapshotPublisher(log.child({ component: 'lifecycle' }));
    let p: Portico | null = null;
    let pool: WorkerPool | null = null;
    const history = new History({
      counters: async () => [metrics.counters(), ...((await pool?.counters()) ?? [])],
      apps: () => p?.supervisor.status() ?? [],
      lastReload: () => p?.reloader.last ?? null,
      routes: () => publisher.runtime?.config.routes.map((r) => r.name) ?? [],
    }, opts.historyStepMs === undefined ? {} : { stepMs: opts.historyStepMs, windowMs: opts.historyStepMs * 180 });
    const health = new HealthRegistry({ log, metrics, onChange: (u) => publisher.health(u), onTransition: (c) => history.transition(c) });
    const { storage, fleet } = await openStorage(config, log, metrics, opts.fleetTuning);
    const acme = acmeDeps(storage, log, metrics, opts.acmeTuning);
    // a challenge answer missing from the snapshot: ask the control plane (it reads the shared storage);
    // an on-demand name: the current runtime obtains its certificate (when its ask endpoint approves)
    const challenges = {
      httpToken: (t: string) => acme.challenges.lookupHttp(t),
      alpnCertificate: (n: string) => acme.challenges.lookupAlpn(n),
      onDemandCertificate: (n: string) => publisher.runtime?.onDemandCertificate(n) ?? Promise.resolve(null),
    };
    let dataPlane: DataPlane | null = null;
    if (config.server.workers > 1) {
      pool = new WorkerPool({
        size: config.server.workers,
        log: log.child({ component: 'cluster' }),
        logOptions: { level: config.log.level, format: config.log.format },
        current: () => publisher.currentSnapshot(),
        report: (r) => health.report(r),
        challenge: (kind, key) => (kind === 'http' ? challenges.httpToken(key) : kind === 'alpn' ? challenges.alpnCertificate(key) : challenges.onDemandCertificate(key)),
      });
      const workers = pool;
      metrics.setPeers(() => workers.metrics());
      publisher.attach(pool);
    } else {
      dataPlane = new DataPlane({ engine: new Engine(), log: log.child({ component: 'proxy' }), metrics, report: (r) => health.report(r), challenges });
      publisher.attach(dataPlane);
    }
    acme.challenges.setOnChange(() => publisher.publish());
    const watchdog = new LazyWatchdog();
    const supervisor = new Supervisor({
      log,
      metrics,
      storage,
      watcher: watchdog,
      env,
      ready: (app, url, signal) => workerReady(publisher, health, app, url, signal),
      // with workers: first every worker has the snapshot that took the upstream out of its routes, then count
      inFlight: async (url) => (pool !== null ? (await pool.synced(publisher.snapshotVersion, 2000), await pool.inFlightTo(url)) : dataPlane!.inFlightTo(url)),
      onChange: () => publisher.runtime?.syncApps(),
      grace: () => publisher.runtime?.config.server.shutdown_grace ?? 30_000,
      ...opts.supervisorTuning,
    });
    const deps: BuildDeps = { selfSigned: new SelfSignedSource(), health, acme, apps: supervisor };
    p = new Portico(opts.configPath, log, metrics, publisher, dataPlane, pool, health, deps, env, supervisor, watchdog, fleet, history);
    try {
      await pool?.start();
      // a replica starts from Redis when it answers soon, else from its cache (never waits long for it)
      await fleet?.connect(opts.fleetTuning?.timeoutMs ?? 2000);
      p.swap(await build(config, deps));
      fleet?.shareTicketKeys({ useTicketKey: (k) => publisher.useTicketKey(k), rotationMs: () => publisher.runtime?.config.tls.ticket_key_rotation ?? config.tls.ticket_key_rotation });
      // the workers take the first snapshot before anything binds
      await pool?.ready();
      supervisor.apply(config.apps);
      await p.listeners.open(p.listenerSpecs(config));
    } catch (err) {
      await p.closeAll();
      flushLogger(log);
      throw err;
    }
    for (const name of ['https', 'http', 'admin'] as const) {
      const a = p.listeners.address(name);
      if (a !== null) log.child({ component: 'server' }).info({ listener: name, address: formatAddress(a) }, 'listening');
    }
    history.start((err) => log.warn({ component: 'history', err: (err as Error).message }, 'history sample failed'));
    p.readyTimeoutMs = opts.supervisorTuning?.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    return p;
  }

  /**
   * becomeReady reports ready (/readyz 200, "portico ready") once every route that balances to an app
   * has a worker in its pool (lifecycle/readiness.ts), or at the start timeout with a warning. Not
   * after shutdown began.
   */
  async becomeReady(): Promise<void> {
    const config = this.publisher.runtime!.config;
    const startMs = Date.now();
    const timeoutMs = Math.max(0, ...config.apps.map((a) => (a.pre_start.length > 0 ? a.pre_start_timeout : 0) + this.readyTimeoutMs));
    const missing = await waitForAppRoutes(appRoutesView(this.publisher, this.health, this.supervisor), { timeoutMs, cancelled: () => this.shuttingDown !== null });
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
            { settings, minVersion: config.tls.min_version, defaultCertificate: this.publisher.runtime!.defaultCertificate },
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
                httpsPort: () => this.publisher.runtime?.config.server.public_https_port || this.listeners.address('https')!.port,
                routed: (host) => this.routedHosts().match(host, '/') !== null,
                redirectRoute: (host, url) => this.plainRedirects.lookup(this.publisher.runtime?.config ?? null, host, url),
                headerTimeout: t.header,
                idleTimeout: t.idle,
                maxHeaderBytes: config.server.limits.max_header_bytes,
                acmeAnswer: (token) => this.acmeHttpAnswer(token),
                proxyProtocol: settings.proxyProtocol,
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
            history: () => this.history.toJSON(),
            ready: () => this.ready,
            writeFrom: () => blockListOf(this.publisher.runtime?.config.admin.write_from ?? []),
            post: new Map([
              ['/reload', async () => this.reloadResponse()],
              ['/apps/', async (req: http.IncomingMessage) => this.restartAppResponse(req.url ?? '')],
            ]),
            proxyProtocol: settings.proxyProtocol,
          }), 'admin'),
      },
    ];
  }

  /** routedHosts matches the current config's route hosts (the redirect listener serves only those); rebuilt when the runtime changes. */
  private routedHosts(): Router<Routable> {
    const runtime = this.publisher.runtime;
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
      else setProxyProtocol(server, settings.proxyProtocol);
    });
  }

  /** buildRuntime provisions a runtime for a config without touching the running one. */
  buildRuntime(config: Config): Promise<Runtime> {
    return build(config, this.deps);
  }

  /** swap makes a built runtime current (DESIGN §1); in-flight requests finish on the old state. */
  swap(runtime: Runtime): void {
    this.publisher.swap(runtime);
    this.certMetrics(runtime);
    this.warnKeyTypes(runtime);
  }

  /** warnKeyTypes says which hosts get the default certificate on a Node with the SNI key-type defect (tls/key-types.ts). */
  private warnKeyTypes(runtime: Runtime): void {
    if (!SNI_KEY_TYPE_DEFECT) return;
    const defaultType = keyTypeOf(runtime.noSniCertificate().cert);
    const names = keyTypeMismatches(runtime.certificates, defaultType);
    if (names.length === 0) return;
    this.log.child({ component: 'tls' }).warn({ hosts: names, default_key_type: defaultType, node: process.version }, keyTypeDefectText(names, defaultType));
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

  /** reload re-reads the config file, builds and swaps (lifecycle/reload.ts); reloads never overlap. */
  reload(): Promise<ReloadResult> {
    return this.reloader.reload();
  }

  /** reloadSteps are the process's part of a reload (see ReloadSteps). */
  private reloadSteps(): ReloadSteps<Runtime> {
    return {
      load: () => loadConfig(this.configPath, { env: this.env }),
      current: () => this.publisher.runtime!.config,
      build: (config) => this.buildRuntime(config),
      prepareListeners: (config) => this.listeners.prepare(this.listenerSpecs(config)),
      apply: async (runtime, config) => {
        this.swap(runtime);
        this.supervisor.apply(config.apps);
        this.reconfigureListeners(config);
        setLogLevel(this.log, config.log.level);
        // every data-plane worker applies the new snapshot (listener settings and log level come with it)
        return (await this.pool?.synced(this.publisher.snapshotVersion, undefined, true)) ?? [];
      },
      version: () => this.publisher.snapshotVersion,
      stopping: () => this.shuttingDown !== null,
      address: (name) => {
        const a = this.listeners.address(name as 'https' | 'http' | 'admin');
        return a === null ? null : formatAddress(a);
      },
      count: (result) => this.metrics.configReloads.labels(result).inc(),
    };
  }

  /** restartAppResponse answers POST /apps/NAME/restart: a rolling restart (or a retry of a failed app). */
  private async restartAppResponse(path: string): Promise<{ status: number; body: unknown }> {
    const m = /^\/apps\/([^/?]+)\/restart(?:\?.*)?$/.exec(path);
    if (m === null) return { status: 404, body: { error: 'use POST /apps/NAME/restart' } };
    const name = decodeURIComponent(m[1]!);
    if (!this.publisher.runtime?.config.apps.some((a) => a.name === name)) return { status: 404, body: { error: `no app named ${JSON.stringify(name)}` } };
    this.log.info({ component: 'admin', app: name }, 'app restart requested');
    const r = await this.supervisor.restart(name);
    return { status: r.ok ? 200 : 500, body: { app: name, result: r.ok ? 'restarted' : 'failed', error: r.error, status: this.supervisor.status().find((a) => a.name === name) ?? null } };
  }

  private async reloadResponse(): Promise<{ status: number; body: unknown }> {
    const r = await this.reload();
    return { status: r.result === 'success' ? 200 : 422, body: r };
  }

  /** status is the /status.json document. */
  status(): Record<string, unknown> {
    return statusDocument({
      version: VERSION,
      startedAt: this.startedAt,
      ready: this.ready,
      runtime: this.publisher.runtime,
      snapshotVersion: this.publisher.snapshotVersion,
      addresses: this.addresses,
      inFlight: this.inFlight,
      websockets: this.websockets,
      dataPlane: this.pool === null ? null : { sharing: this.pool.share, workers: this.pool.status() },
      lastReload: this.reloader.last,
      upstream: (route, url) => this.health.status(route, url),
      traffic: { route: (name) => this.history.totals(name), handshakes: () => this.history.handshakes() },
      apps: this.supervisor.status(),
      appsMemory: this.publisher.runtime !== null && this.publisher.runtime.config.apps.length > 0 ? this.appsMemory(this.publisher.runtime.config) : null,
      upstreamsOf: (r) => (r.app === null ? r.upstreams : this.supervisor.endpoints(r.app).map((e) => e.url)),
      storage: this.fleet?.status() ?? { kind: 'file', dir: this.publisher.runtime?.config.storage.dir ?? null },
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

  /** shutdown runs the shutdown sequence (lifecycle/shutdown.ts) once; every call gets the same promise. */
  shutdown(): Promise<void> {
    this.shuttingDown ??= this.stop();
    return this.shuttingDown;
  }

  private async stop(): Promise<void> {
    const config = this.publisher.runtime?.config;
    this.ordersBy = Date.now() + (config?.server.shutdown_delay ?? 0) + (config?.server.shutdown_grace ?? 0) + ORDERS_SLACK_MS;
    await shutdown(this.shutdownSteps(), { delay: config?.server.shutdown_delay ?? 0, grace: config?.server.shutdown_grace ?? 0, log: this.log, inFlight: () => this.inFlight });
    flushLogger(this.log);
  }

  /** shutdownSteps are the process's part of shutting down (see ShutdownSteps). */
  private shutdownSteps(): ShutdownSteps {
    return {
      notReady: () => void (this.ready = false),
      drainTraffic: (grace) => this.drainTraffic(grace),
      stopBackground: () => {
        this.history.stop();
        this.publisher.stop();
        this.stopping.abort();
      },
      closeEngine: async () => undefined, // drainDataPlane closed the in-process pools; workers close their own
      stopApps: (ms) => this.supervisor.stop(ms),
      closeRest: async () => {
        this.watchdog.close();
        await this.finishOrders();
        // a hung Redis: the polite close ends by the orders' bound too (before main.ts's hard exit)
        await Promise.all([this.listeners.close(0), this.fleet?.close(this.ordersBy - Date.now())]);
      },
    };
  }

  /**
   * finishOrders lets ACME orders still running end (the runtime's abort stops those before finalize
   * at once; one past finalize downloads its certificate: issue 27), for at most FINISH_ORDERS_MS and
   * never past the bound of main.ts's hard exit (the shutdown then still ends in order: the fleet
   * closed, exit 0); an order cut is resumed at the next start.
   */
  private async finishOrders(): Promise<void> {
    const limiter = this.deps.acme?.limiter;
    if (limiter === undefined || limiter.running === 0) return;
    this.log.info({ component: 'acme', orders: limiter.running }, 'waiting for ACME orders to finish');
    if (!(await limiter.settled(Math.max(0, Math.min(FINISH_ORDERS_MS, this.ordersBy - Date.now()))))) this.log.warn({ component: 'acme', orders: limiter.running }, 'ACME orders still running at exit: an order past finalize is resumed at the next start');
  }

  /** drainTraffic: the data-plane workers drain themselves; the in-process data plane drains with its https and http listeners. */
  private async drainTraffic(grace: number): Promise<void> {
    const closeListeners = (g: number) => this.listeners.close(g, ['https', 'http']);
    const workers = this.pool?.drain(grace) ?? null;
    if (this.dataPlane !== null) await Promise.all([workers, drainDataPlane(this.dataPlane, closeListeners, grace)]);
    else await Promise.all([workers, closeListeners(grace)]);
  }

  /** closeAll cuts everything at once (start-up failed). */
  private async closeAll(): Promise<void> {
    await Promise.all([this.pool?.kill(), this.listeners.close(0, ['https', 'http'])]);
    this.history.stop();
    this.publisher.stop();
    this.stopping.abort();
    await this.dataPlane?.close(false);
    await this.supervisor.stop(1000);
    this.watchdog.close();
    await Promise.all([this.listeners.close(0), this.fleet?.close()]);
  }
}
/**
 * acmeDeps creates the process-wide ACME state on the storage (`storage.dir` needs a restart to change):
 * the challenge answers, the order limiter and the issuer cache. Nothing touches the disk or loads
 * acme-client until a host uses ACME.
 */
function acmeDeps(storage: Storage, log: Logger, metrics: Metrics, tuning: AcmeDeps['tuning']): AcmeDeps {
  const acmeLog = log.child({ component: 'acme' });
  return {
    storage,
    challenges: new ChallengeStore(storage),
    limiter: new OrderLimiter(tuning?.limiter),
    issuers: new Map<string, Promise<Issuer>>(),
    onDemand: new OnDemand({ storage, log: acmeLog, metrics }),
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
async function workerReady(publisher: SnapshotPublisher, health: HealthRegistry, app: string, url: string, signal: AbortSignal): Promise<void> {
  const routes = (publisher.runtime?.config.routes ?? []).filter((r) => r.app === app);
  if (routes.some((r) => r.health.enabled)) await health.waitUp(url, signal);
  else await waitAccepting(Number(new URL(url).port), signal);
  // routes that run no probes take it in now
  health.joined(url);
}

/** appRoutesView shows the readiness wait the app routes, their pools and failed apps. */
function appRoutesView(publisher: SnapshotPublisher, health: HealthRegistry, supervisor: Supervisor): AppRoutesView {
  return {
    appRoutes: () => (publisher.runtime?.config.routes ?? []).flatMap((r) => (r.app === null ? [] : [{ route: r.name, app: r.app }])),
    hasWorker: (route, app) => supervisor.endpoints(app).some((e) => e.ready && health.stateOf(route, e.url) === 'up'),
    failed: (app) => supervisor.status().some((a) => a.name === app && a.state === 'failed'),
  };
}

