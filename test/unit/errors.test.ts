// The error catalogue and docs/errors.md agree: every code portico raises or logs is documented, every
// documented code is raised or logged somewhere, and every error class in errors.ts is raised somewhere.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ERROR_CODES } from '../../src/errors.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const catalogue = readFileSync(join(SRC, 'errors.ts'), 'utf8');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}
const elsewhere = sources(SRC).filter((p) => !p.endsWith('/errors.ts')).map((p) => readFileSync(p, 'utf8')).join('\n');

t.test('every PORTICO_ERR_* code is documented, and every documented code is in the catalogue', async (t) => {
  for (const code of ERROR_CODES) t.match(doc, `\`${code}\``, `${code} documented`);
  const inSource = catalogue.match(/PORTICO_ERR_[A-Z_]+/g) ?? [];
  for (const code of new Set(inSource)) t.ok((ERROR_CODES as readonly string[]).includes(code), `${code} listed in ERROR_CODES`);
  const documented = new Set(doc.match(/`(PORTICO_ERR_[A-Z_]+)`/g)?.map((c) => c.slice(1, -1)) ?? []);
  for (const code of documented) t.ok((ERROR_CODES as readonly string[]).includes(code), `documented ${code} exists`);
});

t.test('every error class of the catalogue is raised somewhere, and every code is used', async (t) => {
  const classes = [...catalogue.matchAll(/export class (\w+) extends/g)].map((m) => m[1]!);
  t.ok(classes.length > 5, 'classes found');
  for (const name of classes) {
    if (name === 'PorticoError' || name === 'AcmeError') continue; // bases (AcmeError is raised through its subclass and in acme/)
    t.match(elsewhere, new RegExp(`new ${name}\\(`), `${name} is raised outside errors.ts`);
  }
  // a code is used when its class is raised, or when it is logged by name (storage corruption, CLI admin failures)
  for (const code of ERROR_CODES) {
    const at = catalogue.indexOf(`'${code}'`);
    const owner = [...catalogue.slice(0, at).matchAll(/class (\w+)/g)].pop()?.[1];
    const raised = owner !== undefined && elsewhere.includes(`new ${owner}(`);
    t.ok(raised || elsewhere.includes(code), `${code} is raised or logged`);
  }
});
