/**
 * Issue 23, item 7, first half of the raw HTTP/1.1 corpus (test-support/h1-corpus.ts): message framing
 * and field syntax — Content-Length and Transfer-Encoding conflicts and obfuscations, chunk sizes,
 * trailers, control bytes and NUL, header-name characters. For each case: the client's statuses,
 * the exact requests the upstream saw, a fresh request still served; at the end, nothing ejected.
 */
import t from 'tap';
import { CASES, FRAMING_CASES, runCorpus } from '../../test-support/h1-corpus.js';

t.test('the corpus table', async (t) => {
  t.ok(CASES.length >= 100, `at least 100 cases (${CASES.length})`);
  const names = CASES.map((k) => k.name);
  t.same(names.filter((n, i) => names.indexOf(n) !== i), [], 'case names are unique');
});

t.test(`raw HTTP/1.1 corpus, framing: ${FRAMING_CASES.length} cases`, (t) => runCorpus(t, FRAMING_CASES));
