/**
 * examples/fastapi, built FROM portico's image and run (issue 24): portico runs the migration once
 * (pre_start), supervises three uvicorn workers (Debian's FastAPI and uvicorn) whose `--port ${PORT}` is
 * each worker's own, balances round-robin across them, and a rolling `portico restart-app` under load
 * fails no request; uvicorn's INFO lines on stderr are logged at info; a re-created container on the same
 * volumes does not migrate again.
 */
import t from 'tap';
import { failures, freePort, request, runLoad, waitUntil } from '../../test-support/index.js';
import { FASTAPI_IMAGE, buildImages, inspect, logs, podman, removeLater, uniqueName, waitLog } from '../../test-support/container.js';

t.setTimeout(15 * 60_000);
const built = await buildImages();
t.comment(`image builds: stand-in base ${built.base} ms, portico ${built.portico} ms, fastapi example ${built.fastapi} ms`);

interface Hello { worker: string; pid: number; path: string; migrations: number }
const hello = async (port: number, path = '/'): Promise<Hello> => JSON.parse((await request({ port, servername: 'localhost', path })).body) as Hello;

t.test('round-robin over 3 uvicorn workers, migration once, rolling restart-app under load with 0 failed requests', async (t) => {
  const name = uniqueName('api');
  const certs = uniqueName('api-certs');
  const data = uniqueName('api-data');
  const port = await freePort();
  removeLater(t, [name], [certs, data]);
  const start = () => podman(['run', '-d', '--name', name, '-p', `127.0.0.1:${port}:8443`, '-v', `${certs}:/app/certs`, '-v', `${data}:/srv/data`, FASTAPI_IMAGE]);
  t.equal((await start()).code, 0, 'started');
  await waitLog(name, (l) => l.msg === 'portico ready');

  // ready once a worker serves; then all three join the pool
  t.equal((await request({ port, servername: 'localhost' })).status, 200, 'the first request after "portico ready" is served');
  await waitUntil(async () => new Set((await logs(name)).filter((l) => l.component === 'health' && l.to === 'up').map((l) => l.upstream)).size === 3, 30_000, '3 workers up');
  const seen: Hello[] = [];
  for (let i = 0; i < 9; i++) seen.push(await hello(port, `/n/${i}`));
  t.strictSame(seen.map((h) => h.worker).sort(), ['0', '0', '0', '1', '1', '1', '2', '2', '2'], 'each worker answered 3 of 9');
  t.ok(seen.every((h, i) => i === 0 || h.worker !== seen[i - 1]!.worker), `round-robin: ${seen.map((h) => h.worker).join(' ')}`);
  t.ok(seen.every((h) => h.migrations === 1), 'the migration ran once');
  const before = new Set(seen.map((h) => h.pid));

  // uvicorn writes INFO lines to stderr: logged at info, with the worker and stream
  const lines = await logs(name);
  t.match(lines.find((l) => String(l.msg).startsWith('INFO:     Uvicorn running on http://127.0.0.1:')), { level: 'info', stream: 'stderr', app: 'api', worker: Number });
  t.notOk(lines.some((l) => l.app === 'api' && l.level === 'warn'), 'no app line at warn');

  // a rolling restart under load: no request fails
  let restarted = false;
  const load = runLoad({ port, servername: 'localhost', total: 20_000, concurrency: 8, until: () => restarted });
  await new Promise((r) => setTimeout(r, 500));
  const restart = await podman(['exec', name, 'portico', 'restart-app', 'api'], 180_000);
  restarted = true;
  const outcomes = await load;
  t.equal(restart.code, 0, `portico restart-app api: ${restart.stdout}${restart.stderr}`);
  t.ok(outcomes.length > 100, `load ran throughout (${outcomes.length} requests)`);
  t.strictSame(failures(outcomes).slice(0, 5), [], '0 failed requests');
  const after: Hello[] = [];
  for (let i = 0; i < 6; i++) after.push(await hello(port));
  t.ok(after.every((h) => !before.has(h.pid)), 'every worker replaced');
  t.ok(after.every((h) => h.migrations === 1), 'a restart does not migrate again');

  // graceful stop, then a new container on the same volumes: no second migration
  t.equal((await podman(['stop', '-t', '30', name], 60_000)).code, 0);
  t.equal(await inspect(name, '{{.State.ExitCode}}'), '0', 'exit 0');
  await podman(['rm', name]);
  t.equal((await start()).code, 0, 're-created');
  await waitLog(name, (l) => l.msg === 'portico ready');
  t.equal((await hello(port)).migrations, 1, 'the re-created container did not migrate again');
});
