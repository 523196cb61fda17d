/**
 * A host's RSA certificate behind portico's ECDSA default certificate. Node before 26 serves the
 * default certificate to clients of such a host (nodejs/node#54235: an SNI context's certificate is
 * added next to the default one and OpenSSL picks the ECDSA pair: the client's preference in TLS 1.3,
 * portico's ECDHE-ECDSA-first suites in TLS 1.2).
 * What this Node does is read off a real handshake, and portico must say so exactly then: `check`
 * warns and the start logs a warning naming the host; where the right certificate is served, neither.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { SNI_KEY_TYPE_DEFECT } from '../../src/tls/key-types.js';
import { proxyConfig, startBackend, startProxy, waitForLog } from '../../test-support/index.js';
import { runCli } from '../../test-support/http.js';

const backend = await startBackend('up');
t.teardown(() => backend.close());
const dir = t.testdir();
mkdirSync(join(dir, 'certs'), { recursive: true });
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=rsa.test', '-addext', 'subjectAltName=DNS:rsa.test',
  '-keyout', join(dir, 'certs', 'rsa.test.key'), '-out', join(dir, 'certs', 'rsa.test.crt')], { stdio: 'ignore' });
const toml = proxyConfig([{ hosts: ['rsa.test'], upstreams: [backend.origin], tls: 'file' }]);
const p = await startProxy(dir, toml);
t.teardown(() => p.close());

/** served: the subject CN a client asking for rsa.test gets, over one TLS version. */
const served = (version: tls.SecureVersion) => new Promise<string>((resolve, reject) => {
  const s = tls.connect({ port: p.port, servername: 'rsa.test', rejectUnauthorized: false, minVersion: version, maxVersion: version }, () => {
    resolve(String(s.getPeerCertificate().subject.CN));
    s.end();
  });
  s.on('error', reject);
});

const warning = (l: Record<string, unknown>) => l.component === 'tls' && Array.isArray(l.hosts) && (l.hosts as string[]).includes('rsa.test');

t.test('portico warns exactly when this Node serves the default certificate', async (t) => {
  const cn13 = await served('TLSv1.3');
  const cn12 = await served('TLSv1.2'); // portico prefers ECDHE-ECDSA suites: TLS 1.2 picks the default's pair too
  t.equal(cn12, cn13, 'TLS 1.2 and 1.3 get the same certificate');
  const defect = cn13 !== 'rsa.test';
  t.equal(SNI_KEY_TYPE_DEFECT, defect, `Node ${process.version} served CN=${cn13}: the version gate must agree`);
  const check = await runCli(['check', '--config', p.configPath]);
  t.equal(check.code, 0, check.stderr);
  const said = /TLS clients asking for rsa\.test get the default ec certificate/;
  if (defect) {
    const line = await waitForLog(p.logs, warning, 2000);
    t.match(line, { level: 'warn', default_key_type: 'ec', msg: said }, 'the start-up warning names the host');
    t.match(check.stdout + check.stderr, said, 'check warns');
  } else {
    t.notOk(p.logs.some(warning), 'no warning where the right certificate is served');
    t.notMatch(check.stdout + check.stderr, said, 'check says nothing');
  }
});
