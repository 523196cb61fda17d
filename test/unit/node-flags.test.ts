// portico's V8 flags (src/node-flags.ts) are given on node's command line in four places; they stay in step.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import t from 'tap';
import { V8_FLAGS, missingFlags } from '../../src/node-flags.js';
import { VERSION } from '../../src/version.js';

const read = (p: string): string => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

t.test('the CLI shebang, the image ENTRYPOINT and npm start pass every V8 flag', async (t) => {
  const shebang = read('src/cli.ts').split('\n')[0];
  t.equal(shebang, `#!/usr/bin/env -S node ${V8_FLAGS.join(' ')}`, 'shebang');
  const entry = read('Dockerfile').split('\n').find((l) => l.startsWith('ENTRYPOINT'));
  t.same(JSON.parse(entry!.slice('ENTRYPOINT'.length)), ['/usr/bin/tini', '--', 'node', ...V8_FLAGS, '/app/dist/cli.js'], 'Dockerfile ENTRYPOINT');
  const start = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.start;
  t.match(start, `node ${V8_FLAGS.join(' ')} dist/cli.js run`, 'npm start');
});

t.test('the built CLI runs as an executable through its env -S shebang', async (t) => {
  const { stdout } = await promisify(execFile)(new URL('../../dist/cli.js', import.meta.url).pathname, ['--version']);
  t.match(stdout, VERSION);
});

t.test('missingFlags adds what execArgv lacks and leaves an operator-given value alone', async (t) => {
  t.same(missingFlags([]), V8_FLAGS);
  t.same(missingFlags(['--enable-source-maps']), V8_FLAGS);
  t.same(missingFlags(['--max-semi-space-size=8']), [], 'an explicit value wins');
  t.same(missingFlags(['--max_semi_space_size=16']), [], 'underscore spelling counts as the same flag');
});
