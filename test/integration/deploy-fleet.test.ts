/**
 * deploy/fleet/ (issue 25's "deploy/ shows a Redis-backed fleet"), each file checked by what reads it,
 * without running it (CI has no registry for the redis and haproxy images, and no cluster; the same
 * fleet runs with Debian's redis-server and HAProxy in fleet-acme.test.ts and fleet-faults.test.ts):
 * - kubernetes.yaml: valid against the Kubernetes API schemas; the pods get REDIS_PASSWORD from the
 *   Secret, the config as the ConfigMap directory, an emptyDir as the local cache, probes on the admin
 *   port, a grace that covers shutdown_delay + shutdown_grace;
 * - compose.yaml and haproxy.cfg: three replicas behind HAProxy with PROXY v2 (data and health checks)
 *   on the config's ports; `haproxy -c` accepts the file; Redis with a password;
 * - config/config.toml: `portico check` accepts it (with REDIS_PASSWORD set) and names the Redis storage.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments, parse } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Service } from 'kubernetes-models/v1';
import { ROOT } from '../../test-support/index.js';
import { runCli } from '../../test-support/http.js';
import { parseConfig } from '../../src/config/index.js';
import { testDir } from '../../test-support/wait.js';

const FLEET = join(ROOT, 'deploy', 'fleet');
const CONFIG = join(FLEET, 'config', 'config.toml');
const config = parseConfig(readFileSync(CONFIG, 'utf8'), { file: CONFIG, baseDir: '/app/config', env: { REDIS_PASSWORD: 'x' } });

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are YAML read from disk */
type Doc = Record<string, any>;

t.test('kubernetes.yaml: valid manifests; the pods get what the config needs', async (t) => {
  const docs = parseAllDocuments(readFileSync(join(FLEET, 'kubernetes.yaml'), 'utf8')).map((d) => {
    t.same(d.errors, []);
    return d.toJS() as Doc;
  });
  t.same(docs.map((d) => `${d.kind} ${d.metadata.name}`), ['Deployment portico', 'Service portico', 'Deployment redis', 'Service redis']);
  for (const d of docs) t.doesNotThrow(() => (d.kind === 'Deployment' ? new Deployment(d as never) : new Service(d as never)).validate(), `${d.kind} ${d.metadata.name}`);

  const spec = docs[0]!.spec.template.spec;
  const c = spec.containers[0];
  const port = (name: string) => c.ports.find((p: Doc) => p.name === name)?.containerPort;
  t.equal(port('https'), config.server.https.port);
  t.equal(port('http'), config.server.http!.port);
  t.equal(port('admin'), config.admin.listen!.port);
  t.strictSame(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
  t.strictSame(c.livenessProbe.httpGet, { path: '/healthz', port: 'admin' });
  t.ok(spec.terminationGracePeriodSeconds >= (config.server.shutdown_delay + config.server.shutdown_grace) / 1000 + 1, 'the grace covers shutdown_delay + shutdown_grace');
  t.match(c.env.find((e: Doc) => e.name === 'REDIS_PASSWORD'), { valueFrom: { secretKeyRef: { name: 'portico-secrets', key: 'REDIS_PASSWORD' } } });
  t.match(readFileSync(CONFIG, 'utf8'), /redis = "redis:\/\/:\$\{REDIS_PASSWORD\}@redis:6379\/0"/, 'the config takes the password from the environment and names the redis Service');
  const volume = (mount: string) => spec.volumes.find((v: Doc) => v.name === c.volumeMounts.find((m: Doc) => m.mountPath === mount)?.name);
  t.match(volume('/app/config'), { configMap: { name: 'portico-config' } }, 'the config is the ConfigMap, as a directory');
  t.ok(volume('/app/certs')?.emptyDir, 'the local cache is an emptyDir');
  t.equal(config.storage.dir, '/app/certs/managed', 'storage.dir is on that volume');
  const redis = docs[2]!.spec.template.spec.containers[0];
  t.match(redis.args.join(' '), /--requirepass "\$REDIS_PASSWORD"/, 'Redis asks for the password');
});

t.test('compose.yaml and haproxy.cfg: three replicas behind HAProxy with PROXY v2, on the config\'s ports', async (t) => {
  const compose = parse(readFileSync(join(FLEET, 'compose.yaml'), 'utf8')) as Doc;
  const replicas = Object.keys(compose.services).filter((s) => s.startsWith('portico-'));
  t.same(replicas, ['portico-1', 'portico-2', 'portico-3']);
  for (const r of replicas) {
    t.match(compose.services[r], { image: 'portico', command: ['run', '--watch'], environment: { REDIS_PASSWORD: /REDIS_PASSWORD/ } }, r);
    t.ok(compose.services[r].volumes.includes('./config:/app/config:ro'), `${r}: the fleet config`);
  }
  t.match(compose.services.redis.command, ['redis-server', '--requirepass', /REDIS_PASSWORD/]);

  const cfg = readFileSync(join(FLEET, 'haproxy.cfg'), 'utf8');
  for (const [backend, port] of [['portico_https', config.server.https.port], ['portico_http', config.server.http!.port]] as const) {
    const section = cfg.slice(cfg.indexOf(`\nbackend ${backend}\n`) + 1).split(/\n(?=\S)/)[0]!;
    const servers = section.split('\n').filter((l) => l.trim().startsWith('server '));
    t.same(servers.map((l) => l.trim().split(/\s+/)[2]), replicas.map((r) => `${r}:${port}`), `${backend}: every replica on port ${port}`);
    t.ok(servers.every((l) => / send-proxy-v2 /.test(l) && / check-send-proxy /.test(l)), `${backend}: PROXY v2, health checks too`);
  }
  t.ok(config.server.proxy_protocol.length > 0, 'the config expects the header');

  // HAProxy itself accepts the file (the replicas' names resolve only inside compose: loopback here)
  const file = join(testDir(t), 'haproxy.cfg');
  writeFileSync(file, cfg.replace(/portico-\d/g, '127.0.0.1'));
  const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  t.equal(r.status, 0, `haproxy -c: ${r.stdout}${r.stderr}`);
});

t.test('config/config.toml passes `portico check`, which names the Redis storage', async (t) => {
  const r = await runCli(['check', '--config', CONFIG], { env: { REDIS_PASSWORD: 'x' } });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /storage: redis redis:\/\/:\*\*\*@redis:6379\/0/, 'the password is not printed');
});
