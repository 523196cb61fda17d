// Compression decisions (issue 29): Accept-Encoding negotiation with q-values (a table, including
// hostile headers), which responses are compressible, and how their fields are rewritten. The
// streaming itself (backpressure, flushes, decoded bodies) is tested over real sockets in
// test/integration/compress.test.ts.
import t from 'tap';
import zlib from 'node:zlib';
import { codingAvailable, compressibleType, negotiate, offeredCodings, planCompression, type Coding } from '../../../src/proxy/compress.js';

const BR_GZIP: Coding[] = ['br', 'gzip'];
const GZIP_BR: Coding[] = ['gzip', 'br'];

t.test('negotiation table: the highest q among the route\'s codings, ties to the route\'s order', async (t) => {
  const table: Array<[header: string | undefined, offered: Coding[], want: Coding | null, why: string]> = [
    [undefined, BR_GZIP, null, 'no Accept-Encoding: identity'],
    ['', BR_GZIP, null, 'empty: identity'],
    ['gzip', BR_GZIP, 'gzip', 'only gzip accepted'],
    ['br', BR_GZIP, 'br', 'only br accepted'],
    ['gzip, deflate, br, zstd', BR_GZIP, 'br', 'a browser: both at q=1, the route prefers br'],
    ['gzip, deflate, br, zstd', GZIP_BR, 'gzip', 'the same browser, a route preferring gzip'],
    ['gzip;q=1.0, br;q=0.5', BR_GZIP, 'gzip', 'the client prefers gzip'],
    ['br;q=0.1, gzip;q=0.2', BR_GZIP, 'gzip', 'low weights still count'],
    ['br;q=0, gzip', BR_GZIP, 'gzip', 'q=0 refuses br'],
    ['gzip;q=0', BR_GZIP, null, 'the only coding refused'],
    ['identity', BR_GZIP, null, 'identity only'],
    ['*', BR_GZIP, 'br', 'the wildcard takes the route\'s first'],
    ['*;q=0.5, gzip;q=0.6', BR_GZIP, 'gzip', 'explicit gzip above the wildcard'],
    ['*;q=0, gzip', BR_GZIP, 'gzip', 'wildcard refusal leaves the named one'],
    ['*;q=0', BR_GZIP, null, 'everything refused'],
    ['br;q=0, *', BR_GZIP, 'gzip', 'br refused by name, gzip by the wildcard'],
    ['x-gzip', BR_GZIP, 'gzip', 'x-gzip is gzip (RFC 9110 §8.4.1.3)'],
    ['GZIP;Q=0.5', BR_GZIP, 'gzip', 'names and q are case-insensitive'],
    ['  gzip ; q=0.5 ,  br ; q=0.7 ', BR_GZIP, 'br', 'whitespace around everything'],
    ['deflate, compress', BR_GZIP, null, 'nothing the route offers'],
    ['zstd', ['zstd', 'gzip'], 'zstd', 'zstd when offered'],
    ['zstd', BR_GZIP, null, 'zstd not offered'],
    ['gzip;q=0.5, gzip;q=1', BR_GZIP, 'gzip', 'a repeated coding: the first mention counts'],
    ['br;q=0.5, br;q=0', BR_GZIP, 'br', 'first mention counts (not refused by a later q=0)'],
  ];
  for (const [h, offered, want, why] of table) t.equal(negotiate(h, offered), want, `${JSON.stringify(h)} → ${want}: ${why}`);
  t.equal(negotiate(['gzip;q=0.1', 'br;q=0.9'], BR_GZIP), 'br', 'several header lines are one list');
});

t.test('hostile Accept-Encoding: absurd q-values drop their element, long lists are read only so far', async (t) => {
  const absurd = ['gzip;q=1e999', 'gzip;q=-1', 'gzip;q=NaN', 'gzip;q=2', 'gzip;q=0.0001', 'gzip;q=', 'gzip;q=1.5', 'gzip;q=Infinity', 'gzip;q=0x1', 'gzip;q=1.0001'];
  for (const h of absurd) t.equal(negotiate(h, BR_GZIP), null, `${h}: malformed weight, element ignored`);
  t.equal(negotiate('br;q=1e999, gzip;q=0.3', BR_GZIP), 'gzip', 'the malformed element is ignored, the rest counts');
  t.equal(negotiate('gzip;q=0.5;q=0.9', BR_GZIP), 'gzip', 'two q parameters: the last valid one');
  t.equal(negotiate(';;;,,,;q=1,=,==,;', BR_GZIP), null, 'punctuation only');
  t.equal(negotiate('\u0000gzip', BR_GZIP), null, 'a name with a control character is no coding');
  // thousands of codings: only the first 64 elements are read (browsers send 4–6)
  const many = Array.from({ length: 5000 }, (_, i) => `x-coding-${i}`);
  t.equal(negotiate([...many, 'gzip'].join(', '), BR_GZIP), null, 'gzip after 5000 unknown codings is not seen');
  t.equal(negotiate(['gzip', ...many].join(', '), BR_GZIP), 'gzip', 'gzip first is seen');
  t.equal(negotiate(`gzip;${'q=0.5;'.repeat(3000)}`, BR_GZIP), 'gzip', 'a flood of parameters on one element');
  t.equal(negotiate('br' + ' '.repeat(10_000), BR_GZIP), 'br');
});

t.test('compressible types: text, JSON, JS, XML, SVG and the +json/+xml suffixes; not images, video, archives', async (t) => {
  for (const ct of ['text/html', 'text/html; charset=utf-8', 'TEXT/CSS', 'text/event-stream', 'application/json', 'application/problem+json',
    'application/javascript', 'application/xml', 'application/rss+xml', 'image/svg+xml', 'application/wasm', ' application/json ; charset=utf-8']) {
    t.ok(compressibleType(ct), ct);
  }
  for (const ct of ['image/png', 'image/jpeg', 'video/mp4', 'application/zip', 'application/gzip', 'application/octet-stream', 'font/woff2', '', undefined, ['text/html', 'text/plain']]) {
    t.notOk(compressibleType(ct as string | undefined), String(ct));
  }
});

const html = (extra: Record<string, string | string[]> = {}): Record<string, string | string[] | undefined> => ({ 'content-type': 'text/html', ...extra });

t.test('planCompression: a compressible response gets Vary, and when compressed loses its length and ranges, its ETag turns weak', async (t) => {
  const h = html({ 'content-length': '5000', etag: '"abc"', 'accept-ranges': 'bytes', 'x-other': '1' });
  t.equal(planCompression('GET', 200, h, 'gzip, br', BR_GZIP), 'br');
  t.strictSame(h, { 'content-type': 'text/html', 'content-encoding': 'br', etag: 'W/"abc"', 'x-other': '1', vary: 'Accept-Encoding' });
  const weak = html({ etag: 'W/"x"' });
  planCompression('GET', 200, weak, 'gzip', BR_GZIP);
  t.equal(weak.etag, 'W/"x"', 'a weak ETag stays as it is');
});

t.test('planCompression: Vary is added once, merged with the upstream\'s, and a * is left alone', async (t) => {
  const cases: Array<[string | string[] | undefined, string | string[]]> = [
    [undefined, 'Accept-Encoding'],
    ['Origin', 'Origin, Accept-Encoding'],
    ['accept-encoding', 'accept-encoding'],
    ['Origin, Accept-Encoding', 'Origin, Accept-Encoding'],
    ['*', '*'],
    [['Origin', 'Cookie'], 'Origin, Cookie, Accept-Encoding'],
  ];
  for (const [vary, want] of cases) {
    const h = html(vary === undefined ? {} : { vary });
    planCompression('GET', 200, h, undefined, BR_GZIP);
    t.same(h.vary, want, `Vary ${JSON.stringify(vary)}`);
  }
});

t.test('planCompression leaves alone what must not change', async (t) => {
  const untouched: Array<[string, string, number, Record<string, string | string[] | undefined>]> = [
    ['206 Partial Content', 'GET', 206, html({ 'content-range': 'bytes 0-99/5000' })],
    ['a Content-Range on a 200', 'GET', 200, html({ 'content-range': 'bytes 0-99/5000' })],
    ['204', 'GET', 204, html()],
    ['304', 'GET', 304, html({ etag: '"a"' })],
    ['already encoded (gzip)', 'GET', 200, html({ 'content-encoding': 'gzip' })],
    ['already encoded (br, as a list)', 'GET', 200, html({ 'content-encoding': ['br'] })],
    ['an image', 'GET', 200, { 'content-type': 'image/png' }],
    ['no Content-Type', 'GET', 200, {}],
    ['smaller than 1 KiB', 'GET', 200, html({ 'content-length': '1023' })],
    ['Cache-Control: no-transform', 'GET', 200, html({ 'cache-control': 'public, No-Transform' })],
  ];
  for (const [why, method, status, h] of untouched) {
    const before = { ...h };
    t.equal(planCompression(method, status, h, 'gzip, br', BR_GZIP), null, why);
    t.strictSame(h, before, `${why}: fields unchanged`);
  }
  const identity = html({ 'content-encoding': 'identity', 'content-length': '4096' });
  t.equal(planCompression('GET', 200, identity, 'gzip', BR_GZIP), 'gzip', 'Content-Encoding: identity is no encoding');
  const exactly = html({ 'content-length': '1024' });
  t.equal(planCompression('GET', 200, exactly, 'gzip', BR_GZIP), 'gzip', '1 KiB exactly is compressed');
  const chunked = html();
  t.equal(planCompression('GET', 200, chunked, 'gzip', BR_GZIP), 'gzip', 'an unsized body is compressed (its size is unknown)');
  t.equal(planCompression('GET', 404, html({ 'content-length': '2000' }), 'gzip', BR_GZIP), 'gzip', 'an error page too');
});

t.test('planCompression: a 304 confirming the strong form of the weak ETag the client holds names it weak too', async (t) => {
  const confirm = { etag: '"v1"' };
  t.equal(planCompression('GET', 304, confirm, 'gzip', BR_GZIP, 'W/"v1"'), null);
  t.same(confirm, { etag: 'W/"v1"' }, 'the client holds the compressed (weak) one');
  const strong = { etag: '"v1"' };
  planCompression('GET', 304, strong, 'gzip', BR_GZIP, '"v1"');
  t.same(strong, { etag: '"v1"' }, 'the client holds the uncompressed (strong) one');
  const list = { etag: '"b"' };
  planCompression('GET', 304, list, 'gzip', BR_GZIP, ['"a"', 'W/"b"']);
  t.same(list, { etag: 'W/"b"' });
  const none = { etag: '"v1"' };
  planCompression('GET', 304, none, 'gzip', BR_GZIP);
  t.same(none, { etag: '"v1"' }, 'no If-None-Match: unchanged');
});

t.test('planCompression: HEAD and clients that accept nothing get Vary but an unchanged response', async (t) => {
  const head = html({ 'content-length': '5000', etag: '"a"' });
  t.equal(planCompression('HEAD', 200, head, 'gzip', BR_GZIP), 'vary');
  t.strictSame(head, { 'content-type': 'text/html', 'content-length': '5000', etag: '"a"', vary: 'Accept-Encoding' });
  const none = html({ 'content-length': '5000' });
  t.equal(planCompression('GET', 200, none, 'identity', BR_GZIP), 'vary');
  t.equal(none['content-length'], '5000');
});

t.test('zstd is offered only where this Node has it (feature-detected)', async (t) => {
  const has = typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';
  t.equal(codingAvailable('zstd'), has, `this Node (${process.version}) ${has ? 'has' : 'lacks'} zstd`);
  t.ok(codingAvailable('gzip') && codingAvailable('br'));
  t.notOk(codingAvailable('deflate'));
  t.same(offeredCodings(['zstd', 'gzip']), has ? ['zstd', 'gzip'] : ['gzip']);
  t.equal(offeredCodings([]), null, 'no codings: no compression');
  if (!has) t.equal(offeredCodings(['zstd']), null, 'zstd alone on a Node without it: no compression');
});
