/**
 * Golden config fixtures (test/fixtures/config, scheme in its README.md): one sub-test per
 * `<name>.toml`, which must have exactly one of
 *   - `<name>.expected.json`: the normalised Config, with `<dir>` standing for the fixture directory;
 *   - `<name>.error.txt`: one line per expected problem, each a substring of a distinct formatted
 *     problem (`path: message`), and no other problems.
 * Every fixture is loaded with the fixed FIXTURE_ENV below, never the real environment.
 */

import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../../src/config/index.js';
import { ConfigInvalidError, formatProblem } from '../../../src/errors.js';

/** The assertions the helpers below use (a sub-test has them all). */
type Assert = Pick<typeof t, 'ok' | 'equal' | 'fail' | 'strictSame'>;

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '../../fixtures/config');

/** The only environment fixtures see (env.toml, env-unset.toml use it). */
const FIXTURE_ENV: NodeJS.ProcessEnv = {
  PORTICO_TEST_LISTEN: '127.0.0.1:18443',
  PORTICO_TEST_EMPTY: '',
  PORTICO_TEST_CIDR: '172.16.0.0/12',
  PORTICO_TEST_REDIS_PASSWORD: 's3cret',
  PORTICO_TEST_DIR: 'secrets',
  PORTICO_TEST_LEVEL: 'warn',
  PORTICO_TEST_HOST: 'Env.Example.com',
  PORTICO_TEST_UPSTREAM_HOST: '127.0.0.1',
  PORTICO_TEST_UPSTREAM_PORT: '3005',
  PORTICO_TEST_EAB: 'c2VjcmV0LWhtYWMta2V5',
};

/** Reads `<name>.expected.json` with `<dir>` replaced by the fixture directory. */
function readExpected(file: string): unknown {
  const dir = JSON.stringify(FIXTURES).slice(1, -1);
  return JSON.parse(readFileSync(file, 'utf8').replaceAll('<dir>', dir));
}

async function loadFixture(toml: string): Promise<unknown> {
  return loadConfig(join(FIXTURES, toml), { env: FIXTURE_ENV });
}

async function checkValid(t: Assert, toml: string, expectedFile: string): Promise<void> {
  const config = await loadFixture(toml);
  t.strictSame(config, readExpected(expectedFile));
}

async function checkInvalid(t: Assert, toml: string, errorFile: string): Promise<void> {
  const wanted = readFileSync(errorFile, 'utf8').split('\n').filter((l) => l.trim() !== '');
  const err = await loadFixture(toml).then(() => undefined, (e: unknown) => e);
  if (!(err instanceof ConfigInvalidError)) {
    t.fail('expected a ConfigInvalidError', { found: err });
    return;
  }
  const found = err.problems.map(formatProblem);
  t.equal(found.length, wanted.length, 'one problem per line of the .error.txt', { found });
  const unmatched = [...found];
  for (const line of wanted) {
    const i = unmatched.findIndex((p) => p.includes(line));
    t.ok(i !== -1, `reports: ${line}`, { found });
    if (i !== -1) unmatched.splice(i, 1);
    t.ok(err.message.includes(line), 'the error message lists it');
  }
}

const files = readdirSync(FIXTURES);
const tomls = files.filter((f) => f.endsWith('.toml')).sort();
t.ok(tomls.length > 0, 'fixtures found');
const orphans = files.filter((f) => /\.(expected\.json|error\.txt)$/.test(f) && !tomls.includes(f.replace(/\..*$/, '.toml')));
t.strictSame(orphans, [], 'every .expected.json / .error.txt has its .toml');

for (const toml of tomls) {
  t.test(toml, async (t) => {
    const base = join(FIXTURES, toml.slice(0, -'.toml'.length));
    const expected = `${base}.expected.json`;
    const errors = `${base}.error.txt`;
    t.notOk(existsSync(expected) && existsSync(errors), 'has only one of .expected.json and .error.txt');
    if (existsSync(expected)) await checkValid(t, toml, expected);
    else if (existsSync(errors)) await checkInvalid(t, toml, errors);
    else t.fail(`${toml} has neither .expected.json nor .error.txt`);
  });
}
