/**
 * Hosts with RSA and ECDSA certificates behind one listener. Node before 26 adds an SNI context's
 * certificate next to the default context's (nodejs/node#54235: one slot per key type) and OpenSSL
 * picks the ECDSA pair when there is one (the client's preference in TLS 1.3, portico's
 * ECDHE-ECDSA-first suites in TLS 1.2): an ECDSA default would shadow every RSA host. portico's own
 * default certificate is therefore RSA there as soon as an RSA certificate is served — behind it an
 * ECDSA host's certificate is still the one chosen — so every host gets its own certificate on every
 * Node; so does an IP host's self-signed certificate (the no-SNI default then). What is left (an IP
 * host's ECDSA certificate file, or its ACME one, as the no-SNI default next to an RSA host) is read
 * off a real handshake, and portico must say so exactly then: `check` warns and the start logs a
 * warning naming the host; where the right certificate is served, neither.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { SNI_KEY_TYPE_DEFECT } from '../../src/tls/key-types.js';
import { proxyConfig, startBackend, startProxy, waitForLog, type ProxyHandle } from '../../test-support/index.js';
import { runCli } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const backend = await startBackend('up');
t.teardown(() => backend.close());

/** certificate makes `<dir>/certs/<name>.{crt,key}` with openssl: RSA-2048 or ECDSA P-256. */
function certificate(dir: string, name: string, type: 'rsa' | 'ec', san = `DNS:${name}`): void {
  mkdirSync(join(dir, 'certs'), { recursive: true });
  const key = type === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  execFileSync('openssl', ['req', '-x509', ...key, '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-addext', `subjectAltName=${san}`,
    '-keyout', join(dir, 'certs', `${name}.key`), '-out', join(dir, 'certs', `${name}.crt`)], { stdio: 'ignore' });
}

/** served: the subject CN and key type a client asking for `servername` (none: '') gets, over one TLS version. */
const served = (p: ProxyHandle, servername: string, version: tls.SecureVersion) => new Promise<string>((resolve, reject) => {
  const s = tls.connect({ host: '127.0.0.1', port: p.port, ...(servername ? { servername } : {}), rejectUnauthorized: false, minVersion: version, maxVersion: version }, () => {
    const c = s.getPeerCertificate();
    resolve(`${c.subject.CN} ${c.modulus ? 'rsa' : c.asn1Curve ? 'ec' : 'other'}`);
    s.end();
  });
  s.on('error', reject);
});

const warned = (p: ProxyHandle, host: string) => p.logs.some((l) => l.component === 'tls' && Array.isArray(l.hosts) && (l.hosts as string[]).includes(host));

t.test('RSA and ECDSA hosts side by side: each client gets its host\'s own certificate, on every Node, without a warning', async (t) => {
  const dir = testDir(t);
  certificate(dir, 'rsa.test', 'rsa');
  certificate(dir, 'ec.test', 'ec');
  const p = await startProxy(dir, proxyConfig(['rsa.test', 'ec.test'].map((h) => ({ hosts: [h], upstreams: [backend.origin], tls: 'file' }))));
  t.teardown(() => p.close());
  for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
    t.equal(await served(p, 'rsa.test', v), 'rsa.test rsa', `${v}: rsa.test gets its RSA certificate`);
    t.equal(await served(p, 'ec.test', v), 'ec.test ec', `${v}: ec.test gets its ECDSA certificate`);
    t.equal(await served(p, 'other.test', v), `portico default ${SNI_KEY_TYPE_DEFECT ? 'rsa' : 'ec'}`,
      `${v}: an unknown name gets portico's default certificate (${SNI_KEY_TYPE_DEFECT ? 'RSA' : 'ECDSA'} on Node ${process.version}${SNI_KEY_TYPE_DEFECT ? ', where an RSA certificate is served' : ''})`);
  }
  const check = await runCli(['check', '--config', p.configPath]);
  t.equal(check.code, 0, check.stderr);
  t.notMatch(check.stdout + check.stderr, /get the default .* certificate, not theirs/, 'check says nothing');
  t.notOk(warned(p, 'rsa.test') || warned(p, 'ec.test'), 'no warning at start');
});

t.test('an IP host\'s self-signed certificate (the no-SNI default) next to an RSA host: of the default\'s key type, each host gets its own', async (t) => {
  const dir = testDir(t);
  certificate(dir, 'rsa.test', 'rsa');
  const p = await startProxy(dir, proxyConfig([{ hosts: ['rsa.test'], upstreams: [backend.origin], tls: 'file' }, { hosts: ['127.0.0.1'], upstreams: [backend.origin], tls: 'self-signed' }]));
  t.teardown(() => p.close());
  const type = SNI_KEY_TYPE_DEFECT ? 'rsa' : 'ec';
  for (const v of ['TLSv1.3', 'TLSv1.2'] as const) {
    t.equal(await served(p, '', v), `127.0.0.1 ${type}`, `${v}: a client without SNI gets the IP host's self-signed certificate (${type})`);
    t.equal(await served(p, 'rsa.test', v), 'rsa.test rsa', `${v}: rsa.test gets its own`);
  }
  const check = await runCli(['check', '--config', p.configPath]);
  t.equal(check.code, 0, check.stderr);
  t.notMatch(check.stdout + check.stderr, /get the default .* certificate, not theirs/, 'check says nothing');
  t.notOk(warned(p, 'rsa.test'), 'no warning at start');
});

t.test('an IP host\'s ECDSA certificate file as the no-SNI default next to an RSA host: portico warns exactly when this Node serves the default', async (t) => {
  const dir = testDir(t);
  certificate(dir, 'rsa.test', 'rsa');
  certificate(dir, '127.0.0.1', 'ec', 'IP:127.0.0.1');
  const p = await startProxy(dir, proxyConfig([{ hosts: ['rsa.test'], upstreams: [backend.origin], tls: 'file' }, { hosts: ['127.0.0.1'], upstreams: [backend.origin], tls: 'file' }]));
  t.teardown(() => p.close());
  t.equal(await served(p, '', 'TLSv1.3'), '127.0.0.1 ec', 'a client without SNI gets the IP host\'s certificate');
  const cn13 = await served(p, 'rsa.test', 'TLSv1.3');
  const cn12 = await served(p, 'rsa.test', 'TLSv1.2');
  t.equal(cn12, cn13, 'TLS 1.2 and 1.3 get the same certificate');
  const defect = cn13 !== 'rsa.test rsa';
  t.equal(SNI_KEY_TYPE_DEFECT, defect, `Node ${process.version} served ${cn13}: the version gate must agree`);
  const check = await runCli(['check', '--config', p.configPath]);
  t.equal(check.code, 0, check.stderr);
  const said = /TLS clients asking for rsa\.test get the default ec certificate/;
  if (defect) {
    const line = await waitForLog(p.logs, (l) => warned({ logs: [l] } as unknown as ProxyHandle, 'rsa.test'), 2000);
    t.match(line, { level: 'warn', default_key_type: 'ec', msg: said }, 'the start-up warning names the host');
    t.match(check.stdout + check.stderr, said, 'check warns');
  } else {
    t.notOk(warned(p, 'rsa.test'), 'no warning where the right certificate is served');
    t.notMatch(check.stdout + check.stderr, said, 'check says nothing');
  }
});
