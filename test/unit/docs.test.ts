/**
 * The manual stays true where a machine can tell: config/config.toml shows every key the validator
 * accepts (docs/configuration.md has its own test: config/reference.test.ts), docs/operations.md
 * names every metric portico exports, and every relative link in README.md and docs/ leads to a file
 * that exists and, for a `#fragment`, to a heading of it (GitHub's anchors).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import t from 'tap';
import { KEYS } from '../../src/config/keys.js';
import { Metrics } from '../../src/metrics.js';
import { ROOT } from '../../test-support/proxy.js';

const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

t.test('config/config.toml shows every key (set, or commented out as an example)', async (t) => {
  const toml = read('config/config.toml');
  const shown = new Set<string>();
  for (const m of toml.matchAll(/^#?\s*([a-z_0-9]+)\s*=|^#?\s*\[\[?([a-z_.0-9]+)\]\]?/gm)) {
    if (m[1]) shown.add(m[1]);
    if (m[2]) shown.add(m[2].split('.').at(-1)!);
  }
  // keys of inline tables (`request = { set = {}, remove = [] }`)
  for (const m of toml.matchAll(/\{\s*([a-z_]+)\s*=.*?,\s*([a-z_]+)\s*=/g)) shown.add(m[1]!).add(m[2]!);
  const missing = Object.entries(KEYS).filter(([table]) => table !== 'root').flatMap(([table, keys]) => keys.filter((k) => !shown.has(k)).map((k) => `${table}.${k}`));
  t.same(missing, [], 'every key of KEYS appears in config/config.toml');
});

t.test('docs/operations.md names every metric portico exports', async (t) => {
  const names = (await new Metrics().registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => !/^portico_(process|nodejs)_/.test(n));
  t.ok(names.length >= 15, `${names.length} metrics of portico's own`);
  const ops = read('docs/operations.md');
  t.same(names.filter((n) => !ops.includes(n)), [], 'each named in docs/operations.md');
  t.match(ops, /portico_process_\*/, 'the default process metrics as a family');
  t.match(ops, /portico_nodejs_\*/);
});

/** slug is GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string): string => heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, '').replace(/ /g, '-');

function headings(path: string): Set<string> {
  const text = readFileSync(path, 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#+\s+(.*)$/gm)].map((m) => slug(m[1]!)));
}

t.test('every relative link in README.md and docs/ leads somewhere', async (t) => {
  const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  for (const file of files) {
    for (const m of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
      const link = m[1]!;
      if (/^[a-z]+:/.test(link)) continue;
      const [path, fragment] = link.split('#') as [string, string | undefined];
      const target = path === '' ? join(ROOT, file) : normalize(join(ROOT, dirname(file), path));
      if (!existsSync(target)) broken.push(`${file}: ${link} (no such file)`);
      // docs/performance.md is written by the benchmark runs (bench-final); its sections come with them
      else if (fragment !== undefined && target.endsWith('.md') && !target.endsWith('performance.md') && !headings(target).has(fragment)) broken.push(`${file}: ${link} (no such heading)`);
    }
  }
  t.same(broken, []);
});
