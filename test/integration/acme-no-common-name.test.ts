/**
 * Certificates without a Common Name and without an OCSP URL (Let's Encrypt's tlsserver and
 * shortlived profiles issue them; OCSP URLs left certificates in 2025) work everywhere (issue 27):
 * a stored ACME certificate (6 days) and a certificate file, both with no CN, are planned and printed
 * by `check`, served by SNI, and shown on /status.json and in the expiry metric; the ACME one is
 * planned to renew with a third of its lifetime left (2 days before expiry). pebble always writes a
 * CN, so these certificates come from portico's own writer (x509.ts) signed by a test CA.
 */
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { storagePrefix } from '../../src/acme/manager.js';
import { CertFiles } from '../../src/acme/stored.js';
import { FileStorage } from '../../src/storage/file.js';
import { makeCA, proxyConfig, startBackend, startProxy, TEST_TUNING, writePair } from '../../test-support/index.js';
import { runCli } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const DIRECTORY = 'https://ca.invalid/directory';
const DAY = 86_400_000;

t.test('no Common Name, no OCSP URL: check, SNI, status and metrics', async (t) => {
  const dir = testDir(t);
  const backend = await startBackend('no-cn');
  t.teardown(() => backend.close());
  const ca = await makeCA('no-CN test CA');
  const acmeCert = await ca.issue(['nocn.test'], { commonName: '', days: 6 });
  const fileCert = await ca.issue(['file-nocn.test'], { commonName: '', days: 30 });
  for (const c of [acmeCert, fileCert]) {
    const x = new X509Certificate(c.leaf);
    t.notMatch(x.subject, /CN=/, 'the certificate has no Common Name');
    t.equal(x.infoAccess, undefined, 'and no OCSP URL');
  }
  await writePair(join(dir, 'certs'), 'file-nocn.test', fileCert);
  await new CertFiles(new FileStorage(join(dir, 'state')), storagePrefix(DIRECTORY), () => {}).save('nocn.test', acmeCert);
  const toml = proxyConfig([
    { hosts: ['nocn.test'], upstreams: [backend.origin], tls: 'acme' },
    { hosts: ['file-nocn.test'], upstreams: [backend.origin], tls: 'file' },
  ], { acme: `enabled = true\ndirectory = "${DIRECTORY}"\nchallenges = ["tls-alpn-01"]` });
  await writeFile(join(dir, 'config.toml'), toml);

  const check = await runCli(['check', '--config', join(dir, 'config.toml')]);
  t.equal(check.code, 0, check.stderr);
  t.match(check.stdout, /nocn\.test\s+acme .*stored certificate from .*no-CN test CA.*; expires \d{4}-/);
  t.match(check.stdout, /file-nocn\.test\s+file .*no-CN test CA.*; expires \d{4}-/);

  const p = await startProxy(dir, toml, { acmeTuning: TEST_TUNING });
  t.teardown(() => p.close());
  for (const host of ['nocn.test', 'file-nocn.test']) {
    const peer = await new Promise<tls.PeerCertificate & { authorized: boolean; error?: string }>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: p.port, servername: host, ca: ca.cert, rejectUnauthorized: false }, () => {
        const pc = s.getPeerCertificate();
        resolve(Object.assign(pc, { authorized: s.authorized, error: s.authorized ? tls.checkServerIdentity(host, pc)?.message : String(s.authorizationError) }));
        s.end();
      });
      s.on('error', reject);
    });
    t.ok(peer.authorized && peer.error === undefined, `${host}: served and valid by its SAN alone (${peer.error ?? 'ok'})`);
    t.equal(peer.subject.CN, undefined, `${host}: no CN`);
  }
  const status = (await (await fetch(`http://127.0.0.1:${p.adminPort}/status.json`)).json()) as { certificates: Array<Record<string, string>> };
  const a = status.certificates.find((c) => c.host === 'nocn.test')!;
  t.equal(a.state, 'valid');
  t.match(a.issuer, /no-CN test CA/);
  const notAfter = Date.parse(a.not_after!);
  const left = notAfter - Date.parse(a.next_renewal!);
  t.ok(Math.abs(left - 2 * DAY) <= 0.02 * 6 * DAY + 60_000, `a 6-day certificate renews about 2 days before expiry (${(left / DAY).toFixed(2)} days)`);
  const f = status.certificates.find((c) => c.host === 'file-nocn.test')!;
  t.equal(f.source, 'file');
  t.match(f.issuer, /no-CN test CA/);
  const metrics = await (await fetch(`http://127.0.0.1:${p.adminPort}/metrics`)).text();
  t.match(metrics, /portico_cert_not_after_seconds\{name="nocn\.test"\} \d{10}/);
  t.match(metrics, /portico_cert_not_after_seconds\{name="file-nocn\.test"\} \d{10}/);
});
