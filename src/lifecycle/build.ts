/**
 * build(config) → Runtime: provision everything a config needs before it may serve (certificates
 * loaded and checked, self-signed ones generated, stored ACME certificates loaded). Any problem
 * throws ConfigInvalidError listing every problem with its key path; nothing is left running after a
 * failed build (the ACME manager only starts with the runtime).
 */
import type { ChallengeStore } from '../acme/challenges.js';
import { fetchDirectory, profileProblem, type DirectoryInfo } from '../acme/directory.js';
import { DnsSolver } from '../acme/dns01.js';
import type { Issuer } from '../acme/issuer.js';
import type { LimiterOptions, OrderLimiter } from '../acme/limiter.js';
import { AcmeManager, errorText, storagePrefix } from '../acme/manager.js';
import { onDemandHosts, type OnDemand } from '../acme/on-demand.js';
import { ConfigInvalidError } from '../errors.js';
import type { Config, ConfigProblem } from '../config/types.js';
import { materialise, planCertificates, type CertPlan } from './cert-plan.js';
import type { SelfSignedSource } from '../cert-sources/self-signed.js';
import type { HealthRegistry } from '../health/registry.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { budgetProblems, detectMemory, memoryBudget, type Budget, type DetectedMemory } from '../supervisor/memory.js';
import type { LockOptions, Storage } from '../storage/storage.js';
import type { CertPems } from '../tls/cert-store.js';
import { Runtime, type AppEndpoints } from './runtime.js';

/** AcmeDeps are the process-wide ACME pieces (kept across runtimes, so reloads keep accounts, limits, answers). */
export interface AcmeDeps {
  storage: Storage;
  challenges: ChallengeStore;
  limiter: OrderLimiter;
  /** issuers by their settings (the account stays cached across reloads) */
  issuers: Map<string, Promise<Issuer>>;
  /** on-demand TLS decisions and rate (process-wide: a reload does not reset them) */
  onDemand: OnDemand;
  log: Logger;
  metrics: Metrics;
  /**
   * shorter timings for tests (`limiter` replaces acme.order_rate / order_concurrency; `dnsPollMs` the
   * 2 s TXT polling; `dnsSystemResolver` and `dnsAuthoritativePort` stand in for the system's resolver
   * and port 53 when finding and asking a zone's authoritative servers)
   */
  tuning?: {
    checkIntervalMs?: number; lockOptions?: Omit<LockOptions, 'signal'>; pollMin?: number; pollMax?: number; limiter?: LimiterOptions;
    dnsPollMs?: number; dnsSystemResolver?: string[]; dnsAuthoritativePort?: number;
  };
}

/** BuildDeps are the process-wide pieces a build uses (kept across runtimes). */
export interface BuildDeps {
  selfSigned: SelfSignedSource;
  health: HealthRegistry;
  /** needed when a config has ACME hosts */
  acme?: AcmeDeps;
  /** the supervisor's live workers, for routes with `app` */
  apps?: AppEndpoints;
}

/** listenerProblems finds listeners that would collide on one port. */
export function listenerProblems(config: Config): ConfigProblem[] {
  const seen = new Map<string, string>();
  const problems: ConfigProblem[] = [];
  const entries: Array<[string, { host: string; port: number } | null]> = [
    ['server.https', config.server.https],
    ['server.http', config.server.http],
    ['admin.listen', config.admin.listen],
  ];
  for (const [path, a] of entries) {
    if (a === null || a.port === 0) continue;
    const other = seen.get(String(a.port));
    if (other !== undefined) problems.push({ path, message: `port ${a.port} is already used by ${other}` });
    else seen.set(String(a.port), path);
  }
  return problems;
}

/** MemoryPlan is the app workers' memory budget as `check` prints it. */
export interface MemoryPlan {
  /** what detectMemory found (used when memory_total is "auto") */
  detected: DetectedMemory;
  budget: Budget;
}

/** DirectoryCheck is what the CA's directory said about `acme.profile` (only fetched when a profile is set). */
export interface DirectoryCheck {
  info: DirectoryInfo | null;
  /** why the directory could not be read (then the profile is not checked: the CA may be down for a moment) */
  error: string | null;
}

/** Plan is the certificate plan plus, when the config has [[apps]], their memory budget (null without apps). */
export interface Plan extends CertPlan {
  memory: MemoryPlan | null;
  /** the directory check of `acme.profile` (null when no profile is set or no host uses ACME) */
  directory: DirectoryCheck | null;
}

/** PlanOptions replaces what plan reads from the system (tests). */
export interface PlanOptions {
  /** default detectMemory() (cgroup limits, else RAM) */
  detectMemory?: () => DetectedMemory;
}

/** usesAcme: some host of the plan gets its certificate from ACME (on demand included). */
export function usesAcme(p: CertPlan): boolean {
  return p.hosts.some((h) => h.source === 'acme' || h.source === 'on-demand');
}

/**
 * checkDirectory reads the CA's directory when `acme.profile` is set: a profile it does not list is a
 * problem (`check` and start-up refuse it, naming the ones it lists); an unreadable directory is not
 * (the CA may be down for a moment: orders will tell).
 */
async function checkDirectory(config: Config, certPlan: CertPlan, problems: ConfigProblem[]): Promise<DirectoryCheck | null> {
  if (config.acme.profile === '' || !usesAcme(certPlan)) return null;
  try {
    const info = await fetchDirectory(config.acme.directory, certPlan.acmeCaBundle);
    const problem = profileProblem(config.acme.profile, info);
    if (problem !== null) problems.push({ path: 'acme.profile', message: problem });
    return { info, error: null };
  } catch (err) {
    return { info: null, error: `${config.acme.directory}: ${(err as Error).message}` };
  }
}

/**
 * plan checks what can be checked without starting anything (used by `check` and by build):
 * listeners, certificates and, with [[apps]], the memory budget (Σ workers × memory must fit in
 * memory_total − memory_reserve; problems at `apps` / `supervisor.memory_reserve`).
 */
export async function plan(config: Config, opts: PlanOptions = {}): Promise<Plan> {
  const certPlan = await planCertificates(config);
  const problems = [...listenerProblems(config), ...certPlan.problems];
  const directory = await checkDirectory(config, certPlan, problems);
  let memory: MemoryPlan | null = null;
  if (config.apps.length > 0) {
    const detected = (opts.detectMemory ?? detectMemory)();
    memory = { detected, budget: memoryBudget(config, detected) };
    problems.push(...budgetProblems(config, detected));
  }
  if (problems.length > 0) throw new ConfigInvalidError(config.source, problems);
  return { ...certPlan, memory, directory };
}

/**
 * allProblems is every problem of a file that failed validation, so a user fixes it once: the
 * validator's, plus the memory budget's (Σ workers × memory against memory_total − memory_reserve),
 * computed on the config as far as it validated — when neither `[[apps]]` nor `[supervisor]` had
 * problems of their own (a default standing in for an invalid value would make the budget wrong).
 */
export function allProblems(err: ConfigInvalidError, opts: PlanOptions = {}): ConfigProblem[] {
  const partial = err.partial as Config | undefined;
  const own = err.problems;
  if (partial === undefined || partial.apps.length === 0) return [...own];
  if (own.some((p) => p.path.startsWith('apps') || p.path.startsWith('supervisor'))) return [...own];
  return [...own, ...budgetProblems(partial, (opts.detectMemory ?? detectMemory)())];
}

/** build provisions a complete Runtime for a config. */
export async function build(config: Config, deps: BuildDeps): Promise<Runtime> {
  const certPlan = await plan(config);
  const { certificates, refused, defaultKeyType } = await materialise(certPlan, deps.selfSigned);
  // RSA where this Node would otherwise serve it in place of RSA hosts' own (tls/key-types.ts)
  const defaultCertificate = await deps.selfSigned.defaultCertificate(defaultKeyType);
  const acmeHosts = certPlan.hosts.filter((h) => h.source === 'acme').map((h) => h.host);
  const onDemand = certPlan.hosts.some((h) => h.source === 'on-demand');
  if ((acmeHosts.length === 0 && !onDemand) || deps.acme === undefined) {
    return new Runtime(config, certPlan, certificates, refused, defaultCertificate, deps.health, { manager: null, certificates: new Map(), challenges: deps.acme?.challenges ?? null }, deps.apps ?? null);
  }
  const a = deps.acme;
  if (certPlan.directory?.error) a.log.warn({ directory: config.acme.directory, err: certPlan.directory.error }, 'could not read the ACME directory to check acme.profile; orders will tell');
  const c = config.acme;
  a.limiter.configure(a.tuning?.limiter ?? { concurrency: c.order_concurrency, perWindow: c.order_rate.count, windowMs: c.order_rate.window });
  const prefix = storagePrefix(c.directory);
  const listed = new Set(certPlan.hosts.map((h) => h.host));
  // on demand: only names no route lists, exactly or by a wildcard (those have their own certificates, or none)
  const wildcards = new Set([...listed].filter((h) => h.startsWith('*.')).map((h) => h.slice(2)));
  const isListed = (name: string) => listed.has(name) || (name.includes('.') && wildcards.has(name.slice(name.indexOf('.') + 1)));
  let onDemandConfig: ConstructorParameters<typeof AcmeManager>[0]['onDemand'] = null;
  if (onDemand) {
    a.onDemand.configure(c.on_demand);
    onDemandConfig = { hosts: (await onDemandHosts(a.storage, prefix)).filter((h) => !isListed(h)), gate: a.onDemand.gate(prefix) };
  }
  // challenge answers a crashed process left behind (dns-01 records through the hook's remove)
  const sweeper = dnsSolver(config, a);
  void a.challenges.sweep(sweeper === null ? null : (name, value) => sweeper.run('remove', name, value), (key, err) => a.log.warn({ key, err: errorText(err) }, 'removing a left-over challenge answer failed'))
    .then((removed) => { if (removed.length > 0) a.log.info({ removed }, 'removed challenge answers left behind by a stopped process'); });
  let runtime: Runtime | null = null;
  const manager = new AcmeManager({
    hosts: acmeHosts,
    acme: c,
    storage: a.storage,
    issuer: () => issuerFor(config, certPlan.acmeCaBundle, a),
    limiter: a.limiter,
    install: (host, pems) => runtime?.installCertificate(host, pems),
    log: a.log,
    metrics: a.metrics,
    checkIntervalMs: a.tuning?.checkIntervalMs,
    lockOptions: a.tuning?.lockOptions,
    onDemand: onDemandConfig,
  });
  // Stored certificates first; self-signed placeholders for the rest until theirs exist.
  const stored = await manager.load();
  const served = new Map<string, CertPems>();
  for (const host of acmeHosts) {
    const pems = stored.get(host) ?? (await deps.selfSigned.forName(host));
    served.set(host, { names: [host], cert: pems.cert, key: pems.key });
  }
  // on-demand names from earlier handshakes: served from storage; without a certificate, the default one
  for (const host of onDemandConfig?.hosts ?? []) {
    const pems = stored.get(host);
    if (pems !== undefined) served.set(host, { names: [host], cert: pems.cert, key: pems.key });
  }
  const certificateFor = onDemand ? (name: string) => (isListed(name) ? Promise.resolve(null) : a.onDemand.certificate(name, manager)) : null;
  runtime = new Runtime(config, certPlan, certificates, refused, defaultCertificate, deps.health, { manager, certificates: served, challenges: a.challenges, onDemand: certificateFor }, deps.apps ?? null);
  return runtime;
}

/** dnsSolver is the dns-01 solver of a config (null without `acme.dns_hook`). */
function dnsSolver(config: Config, a: AcmeDeps): DnsSolver | null {
  const c = config.acme;
  if (c.dns_hook.length === 0) return null;
  return new DnsSolver({
    hook: c.dns_hook, hookTimeoutMs: c.dns_hook_timeout, resolvers: c.dns_resolvers, propagationTimeoutMs: c.dns_propagation_timeout,
    records: a.challenges, log: a.log, pollMs: a.tuning?.dnsPollMs, systemResolver: a.tuning?.dnsSystemResolver,
    authoritativePort: a.tuning?.dnsAuthoritativePort,
  });
}

/** issuerFor returns the (cached) issuer for a config's [acme] settings; acme-client is loaded here, on first use. */
function issuerFor(config: Config, caBundle: string | null, a: AcmeDeps): Promise<Issuer> {
  const c = config.acme;
  const id = JSON.stringify([c.directory, c.email, c.eab, caBundle, c.dns_hook, c.dns_hook_timeout, c.dns_resolvers, c.dns_propagation_timeout]);
  let issuer = a.issuers.get(id);
  if (issuer === undefined) {
    issuer = import('../acme/issuer.js').then(({ AcmeIssuer }) => new AcmeIssuer({
      directory: c.directory, email: c.email, caBundle, eab: c.eab, storage: a.storage, prefix: storagePrefix(c.directory),
      responder: a.challenges, dns: dnsSolver(config, a), log: a.log, pollMin: a.tuning?.pollMin, pollMax: a.tuning?.pollMax,
    }));
    issuer.catch(() => a.issuers.delete(id));
    a.issuers.set(id, issuer);
  }
  return issuer;
}
