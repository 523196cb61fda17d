/**
 * Test harness: Let's Encrypt's test CA, pebble, plus pebble-challtestsrv as its DNS (Debian package
 * `pebble`; `.ci/run` installs it), on free loopback ports, one pair per test file so tap can run
 * files in parallel. Every name resolves to 127.0.0.1 (A only: an AAAA answer would make pebble dial
 * [::1], see docs in the shared recipe). pebble validates HTTP-01 on `httpPort` and TLS-ALPN-01 on
 * `tlsPort` of that address: give portico those ports. A missing pebble fails loudly (never skips).
 *
 * `stop()` kills both by child PID; `restart()` restarts pebble alone on the same ports (pebble then
 * forgets every account and order and has a new root).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificate } from '../src/cert-sources/self-signed.js';
import { freePort } from './backend.js';

/** Pebble is a running pebble + challtestsrv. */
export interface Pebble {
  directoryUrl: string;
  /** pebble validates http-01 here (on 127.0.0.1) */
  httpPort: number;
  /** pebble validates tls-alpn-01 here (on 127.0.0.1) */
  tlsPort: number;
  acmePort: number;
  /** challtestsrv's management API (add-a, set-default-ipv4, set-txt, …) */
  dnsMgmtUrl: string;
  /** challtestsrv's DNS server (`127.0.0.1:PORT`): what pebble resolves with, and the dns-01 resolver for tests */
  dnsServer: string;
  /** PEM of the directory's own TLS certificate (what `acme.ca_bundle` must trust); stable across restarts */
  tlsCa: string;
  /** path of a file holding tlsCa */
  tlsCaFile: string;
  /** the root that signs issued certificates (changes on every pebble start) */
  root(): Promise<string>;
  /** pebble's and challtestsrv's output so far */
  log(): string;
  /** stop pebble only (the CA is "down"); start it again with restart() */
  stopCa(): Promise<void>;
  restart(env?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
  /** point a name at an address in challtestsrv's DNS */
  addA(host: string, address: string): Promise<void>;
}

/** PebbleOptions: validity of issued certificates (seconds), extra env, fixed ports. */
export interface PebbleOptions {
  validitySeconds?: number;
  env?: Record<string, string>;
  httpPort?: number;
  tlsPort?: number;
  acmePort?: number;
  /** do not start pebble itself yet (the CA is unreachable until restart()) */
  startStopped?: boolean;
  /** require external account binding with these kid → HMAC keys */
  eab?: Record<string, string>;
  /** more names in the directory's TLS certificate (a container reaches the host's loopback as 10.0.2.2) */
  tlsNames?: string[];
  /** the DNS server pebble resolves with (`ip:port`); default challtestsrv's */
  dnsServer?: string;
}

function get(url: string, agent: https.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

function post(url: string, body: unknown): Promise<void> {
  return fetch(url, { method: 'POST', body: JSON.stringify(body) }).then(async (r) => {
    if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  });
}

function assertInstalled(): void {
  for (const cmd of ['pebble', 'pebble-challtestsrv']) {
    const r = spawnSync('sh', ['-c', `command -v ${cmd}`]);
    if (r.status !== 0) throw new Error(`${cmd} is not installed: run "apt-get install -y pebble" (.ci/run does); the ACME tests need it and never skip`);
  }
}

function stopChild(c: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return resolve();
    const t = setTimeout(() => c.kill('SIGKILL'), 2000);
    c.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    c.kill('SIGTERM');
  });
}

/** startPebble starts challtestsrv and pebble and waits until both answer. */
export async function startPebble(opts: PebbleOptions = {}): Promise<Pebble> {
  assertInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'portico-pebble-'));
  const acmePort = opts.acmePort ?? (await freePort());
  const [mgmtPort, dnsPort, dnsMgmtPort] = [await freePort(), await freePort(), await freePort()];
  const httpPort = opts.httpPort ?? (await freePort());
  const tlsPort = opts.tlsPort ?? (await freePort());
  const own = await makeCertificate({ commonName: 'localhost', names: ['localhost', '127.0.0.1', ...(opts.tlsNames ?? [])], days: 2 });
  writeFileSync(join(dir, 'key.pem'), own.key);
  writeFileSync(join(dir, 'cert.pem'), own.cert);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: join(dir, 'cert.pem'), privateKey: join(dir, 'key.pem'),
      httpPort, tlsPort, ocspResponderURL: '', externalAccountBindingRequired: opts.eab !== undefined,
      ...(opts.eab ? { externalAccountMACKeys: opts.eab } : {}),
      certificateValidityPeriod: opts.validitySeconds ?? 3600,
    },
  }));
  let output = '';
  const run = (cmd: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    c.on('error', (e) => (output += `\n${cmd}: ${e.message}\n`));
    return c;
  };
  const dns = run('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${dnsMgmtPort}`,
    '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''], process.env);
  let ca: ChildProcess | null = null;
  const startCa = (env: Record<string, string> = {}): ChildProcess =>
    run('pebble', ['-config', join(dir, 'config.json'), '-dnsserver', opts.dnsServer ?? `127.0.0.1:${dnsPort}`, '-strict=false'], {
      ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0', ...opts.env, ...env,
    });
  // Last resort if the test process exits without teardown: kill by child PID.
  const onExit = () => {
    for (const c of [dns, ca]) if (c && c.exitCode === null) c.kill('SIGKILL');
  };
  process.once('exit', onExit);
  const agent = new https.Agent({ ca: own.cert, keepAlive: false });
  const directoryUrl = `https://127.0.0.1:${acmePort}/dir`;
  const stop = async () => {
    process.removeListener('exit', onExit);
    await Promise.all([dns, ca].filter((c): c is ChildProcess => c !== null).map(stopChild));
    rmSync(dir, { recursive: true, force: true });
  };
  const ready = async (what: 'ca' | 'dns') => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const c = what === 'ca' ? ca! : dns;
      if (c.exitCode !== null) throw new Error(`${what === 'ca' ? 'pebble' : 'pebble-challtestsrv'} exited early:\n${output}`);
      const ok = what === 'ca'
        ? await get(directoryUrl, agent).then((r) => r.status === 200, () => false)
        : await new Promise<boolean>((r) => {
          const s = net.connect(dnsMgmtPort, '127.0.0.1', () => (s.destroy(), r(true)));
          s.on('error', () => r(false));
        });
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`${what} not ready within 15 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await ready('dns');
    if (!opts.startStopped) {
      ca = startCa();
      await ready('ca');
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const tlsCaFile = join(dir, 'cert.pem');
  return {
    directoryUrl, httpPort, tlsPort, acmePort, tlsCa: own.cert, tlsCaFile,
    dnsMgmtUrl: `http://127.0.0.1:${dnsMgmtPort}`,
    dnsServer: `127.0.0.1:${dnsPort}`,
    root: async () => (await get(`https://127.0.0.1:${mgmtPort}/roots/0`, agent)).body,
    log: () => output,
    stopCa: async () => {
      if (ca) await stopChild(ca);
    },
    restart: async (env) => {
      if (ca) await stopChild(ca);
      ca = startCa(env);
      await ready('ca');
    },
    stop,
    addA: (host, address) => post(`http://127.0.0.1:${dnsMgmtPort}/add-a`, { host, addresses: [address] }),
  };
}
