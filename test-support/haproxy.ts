/**
 * A real HAProxy (Debian package `haproxy`; test-support/tools.sh installs it) in TCP mode in front
 * of portico, as an L4 load balancer would be: each frontend listens on 127.0.0.1 (a free port or a
 * fixed one, e.g. the ports pebble validates on) and spreads connections round-robin over its
 * servers, optionally with a PROXY header (`send-proxy` = v1, `send-proxy-v2`) and from a chosen
 * source address (`source`), so tests can tell the balancer's address from the client's.
 * Stopped by child PID; a missing haproxy fails loudly (never skips).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './backend.js';

/** Frontend is one TCP frontend and its servers. */
export interface Frontend {
  name: string;
  /** listen port (default: a free one) */
  port?: number;
  /** host:port of each server */
  servers: string[];
  /** the PROXY header HAProxy sends to the servers (default none) */
  proxy?: 'v1' | 'v2';
  /** source address of HAProxy's connections to the servers (default the kernel's choice) */
  source?: string;
  /** health-check the servers (a TCP connect every 300 ms, with the PROXY header when one is sent): dead ones get no traffic */
  check?: boolean;
}

/** Haproxy is a running HAProxy. */
export interface Haproxy {
  /** the port each frontend listens on, by name */
  ports: Record<string, number>;
  log(): string;
  stop(): Promise<void>;
}

function assertInstalled(): void {
  if (spawnSync('sh', ['-c', 'command -v haproxy']).status !== 0) {
    throw new Error('haproxy is not installed: run "apt-get install -y haproxy" (test-support/tools.sh does); these tests never skip');
  }
}

/** startHaproxy writes a config for the frontends, starts haproxy in the foreground and waits until every frontend accepts. */
export async function startHaproxy(frontends: Frontend[]): Promise<Haproxy> {
  assertInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'portico-haproxy-'));
  const ports: Record<string, number> = {};
  const lines = [
    'global', '  maxconn 2000',
    'defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 60s', '  timeout server 60s',
  ];
  for (const f of frontends) {
    const port = f.port ?? (await freePort());
    ports[f.name] = port;
    lines.push(`frontend fe_${f.name}`, `  bind 127.0.0.1:${port}`, `  default_backend be_${f.name}`);
    lines.push(`backend be_${f.name}`, '  balance roundrobin');
    f.servers.forEach((s, i) => {
      const opts = [
        f.proxy === 'v1' ? 'send-proxy' : f.proxy === 'v2' ? 'send-proxy-v2' : '',
        f.source ? `source ${f.source}` : '',
        f.check ? `check inter 300ms fall 1 rise 2${f.proxy ? ' check-send-proxy' : ''}` : '',
      ].filter(Boolean);
      lines.push(`  server s${i} ${s} ${opts.join(' ')}`.trimEnd());
    });
  }
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, lines.join('\n') + '\n');
  let output = '';
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const onExit = () => child.exitCode === null && child.kill('SIGKILL');
  process.once('exit', onExit);
  const stop = async () => {
    process.removeListener('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((r) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        child.once('exit', () => (clearTimeout(timer), r()));
        child.kill('SIGTERM');
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (const port of Object.values(ports)) {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`haproxy exited early:\n${output}`);
      const up = await new Promise<boolean>((r) => {
        const s = net.connect(port, '127.0.0.1', () => (s.destroy(), r(true)));
        s.on('error', () => r(false));
      });
      if (up) break;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`haproxy not listening on ${port} within 10 s:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { ports, log: () => output, stop };
}
