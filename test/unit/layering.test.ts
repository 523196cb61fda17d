// The layering of DESIGN §2: eslint's no-restricted-imports rules (eslint.config.js LAYERS) refuse an
// upward or sideways import, and the import graph of src/ has no cycle.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import t from 'tap';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(ROOT, 'src');

t.test('lint refuses imports that break the layering', async (t) => {
  const eslint = new ESLint({ cwd: ROOT });
  const cases: Array<[file: string, code: string, refused: boolean]> = [
    ['src/proxy/x.ts', "import type { Config } from '../config/types.js';\nexport type X = Config;\n", true],
    ['src/upstream/x.ts', "import { Engine } from '../proxy/engine.js';\nexport const x = Engine;\n", true],
    ['src/server/x.ts', "import { build } from '../lifecycle/build.js';\nexport const x = build;\n", true],
    ['src/supervisor/x.ts', "import type { Config } from '../config/types.js';\nexport type X = Config;\n", true],
    ['src/errors.ts', "import { VERSION } from './version.js';\nexport const x = VERSION;\n", true],
    ['src/proxy/x.ts', "import { RoundRobin } from '../upstream/selector.js';\nexport const x = RoundRobin;\n", false],
    ['src/lifecycle/x.ts', "import type { Config } from '../config/types.js';\nexport type X = Config;\n", false],
  ];
  for (const [file, code, refused] of cases) {
    const [result] = await eslint.lintText(code, { filePath: join(ROOT, file) });
    const hits = result!.messages.filter((m) => m.ruleId === 'no-restricted-imports');
    t.equal(hits.length > 0, refused, `${file}: ${code.split('\n')[0]} ${refused ? 'refused' : 'allowed'}`);
  }
});

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

t.test('the import graph of src/ has no cycle', async (t) => {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const deps = [...readFileSync(file, 'utf8').matchAll(/^(?:import|export)[^'"]*from '(\.[^']+)'/gm)]
      // type-only imports too: a cycle of types is still a cycle in the design
      .map((m) => normalize(join(dirname(file), m[1]!.replace(/\.js$/, '.ts'))));
    graph.set(file, deps);
  }
  t.ok(graph.size > 50, 'sources found');
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    if (state.get(f) === 'done') return;
    if (state.get(f) === 'open') {
      cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(' → '));
      return;
    }
    state.set(f, 'open');
    for (const d of graph.get(f) ?? []) visit(d, [...path, f]);
    state.set(f, 'done');
  };
  for (const f of graph.keys()) visit(f, []);
  t.same(cycles, [], 'no cycles');
});
