// Every error code in the catalogue is documented in docs/errors.md.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { ERROR_CODES } from '../../src/errors.js';

t.test('every PORTICO_ERR_* code is documented', async (t) => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  for (const code of ERROR_CODES) t.match(doc, code, `${code} documented`);
  const inSource = readFileSync(new URL('../../src/errors.ts', import.meta.url), 'utf8').match(/PORTICO_ERR_[A-Z_]+/g) ?? [];
  for (const code of new Set(inSource)) t.ok((ERROR_CODES as readonly string[]).includes(code), `${code} listed in ERROR_CODES`);
});
