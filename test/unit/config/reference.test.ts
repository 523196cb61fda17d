// docs/configuration.md cannot drift: the reference documents exactly the keys the validator accepts
// (KEYS), every default shown is taken from DEFAULTS, and the committed file is what it renders
// (`npm run docs` writes it).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { KEYS } from '../../../src/config/keys.js';
import { REFERENCE, acceptedKeys, defaultOf, renderReference, rootTables } from '../../../src/config/reference.js';

const documented = REFERENCE.flatMap((s) => s.keys.map((k) => k.key));

t.test('every key the validator accepts is documented, and nothing else', async (t) => {
  t.same([...rootTables()].sort(), [...KEYS.root].sort(), 'every root table walked');
  const accepted = acceptedKeys();
  t.ok(accepted.length > 60, `${accepted.length} keys`);
  t.same(accepted.filter((k) => !documented.includes(k)), [], 'accepted but undocumented');
  t.same(documented.filter((k) => !accepted.includes(k)), [], 'documented but not accepted');
  t.equal(new Set(documented).size, documented.length, 'no key documented twice');
});

t.test('every default comes from DEFAULTS unless it is words (required, derived, none)', async (t) => {
  for (const s of REFERENCE) for (const k of s.keys) t.ok(defaultOf(k).length > 0, `${k.key}: ${defaultOf(k)}`);
  const send = REFERENCE.flatMap((s) => s.keys).find((k) => k.key === 'server.timeouts.send')!;
  t.equal(defaultOf(send), '`"60s"`');
});

t.test('docs/configuration.md is what the reference renders (run `npm run docs` after changing a key)', async (t) => {
  const file = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
  t.equal(file, renderReference());
});
