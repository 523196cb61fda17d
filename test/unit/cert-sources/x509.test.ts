// The certificates portico writes itself (src/cert-sources/x509.ts) are ones Node's and OpenSSL's parsers
// and verifiers accept: names, validity, CA flag, chain, and a real TLS handshake against the CA.
import { execFile } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { promisify } from 'node:util';
import t from 'tap';
import { makeCertificate } from '../../../src/cert-sources/self-signed.js';
import { testDir } from '../../../test-support/wait.js';

t.test('a self-signed leaf: names, validity, not a CA, verifies with its own key', async (t) => {
  const before = Date.now();
  const p = await makeCertificate({ commonName: 'a.test', names: ['a.test', '*.b.test', '127.0.0.1', '::1', '2001:db8::7', '::ffff:192.0.2.1'], days: 10 });
  const c = new X509Certificate(p.cert);
  t.equal(c.subject, 'CN=a.test\nO=portico');
  t.equal(c.issuer, c.subject, 'self-signed');
  t.equal(c.subjectAltName, 'DNS:a.test, DNS:*.b.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, IP Address:2001:DB8:0:0:0:0:0:7, IP Address:0:0:0:0:0:FFFF:C000:201');
  t.equal(c.ca, false);
  t.ok(c.verify(c.publicKey), 'signature verifies');
  t.ok(c.checkPrivateKey(createPrivateKey(p.key)), 'the key is the certificate key');
  t.ok(Date.parse(c.validFrom) <= before && Date.parse(c.validFrom) > before - 120_000, 'valid from about now');
  const days = (Date.parse(c.validTo) - Date.parse(c.validFrom)) / 86_400_000;
  t.ok(days > 9.99 && days < 10.01, `valid 10 days (${days})`);
  t.ok(c.checkHost('x.b.test'), 'wildcard SAN matches');
  t.ok(c.checkIP('2001:db8::7'));
  t.ok((c.keyUsage ?? []).includes('1.3.6.1.5.5.7.3.1'), 'extended key usage: serverAuth');
  t.ok(/^[0-7]/.test(c.serialNumber) && c.serialNumber.length === 32, `positive 16-byte serial (${c.serialNumber})`);
});

t.test('an RSA self-signed leaf (the default certificate where Node has the SNI key-type defect): openssl verifies it, a TLS client gets it', async (t) => {
  const p = await makeCertificate({ commonName: 'portico default', names: [], keyType: 'rsa' });
  const c = new X509Certificate(p.cert);
  t.equal(c.publicKey.asymmetricKeyType, 'rsa');
  t.equal(c.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  t.ok(c.verify(c.publicKey), 'signature verifies (sha256WithRSAEncryption)');
  t.ok(c.checkPrivateKey(createPrivateKey(p.key)), 'the key is the certificate key');
  const dir = testDir(t);
  await writeFile(join(dir, 'rsa.pem'), p.cert);
  const { stdout } = await promisify(execFile)('openssl', ['x509', '-in', join(dir, 'rsa.pem'), '-noout', '-text']);
  t.match(stdout, /Signature Algorithm: sha256WithRSAEncryption/);
  t.match(stdout, /Public-Key: \(2048 bit\)/);
  const server = tls.createServer({ cert: p.cert, key: p.key }, (s) => s.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as import('node:net').AddressInfo).port;
  const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => (resolve(s.getPeerCertificate()), s.end()));
    s.on('error', reject);
  });
  t.equal(peer.subject.CN, 'portico default');
  t.ok(peer.modulus, 'served over TLS as an RSA certificate');
});

t.test('a CA and a leaf it signs: openssl verifies the chain, and a TLS client trusting the CA connects', async (t) => {
  const ca = await makeCertificate({ commonName: 'test CA', names: [], isCA: true, days: 30 });
  const leaf = await makeCertificate({ commonName: 'localhost', names: ['localhost'], issuer: ca, days: 30 });
  const caCert = new X509Certificate(ca.cert);
  const leafCert = new X509Certificate(leaf.cert);
  t.equal(caCert.ca, true);
  t.ok(leafCert.checkIssued(caCert), 'issuer name and key id match');
  t.ok(leafCert.verify(caCert.publicKey), 'signed by the CA key');

  const dir = testDir(t);
  await writeFile(join(dir, 'ca.pem'), ca.cert);
  await writeFile(join(dir, 'leaf.pem'), leaf.cert);
  const { stdout } = await promisify(execFile)('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')]);
  t.match(stdout, /leaf\.pem: OK/);

  const server = tls.createServer({ cert: leaf.cert, key: leaf.key }, (s) => s.end('hi'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const { port } = server.address() as { port: number };
  const body = await new Promise<string>((resolve, reject) => {
    let got = '';
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.cert }, () => t.ok(s.authorized, 'authorized by the CA'));
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
  t.equal(body, 'hi');
});
