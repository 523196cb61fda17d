/**
 * startProxy: portico in-process from TOML text (listeners on 127.0.0.1:0), with its log lines
 * captured; spawnPortico: portico as a real child process (for signals and exit codes).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Portico, type StartOptions } from '../src/main.js';

/** ROOT is the repository root; CLI is the built entry point (`npm test` builds first). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');

/** RouteSpec is a [[routes]] table for `proxyConfig`. */
export interface RouteSpec {
  hosts: string[];
  upstreams: string[];
  name?: string;
  path_prefix?: string;
  tls?: string;
  max_body_bytes?: string;
  retries?: number;
  /** inline-table body for [routes.health], e.g. `path = "/health", interval = "50ms"`; default
   * `enabled = false`, so tests of other behaviour see no probe traffic */
  health?: string;
  /** inline-table body for [routes.passive], e.g. `max_fails = 1, fail_statuses = [503]` */
  passive?: string;
  /** more lines for the route's table, written last (keys like `balance = "p2c"`, then sub-tables like `[routes.headers]`) */
  extra?: string;
}

const q = (v: string): string => JSON.stringify(v);

/** routeToml renders one [[routes]] table. */
export function routeToml(r: RouteSpec): string {
  const lines = ['[[routes]]', `hosts = [${r.hosts.map(q).join(', ')}]`];
  if (r.upstreams.length > 0) lines.push(`upstreams = [${r.upstreams.map(q).join(', ')}]`);
  if (r.name) lines.push(`name = ${q(r.name)}`);
  if (r.path_prefix) lines.push(`path_prefix = ${q(r.path_prefix)}`);
  if (r.tls) lines.push(`tls = ${q(r.tls)}`);
  if (r.max_body_bytes) lines.push(`max_body_bytes = ${q(r.max_body_bytes)}`);
  if (r.retries !== undefined) lines.push(`retries = ${r.retries}`);
  lines.push(`health = { ${r.health ?? 'enabled = false'} }`);
  if (r.passive) lines.push(`passive = { ${r.passive} }`);
  if (r.extra) lines.push(r.extra);
  return lines.join('\n') + '\n';
}

/**
 * proxyConfig renders a complete config: every listener on 127.0.0.1:0, `tls.dir` = `certs` and
 * `storage.dir` = `state` under the config's directory. `server`, `timeouts`, `limits`, `tls`,
 * `admin`, `log` are extra lines for those tables.
 */
export function proxyConfig(
  routes: RouteSpec[],
  extra: { server?: string; timeouts?: string; limits?: string; tls?: string; admin?: string; log?: string; https?: string; http?: string; acme?: string; storage?: string; redis?: string } = {},
): string {
  return [
    '[server]',
    `https = ${q(extra.https ?? '127.0.0.1:0')}`,
    `http = ${q(extra.http ?? '127.0.0.1:0')}`,
    extra.server ?? '',
    '[server.timeouts]',
    extra.timeouts ?? '',
    '[server.limits]',
    extra.limits ?? '',
    '[tls]',
    'dir = "certs"',
    extra.tls ?? '',
    '[storage]',
    `dir = ${q(extra.storage ?? 'state')}`,
    extra.redis !== undefined ? `redis = ${q(extra.redis)}` : '',
    ...(extra.acme !== undefined ? ['[acme]', extra.acme] : []),
    '[admin]',
    'listen = "127.0.0.1:0"',
    extra.admin ?? '',
    '[log]',
    'format = "json"',
    extra.log ?? '',
    '',
    ...routes.map(routeToml),
  ].join('\n');
}

/** ProxyHandle is a running in-process portico. */
export interface ProxyHandle {
  portico: Portico;
  /** https port */
  port: number;
  httpPort: number;
  adminPort: number;
  configPath: string;
  /** parsed JSON log lines so far */
  logs: Array<Record<string, unknown>>;
  /** writeConfig replaces the config file (then call portico.reload() or build + swap) */
  writeConfig(toml: string): Promise<void>;
  close(): Promise<void>;
}

/** startProxy writes `toml` to `dir/config.toml` and starts portico on it. */
export async function startProxy(dir: string, toml: string, opts: Pick<StartOptions, 'acmeTuning' | 'supervisorTuning' | 'historyStepMs'> = {}): Promise<ProxyHandle> {
  const configPath = join(dir, 'config.toml');
  await writeFile(configPath, toml);
  const logs: Array<Record<string, unknown>> = [];
  const sink = new PassThrough();
  let partial = '';
  sink.on('data', (c: Buffer) => {
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines) if (l) logs.push(JSON.parse(l) as Record<string, unknown>);
  });
  const portico = await Portico.start({ configPath, logDestination: sink, ...opts });
  return {
    portico,
    port: portico.addresses.https.port,
    httpPort: portico.addresses.http?.port ?? 0,
    adminPort: portico.addresses.admin?.port ?? 0,
    configPath,
    logs,
    writeConfig: (text: string) => writeFile(configPath, text),
    close: () => portico.shutdown(),
  };
}

/** Spawned is a portico child process with its parsed stdout lines. */
export interface Spawned {
  child: ChildProcess;
  logs: Array<Record<string, unknown>>;
  stderr: string;
  /** resolves with the exit code (or signal name) */
  exited: Promise<number | string>;
  /** resolves with the first log line matching */
  waitFor(pred: (l: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  /** the port a listener bound, from its "listening" line */
  portOf(listener: 'https' | 'http' | 'admin'): number;
}

/**
 * spawnReady writes `toml` to `dir/config.toml`, runs portico on it as a child process (killed at
 * the test's teardown if still running) and resolves once it logged "portico ready".
 */
export async function spawnReady(t: { teardown(fn: () => void): void }, dir: string, toml: string): Promise<Spawned & { configPath: string }> {
  const configPath = join(dir, 'config.toml');
  await writeFile(configPath, toml);
  const s = spawnPortico(['run', '--config', configPath]);
  t.teardown(() => {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  });
  await s.waitFor((l) => l.msg === 'portico ready');
  return Object.assign(s, { configPath });
}

/** spawnPortico runs `node dist/cli.js ARGS` and collects its JSON log lines. */
export function spawnPortico(args: string[], env: NodeJS.ProcessEnv = {}): Spawned {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Array<Record<string, unknown>> = [];
  const waiters: Array<{ pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }> = [];
  let partial = '';
  const s: Spawned = {
    child,
    logs,
    stderr: '',
    exited: new Promise((r) => child.on('exit', (code, signal) => r(code ?? signal ?? -1))),
    waitFor(pred, ms = 15_000) {
      const hit = logs.find(pred);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching log line within ${ms}ms; stderr: ${s.stderr}`)), ms);
        waiters.push({ pred, resolve: (l) => (clearTimeout(timer), resolve(l)) });
      });
    },
    portOf(listener) {
      const line = logs.find((l) => l.msg === 'listening' && l.listener === listener);
      return Number(String(line?.address ?? '').split(':').pop());
    },
  };
  child.stdout!.on('data', (c: Buffer) => {
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop()!;
    for (const text of lines) {
      if (!text.startsWith('{')) continue;
      const l = JSON.parse(text) as Record<string, unknown>;
      logs.push(l);
      for (let i = waiters.length - 1; i >= 0; i--) if (waiters[i]!.pred(l)) waiters.splice(i, 1)[0]!.resolve(l);
    }
  });
  child.stderr!.on('data', (c: Buffer) => (s.stderr += c.toString()));
  return s;
}
