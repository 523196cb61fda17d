/** parseConfig / loadConfig behaviour that golden fixtures cannot show: files, freezing, env, errors. */

import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, loadConfig, parseConfig } from '../../../src/config/index.js';
import { ConfigInvalidError, ConfigUnreadableError } from '../../../src/errors.js';
import { testDir } from '../../../test-support/wait.js';

const ROUTE = '[[routes]]\nhosts = ["a.example.com"]\nupstreams = ["http://127.0.0.1:3001"]\n';
const INLINE = { file: '<inline>', baseDir: '/srv/portico', env: {} };

/** The problems parseConfig reports for text (fails the test if it does not throw ConfigInvalidError). */
function problemsOf(text: string): ConfigInvalidError['problems'] {
  try {
    parseConfig(text, INLINE);
  } catch (err) {
    if (err instanceof ConfigInvalidError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigInvalidError');
}

t.test('loadConfig: an unreadable file is ConfigUnreadableError', async (t) => {
  const dir = t.testdir({ sub: {} });
  for (const file of [join(dir, 'missing.toml'), join(dir, 'sub')]) {
    await t.rejects(loadConfig(file), { name: 'ConfigUnreadableError', code: 'PORTICO_ERR_CONFIG_UNREADABLE' }, file);
  }
  const err = await loadConfig(join(dir, 'missing.toml')).catch((e: unknown) => e);
  t.ok(err instanceof ConfigUnreadableError);
  t.match((err as Error).message, /missing\.toml/);
});

t.test('loadConfig: source is absolute, relative paths resolve against the file directory', async (t) => {
  const dir = t.testdir({ conf: { 'portico.toml': '[tls]\ndir = "../certs"\n[storage]\ndir = "state/./x/.."\n' } });
  const rel = relative(process.cwd(), join(dir, 'conf', 'portico.toml'));
  const config = await loadConfig(rel);
  t.equal(config.source, join(dir, 'conf', 'portico.toml'));
  t.equal(config.tls.dir, join(dir, 'certs'));
  t.equal(config.storage.dir, join(dir, 'conf', 'state'));
});

t.test('loadConfig: an invalid file names its absolute path', async (t) => {
  const dir = t.testdir({ 'bad.toml': 'nope = 1\n' });
  const err = await loadConfig(join(dir, 'bad.toml')).catch((e: unknown) => e);
  t.ok(err instanceof ConfigInvalidError);
  t.equal((err as ConfigInvalidError).file, join(dir, 'bad.toml'));
  t.match((err as Error).message, `invalid config ${join(dir, 'bad.toml')} (1 problem)`);
});

t.test('the result is deep-frozen plain data that survives JSON', async (t) => {
  const config = parseConfig(`${ROUTE}[[tls.certificates]]\ncert = "a.crt"\nkey = "a.key"\n`, INLINE);
  const objects = [config, config.server, config.server.https, config.server.timeouts, config.server.trusted_proxies,
    config.tls.certificates, config.tls.certificates[0], config.admin.write_from, config.routes, config.routes[0],
    config.routes[0]!.hosts, config.routes[0]!.upstreams];
  for (const o of objects) t.ok(Object.isFrozen(o), 'frozen');
  t.throws(() => { (config.routes as unknown as unknown[]).push(1); });
  t.strictSame(JSON.parse(JSON.stringify(config)), config);
  t.equal(config.source, '<inline>');
  t.equal(config.tls.certificates[0]!.cert, '/srv/portico/a.crt');
});

t.test('DEFAULTS is frozen', async (t) => {
  t.ok(Object.isFrozen(DEFAULTS) && Object.isFrozen(DEFAULTS.server.timeouts) && Object.isFrozen(DEFAULTS.admin.write_from));
});

t.test('parseConfig reads process.env when no env is given', async (t) => {
  const name = `PORTICO_TEST_LOAD_${process.pid}`;
  process.env[name] = 'b.example.com';
  t.teardown(() => { delete process.env[name]; });
  const config = parseConfig(`[[routes]]\nhosts = ["\${${name}}"]\nupstreams = ["http://127.0.0.1:1"]\n`, { file: '<inline>', baseDir: '/' });
  t.strictSame(config.routes[0]!.hosts, ['b.example.com']);
});

t.test('a TOML syntax error is one problem with line and column', async (t) => {
  const problems = problemsOf('[server]\nhttps = "0.0.0.0:1"\nhttps = "0.0.0.0:2"\n');
  t.equal(problems.length, 1);
  t.match(problems[0], { path: '', line: 3, column: Number, message: /Invalid TOML document/ });
  t.notMatch(problems[0]!.message, /\n/, 'one line (the code excerpt is dropped)');
});

t.test('every validation problem has a key path and no position', async (t) => {
  const problems = problemsOf('[server]\nhttps = 1\nhttp = 2\n[log]\nlevel = 3\n');
  t.strictSame(problems.map((p) => p.path), ['server.https', 'server.http', 'log.level']);
  t.ok(problems.every((p) => p.line === undefined && p.column === undefined));
});

t.test('a byte-order mark is ignored', async (t) => {
  t.equal(parseConfig(`\uFEFF${ROUTE}`, INLINE).routes.length, 1);
});

t.test('prototype-looking keys are unknown keys, never prototypes', async (t) => {
  const problems = problemsOf('__proto__ = 1\nconstructor = 2\n[server]\ntoString = "x"\n');
  t.strictSame(problems.map((p) => `${p.path}: ${p.message}`), [
    '__proto__: unknown key', 'constructor: unknown key', 'server.toString: unknown key',
  ]);
});

t.test('a bad value falls back to its default, so it causes no second problem', async (t) => {
  // https is bad, so public_https_port and the listener clash check see the default 8443, not garbage.
  t.strictSame(problemsOf('[server]\nhttps = "x"\n').map((p) => p.path), ['server.https']);
  // The server body limit is bad, so the route inherits the default and is not reported.
  t.strictSame(problemsOf(`[server.limits]\nmax_body_bytes = "x"\n${ROUTE}`).map((p) => p.path), ['server.limits.max_body_bytes']);
});

t.test('route defaults follow server.limits.max_body_bytes and name = first host + path_prefix', async (t) => {
  const config = parseConfig(`[server.limits]\nmax_body_bytes = "1MiB"\n${ROUTE}path_prefix = "/api"\n`, INLINE);
  t.equal(config.routes[0]!.max_body_bytes, 1_048_576);
  t.equal(config.routes[0]!.name, 'a.example.com/api');
});

t.test('paths in [[tls.certificates]] may be absolute or relative', async (t) => {
  const dir = testDir(t);
  mkdirSync(join(dir, 'etc'));
  writeFileSync(join(dir, 'etc', 'p.toml'), '[[tls.certificates]]\ncert = "/abs/x.crt"\nkey = "k/x.key"\n');
  const config = await loadConfig(join(dir, 'etc', 'p.toml'));
  t.strictSame(config.tls.certificates, [{ cert: '/abs/x.crt', key: join(dir, 'etc', 'k', 'x.key') }]);
});

t.test('the shipped config/config.toml is valid', async (t) => {
  const file = fileURLToPath(new URL('../../../config/config.toml', import.meta.url));
  const config = await loadConfig(file, { env: {} });
  t.equal(config.source, file);
  t.ok(config.routes.length > 0, 'has a demo route');
});

const APP = '[[apps]]\nname = "web"\ncommand = ["node", "app.js"]\nport = 3001\n';

t.test('an [[apps]] entry with only its required keys gets every default; cwd is the config file directory', async (t) => {
  const config = parseConfig(`${APP}[[routes]]\nhosts = ["a.example.com"]\napp = "web"\n`, INLINE);
  t.strictSame(config.apps, [{
    name: 'web', command: ['node', 'app.js'], cwd: '/srv/portico', env: {}, workers: 1, port: 3001, memory: 512 * 1024 ** 2,
    pre_start: [], pre_start_timeout: 300_000, restart_backoff: { min: 1000, max: 30_000 }, crash_loop: { count: 5, window: 60_000 },
  }]);
  t.strictSame(config.supervisor, { memory_total: 'auto', memory_reserve: 256 * 1024 ** 2 });
  t.strictSame([config.routes[0]!.upstreams, config.routes[0]!.app], [[], 'web']);
});

t.test('env names that look like prototypes stay plain data in [[apps]] env', async (t) => {
  const config = parseConfig(`${APP}env = { "__proto__" = "x", constructor = "y" }\n`, INLINE);
  const env = config.apps[0]!.env;
  t.equal(Object.getPrototypeOf(env), Object.prototype);
  t.strictSame(Object.entries(env), [['__proto__', 'x'], ['constructor', 'y']]);
});

t.test('an app with a bad port or workers value causes no second, derived port-range problem', async (t) => {
  t.strictSame(problemsOf(`${APP.replace('3001', '70000')}workers = 99\n`).map((p) => p.path), ['apps[0].port', 'apps[0].workers']);
  // the route naming an app whose name was refused is not reported again
  t.strictSame(problemsOf(`${APP.replace('"web"', '"w b"')}[[routes]]\nhosts = ["a.example.com"]\napp = "w b"\n`).map((p) => p.path), ['apps[0].name']);
});

t.test('an app port range may sit next to a listener port, and listeners on other hosts never clash', async (t) => {
  // 8441..8442 ends right below server.https 8443; admin on ::1 does not take 127.0.0.1:3001
  const ok = `[admin]\nlisten = "[::1]:3001"\n${APP.replace('3001', '8441')}[[apps]]\nname = "b"\ncommand = ["b"]\nport = 3001\n`;
  t.equal(parseConfig(ok, INLINE).apps.length, 2);
});

t.test("[[apps]] command and env keep ${PORT} and ${PORTICO_WORKER_INDEX}: they are each worker's (issue 24)", async (t) => {
  const app = '[[apps]]\nname = "web"\nport = 8001\ncommand = ["uvicorn", "main:app", "--port", "${PORT}", "--log-config", "${LOGCONF}"]\n' +
    'env = { UVICORN_PORT = "${PORT}", SLOT = "w${PORTICO_WORKER_INDEX}", HOME_DIR = "${HOME_DIR}" }\npre_start = ["migrate", "${HOME_DIR}"]\n';
  // portico's own PORT does not leak in: the references stay for the supervisor to fill in
  const config = parseConfig(app, { ...INLINE, env: { PORT: '9999', LOGCONF: 'log.ini', HOME_DIR: '/srv' } });
  t.strictSame(config.apps[0]!.command, ['uvicorn', 'main:app', '--port', '${PORT}', '--log-config', 'log.ini']);
  t.strictSame(config.apps[0]!.env, { UVICORN_PORT: '${PORT}', SLOT: 'w${PORTICO_WORKER_INDEX}', HOME_DIR: '/srv' });
  t.strictSame(config.apps[0]!.pre_start, ['migrate', '/srv']);
  // and they need no variable of that name in portico's environment (this used to be a problem)
  t.doesNotThrow(() => parseConfig(app, { ...INLINE, env: { LOGCONF: 'x', HOME_DIR: '/srv' } }));
  // elsewhere (pre_start is no worker; routes) ${PORT} is portico's environment as before
  try {
    parseConfig(app.replace('"${HOME_DIR}"]', '"${PORT}"]'), { ...INLINE, env: { LOGCONF: 'x', HOME_DIR: '/srv' } });
    t.fail('expected a problem');
  } catch (err) {
    t.strictSame((err as ConfigInvalidError).problems, [{ path: 'apps[0].pre_start[1]', message: 'environment variable PORT is not set' }]);
  }
});

t.test('PORTICO_PUBLIC_HTTPS_PORT is the default of server.public_https_port (the image sets 443)', async (t) => {
  const https = '[server]\nhttps = "0.0.0.0:8443"\n';
  t.equal(parseConfig(https, INLINE).server.public_https_port, 8443, 'unset: the https listener port');
  t.equal(parseConfig(https, { ...INLINE, env: { PORTICO_PUBLIC_HTTPS_PORT: '' } }).server.public_https_port, 8443, 'empty: unset');
  t.equal(parseConfig(https, { ...INLINE, env: { PORTICO_PUBLIC_HTTPS_PORT: '443' } }).server.public_https_port, 443);
  const explicit = `${https}public_https_port = 9443\n`;
  t.equal(parseConfig(explicit, { ...INLINE, env: { PORTICO_PUBLIC_HTTPS_PORT: '443' } }).server.public_https_port, 9443, 'the file wins');
  t.equal(parseConfig(explicit, { ...INLINE, env: { PORTICO_PUBLIC_HTTPS_PORT: 'nope' } }).server.public_https_port, 9443, 'a bad variable the file overrides is no problem');
  const bad = (v: string) => {
    try {
      parseConfig(https, { ...INLINE, env: { PORTICO_PUBLIC_HTTPS_PORT: v } });
    } catch (err) {
      return (err as ConfigInvalidError).problems;
    }
    return [];
  };
  for (const v of ['0', '65536', 'https', '44 3']) {
    t.match(bad(v), [{ path: 'server.public_https_port', message: /PORTICO_PUBLIC_HTTPS_PORT .* not a port number/ }], v);
  }
});
