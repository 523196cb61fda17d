/**
 * Issue 23, item 7, second half of the raw HTTP/1.1 corpus (test-support/h1-corpus.ts): request-line
 * forms (absolute, authority, asterisk, versions, whitespace, lengths), Host forms, Expect,
 * Connection, and pipelining with 1 KiB…1 MiB bodies and slow readers. For each case: the client's
 * statuses, the exact requests the upstream saw, a fresh request still served; at the end, nothing ejected.
 */
import t from 'tap';
import { FORM_CASES, runCorpus } from '../../test-support/h1-corpus.js';

t.test(`raw HTTP/1.1 corpus, request forms: ${FORM_CASES.length} cases`, (t) => runCorpus(t, FORM_CASES));
