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
import { build, type AcmeDeps } from './lifecycle/build.js';
import { ControlPlane } from './lifecycle/control.js';
import type { Runtime } from './lifecycle/runtime.js';
import { statusDocument } from './lifecycle/status.js';
import { createLogger, flushLogger, type Logger } from './log.js';
import { Metrics } from './metrics.js';
import { DataPlane, blockListOf } from './proxy/data-plane.js';
import { Engine } from './proxy/engine.js';
import { SelfSignedSource } from './cert-sources/self-signed.js';
import { createAdminListener } from './server/admin.js';
import { createRedirectListener } from './server/http-redirect.js';
import { bind, closeServer, createHttpsListener, formatAddress } from './server/listeners.js';
import { FileStorage } from './storage/file.js';
import { VERSION } from './version.js';

/** StartOptions: where the config is and, for tests, where log lines go. */
export interface StartOptions {
  configPath: string;
  env?: NodeJS.ProcessEnv;
  logDestination?: NodeJS.WritableStream;
  /** tests: shorter ACME timings (lock polling, check interval, challenge polling) */
  acmeTuning?: AcmeDeps['tuning'];
}

/** Addresses are the bound listeners (port 0 in the config → the port the OS chose). */
export interface Addresses {
  https: AddressInfo;
  http: AddressInfo | null;
  admin: AddressInfo | null;
}

/** RESTART_KEYS are config parts a reload cannot change (the listeners are bound once in this version). */
const RESTART_KEYS: Array<[string, (c: Config) => unknown]> = [
  ['server.https', (c) => c.server.https],
  ['server.http', (c) => c.server.http],
  ['admin.listen', (c) => c.admin.listen],
  ['server.limits.max_header_bytes', (c) => c.server.limits.max_header_bytes],
  ['tls.min_version', (c) => c.tls.min_version],
  ['storage.dir', (c) => c.storage.dir],
  ['log.format', (c) => c.log.format],
];

/** Portico is a running proxy process (control plane + in-process data plane + listeners). */
export class Portico {
  readonly startedAt = new Date();
  private certHosts = new Set<string>();
  private ready = false;
  private shuttingDown: Promise<void> | null = null;
  private reloading: Promise<void> = Promise.resolve();
  private lastReload: { at: string; result: 'success' | 'failure'; problems: string[] } | null = null;
  private readonly servers: Array<{ name: string; server: http.Server }> = [];
  addresses!: Addresses;

  private constructor(
    readonly configPath: string,
    readonly log: Logger,
    readonly metrics: Metrics,
    readonly control: ControlPlane,
    readonly dataPlane: DataPlane,
    private readonly selfSigned: SelfSignedSource,
    private readonly env: NodeJS.ProcessEnv,
    private readonly acme: AcmeDeps,
  ) {}

  /** start loads, builds, applies and binds; it throws (ConfigInvalidError, ListenError…) without leaving anything open. */
  static async start(opts: StartOptions): Promise<Portico> {
    const env = opts.env ?? process.env;
    const config = await loadConfig(opts.configPath, { env });
    const log = createLogger({ level: config.log.level, format: config.log.format, destination: opts.logDestination });
    const metrics = new Metrics();
    const acme = acmeDeps(config, log, metrics, opts.acmeTuning);
    const dataPlane = new DataPlane({
      engine: new Engine(),
      log: log.child({ component: 'proxy' }),
      metrics,
      // a challenge answer missing from the snapshot: ask the control plane (it reads the shared storage)
      challenges: { httpToken: (t) => acme.challenges.lookupHttp(t), alpnCertificate: (n) => acme.challenges.lookupAlpn(n) },
    });
    const control = new ControlPlane(log.child({ component: 'lifecycle' }));
    acme.challenges.setOnChange(() => control.publish());
    control.attach(dataPlane);
    const p = new Portico(opts.configPath, log, metrics, control, dataPlane, new SelfSignedSource(), env, acme);
    try {
      p.swap(await build(config, { selfSigned: p.selfSigned, acme }));
      await p.listen(config);
    } catch (err) {
      await p.closeAll(false);
      flushLogger(log);
      throw err;
    }
    p.ready = true;
    log.info({ version: VERSION, config: config.source, routes: config.routes.length }, 'portico ready');
    return p;
  }

  private async listen(config: Config): Promise<void> {
    const component = this.log.child({ component: 'server' });
    const t = config.server.timeouts;
    const https = createHttpsListener(
      this.dataPlane,
      {
        maxHeaderBytes: config.server.limits.max_header_bytes,
        headerTimeout: t.header,
        idleTimeout: t.idle,
        minVersion: config.tls.min_version,
        defaultCertificate: this.control.runtime!.defaultCertificate,
      },
      component,
      this.metrics,
    );
    this.servers.push({ name: 'https', server: https });
    const httpsAddr = await bind(https, config.server.https, 'https');
    let httpAddr: AddressInfo | null = null;
    if (config.server.http !== null) {
      const redirect = createRedirectListener(
        {
          httpsPort: () => this.control.runtime?.config.server.public_https_port || httpsAddr.port,
          headerTimeout: t.header,
          idleTimeout: t.idle,
          maxHeaderBytes: config.server.limits.max_header_bytes,
          acmeAnswer: (token) => this.dataPlane.acmeHttpAnswer(token),
        },
        component,
        this.metrics,
      );
      this.servers.push({ name: 'http', server: redirect });
      httpAddr = await bind(redirect, config.server.http, 'http');
    }
    let adminAddr: AddressInfo | null = null;
    if (config.admin.listen !== null) {
      const admin = createAdminListener({
        metrics: this.metrics,
        log: this.log.child({ component: 'admin' }),
        status: () => this.status(),
        ready: () => this.ready,
        writeFrom: () => blockListOf(this.control.runtime?.config.admin.write_from ?? []),
      });
      this.servers.push({ name: 'admin', server: admin });
      adminAddr = await bind(admin, config.admin.listen, 'admin');
    }
    this.addresses = { https: httpsAddr, http: httpAddr, admin: adminAddr };
    for (const { name, server } of this.servers) {
      component.info({ listener: name, address: formatAddress(server.address() as AddressInfo) }, 'listening');
    }
  }

  /** buildRuntime provisions a runtime for a config without touching the running one. */
  buildRuntime(config: Config): Promise<Runtime> {
    return build(config, { selfSigned: this.selfSigned, acme: this.acme });
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
   * every problem is logged with its key path. Reloads never overlap (they queue).
   */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.reloadOnce());
    return this.reloading;
  }

  private async reloadOnce(): Promise<void> {
    const log = this.log.child({ component: 'reload' });
    try {
      const config = await loadConfig(this.configPath, { env: this.env });
      const current = this.control.runtime!.config;
      const fixed = RESTART_KEYS.filter(([, get]) => JSON.stringify(get(config)) !== JSON.stringify(get(current)));
      if (fixed.length > 0) {
        throw new ConfigInvalidError(config.source, fixed.map(([path]) => ({ path, message: 'changing this needs a restart' })));
      }
      this.swap(await this.buildRuntime(config));
      this.metrics.configReloads.labels('success').inc();
      this.lastReload = { at: new Date().toISOString(), result: 'success', problems: [] };
      log.info({ version: this.control.snapshotVersion }, 'config reloaded');
    } catch (err) {
      const problems: Problem[] = err instanceof ConfigInvalidError ? [...err.problems] : [{ path: '', message: (err as Error).message }];
      const texts = problems.map(formatProblem);
      this.metrics.configReloads.labels('failure').inc();
      this.lastReload = { at: new Date().toISOString(), result: 'failure', problems: texts };
      log.error({ problems: texts }, 'config reload failed; keeping the running config');
    }
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
      inFlight: this.dataPlane.inFlight,
      lastReload: this.lastReload,
    });
  }

  /** isReady is what /readyz reports. */
  get isReady(): boolean {
    return this.ready;
  }

  /**
   * shutdown: readiness 503 at once → keep serving for shutdown_delay → stop accepting → let
   * in-flight requests finish (responses say Connection: close) up to shutdown_grace → cut the rest.
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
    this.log.info({ shutdown_delay_ms: delay, shutdown_grace_ms: grace, in_flight: this.dataPlane.inFlight }, 'shutting down');
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    this.dataPlane.startDraining();
    await this.closeAll(true, grace);
    this.log.info({}, 'stopped');
    flushLogger(this.log);
  }

  private async closeAll(graceful: boolean, grace = 0): Promise<void> {
    const upgraded = setTimeout(() => this.dataPlane.closeUpgraded(), grace);
    upgraded.unref();
    const publicServers = this.servers.filter((s) => s.name !== 'admin');
    await Promise.all(publicServers.map((s) => closeServer(s.server, graceful ? grace : 0)));
    clearTimeout(upgraded);
    this.control.stop();
    await this.dataPlane.close(graceful);
    await Promise.all(this.servers.filter((s) => s.name === 'admin').map((s) => closeServer(s.server, 0)));
  }
}

/**
 * acmeDeps creates the process-wide ACME state: the storage (`storage.dir` needs a restart to change),
 * the challenge answers, the order limiter and the issuer cache. Nothing touches the disk or loads
 * acme-client until a host uses ACME.
 */
function acmeDeps(config: Config, log: Logger, metrics: Metrics, tuning: AcmeDeps['tuning']): AcmeDeps {
  const acmeLog = log.child({ component: 'acme' });
  const storage = new FileStorage(config.storage.dir, {
    staleRemoved: (path, ageMs) => acmeLog.warn({ path, age_ms: Math.round(ageMs) }, 'removed a stale storage lock (its holder stopped)'),
  });
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

/** run starts portico from a config file and wires signals; resolves with the exit code. Handlers are
 * installed before start, so a signal during start-up is honoured afterwards instead of killing the process. */
export async function run(opts: StartOptions): Promise<number> {
  let portico: Portico | null = null;
  let signals = 0;
  let pendingStop: NodeJS.Signals | null = null;
  let finish!: (code: number) => void;
  const done = new Promise<number>((resolve) => (finish = resolve));
  const stop = (p: Portico, signal: NodeJS.Signals) => {
    p.log.info({ signal }, 'signal received');
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
  try {
    portico = await Portico.start(opts);
  } catch (err) {
    process.off('SIGTERM', onStop);
    process.off('SIGINT', onStop);
    process.off('SIGHUP', onHup);
    throw err;
  }
  if (pendingStop !== null) stop(portico, pendingStop);
  return done;
}
