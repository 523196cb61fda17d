/**
 * DNS-01 (RFC 8555 §8.4) through a hook (DESIGN §4 `acme.dns_hook`): portico does not speak any DNS
 * provider's API; it runs the configured program — argv, no shell — as
 *
 *     <argv…> add    _acme-challenge.example.com <value>
 *     <argv…> remove _acme-challenge.example.com <value>
 *
 * with a timeout (`dns_hook_timeout`: SIGTERM to its process group, SIGKILL 2 s later) and its stderr
 * in the log (stdout at debug). After `add` succeeds it waits until the TXT record is visible —
 * at every authoritative server of the record's zone (found by walking up the name for NS records
 * with the system resolver), or at the configured `dns_resolvers` — polling every 2 s up to
 * `dns_propagation_timeout`, and only then tells the CA. `remove` always runs once `add` was tried
 * (the issuer calls it in a `finally`). Each record is remembered in storage while it exists, so a
 * crash between add and remove is cleaned up by the challenge sweep (challenges.ts).
 */
import { spawn } from 'node:child_process';
import { Resolver } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { AcmeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { DnsRecords } from './challenges.js';

/** DnsSolverOptions are `[acme]`'s dns settings (ms). */
export interface DnsSolverOptions {
  hook: readonly string[];
  hookTimeoutMs: number;
  /** `ip:port` resolvers to check; [] = the zone's authoritative servers */
  resolvers: readonly string[];
  propagationTimeoutMs: number;
  records: DnsRecords;
  log: Logger;
  /** polling interval while waiting for the record (default 2 s) */
  pollMs?: number;
  /** the resolver used to find the authoritative servers (tests); default the system's */
  systemResolver?: string[];
  /** the port authoritative servers are asked on (tests; default 53) */
  authoritativePort?: number;
}

const KILL_AFTER_MS = 2000;
/** MAX_LINES: hook output lines logged per run (a chatty hook cannot flood the log). */
const MAX_LINES = 50;

/** DnsSolver sets, checks and removes dns-01 TXT records. */
export class DnsSolver {
  constructor(private readonly o: DnsSolverOptions) {}

  /** present adds the record and waits until it is visible. */
  async present(name: string, value: string, signal?: AbortSignal): Promise<void> {
    await this.o.records.recordDns(name, value);
    await this.run('add', name, value);
    await this.waitVisible(name, value, signal);
  }

  /** remove removes the record (errors are the caller's to log) and forgets it. */
  async remove(name: string, value: string): Promise<void> {
    await this.run('remove', name, value);
    await this.o.records.forgetDns(name);
  }

  /** run runs the hook once; rejects with AcmeError on a non-zero exit, a signal or the timeout. */
  run(action: 'add' | 'remove', name: string, value: string): Promise<void> {
    const [cmd, ...args] = this.o.hook;
    const log = this.o.log.child({ dns_hook: action, record: name });
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(cmd!, [...args, action, name, value], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, shell: false });
      let lines = 0;
      let lastErr = '';
      const lineReader = (level: 'info' | 'debug') => {
        let partial = '';
        return (chunk: Buffer) => {
          const parts = (partial + chunk.toString()).split('\n');
          partial = parts.pop()!.slice(-4096);
          for (const line of parts) {
            if (line.trim() === '') continue;
            if (level === 'info') lastErr = line.slice(0, 500);
            if (++lines <= MAX_LINES) log[level]({ line: line.slice(0, 2000) }, level === 'info' ? 'dns hook stderr' : 'dns hook stdout');
          }
        };
      };
      child.stdout!.on('data', lineReader('debug'));
      child.stderr!.on('data', lineReader('info'));
      let timedOut = false;
      const killGroup = (sig: NodeJS.Signals) => {
        try {
          process.kill(-child.pid!, sig);
        } catch {
          child.kill(sig);
        }
      };
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup('SIGTERM');
        setTimeout(() => killGroup('SIGKILL'), KILL_AFTER_MS).unref();
      }, this.o.hookTimeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new AcmeError(`dns hook ${this.o.hook[0]} could not run: ${err.message}`, { cause: err }));
      });
      child.on('close', (code, sig) => {
        clearTimeout(timer);
        const ms = Date.now() - started;
        if (code === 0 && !timedOut) {
          log.info({ duration_ms: ms }, `dns hook ${action} done`);
          return resolve();
        }
        const why = timedOut ? `timed out after ${this.o.hookTimeoutMs}ms` : sig !== null ? `was killed by ${sig}` : `exited with code ${code}`;
        reject(new AcmeError(`dns hook ${action} ${name} ${why}${lastErr ? `: ${lastErr}` : ''}`));
      });
    });
  }

  /** waitVisible polls until every server answers the TXT record with `value`. */
  async waitVisible(name: string, value: string, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + this.o.propagationTimeoutMs;
    const servers = this.o.resolvers.length > 0 ? [...this.o.resolvers] : await this.authoritative(name);
    const pending = new Set(servers);
    let lastErr = '';
    for (;;) {
      signal?.throwIfAborted();
      for (const server of [...pending]) {
        try {
          if ((await txt(server, name)).includes(value)) pending.delete(server);
        } catch (err) {
          lastErr = `${server}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
        }
      }
      if (pending.size === 0) {
        this.o.log.info({ record: name, servers }, 'dns-01 TXT record visible');
        return;
      }
      if (Date.now() >= deadline) {
        throw new AcmeError(`the dns-01 TXT record ${name} was not visible at ${[...pending].join(', ')} within ${this.o.propagationTimeoutMs}ms${lastErr ? ` (last error ${lastErr})` : ''}`);
      }
      await sleep(Math.min(this.o.pollMs ?? 2000, Math.max(10, deadline - Date.now())), undefined, { signal });
    }
  }

  /** authoritative finds the record's zone (the nearest name with NS records) and its servers' addresses. */
  async authoritative(name: string): Promise<string[]> {
    const r = new Resolver({ timeout: 5000, tries: 2 });
    if (this.o.systemResolver) r.setServers(this.o.systemResolver);
    const labels = name.split('.');
    for (let i = 1; i < labels.length - 1; i++) {
      const zone = labels.slice(i).join('.');
      let ns: string[];
      try {
        ns = await r.resolveNs(zone);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENODATA' || code === 'ENOTFOUND') continue;
        throw new AcmeError(`finding the DNS zone of ${name}: NS ${zone}: ${code ?? (err as Error).message}`, { cause: err });
      }
      const addresses = (await Promise.all(ns.map(async (host) => [
        ...(await r.resolve4(host).catch(() => [] as string[])),
        ...(await r.resolve6(host).catch(() => [] as string[])).map((a) => `[${a}]`),
      ]))).flat();
      if (addresses.length === 0) throw new AcmeError(`the name servers of ${zone} (${ns.join(', ')}) have no addresses`);
      this.o.log.debug({ record: name, zone, name_servers: ns }, 'dns-01: checking the zone\'s authoritative servers');
      return addresses.map((a) => `${a}:${this.o.authoritativePort ?? 53}`);
    }
    throw new AcmeError(`no DNS zone found for ${name} (no NS records on any parent name); set acme.dns_resolvers`);
  }
}

/** txt asks one server for a name's TXT records (each record's strings joined). */
async function txt(server: string, name: string): Promise<string[]> {
  const r = new Resolver({ timeout: 3000, tries: 1 });
  r.setServers([server]);
  return (await r.resolveTxt(name)).map((chunks) => chunks.join(''));
}
