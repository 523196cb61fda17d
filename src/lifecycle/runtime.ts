/**
 * Runtime: everything built from one Config (DESIGN §1). It is provisioned completely by
 * `build()`, becomes current with `SnapshotPublisher.swap()`, and is stopped with `retire()`. State that
 * outlives a config (listeners, upstream pools, self-signed certificates, metrics) is owned by the
 * process and shared by key, never by a runtime.
 */
import { setMaxListeners } from 'node:events';
import { isIP } from 'node:net';
import type { AcmeHostStatus, AcmeManager } from '../acme/manager.js';
import type { Config, RouteConfig } from '../config/types.js';
import type { CertPlan } from './cert-plan.js';
import type { Snapshot, SnapshotChallenges, SnapshotHeaderRules, SnapshotRoute, SnapshotServer } from '../proxy/snapshot.js';
import type { CertPems } from '../tls/cert-store.js';
import type { HealthRegistry } from '../health/registry.js';

/** RuntimeAcme is the ACME part of a runtime (absent when no host uses ACME). */
export interface RuntimeAcme {
  /** maintains the ACME hosts' certificates; started and stopped with the runtime */
  manager: AcmeManager | null;
  /** the certificate served per ACME host right now (stored, issued, or the self-signed placeholder) */
  certificates: Map<string, CertPems>;
  /** pending challenge answers (process-wide), put in every snapshot */
  challenges: { snapshot(): SnapshotChallenges } | null;
  /** on-demand TLS: the certificate for an unlisted name (null when off) */
  onDemand?: ((name: string) => Promise<{ cert: string; key: string } | null>) | null;
}

/** AppEndpoints is what a runtime needs from the supervisor: the live workers of an app. */
export interface AppEndpoints {
  endpoints(app: string): Array<{ url: string; ready: boolean }>;
}

const NO_ACME: RuntimeAcme = { manager: null, certificates: new Map(), challenges: null };

/** snapshotServer is the serving settings of a config as the data plane (and every listener) takes them. */
export function snapshotServer(c: Config): SnapshotServer {
  return {
    trusted_proxies: [...c.server.trusted_proxies],
    proxy_protocol: [...c.server.proxy_protocol],
    timeouts: { ...c.server.timeouts },
    max_header_bytes: c.server.limits.max_header_bytes,
    public_https_port: c.server.public_https_port,
    min_version: c.tls.min_version,
    access_log: c.log.access,
    log_level: c.log.level,
    http2: { enabled: c.server.http2.enabled, max_concurrent_streams: c.server.http2.max_concurrent_streams, max_resets: { ...c.server.http2.max_resets } },
    shutdown_grace: c.server.shutdown_grace,
  };
}

/** snapshotFeatures is a route's proxy features (issue 29) as the data plane takes them. */
export function snapshotFeatures(r: RouteConfig): Pick<SnapshotRoute, 'balance' | 'compress' | 'hsts' | 'headers' | 'rate_limit' | 'redirect'> {
  const rules = (h: RouteConfig['headers']['request']): SnapshotHeaderRules => ({ set: Object.entries(h.set), remove: [...h.remove] });
  return {
    balance: r.balance,
    compress: [...r.compress],
    hsts: r.hsts,
    headers: { request: rules(r.headers.request), response: rules(r.headers.response) },
    rate_limit: r.rate_limit === null ? null : { ...r.rate_limit },
    redirect: r.redirect === null ? null : { to: r.redirect, status: r.redirect_status, keep_path: r.redirect_keep_path },
  };
}

/** Runtime is a provisioned config, ready to be swapped in. */
export class Runtime {
  private readonly abort = new AbortController();
  private started = false;
  private publish: (() => void) | null = null;
  private readonly acme: RuntimeAcme;
  /** app route name → worker URLs acquired in the health registry */
  private readonly appMembers = new Map<string, Set<string>>();

  constructor(
    readonly config: Config,
    readonly certPlan: CertPlan,
    readonly certificates: readonly CertPems[],
    readonly refusedNames: readonly string[],
    readonly defaultCertificate: { cert: string; key: string },
    private readonly health: HealthRegistry,
    acme: RuntimeAcme = NO_ACME,
    private readonly apps: AppEndpoints | null = null,
  ) {
    this.acme = { ...acme, certificates: new Map(acme.certificates) };
    // every ACME host's loop (on-demand hosts: many) waits on this signal
    setMaxListeners(0, this.abort.signal);
  }

  /** installCertificate serves a new certificate for an ACME host; published at once while the runtime is current. */
  installCertificate(host: string, pems: { cert: string; key: string }): void {
    this.acme.certificates.set(host, { names: [host], cert: pems.cert, key: pems.key });
    if (this.started) this.publish?.();
  }

  /** onDemandCertificate returns (obtaining it when approved) the certificate for a name no route lists; null when on-demand TLS is off or it has none. */
  onDemandCertificate(name: string): Promise<{ cert: string; key: string } | null> {
    if (!this.started || !this.acme.onDemand) return Promise.resolve(null);
    return this.acme.onDemand(name.toLowerCase());
  }

  /** acmeStatus describes the ACME hosts (empty without ACME). */
  acmeStatus(): AcmeHostStatus[] {
    return this.acme.manager?.status() ?? [];
  }

  /** signal aborts when the runtime is retired: every background loop of this runtime listens to it. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  /** snapshot renders what the data plane needs, as plain data. */
  snapshot(version: number): Snapshot {
    const c = this.config;
    return {
      version,
      server: snapshotServer(c),
      routes: c.routes.map((r) => ({
        name: r.name,
        hosts: [...r.hosts],
        path_prefix: r.path_prefix,
        upstreams: (r.app === null ? r.upstreams : [...(this.appMembers.get(r.name) ?? [])]).map((url) => ({ url, state: this.health.stateOf(r.name, url) })),
        max_body_bytes: r.max_body_bytes,
        retries: r.retries,
        fail_statuses: [...r.passive.fail_statuses],
        retry_after: Math.max(1, Math.ceil((r.health.enabled ? r.health.interval : r.passive.eject_for) / 1000)),
        ...snapshotFeatures(r),
      })),
      certificates: [...this.certificates, ...this.acme.certificates.values()].map((p) => ({ names: [...p.names], cert: p.cert, key: p.key })),
      default_certificate: { ...this.defaultCertificate },
      no_sni_certificate: this.noSniCertificate(),
      refused_names: [...this.refusedNames],
      acme_challenges: this.acme.challenges?.snapshot() ?? { http: {}, alpn: [] },
      ticket_key: '', // the control plane's (process-wide, rotated): SnapshotPublisher fills it in
      on_demand: this.acme.onDemand ? true : undefined,
    };
  }

  /** noSniCertificate: clients connecting to an IP send no SNI; serve the first routed IP literal's certificate (ACME's when it has one). */
  noSniCertificate(): { cert: string; key: string } {
    for (const r of this.config.routes) {
      for (const h of r.hosts) {
        if (!isIP(h)) continue;
        const hit = this.acme.certificates.get(h) ?? [...this.certificates].reverse().find((c) => c.names.includes(h));
        if (hit !== undefined) return { cert: hit.cert, key: hit.key };
      }
    }
    return { ...this.defaultCertificate };
  }

  /**
   * start begins the runtime's background work: its routes join the health registry (probes start)
   * and ACME renewals run. `publish` re-sends the snapshot (the control plane's), used when a
   * certificate changes.
   */
  start(publish?: () => void): void {
    if (this.started || this.abort.signal.aborted) return;
    this.started = true;
    this.publish = publish ?? null;
    this.health.acquire(this.config.routes);
    this.syncApps(false);
    this.acme.manager?.start(this.signal);
  }

  /** retire stops the runtime's background work; safe to call on a partly built or never started runtime. */
  retire(): void {
    this.abort.abort();
    if (this.started) {
      this.health.release(this.config.routes);
      for (const [route, urls] of this.appMembers) for (const url of urls) this.health.releaseMember(route, url);
      this.appMembers.clear();
    }
    this.started = false;
  }

  /**
   * syncApps makes each app route's upstreams the app's live workers: new ones join the health
   * registry (out of the pool until their first passing probe), gone ones leave; publishes on change.
   */
  syncApps(publish = true): void {
    if (!this.started || this.apps === null) return;
    let changed = false;
    for (const r of this.config.routes) {
      if (r.app === null) continue;
      const endpoints = this.apps.endpoints(r.app);
      const want = new Set(endpoints.map((e) => e.url));
      const have = this.appMembers.get(r.name) ?? new Set<string>();
      for (const e of endpoints) {
        if (have.has(e.url)) continue;
        // a worker already serving (a reload added this route) is in at once; a new one joins
        this.health.acquireMember(r, e.url, !e.ready);
        changed = true;
      }
      for (const url of have) {
        if (want.has(url)) continue;
        this.health.releaseMember(r.name, url);
        changed = true;
      }
      this.appMembers.set(r.name, want);
    }
    if (changed && publish) this.publish?.();
  }

  /** running tells whether start() ran and retire() did not. */
  get running(): boolean {
    return this.started;
  }
}
