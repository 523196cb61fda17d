/**
 * portico's container image, built and run with a real container runtime (podman from Debian; issue 24),
 * driven by the README's own commands (docker → podman, published on free loopback ports):
 *
 * - "Container": HTTPS from the embedded config, the redirect naming the published port (443 by default in
 *   the image), `portico health` and the image's HEALTHCHECK, non-root with tini as PID 1, SIGHUP reload,
 *   `docker stop` drains and exits 0 within the grace;
 * - "Production": a mounted config DIRECTORY edited like the README says, ACME against pebble on the host
 *   (reached from inside the container), an editor's rename-save reloaded by `run --watch` on a read-only
 *   root file system, and a re-created container on the same volume serving the stored certificate
 *   without ordering again.
 */
import { mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { freePort, request, startBackend, startPebble, waitUntil, ROOT, type Backend } from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import {
  asPodman, buildImages, inspect, logs, must, podman, readmeCommands, removeLater, sh, uniqueName, waitLog, type Substitutions,
} from '../../test-support/container.js';
import { testDir } from '../../test-support/wait.js';

// image builds take minutes on a fresh machine (the stand-in base, npm ci in the build)
t.setTimeout(15 * 60_000);
const built = await buildImages();
t.comment(`image builds: stand-in base ${built.base} ms, portico ${built.portico} ms, fastapi example ${built.fastapi} ms`);

/** run runs one README command (as podman, with the substitutions) in `cwd`; fails the test on a non-zero exit. */
async function run(t: Test, cmd: string, subs: Substitutions, cwd = ROOT): Promise<string> {
  const line = asPodman(cmd, subs);
  const r = await sh(line, { cwd, timeout: 300_000 });
  t.equal(r.code, 0, `$ ${line}`, { stdout: r.stdout.slice(-2000), stderr: r.stderr.slice(-2000) });
  return r.stdout;
}

/** processes lists a container's processes as `comm uid` lines (no ps in the slim image: /proc). */
async function processes(name: string): Promise<Array<{ pid: number; comm: string; uid: number }>> {
  const out = await must(`podman exec ${name} sh -c 'for d in /proc/[0-9]*; do echo "\${d#/proc/} $(cat $d/comm) $(awk "/^Uid:/{print \\$2}" $d/status)"; done 2>/dev/null'`);
  return out.trim().split('\n').map((l) => l.split(' ')).filter((p) => p.length === 3).map(([pid, comm, uid]) => ({ pid: Number(pid), comm: comm!, uid: Number(uid) }));
}

t.test('README "Container": HTTPS, redirect to the published port, health, non-root, HUP, graceful stop', async (t) => {
  const cmds = readmeCommands('Container');
  t.ok(cmds.length >= 7, `the README's container commands: ${cmds.length}`);
  const subs: Substitutions = { container: uniqueName('portico'), https: await freePort(), http: await freePort(), volume: uniqueName('portico-certs') };
  removeLater(t, [subs.container!], [subs.volume!]);
  const [build, start, curlHttps, curlRedirect, health, hup, stop] = cmds;
  t.match(build, /^docker build -t portico \.$/);
  await run(t, build!, subs);
  await run(t, start!, subs);
  await waitLog(subs.container!, (l) => l.msg === 'portico ready');

  t.match(await run(t, curlHttps!, subs), /hello from the demo app behind portico/, 'HTTPS answered by the demo app');
  const redirect = await run(t, curlRedirect!, subs);
  t.match(redirect, /^HTTP\/1\.1 308/m);
  t.match(redirect, /^location: https:\/\/localhost\/any\?q=1\r?$/m, 'the redirect names port 443 (the published one), not 8443');

  t.match(await run(t, health!, subs), /healthy/);
  const hc = await podman(['healthcheck', 'run', subs.container!]);
  t.equal(hc.code, 0, `the image's HEALTHCHECK passes: ${hc.stdout}${hc.stderr}`);

  t.equal(await inspect(subs.container!, '{{.Config.User}}'), 'node');
  const procs = await processes(subs.container!);
  t.equal(procs.find((p) => p.pid === 1)?.comm, 'tini', 'tini is PID 1');
  t.ok(procs.length >= 3 && procs.every((p) => p.uid === 1000), `every process runs as uid 1000: ${JSON.stringify(procs)}`);

  await run(t, hup!, subs);
  await waitLog(subs.container!, (l) => l.msg === 'config reloaded');

  t.match(stop, /^docker stop -t 35 portico$/);
  const t0 = Date.now();
  await run(t, stop!, subs);
  const seconds = (Date.now() - t0) / 1000;
  t.equal(await inspect(subs.container!, '{{.State.ExitCode}}'), '0', 'exit code 0');
  t.ok(seconds < 35, `stopped within the stop timeout by itself (${seconds.toFixed(1)} s), not killed`);
  t.ok((await logs(subs.container!)).some((l) => l.msg === 'stopped'), 'drained and said so');
});

/** editConfig rewrites the copied deploy/config/config.toml the way the README tells a user to. */
function editConfig(path: string, o: { host: string; upstream: Backend; directory: string }): void {
  let text = readFileSync(path, 'utf8');
  const edits: Array<[RegExp, string]> = [
    [/^hosts = \["app\.example\.com"\]/m, `hosts = ["${o.host}"]`],
    [/^email = "ops@example\.com"/m, `email = "ops@${o.host}"`],
    [/^directory = "https:\/\/acme-staging-v02\.api\.letsencrypt\.org\/directory"/m, `directory = "${o.directory}"\nca_bundle = "/pebble/ca.pem"`],
    [/^upstreams = \["http:\/\/app:8000"\]/m, `upstreams = ["http://10.0.2.2:${o.upstream.port}"]`],
  ];
  for (const [re, to] of edits) {
    if (!re.test(text)) throw new Error(`deploy/config/config.toml has no line ${re}`);
    text = text.replace(re, to);
  }
  writeFileSync(path, text);
}

t.test('README "Production": config directory, ACME from inside the container, --watch on a read-only root, a re-created container reuses the certificate', async (t) => {
  const cmds = readmeCommands('Production');
  const [build, copy, start, check, logsCmd, stop, rm, startAgain] = cmds;
  t.equal(cmds.length, 8, 'the README\'s production commands');
  t.equal(startAgain, start, 're-created with the same command');
  const https = await freePort();
  const http = await freePort();
  // pebble validates http-01 on 127.0.0.1:http and tls-alpn-01 on 127.0.0.1:https: the published ports.
  // The container reaches the host's loopback as 10.0.2.2 (slirp4netns), pebble included.
  const pebble = await startPebble({ httpPort: http, tlsPort: https, tlsNames: ['10.0.2.2'] });
  t.teardown(() => pebble.stop());
  const app = await startBackend('app');
  t.teardown(() => app.close());
  const app2 = await startBackend('app2');
  t.teardown(() => app2.close());
  const subs: Substitutions = {
    container: uniqueName('portico'), https, http, volume: uniqueName('portico-certs'),
    runOptions: `--network slirp4netns:allow_host_loopback=true --read-only -v ${pebble.tlsCaFile}:/pebble/ca.pem:ro -e PORTICO_PUBLIC_HTTPS_PORT=${https}`,
  };
  removeLater(t, [subs.container!], [subs.volume!]);
  const cwd = testDir(t);
  symlinkSync(join(ROOT, 'deploy'), join(cwd, 'deploy'));

  await run(t, build!, subs);
  await run(t, copy!, subs, cwd);
  const configPath = join(cwd, 'portico', 'config.toml');
  editConfig(configPath, { host: 'acme.test', upstream: app, directory: `https://10.0.2.2:${pebble.acmePort}/dir` });
  await run(t, start!, subs, cwd);
  await waitLog(subs.container!, (l) => l.msg === 'portico ready');
  t.match(await run(t, check!, subs, cwd), /acme\.test +acme \(https:\/\/10\.0\.2\.2:\d+\/dir\)/, '`portico check` inside the container shows the plan');

  const obtained = await waitLog(subs.container!, (l) => l.msg === 'certificate obtained' && l.host === 'acme.test', 90_000);
  t.match(await run(t, logsCmd!, subs, cwd), /certificate obtained/);
  const root = await pebble.root();
  const first = await request({ port: https, servername: 'acme.test', ca: root });
  t.equal(first.status, 200, 'HTTPS with the CA-issued certificate, verified against pebble\'s root');
  t.equal(first.headers['x-upstream'], 'app');

  const redirect = await httpRequest({ port: http, path: '/x?y=1', headers: { host: 'acme.test' } });
  t.equal(redirect.status, 308);
  t.equal(redirect.headers.location, `https://acme.test:${https}/x?y=1`, 'PORTICO_PUBLIC_HTTPS_PORT names the published port');

  // an editor's save: a new file renamed over the old one, in the mounted directory → --watch reloads
  const reloads = (await logs(subs.container!)).filter((l) => l.msg === 'config reloaded').length;
  const text = readFileSync(configPath, 'utf8').replace(`http://10.0.2.2:${app.port}`, `http://10.0.2.2:${app2.port}`);
  mkdirSync(join(cwd, 'tmp'), { recursive: true });
  writeFileSync(join(cwd, 'portico', '.config.toml.new'), text);
  renameSync(join(cwd, 'portico', '.config.toml.new'), configPath);
  await waitUntil(async () => (await logs(subs.container!)).filter((l) => l.msg === 'config reloaded').length > reloads, 30_000, 'the reload after the save');
  t.equal((await request({ port: https, servername: 'acme.test', ca: root })).headers['x-upstream'], 'app2', 'the saved config serves');
  t.equal((await podman(['healthcheck', 'run', subs.container!])).code, 0, 'healthy');

  // re-create: stop (drains: exit 0), remove, run again on the same volume
  const t0 = Date.now();
  await run(t, stop!, subs, cwd);
  t.equal(await inspect(subs.container!, '{{.State.ExitCode}}'), '0', 'stopped with exit 0');
  t.ok((Date.now() - t0) / 1000 < 35, 'within the stop timeout (shutdown_delay + shutdown_grace)');
  await run(t, rm!, subs, cwd);
  await run(t, startAgain!, subs, cwd);
  await waitLog(subs.container!, (l) => l.msg === 'portico ready');
  const stored = await waitLog(subs.container!, (l) => l.msg === 'using stored certificate' && l.host === 'acme.test');
  t.equal(stored.serial, obtained.serial, 'the stored certificate, not a new one');
  t.notOk((await logs(subs.container!)).some((l) => l.msg === 'ordering certificate'), 'nothing ordered again');
  const again = await request({ port: https, servername: 'acme.test', ca: root });
  t.equal(again.status, 200, 'served with the stored certificate (verified)');
});
