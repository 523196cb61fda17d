/**
 * Test harness: BIND 9 (Debian `bind9`; `test-support/tools.sh` installs it) as an authoritative
 * server on a free loopback port for one zone that accepts RFC 2136 dynamic updates of TXT records
 * signed with a fresh TSIG key — what `examples/dns-hooks/nsupdate.sh` talks to in production.
 * `stop()` kills it by child PID.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './backend.js';

/** Named is a running BIND. */
export interface Named {
  /** `ADDRESS:PORT` */
  server: string;
  port: number;
  /** the TSIG key file (BIND syntax, key "portico") nsupdate signs with */
  keyFile: string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * startNamed serves `zone` (SOA, NS `ns1.<zone>` → 127.0.0.1, and `* A 127.0.0.1`) on 127.0.0.1 and
 * a free port, and waits until it answers. (BIND listens only on addresses an interface has.)
 */
export async function startNamed(zone: string): Promise<Named> {
  for (const cmd of ['named', 'tsig-keygen', 'nsupdate']) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) throw new Error(`${cmd} is not installed: run "apt-get install -y bind9 bind9-dnsutils" (test-support/tools.sh does); the nsupdate test never skips`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'portico-named-'));
  const address = '127.0.0.1';
  const port = await freePort();
  const keyFile = join(dir, 'tsig.key');
  const key = spawnSync('tsig-keygen', ['-a', 'hmac-sha256', 'portico'], { encoding: 'utf8' });
  if (key.status !== 0) throw new Error(`tsig-keygen failed: ${key.stderr}`);
  writeFileSync(keyFile, key.stdout);
  writeFileSync(join(dir, 'zone'), [
    '$TTL 60',
    `@ IN SOA ns1.${zone}. hostmaster.${zone}. 1 60 60 600 60`,
    `@ IN NS ns1.${zone}.`,
    `ns1 IN A ${address}`,
    '* IN A 127.0.0.1',
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'named.conf'), `
options {
  directory "${dir}"; listen-on port ${port} { ${address}; }; listen-on-v6 { none; };
  recursion no; allow-query { any; }; dnssec-validation no; notify no;
  pid-file "${dir}/named.pid"; session-keyfile "${dir}/session.key"; managed-keys-directory "${dir}";
};
include "${keyFile}";
zone "${zone}" { type primary; file "${dir}/zone"; update-policy { grant portico zonesub TXT; }; };
`);
  let output = '';
  const child: ChildProcess = spawn('named', ['-g', '-c', join(dir, 'named.conf'), '-u', 'root'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const stop = () => new Promise<void>((resolve) => {
    process.removeListener('exit', onExit);
    const done = () => {
      rmSync(dir, { recursive: true, force: true });
      resolve();
    };
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(t);
      done();
    });
    child.kill('SIGTERM');
  });
  const deadline = Date.now() + 15_000;
  while (!/\d running$/m.test(output)) { // not "running on Linux …", printed first
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`named exited early:\n${output}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`named not ready within 15 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  // the TCP listener too (nsupdate may use it)
  await new Promise<void>((resolve) => {
    const s = net.connect(port, address, () => (s.destroy(), resolve()));
    s.on('error', () => resolve());
  });
  return { server: `${address}:${port}`, port, keyFile, log: () => output, stop };
}
