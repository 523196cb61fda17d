// Child output as log lines (whole, bounded, across chunk splits) and /proc stat parsing.
import { PassThrough } from 'node:stream';
import t from 'tap';
import { parseStat } from '../../../src/supervisor/proc.js';
import { MAX_LINE, lines } from '../../../src/supervisor/app-worker.js';

t.test('lines: whole lines across chunks, CRLF, a last line without newline, long lines in marked pieces', async (t) => {
  const s = new PassThrough();
  const got: string[] = [];
  lines(s, (l) => got.push(l));
  s.write('hel');
  s.write('lo\r\nwor');
  s.write('ld\n' + 'x'.repeat(MAX_LINE * 2 + 10) + '\n');
  s.end('tail');
  await new Promise((r) => s.on('end', r));
  await new Promise((r) => setImmediate(r));
  t.equal(got[0], 'hello');
  t.equal(got[1], 'world');
  t.equal(got[2], `${'x'.repeat(MAX_LINE)} [line continues]`);
  t.equal(got[3], `${'x'.repeat(MAX_LINE)} [line continues]`);
  t.equal(got[4], 'x'.repeat(10));
  t.equal(got[5], 'tail');
  t.ok(got.every((l) => l.length <= MAX_LINE + 20), 'no line beyond the bound');
});

t.test('parseStat reads pgrp, CPU ticks and RSS pages, even with spaces and parentheses in the name', async (t) => {
  const line = '4242 (my (odd) app) S 1 4240 4240 0 -1 4194304 100 0 0 0 150 50 0 0 20 0 3 0 12345 123456789 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
  t.same(parseStat(line), { pgrp: 4240, ticks: 200, rssPages: 2560 });
  t.equal(parseStat('garbage'), null);
});
