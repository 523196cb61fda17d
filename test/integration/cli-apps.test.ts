/**
 * `portico check` with [[apps]] (issue 15): the memory budget refuses a plan that does not fit,
 * naming the numbers (the seed's 4 workers × 1GiB in memory_total = "3GiB"), prints the detected
 * figure for memory_total = "auto", and shows each app and the routes that balance to it. Nothing
 * is started: check only plans, so the app ports are never bound.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runCli } from '../../test-support/http.js';
import { detectMemory, formatBytes } from '../../src/supervisor/memory.js';
import { testDir } from '../../test-support/wait.js';

/** A config with listeners on free ports, the given [supervisor] and one app "web" behind one route. */
function appConfig(supervisor: string, app: string): string {
  return [
    '[server]', 'https = "127.0.0.1:0"', 'http = ""',
    '[admin]', 'listen = ""',
    '[supervisor]', supervisor,
    '[[apps]]', 'name = "web"', 'command = ["node", "app.js"]', 'port = 3101', app,
    '[[routes]]', 'name = "site"', 'hosts = ["app.test"]', 'app = "web"', 'tls = "self-signed"',
    '',
  ].join('\n');
}

async function check(t: Test, toml: string): ReturnType<typeof runCli> {
  const path = join(testDir(t), 'config.toml');
  await writeFile(path, toml);
  return runCli(['check', '--config', path]);
}

t.test('4 workers × 1GiB with memory_total = "3GiB" is refused, naming what they need and the budget', async (t) => {
  const r = await check(t, appConfig('memory_total = "3GiB"', 'workers = 4\nmemory = "1GiB"'));
  t.equal(r.code, 1, r.stdout);
  t.match(r.stderr, /1 problem/);
  t.match(r.stderr, /^\s+- apps: app "web" needs 4 workers × 1GiB = 4GiB, but the budget is memory_total 3GiB − memory_reserve 256MiB = 2\.75GiB/m);
  t.equal(r.stdout, '', 'no plan for an invalid config');
});

t.test('issue 28: the budget problem is listed with the schema problems, so the file is fixed once', async (t) => {
  const r = await check(t, appConfig('memory_total = "3GiB"', 'workers = 4\nmemory = "1GiB"').replace('[[routes]]', '[log]\nlevel = "loud"\n\n[[routes]]'));
  t.equal(r.code, 1, r.stdout);
  t.match(r.stderr, /2 problems/);
  t.match(r.stderr, /^\s+- log\.level: /m, 'the schema problem');
  t.match(r.stderr, /^\s+- apps: app "web" needs 4 workers × 1GiB = 4GiB/m, 'and the budget problem, at once');
  // an invalid app value: its default would make the budget wrong, so only the schema problem is listed
  const own = await check(t, appConfig('memory_total = "3GiB"', 'workers = 4\nmemory = "lots"'));
  t.match(own.stderr, /1 problem/);
  t.match(own.stderr, /apps\[0\]\.memory/);
});

t.test('memory_total = "auto" prints the detected figure, and a small app passes', async (t) => {
  const d = detectMemory();
  const r = await check(t, appConfig('memory_total = "auto"\nmemory_reserve = "1MiB"', 'workers = 2\nmemory = "1MiB"'));
  t.equal(r.code, 0, r.stderr);
  const line = `memory: 2 workers × 1MiB = 2MiB of budget ${formatBytes(d.bytes - 1024 ** 2)} (memory_total auto: detected ${formatBytes(d.bytes)} from ${d.source}, minus reserve 1MiB)`;
  t.ok(r.stdout.includes(line), `prints: ${line}`, { stdout: r.stdout });
  t.match(r.stdout, /^apps \(1\):\n\s+web\n\s+command\s+node app\.js\b.*\n\s+workers\s+2 workers × 1MiB on 127\.0\.0\.1 ports 3101\.\.3104\n\s+pre_start\s+none\n/m);
});

t.test('memory_total = "auto": an app as large as the detected memory is refused, naming the detected figure', async (t) => {
  const d = detectMemory();
  const r = await check(t, appConfig('', `memory = ${d.bytes}`));
  t.equal(r.code, 1, r.stdout);
  t.ok(r.stderr.includes(`memory_total ${formatBytes(d.bytes)} (auto: detected from ${d.source}) − memory_reserve 256MiB`), r.stderr);
});

t.test('a route with app prints the app and its workers\' ports instead of upstream URLs', async (t) => {
  const r = await check(t, appConfig('memory_total = "1GiB"', 'workers = 3\nmemory = "64MiB"\npre_start = ["node", "migrate.js"]'));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^\s+site\n\s+hosts\s+app\.test\n(?:.*\n)*?\s+upstreams\s+app "web" \(3 workers on ports 3101\.\.3106; round-robin, 2 retries\)$/m);
  t.match(r.stdout, /^\s+pre_start\s+node migrate\.js\s+\(once per definition, timeout 5m; not run yet for this definition: runs before the first worker\)$/m);
  t.match(r.stdout, /memory: 3 workers × 64MiB = 192MiB of budget 768MiB \(memory_total 1GiB, minus reserve 256MiB\)/);
});

t.test('a config without apps prints no apps section and needs no budget', async (t) => {
  const r = await check(t, '[server]\nhttps = "127.0.0.1:0"\nhttp = ""\n[admin]\nlisten = ""\n[supervisor]\nmemory_total = "1MiB"\n');
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stdout, /^apps/m);
});
