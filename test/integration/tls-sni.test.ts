/**
 * TLS on the https listener: certificates picked by SNI from `tls.dir` and `[[tls.certificates]]`,
 * self-signed ones for routed hosts without files, the "portico default" certificate for unknown
 * names, `tls.min_version`, `routes.tls = "file"` refusal, certificate swaps on a live listener, and
 * full chains. Every certificate is generated at test time.
 */
import { X509Certificate } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import https from 'node:https';
import { join } from 'node:path';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { loadConfig } from '../../src/config/index.js';
import { ConfigInvalidError } from '../../src/errors.js';
import { Portico } from '../../src/main.js';
import {
  makeCA, peerCertificate, proxyConfig, request, startBackend, startProxy, writePair, type Backend,
} from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

/** serialOf is a PEM certificate's serial as Node's peer certificate shows it (upper-case hex). */
const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber.toUpperCase();

async function backend(t: Test): Promise<Backend> {
  const b = await startBackend('b');
  t.teardown(() => b.close());
  return b;
}

/** handshake resolves with the negotiated protocol, or rejects with the handshake error. */
function handshake(port: number, servername: string, opts: tls.ConnectionOptions): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, ...opts }, () => {
      const v = s.getProtocol();
      s.end();
      resolve(v);
    });
    s.on('error', reject);
  });
}

t.test('two hosts on one port: tls.dir and [[tls.certificates]], each verified against the CA', async (t) => {
  const b = await backend(t);
  const ca = await makeCA();
  const dir = testDir(t);
  await writePair(join(dir, 'certs'), 'a.test', await ca.issue(['a.test']));
  const other = await ca.issue(['b.test', 'www.b.test']);
  const paths = await writePair(join(dir, 'elsewhere'), 'b-cert', other);
  // [[tls.certificates]] is an array of tables: it must come after the [tls] keys, which is where
  // proxyConfig puts `extra.tls` (the next table header, [storage], ends it).
  const extraTls = `[[tls.certificates]]\ncert = ${JSON.stringify(paths.cert)}\nkey = ${JSON.stringify(paths.key)}`;
  const p = await startProxy(dir, proxyConfig([{ name: 'sni', hosts: ['a.test', 'b.test', 'www.b.test'], upstreams: [b.origin] }], { tls: extraTls }));
  t.teardown(() => p.close());

  for (const [host, file] of [['a.test', 'certs/a.test.crt'], ['b.test', 'elsewhere/b-cert.crt'], ['www.b.test', 'elsewhere/b-cert.crt']] as const) {
    const r = await request({ port: p.port, servername: host, ca: ca.cert });
    t.equal(r.status, 200, `${host}: proxied with a verified chain`);
    t.equal(r.body, 'b\n');
    const peer = await peerCertificate(p.port, host, ca.cert);
    t.equal(peer.authorized, true, `${host}: authorized against the test CA (${peer.authError ?? 'ok'})`);
    t.match(peer.subjectaltname, new RegExp(`DNS:${host.replace(/\./g, '\\.')}(,|$)`), `${host}: SAN names the host`);
    t.equal(peer.issuer.CN, 'portico test CA');
    const entry = (p.portico.status().certificates as Array<{ host: string; source: string; path: string }>).find((c) => c.host === host);
    t.match(entry, { source: 'file', path: join(dir, file) }, `${host}: status names the file`);
  }
  const a = await peerCertificate(p.port, 'a.test', ca.cert);
  const bb = await peerCertificate(p.port, 'b.test', ca.cert);
  t.equal(a.subject.CN, 'a.test');
  t.equal(bb.subject.CN, 'b.test');
  t.not(a.serialNumber, bb.serialNumber, 'different certificates per SNI name');
});

t.test('a routed host without files gets a self-signed certificate for its name and is proxied', async (t) => {
  // tls = "auto" with no certs/own.test.{crt,key}. Regression: loadForHost used to read .crt and
  // .key in parallel, and when the .key ENOENT rejected first, start failed with
  // "routes[0].hosts: own.test: loading certificate … own.test.key" (about 1 start in 20).
  const b = await backend(t);
  const ca = await makeCA();
  const p = await startProxy(testDir(t), proxyConfig([{ name: 'own', hosts: ['own.test'], upstreams: [b.origin] }]));
  t.teardown(() => p.close());
  const peer = await peerCertificate(p.port, 'own.test', ca.cert);
  t.match(peer.subjectaltname, /(^|, )DNS:own\.test(,|$)/);
  t.equal(peer.subject.CN, 'own.test');
  t.equal(peer.authorized, false, 'not signed by the test CA');
  await t.rejects(request({ port: p.port, servername: 'own.test', ca: ca.cert }), 'a verifying client refuses it');
  const r = await request({ port: p.port, servername: 'own.test' });
  t.equal(r.status, 200, 'proxied when the client does not verify');
  t.equal(r.body, 'b\n');
  t.match(p.portico.status().certificates, [{ host: 'own.test', source: 'self-signed' }]);
});

t.test('unknown SNI gets the "portico default" certificate, then a 404 with a short plain body', async (t) => {
  const b = await backend(t);
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['known.test'], upstreams: [b.origin], tls: 'self-signed' }]));
  t.teardown(() => p.close());
  const peer = await peerCertificate(p.port, 'unknown.test');
  t.equal(peer.subject.CN, 'portico default');
  t.notMatch(String(peer.subjectaltname ?? ''), /unknown\.test/);
  const noSni = await peerCertificate(p.port, undefined);
  t.equal(noSni.subject.CN, 'portico default', 'no SNI: default certificate too');
  const r = await request({ port: p.port, servername: 'unknown.test' });
  t.equal(r.status, 404);
  t.match(r.headers['content-type'], /^text\/plain/);
  t.ok(r.body.length > 0 && r.body.length < 100, `short body: ${JSON.stringify(r.body)}`);
  t.equal(b.requests.length, 0, 'nothing reached the upstream');
});

t.test('tls.min_version = "TLSv1.3": a TLS 1.2-only client fails the handshake', async (t) => {
  const b = await backend(t);
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['v13.test'], upstreams: [b.origin], tls: 'self-signed' }], { tls: 'min_version = "TLSv1.3"' }));
  t.teardown(() => p.close());
  for (const servername of ['v13.test', 'unknown.test']) {
    await t.rejects(handshake(p.port, servername, { maxVersion: 'TLSv1.2' }), `${servername}: TLS 1.2 refused`);
    t.equal(await handshake(p.port, servername, { minVersion: 'TLSv1.3' }), 'TLSv1.3', `${servername}: TLS 1.3 works`);
  }
  const r = await request({ port: p.port, servername: 'v13.test' });
  t.equal(r.status, 200);
});

t.test('default min_version TLSv1.2 accepts a TLS 1.2 client', async (t) => {
  const b = await backend(t);
  const p = await startProxy(testDir(t), proxyConfig([{ hosts: ['v12.test'], upstreams: [b.origin], tls: 'self-signed' }]));
  t.teardown(() => p.close());
  t.equal(await handshake(p.port, 'v12.test', { maxVersion: 'TLSv1.2' }), 'TLSv1.2');
  await t.rejects(handshake(p.port, 'v12.test', { maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }), 'TLS 1.1 refused');
});

t.test('routes.tls = "file" without a file: start rejects naming routes[0].tls', async (t) => {
  const dir = testDir(t);
  const configPath = join(dir, 'config.toml');
  await writeFile(configPath, proxyConfig([{ hosts: ['nofile.test'], upstreams: ['http://127.0.0.1:9'], tls: 'file' }]));
  const err = await Portico.start({ configPath }).then(
    (p) => {
      t.teardown(() => p.shutdown());
      return null;
    },
    (e: unknown) => e,
  );
  t.ok(err instanceof ConfigInvalidError, 'ConfigInvalidError');
  const problems = (err as ConfigInvalidError).problems;
  t.match(problems, [{ path: 'routes[0].tls', message: /nofile\.test/ }]);
  t.equal(problems.length, 1);
});

t.test('certificate swap: the next handshake presents the new certificate on the same listener', async (t) => {
  const b = await backend(t);
  const ca = await makeCA();
  const dir = testDir(t);
  const certs = join(dir, 'certs');
  const first = await ca.issue(['swap.test']);
  await writePair(certs, 'swap.test', first);
  const p = await startProxy(dir, proxyConfig([{ hosts: ['swap.test'], upstreams: [b.origin] }]));
  t.teardown(() => p.close());
  t.equal((await peerCertificate(p.port, 'swap.test', ca.cert)).serialNumber, serialOf(first.leaf));

  // A kept-alive connection made before the swaps must keep working: the listener is not replaced.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const freed = new Set<unknown>();
  agent.on('free', (socket) => freed.add(socket));
  const before = await request({ port: p.port, servername: 'swap.test', ca: ca.cert, agent });
  t.equal(before.status, 200);

  // 1. portico.reload() re-reads the files
  const second = await ca.issue(['swap.test']);
  await writePair(certs, 'swap.test', second);
  await p.portico.reload();
  t.match(p.portico.status().last_reload, { result: 'success' });
  const peer2 = await peerCertificate(p.port, 'swap.test', ca.cert);
  t.equal(peer2.serialNumber, serialOf(second.leaf), 'reload: new serial');
  t.equal(peer2.authorized, true);

  // 2. buildRuntime + swap from a freshly loaded config
  const third = await ca.issue(['swap.test']);
  await writePair(certs, 'swap.test', third);
  p.portico.swap(await p.portico.buildRuntime(await loadConfig(p.configPath)));
  t.equal((await peerCertificate(p.port, 'swap.test', ca.cert)).serialNumber, serialOf(third.leaf), 'swap: new serial');

  t.equal(p.portico.addresses.https.port, p.port, 'same https port');
  const after = await request({ port: p.port, servername: 'swap.test', ca: ca.cert, agent });
  t.equal(after.status, 200, 'the connection opened before the swaps still serves');
  t.equal(freed.size, 1, 'both requests used the same TLS connection');
});

t.test('a full chain is served: leaf + CA from the file', async (t) => {
  const b = await backend(t);
  const ca = await makeCA();
  const dir = testDir(t);
  await writePair(join(dir, 'certs'), 'chain.test', await ca.issue(['chain.test']));
  const leafOnly = await ca.issue(['leaf.test']);
  await writePair(join(dir, 'certs'), 'leaf.test', { cert: leafOnly.leaf, key: leafOnly.key });
  const p = await startProxy(dir, proxyConfig([{ hosts: ['chain.test', 'leaf.test'], upstreams: [b.origin] }]));
  t.teardown(() => p.close());
  // No `ca` here: the client does not know the CA, so an issuer certificate can only come from the server.
  const chain = await peerCertificate(p.port, 'chain.test');
  t.equal(chain.subject.CN, 'chain.test');
  t.equal(chain.issuerCertificate?.subject?.CN, 'portico test CA', 'the CA certificate was sent');
  t.not(chain.issuerCertificate?.fingerprint256, chain.fingerprint256);
  // Control: a file with only the leaf yields no issuer certificate, so the check above can fail.
  const leaf = await peerCertificate(p.port, 'leaf.test');
  t.equal(leaf.subject.CN, 'leaf.test');
  t.not(leaf.issuerCertificate?.subject?.CN, 'portico test CA', 'leaf-only file: no CA sent');
});
