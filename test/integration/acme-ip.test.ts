/**
 * IP-address certificates (RFC 8738; Let's Encrypt issues them in the "shortlived" profile) against
 * pebble, which issues them whatever the profile: a route whose host is an IP literal gets a CA
 * certificate through HTTP-01 (pebble connects to the IP, Host `127.0.0.1:PORT`) and through
 * TLS-ALPN-01 (pebble's SNI is the reverse name `1.0.0.127.in-addr.arpa`). Clients send no SNI for an
 * IP, so the handshake without SNI gets that certificate, which verifies against pebble's root for
 * the IP. It has no OCSP URL (pebble, like Let's Encrypt since 2025); status, check and metrics
 * show it like any other. (portico's CSR for an IP has no Common Name, but pebble writes the IP into
 * it anyway: certificates without one are test/unit/acme/no-common-name.test.ts.)
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { acmeConfig, obtained, startBackend, startPebble, startProxy, TEST_TUNING, waitForLog } from '../../test-support/index.js';
import { runCli } from '../../test-support/http.js';

const pebble = await startPebble();
t.teardown(() => pebble.stop());
const backend = await startBackend('by-ip');
t.teardown(() => backend.close());
const IP = '127.0.0.1';

/** noSni handshakes without SNI (as clients do for an IP), verifying the certificate for the IP against `ca`. */
function noSni(port: number, ca: string): Promise<{ authorized: boolean; error?: string; pem: string }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: IP, port, ca, rejectUnauthorized: false }, () => {
      const raw = s.getPeerCertificate().raw;
      const pem = `-----BEGIN CERTIFICATE-----\n${raw.toString('base64')}\n-----END CERTIFICATE-----\n`;
      const error = s.authorized ? tls.checkServerIdentity(IP, s.getPeerCertificate())?.message : String(s.authorizationError);
      resolve({ authorized: s.authorized && error === undefined, error, pem });
      s.end();
    });
    s.on('error', reject);
  });
}

for (const challenge of ['http-01', 'tls-alpn-01']) {
  t.test(`an IP-address certificate via ${challenge}, served to clients without SNI`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-ip-'));
    const p = await startProxy(dir, acmeConfig(pebble, [{ hosts: [IP], upstreams: [backend.origin], tls: 'acme' }], { challenges: [challenge] }), { acmeTuning: TEST_TUNING });
    t.teardown(async () => {
      await p.close();
      await rm(dir, { recursive: true, force: true });
    });
    const line = await waitForLog(p.logs, obtained(IP));
    t.equal(line.challenge, challenge);
    if (challenge === 'tls-alpn-01') t.ok(p.logs.some((l) => l.msg === 'acme tls-alpn-01 challenge answered' && l.name === IP), 'answered for the reverse name');
    const root = await pebble.root();
    const peer = await noSni(p.port, root);
    t.ok(peer.authorized, `no SNI: a certificate valid for ${IP} (${peer.error ?? 'ok'})`);
    const x = new X509Certificate(peer.pem);
    t.match(x.subjectAltName, `IP Address:${IP}`);
    t.equal(x.infoAccess?.includes('OCSP') ?? false, false, 'no OCSP URL');

    const status = (await (await fetch(`http://127.0.0.1:${p.adminPort}/status.json`)).json()) as { certificates: Array<Record<string, unknown>> };
    const c = status.certificates.find((x) => x.host === IP)!;
    t.equal(c.source, 'acme');
    t.equal(c.state, 'valid');
    t.match(c.issuer, /Pebble/i);
    t.match(await (await fetch(`http://127.0.0.1:${p.adminPort}/metrics`)).text(), /portico_cert_not_after_seconds\{name="127\.0\.0\.1"\} \d{10}/);
    const check = await runCli(['check', '--config', p.configPath]);
    t.equal(check.code, 0, check.stderr);
    t.match(check.stdout, /127\.0\.0\.1\s+acme IP address .*stored certificate from .*Pebble/i);
    t.match(check.stdout, /challenges .*IP addresses \(127\.0\.0\.1\)/);
  });
}
