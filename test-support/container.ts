/**
 * Container test support (test/container/): podman from Debian with this repository's containers.conf,
 * the images built the way the README says (`docker build -t portico .`, then examples/fastapi), containers
 * removed with their anonymous volumes at teardown, their JSON log lines, and the README's commands run
 * with podman in place of docker (`readmeCommands` + `asPodman`).
 *
 * No registry is reachable here: `FROM node:26-bookworm-slim` is a local stand-in made once per machine by
 * container/base-image.sh (podman's store keeps it). Builds run with `--pull=never --format docker` (OCI
 * drops HEALTHCHECK), and hand the host's CA bundle to `npm ci` as a build secret where outbound TLS is
 * intercepted (never into the image). Image builds are serialised across test files with flock.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './proxy.js';

/** CONTAINERS_CONF is the podman configuration the tests use (runc, ulimits). */
export const CONTAINERS_CONF = join(ROOT, 'test-support', 'container', 'containers.conf');
const ENV = { ...process.env, CONTAINERS_CONF };
/** the image names the README uses */
export const IMAGE = 'portico';
export const FASTAPI_IMAGE = 'portico-fastapi';

/** Run is a finished command. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** exec runs a program to completion; never throws (a spawn failure or a timeout is code null). */
function exec(file: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout: number }): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: opts.cwd ?? ROOT, env: { ...ENV, ...opts.env }, timeout: opts.timeout, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as NodeJS.ErrnoException).code === 'number' ? (err as unknown as { code: number }).code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** sh runs a command line with bash (in `cwd`, default the repository), podman configured. */
export function sh(line: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<Run> {
  return exec('bash', ['-c', line], { ...opts, timeout: opts.timeout ?? 120_000 });
}

/** podman runs podman with these arguments (no shell). */
export function podman(args: string[], timeout = 120_000): Promise<Run> {
  return exec('podman', args, { timeout });
}

/** must runs a command line and throws with its output unless it exits 0. */
export async function must(line: string, opts: Parameters<typeof sh>[1] = {}): Promise<string> {
  const r = await sh(line, opts);
  if (r.code !== 0) throw new Error(`${line}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The host CA bundle handed to `npm ci` in the build (a TLS-intercepting proxy's CA lives there). */
function caSecret(): string {
  const ca = process.env.NODE_EXTRA_CA_CERTS ?? '/etc/ssl/certs/ca-certificates.crt';
  return existsSync(ca) ? `--secret id=ca,src=${ca}` : '';
}

/** podmanBuild is the README's `docker build` with what this machine needs. */
export const podmanBuild = (): string => `podman build --pull=never --format docker ${caSecret()}`;

/**
 * buildImages builds the stand-in base (once per machine), then portico's image and the FastAPI
 * example's, exactly as the README says, under one lock; returns how long each step took (ms).
 */
export async function buildImages(): Promise<{ base: number; portico: number; fastapi: number }> {
  const lock = `flock --timeout 900 /tmp/portico-images.lock`;
  const t0 = Date.now();
  await must(`${lock} bash test-support/container/base-image.sh`, { timeout: 900_000 });
  const t1 = Date.now();
  await must(`${lock} ${podmanBuild()} -t ${IMAGE} .`, { timeout: 900_000 });
  const t2 = Date.now();
  await must(`${lock} ${podmanBuild()} -t ${FASTAPI_IMAGE} examples/fastapi`, { timeout: 900_000 });
  // (the build stage's image stays as podman's layer cache for the next build; .ci/run prunes at the end)
  return { base: t1 - t0, portico: t2 - t1, fastapi: Date.now() - t2 };
}

let seq = 0;
/** uniqueName is a container/volume name no other test (or concurrent run) uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${++seq}`;
}

/** removeLater registers removal of a container (with its anonymous volumes) and named volumes at teardown. */
export function removeLater(t: { teardown(fn: () => Promise<unknown>): void }, containers: string[], volumes: string[] = []): void {
  t.teardown(async () => {
    for (const c of containers) await podman(['rm', '-f', '-v', '-t', '0', c]);
    for (const v of volumes) await podman(['volume', 'rm', '-f', v]);
  });
}

/** Line is one parsed JSON log line of a container. */
export type Line = Record<string, unknown>;

/** logs returns a container's JSON log lines (stdout) so far. */
export async function logs(name: string): Promise<Line[]> {
  const r = await podman(['logs', name]);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
}

/** waitLog polls a container's log until a line matches (and the container still runs, unless `exited` is fine). */
export async function waitLog(name: string, pred: (l: Line) => boolean, ms = 60_000): Promise<Line> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = (await logs(name)).find(pred);
    if (hit) return hit;
    if (Date.now() > deadline) {
      const r = await podman(['logs', '--tail', '40', name]);
      // its state too: a container that never started logs nothing (seen once in CI, under compose)
      const state = await podman(['inspect', '--format', '{{.State.Status}} exit={{.State.ExitCode}} started={{.State.StartedAt}} error={{.State.Error}}', name]);
      throw new Error(`${name}: no matching log line within ${ms}ms; state: ${state.stdout.trim()}${state.stderr.trim()}; last lines:\n${r.stdout}${r.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** inspect reads one field of `podman inspect` (a Go template). */
export async function inspect(name: string, format: string): Promise<string> {
  return (await podman(['inspect', name, '--format', format])).stdout.trim();
}

/**
 * readmeCommands returns the shell commands of the `sh` blocks under a `## heading` of docs/deploy.md
 * (comments and continuation lines joined), so tests run what the deployment guide says.
 */
export function readmeCommands(heading: string): string[] {
  const text = readFileSync(join(ROOT, 'docs', 'deploy.md'), 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start === -1) throw new Error(`docs/deploy.md has no "## ${heading}" section`);
  const end = text.indexOf('\n## ', start + 4);
  const section = text.slice(start, end === -1 ? undefined : end);
  const out: string[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    let cmd = '';
    for (const raw of block[1]!.split('\n')) {
      const line = raw.replace(/\s+#.*$/, '').replace(/^#.*$/, '');
      if (line.trim() === '') continue;
      cmd += line.endsWith('\\') ? line.slice(0, -1) : `${line}\n`;
      if (!line.endsWith('\\')) {
        out.push(cmd.trim().replace(/\s+/g, ' '));
        cmd = '';
      }
    }
  }
  return out;
}

/** Substitutions turn a README command into the one this machine runs (podman, free ports, unique names). */
export interface Substitutions {
  /** the container name the README calls `portico` */
  container?: string;
  /** host ports for the README's 443 and 80 (published on 127.0.0.1) */
  https?: number;
  http?: number;
  /** the named volume the README calls `portico-certs` */
  volume?: string;
  /** extra `podman run` options (network, read-only…), put right after `run -d` */
  runOptions?: string;
}

/** asPodman rewrites one README command (docker → podman, with the substitutions). */
export function asPodman(cmd: string, s: Substitutions): string {
  let c = cmd;
  if (c.startsWith('docker build ')) c = c.replace('docker build ', `${podmanBuild()} `);
  c = c.replace(/^docker /, 'podman ');
  if (s.https !== undefined) c = c.replace(/(^| )-p 443:8443\b/, `$1-p 127.0.0.1:${s.https}:8443`);
  if (s.http !== undefined) c = c.replace(/(^| )-p 80:8080\b/, `$1-p 127.0.0.1:${s.http}:8080`);
  if (s.volume !== undefined) c = c.replace(/\bportico-certs:/g, `${s.volume}:`);
  // curl to the published ports
  if (s.https !== undefined) c = c.replace(/https:\/\/localhost\//g, `https://localhost:${s.https}/`);
  if (s.http !== undefined) c = c.replace(/http:\/\/localhost\//g, `http://localhost:${s.http}/`);
  if (s.runOptions !== undefined) c = c.replace(/^podman run -d /, `podman run -d ${s.runOptions} `);
  if (s.container !== undefined) {
    c = c
      .replace(/--name portico\b/, `--name ${s.container}`)
      .replace(/^podman (exec|logs|inspect|healthcheck run) portico\b/, `podman $1 ${s.container}`)
      .replace(/^podman (stop -t \d+|kill -s HUP|rm -f|rm) portico\b/, `podman $1 ${s.container}`);
  }
  return c;
}
