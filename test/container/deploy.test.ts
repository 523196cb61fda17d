/**
 * deploy/ (issue 24), each file checked by what reads it:
 * - kubernetes/: every manifest validated against the Kubernetes API schemas (kubernetes-models), the
 *   settings that must agree with portico's checked (probes, grace ≥ shutdown_delay + shutdown_grace,
 *   non-root, read-only root), the ConfigMap's config.toml accepted by `portico check`, and the pod run
 *   the way the Deployment says (user, read-only root, dropped capabilities, args, env, the ConfigMap's
 *   `..data` layout and an update of it, probes, stop within terminationGracePeriodSeconds);
 * - compose.yaml: the README's Compose commands with podman-compose (Debian), the app reachable only
 *   through portico on the private network;
 * - systemd/: the README's systemd commands (npm pack, a global install into a temporary prefix,
 *   `portico check`, `systemd-analyze verify`), then the unit's command as an unprivileged user holding only
 *   CAP_NET_BIND_SERVICE on ports 443 and 80 (and refused without it), ExecReload's SIGHUP, SIGTERM → 0.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { freePort, request, startBackend, waitUntil, ROOT, type Backend } from '../../test-support/index.js';
import { httpRequest, runCli } from '../../test-support/http.js';
import {
  asPodman, buildImages, inspect, logs, must, podman, readmeCommands, removeLater, sh, uniqueName, waitLog,
} from '../../test-support/container.js';
import { parseConfig } from '../../src/config/index.js';
import { testDir } from '../../test-support/wait.js';

t.setTimeout(15 * 60_000);

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: unknown };
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/Deployment': Deployment, 'v1/Service': Service, 'v1/ConfigMap': ConfigMap, 'v1/Secret': Secret, 'v1/PersistentVolumeClaim': PersistentVolumeClaim,
};

const K8S = join(ROOT, 'deploy', 'kubernetes');
function manifests(): Manifest[] {
  return readdirSync(K8S).filter((f) => f.endsWith('.yaml')).sort().flatMap((f) =>
    parseAllDocuments(readFileSync(join(K8S, f), 'utf8')).map((d) => {
      if (d.errors.length > 0) throw new Error(`${f}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS() as Manifest;
    }));
}
const byKind = (kind: string): Manifest => manifests().find((m) => m.kind === kind)!;

/** validate checks one manifest against its API schema; throws with the schema's complaint. */
function validate(m: Manifest): void {
  const Model = MODELS[`${m.apiVersion}/${m.kind}`];
  if (Model === undefined) throw new Error(`${m.kind} ${m.apiVersion}: no schema (add it to MODELS)`);
  new Model(m as never).validate();
}

/** The ConfigMap's config.toml, parsed. */
const configMapToml = (): string => (byKind('ConfigMap').data as Record<string, string>)['config.toml']!;

type Container = {
  image: string; args: string[]; env: Array<{ name: string; value?: string }>; ports: Array<{ name: string; containerPort: number }>;
  readinessProbe: { httpGet: { path: string; port: string } }; livenessProbe: { httpGet: { path: string; port: string } };
  resources: { limits: { memory: string } }; securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean; capabilities: { drop: string[] } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
};
type PodSpec = { terminationGracePeriodSeconds: number; securityContext: { runAsNonRoot: boolean; runAsUser: number; runAsGroup: number; fsGroup: number }; containers: Container[]; volumes: Array<{ name: string; configMap?: { name: string } }> };
const podSpec = (): PodSpec => ((byKind('Deployment').spec as { template: { spec: PodSpec } }).template.spec);

t.test('kubernetes/: every manifest is valid against the Kubernetes API schemas (and the validator refuses a broken one)', async (t) => {
  const all = manifests();
  t.strictSame(all.map((m) => m.kind).sort(), ['ConfigMap', 'Deployment', 'PersistentVolumeClaim', 'Secret', 'Service']);
  for (const m of all) t.doesNotThrow(() => validate(m), `${m.kind} ${m.metadata.name}`);
  const broken = structuredClone(byKind('Deployment')) as unknown as { spec: { template: { spec: { containers: Array<{ ports: Array<{ containerPort: unknown }> }> } } } };
  broken.spec.template.spec.containers[0]!.ports[0]!.containerPort = 'https';
  t.throws(() => validate(broken as unknown as Manifest), /containerPort must be integer/, 'a wrong type is refused');
  const noSelector = structuredClone(byKind('Deployment')) as unknown as { spec: Record<string, unknown> };
  delete noSelector.spec.selector;
  t.throws(() => validate(noSelector as unknown as Manifest), /selector/, 'a missing required field is refused');
});

t.test('kubernetes/: what must agree with portico does (probes, grace, non-root, read-only root, the Service)', async (t) => {
  const spec = podSpec();
  const c = spec.containers[0]!;
  const config = parseConfig(configMapToml(), { file: 'configmap', baseDir: '/app/config', env: {} });
  const port = (name: string) => c.ports.find((p) => p.name === name)?.containerPort;
  t.equal(port('https'), config.server.https.port);
  t.equal(port('http'), config.server.http!.port);
  t.equal(port('admin'), config.admin.listen!.port);
  t.equal(config.admin.listen!.host, '0.0.0.0', 'the kubelet reaches the admin listener on the pod IP');
  t.strictSame(config.admin.write_from, ['127.0.0.1/32', '::1/128'], 'POSTs stay local');
  t.strictSame(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
  t.strictSame(c.livenessProbe.httpGet, { path: '/healthz', port: 'admin' });
  t.ok(spec.terminationGracePeriodSeconds * 1000 >= config.server.shutdown_delay + config.server.shutdown_grace + 1000,
    `terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} covers shutdown_delay + shutdown_grace (${(config.server.shutdown_delay + config.server.shutdown_grace) / 1000}s) and a second`);
  t.ok(config.server.shutdown_delay >= 1000, 'shutdown_delay keeps serving while the endpoint is removed');
  t.match(spec.securityContext, { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 });
  t.match(c.securityContext, { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
  t.ok(c.resources.limits.memory, 'a memory limit (memory_total = "auto" reads it from the cgroup)');
  t.equal(config.supervisor.memory_total, 'auto');
  t.strictSame(c.args, ['run', '--watch'], 'the ConfigMap is reloaded when it changes');
  t.ok(c.volumeMounts.some((m) => m.name === 'config' && m.mountPath === '/app/config' && m.readOnly), 'the ConfigMap is a directory at /app/config');
  t.ok(c.volumeMounts.some((m) => m.name === 'certs' && m.mountPath === '/app/certs'), 'the ACME state on the volume');
  t.equal(config.storage.dir, '/app/certs/managed');
  t.equal(c.env.find((e) => e.name === 'PORTICO_PUBLIC_HTTPS_PORT')?.value, '443');
  const svc = byKind('Service').spec as { ports: Array<{ port: number; targetPort: string }> };
  t.strictSame(svc.ports.map((p) => [p.port, p.targetPort]), [[443, 'https'], [80, 'http']], 'the Service publishes 443 and 80, redirects name 443');
  t.ok(configMapToml().includes('${ACME_EAB_HMAC}'), 'the ConfigMap shows where the Secret goes');
});

t.test('deploy/config, deploy/systemd, examples/fastapi and the ConfigMap configs pass `portico check`', async (t) => {
  const dir = t.testdir({ 'configmap.toml': configMapToml() });
  for (const path of [join(ROOT, 'deploy/config/config.toml'), join(ROOT, 'deploy/systemd/config.toml'), join(ROOT, 'examples/fastapi/config.toml'), join(dir, 'configmap.toml')]) {
    const r = await runCli(['check', '--config', path]);
    t.equal(r.code, 0, `${path}: ${r.stderr}`);
  }
});

/** kubeletLayout writes a ConfigMap volume the way kubelet does: config.toml → ..data/config.toml, ..data → ..<version>/. */
function kubeletUpdate(dir: string, version: string, text: string, first = false): void {
  mkdirSync(join(dir, version));
  writeFileSync(join(dir, version, 'config.toml'), text);
  chmodSync(join(dir, version), 0o755);
  symlinkSync(version, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  if (first) symlinkSync('..data/config.toml', join(dir, 'config.toml'));
}

t.test('kubernetes/: the pod as the Deployment runs it (user, read-only root, no capabilities), a ConfigMap update reloads, probes, stop within the grace', async (t) => {
  await buildImages();
  const spec = podSpec();
  const c = spec.containers[0]!;
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const b = await startBackend('b');
  t.teardown(() => b.close());
  const toml = (up: Backend) => configMapToml()
    .replace('enabled = true', 'enabled = false')   // no CA here (the ACME path is the image test's)
    .replace('hosts = ["app.example.com"]', 'hosts = ["k8s.test"]')
    .replace('upstreams = ["http://app:8000"]', `upstreams = ["http://10.0.2.2:${up.port}"]`);
  const cm = testDir(t);
  kubeletUpdate(cm, '..2026_12_01_10_00_00.1', toml(a), true);
  const name = uniqueName('pod');
  const certs = uniqueName('pod-certs');
  removeLater(t, [name], [certs]);
  const [https, admin] = [await freePort(), await freePort()];
  const env = c.env.filter((e) => e.value !== undefined).flatMap((e) => ['-e', `${e.name}=${e.value}`]);
  const sc = spec.securityContext;
  const run = await podman([
    'run', '-d', '--name', name, '--network', 'slirp4netns:allow_host_loopback=true',
    '--user', `${sc.runAsUser}:${sc.runAsGroup}`, '--read-only', '--tmpfs', '/tmp', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges',
    '--memory', c.resources.limits.memory.replace('Mi', 'm'), ...env,
    '-v', `${cm}:/app/config:ro`, '-v', `${certs}:/app/certs`,
    '-p', `127.0.0.1:${https}:${c.ports.find((p) => p.name === 'https')!.containerPort}`, '-p', `127.0.0.1:${admin}:${c.ports.find((p) => p.name === 'admin')!.containerPort}`,
    c.image.replace(/:latest$/, ''), ...c.args,
  ]);
  t.equal(run.code, 0, run.stderr);
  await waitLog(name, (l) => l.msg === 'portico ready');
  t.equal((await httpRequest({ port: admin, path: c.readinessProbe.httpGet.path })).status, 200, 'readiness probe');
  t.equal((await httpRequest({ port: admin, path: c.livenessProbe.httpGet.path })).status, 200, 'liveness probe');
  t.equal((await httpRequest({ port: admin, path: '/reload', method: 'POST' })).status, 403, 'POST from outside the pod refused');
  t.equal((await request({ port: https, servername: 'k8s.test' })).headers['x-upstream'], 'a');

  // kubectl apply of a changed ConfigMap: kubelet swaps ..data; --watch reloads
  kubeletUpdate(cm, '..2026_12_01_10_05_00.2', toml(b));
  rmSync(join(cm, '..2026_12_01_10_00_00.1'), { recursive: true });
  await waitLog(name, (l) => l.msg === 'config reloaded', 30_000);
  t.equal((await request({ port: https, servername: 'k8s.test' })).headers['x-upstream'], 'b', 'the updated ConfigMap serves');

  // what memory_total = "auto" reads in the pod: the container's memory limit (cgroup)
  const limit = Number(c.resources.limits.memory.replace('Mi', '')) * 1024 * 1024;
  const status = JSON.parse(await must(`podman exec ${name} node -e "fetch('http://127.0.0.1:9901/status.json').then((r) => r.text()).then(console.log)"`)) as object;
  t.ok(status, 'status.json from inside the pod');
  t.match(await must(`podman exec ${name} sh -c 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes'`), new RegExp(`^${limit}\\s*$`), 'the memory limit is the cgroup\'s');
  const t0 = Date.now();
  const stop = await podman(['stop', '-t', String(spec.terminationGracePeriodSeconds), name], 120_000);
  t.equal(stop.code, 0);
  t.equal(await inspect(name, '{{.State.ExitCode}}'), '0', 'exit 0 after SIGTERM');
  t.ok((Date.now() - t0) / 1000 < spec.terminationGracePeriodSeconds, 'within terminationGracePeriodSeconds');
  const lines = await logs(name);
  t.ok(lines.some((l) => l.msg === 'shutting down' && l.shutdown_delay_ms === 5000), 'kept serving for shutdown_delay first');
});

t.test('README "Compose": podman-compose up, HTTPS to the app on the private network, reload, down', async (t) => {
  await buildImages();
  const cmds = readmeCommands('Compose');
  t.equal(cmds.length, 4);
  const [build, up, reload, down] = cmds;
  const project = uniqueName('compose').replace(/-/g, '');
  const copy = join(testDir(t), 'deploy');
  cpSync(join(ROOT, 'deploy'), copy, { recursive: true });
  const configPath = join(copy, 'config', 'config.toml');
  writeFileSync(configPath, readFileSync(configPath, 'utf8').replace('enabled = true', 'enabled = false').replace('hosts = ["app.example.com"]', 'hosts = ["app.test"]'));
  const [https, http] = [await freePort(), await freePort()];
  const env = { PORTICO_HTTPS_PUBLISH: `127.0.0.1:${https}`, PORTICO_HTTP_PUBLISH: `127.0.0.1:${http}`, PORTICO_PUBLIC_HTTPS_PORT: String(https) };
  const compose = (cmd: string) => cmd.replace('docker compose -f deploy/compose.yaml', `podman-compose -p ${project} -f ${join(copy, 'compose.yaml')}`);
  t.teardown(async () => {
    await sh(`podman ps -a -q --filter label=io.podman.compose.project=${project} | xargs -r podman rm -f -v -t 0`);
    await sh(`podman volume rm -f ${project}_portico-certs; podman network rm -f ${project}_edge ${project}_apps`);
  });
  const step = async (cmd: string) => {
    const line = asPodman(compose(cmd), {});
    const r = await sh(line, { env, timeout: 300_000 });
    t.equal(r.code, 0, `$ ${line}`, { stderr: r.stderr.slice(-3000) });
    return r;
  };
  await step(build!);
  await step(up!);
  const portico = `${project}_portico_1`;
  await waitLog(portico, (l) => l.msg === 'portico ready');
  await waitUntil(async () => (await request({ port: https, servername: 'app.test' }).catch(() => ({ status: 0 }))).status === 200, 30_000, 'the app answers through portico');
  const r = await request({ port: https, servername: 'app.test' });
  t.match(JSON.parse(r.body), { message: 'hello from the demo app behind portico', port: 8000, proto: 'https' }, 'the app container answers through portico');
  const redirect = await httpRequest({ port: http, path: '/x', headers: { host: 'app.test' } });
  t.equal(redirect.headers.location, `https://app.test:${https}/x`);
  t.equal(await inspect(`${project}_apps`, '{{.Internal}}'), 'true', 'the app network is private');
  t.equal((await podman(['port', `${project}_app_1`])).stdout.trim(), '', 'the app publishes no port');
  t.match((await step(reload!)).stdout, /reloaded/);
  // `down` keeps anonymous volumes (the app's /app/certs, a VOLUME of the image it runs): removed at teardown
  const anonymous = (await sh(`podman ps -a -q --filter label=io.podman.compose.project=${project} | xargs -r podman inspect --format '{{range .Mounts}}{{.Name}} {{end}}'`)).stdout.split(/\s+/).filter((v) => /^[0-9a-f]{64}$/.test(v));
  t.teardown(() => sh(`podman volume rm -f ${anonymous.join(' ')}`));
  await step(down!);
  t.equal((await podman(['container', 'exists', portico])).code, 1, 'down removed the containers');
});

t.test('README "systemd": npm pack + global install, check, systemd-analyze verify; the unit\'s command as a non-root user with CAP_NET_BIND_SERVICE', async (t) => {
  const cmds = readmeCommands('systemd');
  t.equal(cmds.length, 4);
  // a copy of the working tree (what a clone has), so npm ci does not touch the suite's node_modules
  // under /tmp, readable by the unprivileged user below (a clone may sit in a directory it cannot enter)
  const base = mkdtempSync(join(tmpdir(), 'portico-systemd-'));
  chmodSync(base, 0o755);
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const src = join(base, 'portico');
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT }).toString().split('\0').filter(Boolean);
  for (const f of files) {
    mkdirSync(dirname(join(src, f)), { recursive: true });
    cpSync(join(ROOT, f), join(src, f), { dereference: false });
  }
  const prefix = join(base, 'prefix');
  const env = { PATH: `${prefix}/bin:${process.env.PATH}` };
  for (const cmd of cmds) {
    const line = cmd.replace(/--prefix \/usr\/local\b/, `--prefix ${prefix}`);
    if (line.startsWith('systemd-analyze verify')) {
      // the unit names /usr/local/bin/portico: verify the same unit against where this test installed it
      writeFileSync(join(src, 'deploy/systemd/portico.service'), readFileSync(join(ROOT, 'deploy/systemd/portico.service'), 'utf8').replaceAll('/usr/local/', `${prefix}/`));
    }
    const r = await sh(line, { cwd: src, env, timeout: 600_000 });
    t.equal(r.code, 0, `$ ${line}`, { stdout: r.stdout.slice(-2000), stderr: r.stderr.slice(-3000) });
    if (line.startsWith('systemd-analyze')) t.equal(r.stderr.trim(), '', 'no warning from systemd-analyze verify');
  }
  const bin = join(prefix, 'bin', 'portico');
  t.match(execFileSync(bin, ['--version']).toString(), /^portico \d+\.\d+\.\d+ /, 'the installed command runs');

  // the unit's ExecStart as an unprivileged user holding only CAP_NET_BIND_SERVICE (what AmbientCapabilities grants)
  const unit = readFileSync(join(ROOT, 'deploy/systemd/portico.service'), 'utf8');
  t.match(unit, /^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
  t.match(unit, /^User=portico$/m);
  t.match(unit, /^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
  t.match(unit, /^Restart=on-failure$/m);
  const app = await startBackend('app');
  t.teardown(() => app.close());
  const state = join(base, 'state');
  mkdirSync(state, { mode: 0o700 });
  chownSync(state, 65534, 65534);
  const conf = join(state, '..', 'config.toml');
  writeFileSync(conf, readFileSync(join(ROOT, 'deploy/systemd/config.toml'), 'utf8')
    .replace('https = "0.0.0.0:443"', 'https = "127.0.0.1:443"').replace('http = "0.0.0.0:80"', 'http = "127.0.0.1:80"')
    .replace('dir = "/var/lib/portico"', `dir = ${JSON.stringify(state)}`).replace('enabled = true', 'enabled = false')
    .replace('listen = "127.0.0.1:9901"', `listen = "127.0.0.1:${await freePort()}"`)
    .replace('hosts = ["app.example.com"]', 'hosts = ["systemd.test"]').replace('http://127.0.0.1:8000', app.origin));
  chmodSync(join(state, '..'), 0o755);
  chmodSync(conf, 0o644);
  const execStart = /^ExecStart=(.*)$/m.exec(unit)![1]!.replace('/usr/local/', `${prefix}/`).replace('/etc/portico/config.toml', conf).split(' ');
  const setpriv = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+net_bind_service', '--ambient-caps=-all,+net_bind_service', '--bounding-set=-all,+net_bind_service', '--no-new-privs'];

  const denied = await sh(`setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all ${execStart.join(' ')}`, { timeout: 30_000 });
  t.not(denied.code, 0, 'without the capability, port 443 is refused');
  t.match(denied.stdout + denied.stderr, /EACCES|permission denied/i);

  const child = spawn('setpriv', [...setpriv, ...execStart], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  await waitUntil(() => out.includes('"portico ready"') || child.exitCode !== null, 20_000, 'portico ready');
  t.match(out, /"portico ready"/, out.slice(-2000));
  const r = await request({ port: 443, servername: 'systemd.test' });
  t.equal(r.headers['x-upstream'], 'app', 'serves on port 443');
  t.equal((await httpRequest({ port: 80, path: '/y', headers: { host: 'systemd.test' } })).headers.location, 'https://systemd.test/y', 'and redirects from port 80');
  const uid = readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m)![1];
  t.equal(uid, '65534', 'as an unprivileged user');
  child.kill('SIGHUP'); // ExecReload
  await waitUntil(() => out.includes('"config reloaded"'), 10_000, 'reload');
  child.kill('SIGTERM'); // systemctl stop (KillMode=mixed: the main process first)
  t.equal(await exited, 0, 'SIGTERM: exit 0');
});
