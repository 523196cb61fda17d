/**
 * A real redis-server (Debian package `redis-server`; test-support/tools.sh installs it) on a free
 * loopback port, one per test file, without persistence (a restart comes back empty, as a Redis
 * without RDB/AOF does). `stop()`/`restart()` model an outage and an emptied Redis, `freeze()` a hung
 * one (SIGSTOP: connections stay open, nothing answers), `cli()` runs redis-cli against it. With `tls`
 * it also listens with TLS on `tlsPort` (the plain port stays for redis-cli). Stopped by
 * child PID; a missing redis-server fails loudly (never skips).
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './backend.js';

/** Redis is a running redis-server. */
export interface Redis {
  port: number;
  /** redis://127.0.0.1:PORT/0 (with the password when one was set) */
  url: string;
  /** the TLS port (`rediss://`), with `tls` */
  tlsPort: number | null;
  /** stop it (connections refused from now on) */
  stop(): Promise<void>;
  /** start it again on the same port: empty (no persistence) */
  start(): Promise<void>;
  /** SIGSTOP for `ms`, then SIGCONT: a Redis that accepts nothing and answers nothing meanwhile */
  freeze(ms: number): Promise<void>;
  /** redis-cli ARGS against it; resolves with its stdout */
  cli(...args: string[]): Promise<string>;
  /** stop for good and remove its directory */
  close(): Promise<void>;
}

function assertInstalled(): void {
  for (const cmd of ['redis-server', 'redis-cli']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) {
      throw new Error(`${cmd} is not installed: run "apt-get install -y redis-server" (test-support/tools.sh does); these tests never skip`);
    }
  }
}

/** startRedis starts redis-server on a free port and waits until it answers PING. */
export async function startRedis(opts: { password?: string; tls?: { cert: string; key: string } } = {}): Promise<Redis> {
  assertInstalled();
  const port = await freePort();
  const tlsPort = opts.tls ? await freePort() : null;
  const dir = mkdtempSync(join(tmpdir(), 'portico-redis-'));
  if (opts.tls) {
    writeFileSync(join(dir, 'tls.crt'), opts.tls.cert);
    writeFileSync(join(dir, 'tls.key'), opts.tls.key, { mode: 0o600 });
  }
  let child: ChildProcess | null = null;
  let output = '';
  const auth = opts.password ? ['-a', opts.password, '--no-auth-warning'] : [];
  const cli = (...args: string[]) => new Promise<string>((resolve, reject) => {
    execFile('redis-cli', ['-p', String(port), ...auth, ...args], { timeout: 5000 }, (err, stdout) => (err ? reject(err) : resolve(stdout.trim())));
  });
  const onExit = () => child?.exitCode === null && child.kill('SIGKILL');
  process.once('exit', onExit);
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'];
    if (opts.password) args.push('--requirepass', opts.password);
    if (tlsPort !== null) args.push('--tls-port', String(tlsPort), '--tls-cert-file', join(dir, 'tls.crt'), '--tls-key-file', join(dir, 'tls.key'), '--tls-auth-clients', 'no');
    child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`redis-server exited early:\n${output}`);
      const up = await new Promise<boolean>((r) => {
        const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
        s.on('error', () => r(false));
      });
      if (up && (await cli('PING').catch(() => '')) === 'PONG') return;
      if (Date.now() > deadline) throw new Error(`redis-server not ready within 10 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 30));
    }
  };
  const stop = async () => {
    const c = child;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGCONT');
    await new Promise<void>((r) => {
      c.once('exit', () => r());
      c.kill('SIGKILL');
    });
    child = null;
  };
  await start();
  return {
    port,
    url: `redis://${opts.password ? `:${encodeURIComponent(opts.password)}@` : ''}127.0.0.1:${port}/0`,
    tlsPort,
    stop,
    start,
    freeze: async (ms) => {
      child?.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, ms));
      child?.kill('SIGCONT');
    },
    cli,
    close: async () => {
      process.removeListener('exit', onExit);
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
