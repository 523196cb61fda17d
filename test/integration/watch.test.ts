/**
 * `portico run --watch` (DESIGN §3, issue 24) with a real process and real file operations: an editor's
 * save by rename (a new inode: the case a watch on the file, or one bind-mounted file, misses), an
 * in-place write, and a Kubernetes ConfigMap update (the `..data` symlink swap kubelet does) each reload
 * the running process once, through the same transactional reload as SIGHUP: an invalid file keeps the
 * running config, and rewriting the same content reloads nothing.
 */
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { proxyConfig, request, spawnPortico, startBackend, waitUntil, type Backend, type Spawned } from '../../test-support/index.js';
import { testDir } from '../../test-support/wait.js';

const OK = 'config reloaded';
const FAILED = 'config reload failed; keeping the running config';
const count = (s: Spawned, msg: string): number => s.logs.filter((l) => l.msg === msg).length;

/** config routes app.test to one backend (and, with `broken`, adds an invalid key). */
const config = (b: Backend, broken = false): string =>
  proxyConfig([{ name: 'app', hosts: ['app.test'], upstreams: [b.origin], tls: 'self-signed' }]) + (broken ? '\n[nonsense]\n' : '');

async function backends(t: Test): Promise<[Backend, Backend]> {
  const a = await startBackend('a');
  t.teardown(() => a.close());
  const b = await startBackend('b');
  t.teardown(() => b.close());
  return [a, b];
}

/** watched runs `portico run --watch --config PATH` and waits until it is ready. */
async function watched(t: Test, path: string): Promise<Spawned> {
  const s = spawnPortico(['run', '--watch', '--config', path]);
  t.teardown(() => {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  });
  await s.waitFor((l) => l.msg === 'portico ready');
  await s.waitFor((l) => l.msg === 'watching the config file');
  return s;
}

/** served asks the running portico which backend answers app.test. */
async function served(s: Spawned): Promise<string> {
  const r = await request({ port: s.portOf('https'), servername: 'app.test' });
  return String(r.headers['x-upstream']);
}

/** change applies `edit` and waits for one more reload line with message `msg`. */
async function change(s: Spawned, msg: string, edit: () => void): Promise<void> {
  const before = count(s, msg);
  edit();
  await waitUntil(() => count(s, msg) > before, 10_000, msg);
}

t.test('editor saves (rename over the file, then in place) reload; an invalid save keeps serving; the same content reloads nothing', async (t) => {
  const [a, b] = await backends(t);
  const dir = testDir(t);
  const path = join(dir, 'config.toml');
  writeFileSync(path, config(a));
  const s = await watched(t, path);
  t.equal(await served(s), 'a');

  // vim/VS Code style: write a new file, rename it over the old one
  await change(s, OK, () => {
    writeFileSync(join(dir, '.config.toml.swp'), config(b));
    renameSync(join(dir, '.config.toml.swp'), path);
  });
  t.equal(await served(s), 'b', 'renamed-in file applied');

  // an invalid file: refused, every problem logged, the running config keeps serving
  await change(s, FAILED, () => writeFileSync(path, config(a, true)));
  t.match(s.logs.filter((l) => l.msg === FAILED).at(-1), { problems: [/nonsense: unknown key/] });
  t.equal(await served(s), 'b', 'still the last good config');

  // in place (truncate + write), fixed
  await change(s, OK, () => writeFileSync(path, config(a)));
  t.equal(await served(s), 'a');

  // the same content again, then a real change: exactly one more reload
  const reloads = count(s, OK);
  writeFileSync(path, config(a));
  await change(s, OK, () => writeFileSync(path, config(b)));
  t.equal(count(s, OK), reloads + 1, 'rewriting identical content did not reload');
  t.equal(await served(s), 'b');

  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0, 'stops cleanly while watching');
});

t.test('a Kubernetes ConfigMap update (..data symlink swap) reloads', async (t) => {
  const [a, b] = await backends(t);
  // the layout kubelet makes: config.toml -> ..data/config.toml, ..data -> ..<timestamp>/
  const dir = testDir(t);
  const version = (name: string, text: string) => {
    mkdirSync(join(dir, name));
    writeFileSync(join(dir, name, 'config.toml'), text);
  };
  version('..2026_12_01_10_00_00.1', config(a));
  symlinkSync('..2026_12_01_10_00_00.1', join(dir, '..data'));
  symlinkSync('..data/config.toml', join(dir, 'config.toml'));
  const s = await watched(t, join(dir, 'config.toml'));
  t.equal(await served(s), 'a');

  // kubelet's atomic update: write the new version, point ..data_tmp at it, rename over ..data, drop the old one
  await change(s, OK, () => {
    version('..2026_12_01_10_05_00.2', config(b));
    symlinkSync('..2026_12_01_10_05_00.2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_12_01_10_00_00.1'), { recursive: true });
  });
  t.equal(await served(s), 'b', 'the new ConfigMap version serves');

  // and the next update too (the watch follows the new version's directory)
  await change(s, OK, () => {
    version('..2026_12_01_10_10_00.3', config(a));
    symlinkSync('..2026_12_01_10_10_00.3', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_12_01_10_05_00.2'), { recursive: true });
  });
  t.equal(await served(s), 'a');
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0);
});

t.test('--watch goes with run only', async (t) => {
  const s = spawnPortico(['check', '--watch']);
  t.equal(await s.exited, 2);
  t.match(s.stderr, /--watch goes with run/);
});
