#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * The portico command line (DESIGN §3). The only file that calls process.exit for portico itself (a
 * data-plane worker process exits on its own: cluster/data-plane-worker.ts).
 */
import http from 'node:http';
import { relative } from 'node:path';
import { loadConfig } from './config/index.js';
import type { Address, AppConfig, Config, RouteConfig } from './config/types.js';
import { AdminRequestError, ConfigInvalidError, ConfigUnreadableError, formatProblem } from './errors.js';
import { allProblems, plan, usesAcme, type MemoryPlan, type Plan } from './lifecycle/build.js';
import { acmeLine, acmeSection, acmeWarnings, durText, onDemandLine } from './lifecycle/acme-plan.js';
import { keyTypeWarning, type CertPlan } from './lifecycle/cert-plan.js';
import { featureLines, featureWarnings, policyText, redirectText } from './lifecycle/feature-plan.js';
import { renderStatusText } from './lifecycle/status-text.js';
import { formatBytes, totalText } from './supervisor/memory.js';
import { inspectAcme, type AcmeInspection } from './acme/inspect.js';
import { checkStorage } from './lifecycle/fleet.js';
import { inspectPreStart, type PreStartState } from './supervisor/pre-start.js';
import { reusePortSupported } from './cluster/pool.js';
import { rangeText } from './upstream/health-state.js';
import { VERSION } from './version.js';

/** HELP is the manual page `portico --help` prints (keep it true: README's CLI section repeats it). */
export const HELP = `portico ${VERSION}: TLS-terminating reverse proxy

Usage:
  portico [run] [--config PATH] [--watch]
                                   start serving (SIGHUP reloads the config, SIGTERM/SIGINT stop gracefully);
                                   --watch: also reload when the config file changes (an editor's save,
                                   a replaced file, a Kubernetes ConfigMap update)
  portico check [--config PATH]    validate the config and print the plan (with acme.profile it reads the CA's
                                   directory, with storage.redis it asks Redis: a warning when either is unreachable);
                                   exit 0 valid, 1 invalid (every problem listed), 2 unreadable
  portico health [--config PATH]   GET the admin /healthz; exit 0 when healthy (Docker HEALTHCHECK)
  portico status [--config PATH]   the dashboard's overview in the terminal: routes with their traffic, upstreams,
                                   apps and workers, certificates, storage (GET the admin /status.json); exit 0 ready, 1 not
  portico reload [--config PATH]   POST the admin /reload (same as SIGHUP) and print the result;
                                   exit 0 reloaded, 1 refused (every problem listed; the old config keeps serving)
  portico restart-app NAME [--config PATH]
                                   POST the admin /apps/NAME/restart: replace the app's workers one at a time
                                   (a failed app is started again); exit 0 done, 1 failed
  portico --version | --help       (-v | -h)

Options:
  -c, --config PATH   config file (default: $PORTICO_CONFIG, else config/config.toml)
  -w, --watch         run: reload when the config file's content changes (same as SIGHUP)

Environment:
  PORTICO_CONFIG             the config file when --config is not given
  PORTICO_PUBLIC_HTTPS_PORT  default of server.public_https_port, the port redirects name
                             (the container image sets 443)

Admin endpoints (admin.listen, loopback by default):
  GET /healthz /readyz /metrics /status.json
  GET /status (the dashboard; open it in a browser) /status/history.json (its last 15 minutes)
  POST /reload /apps/NAME/restart (only from admin.write_from peers)
`;

/** Args is the parsed command line. */
export interface Args {
  command: 'run' | 'check' | 'health' | 'status' | 'reload' | 'restart-app' | 'help' | 'version';
  config: string;
  /** restart-app: the app's name */
  app?: string;
  /** run: reload when the config file changes */
  watch?: boolean;
}

/** parseArgs turns argv (without node and script) into Args; throws on unknown input. */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Args {
  let command: Args['command'] | null = null;
  let config = env.PORTICO_CONFIG || 'config/config.toml';
  let app: string | undefined;
  let watch = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') command = 'help';
    else if (a === '--watch' || a === '-w') watch = true;
    else if (a === '--version' || a === '-v') command = 'version';
    else if (a === '--config' || a === '-c') {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a path`);
      config = v;
    } else if (a.startsWith('--config=')) config = a.slice('--config='.length);
    else if (command === null && (a === 'run' || a === 'check' || a === 'health' || a === 'status' || a === 'reload' || a === 'restart-app')) command = a;
    else if (command === 'restart-app' && app === undefined && !a.startsWith('-')) app = a;
    else throw new Error(`unknown argument: ${a}`);
  }
  if (command === 'restart-app' && app === undefined) throw new Error('restart-app needs the app name');
  if (watch && (command ?? 'run') !== 'run') throw new Error('--watch goes with run');
  return { command: command ?? 'run', config, app, ...(watch ? { watch } : {}) };
}

const show = (a: Address | null): string => (a === null ? 'disabled' : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);

const secs = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

function healthLine(r: RouteConfig): string {
  const h = r.health;
  if (!h.enabled) return 'off (no active checks; ejected upstreams get a trial request after eject_for)';
  return `GET ${h.path} every ${secs(h.interval)}, timeout ${secs(h.timeout)}, expect ${rangeText(...h.expect_status)}; ` +
    `out after ${h.unhealthy_threshold} failures, back after ${h.healthy_threshold} passes`;
}

function passiveLine(r: RouteConfig): string {
  const p = r.passive;
  if (p.max_fails === 0) return 'off';
  const statuses = p.fail_statuses.length > 0 ? `; statuses ${p.fail_statuses.join(', ')} count as failures` : '';
  return `out after ${p.max_fails} failures within ${secs(p.fail_window)}${r.health.enabled ? '' : ` for ${secs(p.eject_for)}`}${statuses}`;
}

/** Ports an app's workers may bind: `3001..3004` ([port, port + 2×workers)). */
const portRange = (a: AppConfig): string => `${a.port}..${a.port + 2 * a.workers - 1}`;

/** An argv as one line, quoting the arguments a shell would split. */
const argvText = (argv: readonly string[]): string => argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');

const workersText = (n: number): string => `${n} worker${n === 1 ? '' : 's'}`;

/** upstreamsLine is a route's upstreams: its URLs, or the app whose workers it balances to. */
function upstreamsLine(config: Config, r: RouteConfig): string {
  const policy = `${policyText(r)}, ${r.retries} retr${r.retries === 1 ? 'y' : 'ies'}`;
  const app = config.apps.find((a) => a.name === r.app);
  if (app === undefined) return `${r.upstreams.join(', ')}  (${policy})`;
  return `app ${JSON.stringify(app.name)} (${workersText(app.workers)} on ports ${portRange(app)}; ${policy})`;
}

/** appLines describes one [[apps]] entry for `check`. */
/** preStartText says where an app's pre-start step stands for its current definition (from [storage]). */
function preStartText(p: PreStartState | undefined): string {
  if (p === undefined || p.state === 'none') return '';
  if (p.state === 'done') return `; done for this definition at ${p.at}`;
  if (p.state === 'failed') return `; FAILED for this definition at ${p.at}: ${p.error} (the app stays down; it runs again at start, on a reload changing the app, or restart-app)`;
  return '; not run yet for this definition: runs before the first worker';
}

function appLines(a: AppConfig, rel: (p: string) => string, pre?: PreStartState): string[] {
  const env = Object.keys(a.env);
  return [
    `  ${a.name}`,
    `    command    ${argvText(a.command)}  (cwd ${rel(a.cwd)}${env.length > 0 ? `; env ${env.join(', ')}` : ''})`,
    `    workers    ${workersText(a.workers)} × ${formatBytes(a.memory)} on 127.0.0.1 ports ${portRange(a)}`,
    `    pre_start  ${a.pre_start.length > 0 ? `${argvText(a.pre_start)}  (once per definition, timeout ${durText(a.pre_start_timeout)}${preStartText(pre)})` : 'none'}`,
    `    restarts   backoff ${durText(a.restart_backoff.min)}..${durText(a.restart_backoff.max)}; failed after more than ${a.crash_loop.count} exits in ${durText(a.crash_loop.window)}`,
  ];
}

/** memoryLine is the apps' total against the budget, saying where memory_total came from. */
function memoryLine(config: Config, m: MemoryPlan): string {
  const b = m.budget;
  const terms = config.apps.map((a) => `${workersText(a.workers)} × ${formatBytes(a.memory)}${config.apps.length > 1 ? ` (${a.name})` : ''}`);
  const total = b.totalSource === 'config' ? `memory_total ${totalText(b)}` : `memory_total auto: detected ${formatBytes(b.total)} from ${b.totalSource}`;
  return `memory: ${terms.join(' + ')} = ${formatBytes(b.need)} of budget ${formatBytes(b.available)} (${total}, minus reserve ${formatBytes(b.reserve)})`;
}

/** renderPlan is what `check` prints for a valid config (`certs.memory` is set when it has [[apps]]). */
export function renderPlan(
  config: Config,
  certs: CertPlan & Partial<Pick<Plan, 'memory' | 'directory'>>,
  acme: readonly AcmeInspection[] = [],
  preStart: ReadonlyMap<string, PreStartState> = new Map(),
  storage?: { line: string; ok: boolean },
): string {
  const rel = (p: string) => relative(process.cwd(), p) || '.';
  const out: string[] = [`${rel(config.source)}: valid`, '', 'listeners:'];
  out.push(`  https  ${show(config.server.https)}  (TLS ${config.tls.min_version}+, SNI, ALPN ${config.server.http2.enabled ? `h2 (≤ ${config.server.http2.max_concurrent_streams} streams), ` : ''}http/1.1)`);
  out.push(`  http   ${show(config.server.http)}${config.server.http ? `  (308 redirect to https port ${config.server.public_https_port}; /.well-known/acme-challenge/ reserved)` : ''}`);
  out.push(`  admin  ${show(config.admin.listen)}`);
  const pp = config.server.proxy_protocol;
  if (pp.length > 0) out.push(`  PROXY protocol (v1/v2) required on https and http from ${pp.join(', ')} (header within ${config.server.timeouts.header} ms; optional on admin)`);
  const w = config.server.workers;
  out.push(`  https served by ${w === 1 ? 'this process (server.workers = 1)' : `${w} data-plane worker processes (${reusePortSupported() ? 'SO_REUSEPORT: the kernel spreads connections' : 'one shared socket, cluster SCHED_NONE: Node < 22.12 has no reusePort'})`}`);
  out.push('', `routes (${config.routes.length}):`);
  for (const r of config.routes) {
    out.push(`  ${r.name}`);
    out.push(`    hosts      ${r.hosts.join(', ')}`);
    out.push(`    prefix     ${r.path_prefix}`);
    if (r.redirect !== null) out.push(`    redirect   ${redirectText(r)}`);
    else {
      out.push(`    upstreams  ${upstreamsLine(config, r)}`);
      out.push(`    health     ${healthLine(r)}`);
      out.push(`    passive    ${passiveLine(r)}`);
    }
    out.push(...featureLines(r));
  }
  out.push('', 'certificates:');
  for (const h of certs.hosts) {
    const src =
      h.source === 'file'
        ? `file ${rel(h.path!)} (${h.issuer}; expires ${h.notAfter!.toISOString()})`
        : h.source === 'acme'
          ? acmeLine(config, h.host, acme.find((a) => a.host === h.host))
          : h.source === 'on-demand' || h.source === 'default'
          ? onDemandLine(config, h.source, acme.filter((a) => a.onDemand).length)
          : h.source === 'self-signed'
          ? 'self-signed (generated at start; browsers will warn)'
          : 'none: handshakes for this name fail (tls.self_signed = false)';
    out.push(`  ${h.host}  ${src}`);
  }
  for (const a of acme.filter((x) => x.onDemand)) out.push(`  ${a.host}  ${acmeLine(config, a.host, a)} (obtained on demand)`);
  out.push(...acmeSection(config, certs));
  if (config.apps.length > 0) {
    out.push('', `apps (${config.apps.length}):`);
    for (const a of config.apps) out.push(...appLines(a, rel, preStart.get(a.name)));
    if (certs.memory) out.push(`  ${memoryLine(config, certs.memory)}`);
  }
  out.push('', `storage: ${storage?.line ?? `directory ${rel(config.storage.dir)}`}`);
  const warnings = planWarnings(config, certs);
  if (storage !== undefined && !storage.ok) warnings.push('storage.redis does not answer: see the storage line');
  for (const a of acme) {
    if (a.ledger.consecutive_failures > 0) warnings.push(`ACME for ${a.host} is failing (${a.ledger.consecutive_failures} attempts): ${a.ledger.last_error}`);
  }
  if (warnings.length > 0) out.push('', 'warnings:', ...warnings.map((w) => `  - ${w}`));
  return out.join('\n') + '\n';
}

/** planWarnings lists things that are valid but probably not what the user wants. */
export function planWarnings(config: Config, certs: CertPlan & Partial<Pick<Plan, 'directory'>>): string[] {
  const w: string[] = [];
  if (config.routes.length === 0) w.push('no [[routes]]: every request gets 404');
  w.push(...featureWarnings(config));
  w.push(...acmeWarnings(config, certs));
  const keyTypes = keyTypeWarning(config, certs);
  if (keyTypes !== null) w.push(keyTypes);
  for (const h of certs.hosts) {
    if (h.source === 'none') w.push(`${h.host} has no certificate and tls.self_signed = false: its handshakes fail`);
    if (h.notAfter && h.notAfter.getTime() < Date.now()) w.push(`the certificate for ${h.host} expired on ${h.notAfter.toISOString()}`);
  }
  return w;
}

async function check(path: string): Promise<number> {
  let config: Config;
  try {
    config = await loadConfig(path);
    const certs = await plan(config);
    const acmeHosts = certs.hosts.filter((h) => h.source === 'acme').map((h) => h.host);
    const checked = await checkStorage(config);
    try {
      const preStart = new Map<string, PreStartState>();
      for (const a of config.apps) preStart.set(a.name, await inspectPreStart(a, checked.storage));
      const onDemand = certs.hosts.some((h) => h.source === 'on-demand');
      const acme = usesAcme(certs) ? await inspectAcme(checked.storage, config.acme, acmeHosts, { onDemand }) : [];
      process.stdout.write(renderPlan(config, certs, acme, preStart, checked));
    } finally {
      await checked.close();
    }
    return 0;
  } catch (err) {
    return reportConfigError(err);
  }
}

function reportConfigError(err: unknown): number {
  if (err instanceof ConfigUnreadableError) {
    process.stderr.write(`portico: ${err.message}\n`);
    return 2;
  }
  if (err instanceof ConfigInvalidError) {
    // every problem at once: the memory budget too, not only after the schema problems are fixed
    const problems = allProblems(err);
    process.stderr.write(`portico: ${err.file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n`);
    for (const p of problems) process.stderr.write(`  - ${formatProblem(p)}\n`);
    return 1;
  }
  throw err;
}

/** adminTarget turns the admin listen address into one a local client can reach. */
function adminTarget(a: Address): { host: string; port: number } {
  const host = a.host === '0.0.0.0' ? '127.0.0.1' : a.host === '::' ? '::1' : a.host;
  return { host, port: a.port };
}

/** adminFailure prints why the admin listener could not be used (with its code) and returns exit code 1. */
function adminFailure(err: AdminRequestError): number {
  process.stderr.write(`portico: ${err.message} (${err.code})\n`);
  return 1;
}

/** adminCall sends one request to the admin listener named by the config; an exit code after printing why it failed. */
async function adminCall(configPath: string, method: 'GET' | 'POST', path: string, timeout: number): Promise<{ status: number; body: string; where: string } | number> {
  let config: Config;
  try {
    config = await loadConfig(configPath);
  } catch (err) {
    // a reload of a file with problems still goes to the running process (it keeps its config,
    // records the failure and answers with every problem), as long as the admin address is readable
    const invalid = err instanceof ConfigInvalidError ? err : null;
    const partial = invalid?.partial as Config | undefined;
    const adminOk = partial !== undefined && !invalid!.problems.some((p) => p.path.startsWith('admin'));
    if (method !== 'POST' || !adminOk) return reportConfigError(err);
    config = partial!;
  }
  if (config.admin.listen === null) {
    return adminFailure(new AdminRequestError(`admin.listen is disabled; ${path} needs the admin listener${method === 'POST' ? ' (send SIGHUP instead)' : ''}`));
  }
  const { host, port } = adminTarget(config.admin.listen);
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return new Promise((resolve) => {
    const req = http.request({ host, port, path, method, timeout }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), where }));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeout / 1000}s`)));
    req.on('error', (err) => resolve(adminFailure(new AdminRequestError(`admin ${where} unreachable: ${err.message}`, err))));
    req.end();
  });
}

async function health(path: string): Promise<number> {
  const r = await adminCall(path, 'GET', '/healthz', 3000);
  if (typeof r === 'number') return r;
  process.stdout.write(`portico at ${r.where}: ${r.status === 200 ? 'healthy' : `unhealthy (${r.status})`}\n`);
  return r.status === 200 ? 0 : 1;
}

/** status prints the overview of the running process (history too when it serves one); exit 0 when it is ready. */
async function status(path: string): Promise<number> {
  const r = await adminCall(path, 'GET', '/status.json', 5000);
  if (typeof r === 'number') return r;
  if (r.status !== 200) return adminFailure(new AdminRequestError(`admin ${r.where} answered /status.json with ${r.status}`));
  const doc = JSON.parse(r.body) as { portico: { ready: boolean } };
  const h = await adminCall(path, 'GET', '/status/history.json', 5000);
  const history = typeof h !== 'number' && h.status === 200 ? (JSON.parse(h.body) as Record<string, unknown>) : null;
  const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
  process.stdout.write(`portico at ${r.where}\n${renderStatusText(doc, history, { color })}`);
  return doc.portico.ready ? 0 : 1;
}

async function reload(path: string): Promise<number> {
  const r = await adminCall(path, 'POST', '/reload', 120_000);
  if (typeof r === 'number') return r;
  let body: { result?: string; version?: number; problems?: string[]; listeners?: string[]; error?: string };
  try {
    body = JSON.parse(r.body) as typeof body;
  } catch {
    body = { error: r.body.trim() };
  }
  if (r.status === 200 && body.result === 'success') {
    const moved = body.listeners && body.listeners.length > 0 ? `; listeners changed: ${body.listeners.join(', ')}` : '';
    process.stdout.write(`portico at ${r.where}: reloaded (snapshot version ${body.version})${moved}\n`);
    return 0;
  }
  if (body.problems !== undefined) {
    process.stderr.write(`portico at ${r.where}: reload failed, the running config is kept; ${body.problems.length} problem${body.problems.length === 1 ? '' : 's'}:\n`);
    for (const p of body.problems) process.stderr.write(`  - ${p}\n`);
  } else {
    process.stderr.write(`portico at ${r.where}: reload refused (${r.status}): ${body.error ?? r.body}\n`);
  }
  return 1;
}

async function restartApp(path: string, name: string): Promise<number> {
  const r = await adminCall(path, 'POST', `/apps/${encodeURIComponent(name)}/restart`, 30 * 60_000);
  if (typeof r === 'number') return r;
  let body: { result?: string; error?: string | null; status?: { workers?: Array<{ index: number; pid: number | null; port: number; state: string }> } };
  try {
    body = JSON.parse(r.body) as typeof body;
  } catch {
    body = { error: r.body.trim() };
  }
  if (r.status === 200) {
    const workers = (body.status?.workers ?? []).map((w) => `#${w.index} pid ${w.pid} port ${w.port}`).join(', ');
    process.stdout.write(`portico at ${r.where}: app ${name} restarted${workers ? ` (${workers})` : ''}\n`);
    return 0;
  }
  process.stderr.write(`portico at ${r.where}: restarting app ${name} failed (${r.status}): ${body.error ?? r.body}\n`);
  return 1;
}

async function main(argv: readonly string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`portico: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  switch (args.command) {
    case 'help':
      process.stdout.write(HELP);
      return 0;
    case 'version':
      process.stdout.write(`portico ${VERSION} (node ${process.version})\n`);
      return 0;
    case 'check':
      return check(args.config);
    case 'health':
      return health(args.config);
    case 'status':
      return status(args.config);
    case 'reload':
      return reload(args.config);
    case 'restart-app':
      return restartApp(args.config, args.app!);
    case 'run':
      try {
        // loaded only to run: check, health and reload start fast without the proxy's modules
        const { run } = await import('./main.js');
        return await run({ configPath: args.config, watch: args.watch === true });
      } catch (err) {
        if (err instanceof ConfigUnreadableError || err instanceof ConfigInvalidError) return reportConfigError(err);
        process.stderr.write(`portico: ${(err as Error).message}\n`);
        return 1;
      }
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`portico: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
