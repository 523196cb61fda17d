/**
 * The raw HTTP/1.1 corpus of issue 23, item 7 (one data table, run by test/adversarial/h1-corpus-*.test.ts,
 * one subtest per case, the table split in two files so each stays fast): requests sent as
 * exact bytes over TLS (no SNI: routed by Host), each checked three ways:
 * - what the client got: the statuses of the responses in order (a set where the exact 4xx/5xx does
 *   not matter, never a 2xx for a smuggling attempt) and, for refused requests, a closed connection;
 * - the exact requests the recording upstream saw: none for a refused case, exactly the expected
 *   method, url, Host and body for an accepted one (a desync shows up as an extra or mangled request);
 * - a fresh request on a new connection is still served, and (at the end) no upstream was ejected.
 *
 * A case may list several acceptable outcomes where RFC 9112 leaves the choice to the server (reject
 * or accept a duplicate identical Content-Length, bare LF line endings, obs-fold…); every outcome
 * listed is a safe one. Cases that wait for a timeout run with `timeouts.header`/`body` = 1 s.
 */
import type { Test } from 'tap';
import { request } from './client.js';
import { accessLines, assertRoutesIntact } from './hostile.js';
import { proxyConfig, startProxy } from './proxy.js';
import { rawH1, type RawConn } from './raw-http.js';
import { startRecorder, type Recorded } from './recorder.js';

/** Up is one request the upstream is expected to see. */
export interface Up {
  method: string;
  url: string;
  /** the Host header upstream (default 'localhost') */
  host?: string;
  /** the body upstream (default empty); a number: its length only (large bodies) */
  body?: string | number;
}

/** Outcome is one acceptable result of a case. */
export interface Outcome {
  /** final statuses in order; an array element is a set of acceptable codes; [] = closed without an answer */
  statuses: Array<number | number[]>;
  upstream: Up[];
  /** the server closes the connection (default: true when the last status is a refusal other than 404) */
  closed?: boolean;
  /** a 100 Continue comes before the final response */
  interim100?: boolean;
}

export interface Case {
  name: string;
  /** bytes to send; an array is written piece by piece, 20 ms apart */
  send: string | Buffer | Array<string | Buffer>;
  expect: Outcome | Outcome[];
  /** request methods in order when a HEAD is among them (its response has no body) */
  methods?: string[];
  slowRead?: { bytes: number; interval: number };
  /** ms to wait for the outcome (default 3000) */
  ms?: number;
  /** send the pieces after the first only once a 100 Continue arrived */
  after100?: boolean;
}

const CRLF = '\r\n';
/** R renders a request: request line, header lines, empty line, body. */
const R = (line: string, headers: string[], body = ''): string => [line, ...headers, '', body].join(CRLF);
const GETR = (path: string, extra: string[] = []): string => R(`GET ${path} HTTP/1.1`, ['Host: localhost', ...extra]);
const G = (url: string, host = 'localhost'): Up => ({ method: 'GET', url, host });
const refused = (codes: number[]): Outcome => ({ statuses: [codes], upstream: [] });
const ok = (...up: Up[]): Outcome => ({ statuses: up.map(() => 200), upstream: up });
const chunked = (body: string): string => `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
/** the classic request smuggling refusal: 400 (ambiguous framing) or 501 (a coding portico does not implement) */
const SMUGGLE = [400, 501];
const BAD = [400];

const KiB = 1024;
const MiB = 1024 * 1024;
const big = (n: number, c = 'x'): string => c.repeat(n);

/** FRAMING_CASES: message framing and field syntax (CL, TE, chunks, trailers, control bytes, names). */
export const FRAMING_CASES: Case[] = [
  // ─── baseline: well-formed requests are forwarded exactly ────────────────────────────────────
  { name: 'simple GET', send: GETR('/plain'), expect: ok(G('/plain')) },
  { name: 'HEAD', send: R('HEAD /head HTTP/1.1', ['Host: localhost']), methods: ['HEAD'], expect: ok({ method: 'HEAD', url: '/head' }) },
  { name: 'POST with Content-Length', send: R('POST /cl HTTP/1.1', ['Host: localhost', 'Content-Length: 5'], 'hello'), expect: ok({ method: 'POST', url: '/cl', body: 'hello' }) },
  { name: 'POST chunked, two chunks', send: R('POST /chunked HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'), expect: ok({ method: 'POST', url: '/chunked', body: 'hello world' }) },
  { name: 'DELETE with Content-Length: 0', send: R('DELETE /del HTTP/1.1', ['Host: localhost', 'Content-Length: 0']), expect: ok({ method: 'DELETE', url: '/del' }) },
  { name: 'GET with a chunked body', send: R('GET /get-body HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], chunked('hello')), expect: ok({ method: 'GET', url: '/get-body', body: 'hello' }) },
  { name: 'lower-case header names', send: R('GET /lower HTTP/1.1', ['host: localhost', 'x-a: b']), expect: ok(G('/lower')) },
  { name: 'query string kept byte for byte', send: GETR('/q?a=1&b=%20&c=%00&d=%2F'), expect: ok(G('/q?a=1&b=%20&c=%00&d=%2F')) },
  { name: 'dot segments are not normalised', send: GETR('/a/../b/./c'), expect: ok(G('/a/../b/./c')) },
  { name: 'a protocol-relative-looking path stays a path', send: GETR('//evil.example/x'), expect: ok(G('//evil.example/x')) },
  { name: 'an empty line before the request line', send: `${CRLF}${GETR('/leading-crlf')}`, expect: [ok(G('/leading-crlf')), refused(BAD)] },
  { name: 'OWS around a header value', send: R('GET /ows HTTP/1.1', ['Host: localhost', 'X-A:   b   ']), expect: ok(G('/ows')) },
  { name: 'tab in a header value', send: R('GET /tab HTTP/1.1', ['Host: localhost', 'X-A: a\tb']), expect: ok(G('/tab')) },
  { name: 'obs-text (0x80-0xff) in a header value', send: Buffer.from(R('GET /obs-text HTTP/1.1', ['Host: localhost', 'X-A: caf\xe9']), 'latin1'), expect: [ok(G('/obs-text')), refused(BAD)] },

  // ─── Content-Length ───────────────────────────────────────────────────────────────────────────
  { name: 'CL: two different values', send: R('POST /cl2 HTTP/1.1', ['Host: localhost', 'Content-Length: 3', 'Content-Length: 5'], 'hello'), expect: refused(BAD) },
  { name: 'CL: the same value twice', send: R('POST /cl-same HTTP/1.1', ['Host: localhost', 'Content-Length: 5', 'Content-Length: 5'], 'hello'), expect: [refused(BAD), ok({ method: 'POST', url: '/cl-same', body: 'hello' })] },
  { name: 'CL: a list "5, 5"', send: R('POST /cl-list HTTP/1.1', ['Host: localhost', 'Content-Length: 5, 5'], 'hello'), expect: [refused(BAD), ok({ method: 'POST', url: '/cl-list', body: 'hello' })] },
  { name: 'CL: a list "3, 5"', send: R('POST /cl-list2 HTTP/1.1', ['Host: localhost', 'Content-Length: 3, 5'], 'hello'), expect: refused(BAD) },
  { name: 'CL: +5', send: R('POST /cl-plus HTTP/1.1', ['Host: localhost', 'Content-Length: +5'], 'hello'), expect: refused(BAD) },
  { name: 'CL: -1', send: R('POST /cl-neg HTTP/1.1', ['Host: localhost', 'Content-Length: -1'], 'hello'), expect: refused(BAD) },
  { name: 'CL: 5x', send: R('POST /cl-junk HTTP/1.1', ['Host: localhost', 'Content-Length: 5x'], 'hello'), expect: refused(BAD) },
  { name: 'CL: 0x5', send: R('POST /cl-hex HTTP/1.1', ['Host: localhost', 'Content-Length: 0x5'], 'hello'), expect: refused(BAD) },
  { name: 'CL: empty', send: R('POST /cl-empty HTTP/1.1', ['Host: localhost', 'Content-Length:'], 'hello'), expect: refused(BAD) },
  { name: 'CL: 1 2 (space inside)', send: R('POST /cl-space HTTP/1.1', ['Host: localhost', 'Content-Length: 1 2'], 'hello'), expect: refused(BAD) },
  { name: 'CL: 20 digits (overflow)', send: R('POST /cl-huge HTTP/1.1', ['Host: localhost', 'Content-Length: 99999999999999999999'], 'hello'), expect: refused([400, 413]) },
  { name: 'CL: over max_body_bytes', send: R('POST /cl-over HTTP/1.1', ['Host: localhost', 'Content-Length: 20000000'], 'hello'), expect: refused([413]) },
  { name: 'CL: leading zeros', send: R('POST /cl-zeros HTTP/1.1', ['Host: localhost', 'Content-Length: 005'], 'hello'), expect: [ok({ method: 'POST', url: '/cl-zeros', body: 'hello' }), refused(BAD)] },
  { name: 'CL: shorter than the body (the rest is a second request)', send: R('POST /cl-short HTTP/1.1', ['Host: localhost', 'Content-Length: 2'], 'heGET /cl-short-2 HTTP/1.1\r\nHost: localhost\r\n\r\n'), expect: { statuses: [200, 200], upstream: [{ method: 'POST', url: '/cl-short', body: 'he' }, G('/cl-short-2')] } },
  { name: 'CL: longer than the body sent (the body never completes)', send: R('POST /cl-long HTTP/1.1', ['Host: localhost', 'Content-Length: 10'], 'hello'), expect: refused([408]), ms: 4000 },

  // ─── Transfer-Encoding and CL/TE conflicts (request smuggling) ────────────────────────────────
  { name: 'CL.TE: Content-Length then Transfer-Encoding', send: R('POST /clte HTTP/1.1', ['Host: localhost', 'Content-Length: 6', 'Transfer-Encoding: chunked'], '0\r\n\r\nG'), expect: refused(BAD) },
  { name: 'TE.CL: Transfer-Encoding then Content-Length', send: R('POST /tecl HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked', 'Content-Length: 3'], '8\r\nSMUGGLED\r\n0\r\n\r\n'), expect: refused(BAD) },
  { name: 'TE.TE: chunked and an obfuscated second TE', send: R('POST /tete HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked', 'Transfer-encoding: cow'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: gzip, chunked', send: R('POST /te-gzip HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: gzip, chunked'], chunked('hello')), expect: refused([501]) },
  { name: 'TE: deflate, chunked', send: R('POST /te-deflate HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: deflate, chunked'], chunked('hello')), expect: refused([501]) },
  { name: 'TE: identity, chunked', send: R('POST /te-identity HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: identity, chunked'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: gzip (chunked not last)', send: R('POST /te-gzip-only HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: gzip'], 'hello'), expect: refused(SMUGGLE) },
  { name: 'TE: chunked, gzip', send: R('POST /te-chunked-gzip HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked, gzip'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: chunked, chunked', send: R('POST /te-twice HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked, chunked'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: two chunked lines', send: R('POST /te-two-lines HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: xchunked', send: R('POST /te-x HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: xchunked'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: chunkedx', send: R('POST /te-x2 HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunkedx'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: "chunked" quoted', send: R('POST /te-quoted HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: "chunked"'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: chunked;q=1 (a parameter)', send: R('POST /te-param HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked;q=1'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: space before the colon', send: R('POST /te-space HTTP/1.1', ['Host: localhost', 'Transfer-Encoding : chunked'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: tab before the colon', send: R('POST /te-tab HTTP/1.1', ['Host: localhost', 'Transfer-Encoding\t: chunked'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: vertical tab before the value', send: R('POST /te-vt HTTP/1.1', ['Host: localhost', 'Transfer-Encoding:\x0bchunked'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: NUL after the value', send: R('POST /te-nul HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked\x00'], chunked('hello')), expect: refused(SMUGGLE) },
  { name: 'TE: folded onto the previous line (obs-fold)', send: R('POST /te-fold HTTP/1.1', ['Host: localhost', 'X-A: b', ' Transfer-Encoding: chunked'], chunked('hello')), expect: [refused(SMUGGLE), { statuses: [200, 400], upstream: [{ method: 'POST', url: '/te-fold' }] }] },
  { name: 'TE: value folded (obs-fold)', send: R('POST /te-fold2 HTTP/1.1', ['Host: localhost', 'Transfer-Encoding:', ' chunked'], chunked('hello')), expect: [refused(SMUGGLE), ok({ method: 'POST', url: '/te-fold2', body: 'hello' })] },
  { name: 'TE: Chunked (case-insensitive coding name)', send: R('POST /te-case HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: Chunked'], chunked('hello')), expect: [ok({ method: 'POST', url: '/te-case', body: 'hello' }), refused(SMUGGLE)] },
  { name: 'TE: trailing whitespace', send: R('POST /te-trail HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked  '], chunked('hello')), expect: [ok({ method: 'POST', url: '/te-trail', body: 'hello' }), refused(SMUGGLE)] },
  { name: 'Transfer_Encoding (underscore) is not Transfer-Encoding', send: R('POST /te-underscore HTTP/1.1', ['Host: localhost', 'Transfer_Encoding: chunked', 'Content-Length: 0']), expect: ok({ method: 'POST', url: '/te-underscore' }) },
  { name: 'HTTP/1.0 with TE chunked: processed, then closed', send: R('POST /h10-te HTTP/1.0', ['Host: localhost', 'Transfer-Encoding: chunked', 'Connection: keep-alive'], chunked('hello')), expect: [{ ...ok({ method: 'POST', url: '/h10-te', body: 'hello' }), closed: true }, refused(SMUGGLE)] },
  { name: 'CL.TE with the smuggled prefix of a second request', send: R('POST /clte2 HTTP/1.1', ['Host: localhost', 'Content-Length: 35', 'Transfer-Encoding: chunked'], '0\r\n\r\nGET /smuggled HTTP/1.1\r\nX: y'), expect: refused(BAD) },

  // ─── chunk sizes and chunk framing ────────────────────────────────────────────────────────────
  { name: 'chunk size in upper-case hex', send: R('POST /chunk-hex HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], `A\r\n${'x'.repeat(10)}\r\n0\r\n\r\n`), expect: ok({ method: 'POST', url: '/chunk-hex', body: 'x'.repeat(10) }) },
  { name: 'chunk size overflowing 64 bits', send: R('POST /chunk-overflow HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], 'FFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n'), expect: refused([400, 413]) },
  { name: 'chunk size 0xFFFFFFFF with 5 bytes (larger than max_body_bytes)', send: R('POST /chunk-huge HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], 'FFFFFFFF\r\nhello'), expect: refused([400, 408, 413]), ms: 4000 },
  { name: 'chunk size negative', send: R('POST /chunk-neg HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '-5\r\nhello\r\n0\r\n\r\n'), expect: refused(BAD) },
  { name: 'chunk size with 0x prefix', send: R('POST /chunk-0x HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '0x5\r\nhello\r\n0\r\n\r\n'), expect: refused(BAD) },
  { name: 'chunk size with a leading space', send: R('POST /chunk-lsp HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], ' 5\r\nhello\r\n0\r\n\r\n'), expect: refused(BAD) },
  { name: 'chunk size with a trailing space', send: R('POST /chunk-tsp HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '5 \r\nhello\r\n0\r\n\r\n'), expect: [refused(BAD), ok({ method: 'POST', url: '/chunk-tsp', body: 'hello' })] },
  { name: 'chunk size not hex', send: R('POST /chunk-g HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], 'g\r\nhello\r\n0\r\n\r\n'), expect: refused(BAD) },
  { name: 'chunk extension', send: R('POST /chunk-ext HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '5;name=value\r\nhello\r\n0\r\n\r\n'), expect: [ok({ method: 'POST', url: '/chunk-ext', body: 'hello' }), refused(BAD)] },
  { name: 'chunk extension with a quoted CRLF-looking value', send: R('POST /chunk-ext-q HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '5;a="b\\r\\nc"\r\nhello\r\n0\r\n\r\n'), expect: [ok({ method: 'POST', url: '/chunk-ext-q', body: 'hello' }), refused(BAD)] },
  { name: 'chunk extension with a bare LF', send: R('POST /chunk-ext-lf HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '5;a\nb\r\nhello\r\n0\r\n\r\n'), expect: refused(BAD) },
  { name: 'chunk extension 20 KiB long', send: R('POST /chunk-ext-long HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], `5;${big(20 * KiB)}\r\nhello\r\n0\r\n\r\n`), expect: [ok({ method: 'POST', url: '/chunk-ext-long', body: 'hello' }), refused([400, 413, 431])] },
  { name: 'chunk data longer than its size', send: R('POST /chunk-longer HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '3\r\nhello\r\n0\r\n\r\n'), expect: refused(BAD) },
  { name: 'chunk data without its CRLF', send: R('POST /chunk-nocrlf HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '5\r\nhello0\r\n\r\n'), expect: refused(BAD) },
  { name: 'chunked body with bare LF line endings', send: R('POST /chunk-lf HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '5\nhello\n0\n\n'), expect: [refused([400, 408]), ok({ method: 'POST', url: '/chunk-lf', body: 'hello' })], ms: 4000 },
  { name: 'last chunk without the final CRLF (body never ends)', send: R('POST /chunk-unfinished HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\n'), expect: refused([400, 408]), ms: 4000 },
  { name: '1000 one-byte chunks', send: R('POST /chunk-many HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], `${'1\r\nx\r\n'.repeat(1000)}0\r\n\r\n`), expect: ok({ method: 'POST', url: '/chunk-many', body: 'x'.repeat(1000) }) },
  { name: 'chunked body split across writes mid-size and mid-data', send: [R('POST /chunk-split HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '1'), '0\r\n01234567', '89abcdef\r', '\n0\r\n\r\n'], expect: ok({ method: 'POST', url: '/chunk-split', body: '0123456789abcdef' }) },

  // ─── trailers ─────────────────────────────────────────────────────────────────────────────────
  { name: 'trailer field after the last chunk', send: R('POST /trailer HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked', 'Trailer: X-T'], '5\r\nhello\r\n0\r\nX-T: v\r\n\r\n'), expect: ok({ method: 'POST', url: '/trailer', body: 'hello' }) },
  { name: 'trailer carrying Content-Length', send: R('POST /trailer-cl HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\nContent-Length: 1\r\n\r\n'), expect: [ok({ method: 'POST', url: '/trailer-cl', body: 'hello' }), refused(BAD)] },
  { name: 'trailer with an invalid field name', send: R('POST /trailer-bad HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], '5\r\nhello\r\n0\r\nBad Name: v\r\n\r\n'), expect: [refused(BAD), ok({ method: 'POST', url: '/trailer-bad', body: 'hello' })] },
  { name: 'Trailer header without a chunked body', send: R('POST /trailer-nochunk HTTP/1.1', ['Host: localhost', 'Trailer: X-T', 'Content-Length: 5'], 'hello'), expect: refused(BAD) },

  // ─── control bytes and NUL ────────────────────────────────────────────────────────────────────
  { name: 'NUL in the request target', send: R('GET /a\x00b HTTP/1.1', ['Host: localhost']), expect: refused(BAD) },
  { name: 'NUL in a header value', send: R('GET /nul-value HTTP/1.1', ['Host: localhost', 'X-A: a\x00b']), expect: refused(BAD) },
  { name: 'NUL in a header name', send: R('GET /nul-name HTTP/1.1', ['Host: localhost', 'X-\x00A: b']), expect: refused(BAD) },
  { name: 'bare CR in a header value', send: R('GET /cr-value HTTP/1.1', ['Host: localhost', 'X-A: a\rb']), expect: refused(BAD) },
  { name: 'bare CR as line ending', send: 'GET /cr-lines HTTP/1.1\rHost: localhost\r\r', expect: [refused([400, 408])], ms: 4000 },
  { name: 'bare LF line endings throughout', send: 'GET /lf-lines HTTP/1.1\nHost: localhost\n\n', expect: [ok(G('/lf-lines')), refused(BAD)] },
  { name: '0x01 in a header value', send: R('GET /ctl-value HTTP/1.1', ['Host: localhost', 'X-A: a\x01b']), expect: refused(BAD) },
  { name: 'DEL in a header value', send: R('GET /del-value HTTP/1.1', ['Host: localhost', 'X-A: a\x7fb']), expect: [refused(BAD), ok(G('/del-value'))] },
  { name: 'control byte in the method', send: R('G\x01ET /ctl-method HTTP/1.1', ['Host: localhost']), expect: refused(BAD) },
  { name: 'form feed in the target', send: R('GET /a\x0cb HTTP/1.1', ['Host: localhost']), expect: refused(BAD) },
  { name: 'ESC in the target', send: R('GET /a\x1bb HTTP/1.1', ['Host: localhost']), expect: refused(BAD) },

  // ─── header names ─────────────────────────────────────────────────────────────────────────────
  ...['Bad Header', 'X(a)', 'X"a', 'X/a', 'X@a', 'X[a]', 'X{a}', 'X=a', 'X,a', 'X;a', 'X\\a', 'X?a', 'Xé'].map((n): Case => ({
    name: `header name ${JSON.stringify(n)}`,
    send: Buffer.from(R('GET /bad-name HTTP/1.1', ['Host: localhost', `${n}: v`]), 'latin1'),
    expect: refused(BAD),
  })),
  { name: 'empty header name', send: R('GET /empty-name HTTP/1.1', ['Host: localhost', ': v']), expect: refused(BAD) },
  { name: 'header line without a colon', send: R('GET /no-colon HTTP/1.1', ['Host: localhost', 'X-A b']), expect: refused(BAD) },
  { name: 'obs-fold in an ordinary header', send: R('GET /fold HTTP/1.1', ['Host: localhost', 'X-A: b', ' c']), expect: [refused(BAD), ok(G('/fold'))] },
  { name: 'obs-fold in Host', send: R('GET /fold-host HTTP/1.1', ['Host: evil.example', ' localhost']), expect: [refused(BAD), { statuses: [404], upstream: [] }] },

];

/** FORM_CASES: request-line and Host forms, Expect, Connection, pipelining. */
export const FORM_CASES: Case[] = [
  // ─── request-line forms ───────────────────────────────────────────────────────────────────────
  { name: 'absolute-form, routed host, Host agrees', send: R('GET http://localhost/abs HTTP/1.1', ['Host: localhost']), expect: ok(G('/abs')) },
  { name: 'absolute-form with https scheme', send: R('GET https://localhost/abs-https HTTP/1.1', ['Host: localhost']), expect: ok(G('/abs-https')) },
  { name: 'absolute-form overrides a different Host (RFC 9112 §3.2.2)', send: R('GET http://test.local/abs-override HTTP/1.1', ['Host: evil.example']), expect: ok(G('/abs-override', 'test.local')) },
  { name: 'absolute-form with a port', send: R('GET http://test.local:8443/abs-port HTTP/1.1', ['Host: evil.example']), expect: ok(G('/abs-port', 'test.local:8443')) },
  { name: 'absolute-form for an unrouted host, routed Host header', send: R('GET http://evil.example/abs-unrouted HTTP/1.1', ['Host: localhost']), expect: { statuses: [404], upstream: [] } },
  { name: 'absolute-form with userinfo', send: R('GET http://user:pw@localhost/abs-userinfo HTTP/1.1', ['Host: localhost']), expect: [refused(BAD), ok(G('/abs-userinfo')), { statuses: [404], upstream: [] }] },
  { name: 'absolute-form without a path', send: R('GET http://localhost HTTP/1.1', ['Host: localhost']), expect: [ok(G('/')), refused(BAD)] },
  { name: 'absolute-form with an unknown scheme', send: R('GET ftp://localhost/x HTTP/1.1', ['Host: localhost']), expect: refused(BAD) },
  { name: 'authority-form CONNECT', send: R('CONNECT localhost:443 HTTP/1.1', ['Host: localhost:443']), expect: [refused([400, 405, 501]), { statuses: [], upstream: [], closed: true }] },
  { name: 'CONNECT with an origin-form target', send: R('CONNECT / HTTP/1.1', ['Host: localhost']), expect: [refused([400, 405, 501]), { statuses: [], upstream: [], closed: true }] },
  { name: 'asterisk-form OPTIONS', send: R('OPTIONS * HTTP/1.1', ['Host: localhost']), expect: [refused([400, 404, 501]), ok({ method: 'OPTIONS', url: '*' })] },
  { name: 'asterisk-form with GET', send: R('GET * HTTP/1.1', ['Host: localhost']), expect: refused(BAD) },
  { name: 'target without a leading slash', send: R('GET a/b HTTP/1.1', ['Host: localhost']), expect: refused(BAD) },
  { name: 'target with a fragment', send: R('GET /frag#x HTTP/1.1', ['Host: localhost']), expect: [refused(BAD), ok(G('/frag#x')), ok(G('/frag'))] },
  // Node parses a request line without a version as HTTP/0.9 (no headers): portico then has no Host (404)
  { name: 'missing HTTP version (HTTP/0.9 style)', send: 'GET /\r\n\r\n', expect: [refused([400, 505]), { statuses: [404], upstream: [], closed: true }] },
  { name: 'HTTP/0.9', send: R('GET /v09 HTTP/0.9', ['Host: localhost']), expect: refused([400, 505]) },
  { name: 'HTTP/1.2 (an unknown minor)', send: R('GET /v12 HTTP/1.2', ['Host: localhost']), expect: [refused([400, 505]), ok(G('/v12'))] },
  { name: 'HTTP/2.0 in an HTTP/1 request line', send: R('GET /v20 HTTP/2.0', ['Host: localhost']), expect: refused([400, 505]) },
  // found by this suite: `this.h2 = req.httpVersionMajor === 2` took an HTTP/1.1 connection's
  // "HTTP/2.0" request for an h2 stream and threw in the request handler (a crash of the process)
  { name: 'h2 connection preface on an HTTP/1.1 connection', send: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', expect: refused([400, 505]) },
  { name: 'Upgrade: h2c on an HTTP/1.1 connection', send: R('GET /h2c HTTP/1.1', ['Host: localhost', 'Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA']), expect: [ok(G('/h2c')), { statuses: [], upstream: [], closed: true }, refused([400, 426, 501])] },
  { name: 'HTTP/3.0', send: R('GET /v30 HTTP/3.0', ['Host: localhost']), expect: refused([400, 505]) },
  { name: 'HTTP/1.10', send: R('GET /v110 HTTP/1.10', ['Host: localhost']), expect: refused([400, 505]) },
  { name: 'lower-case version', send: R('GET /lower-version http/1.1', ['Host: localhost']), expect: refused([400, 505]) },
  // RFC 9112 §3: a recipient MAY parse the request line on whitespace-delimited word boundaries
  { name: 'two spaces after the method', send: R('GET  /two-spaces HTTP/1.1', ['Host: localhost']), expect: [refused(BAD), ok(G('/two-spaces'))] },
  { name: 'trailing space after the version', send: R('GET /trail-space HTTP/1.1 ', ['Host: localhost']), expect: [refused(BAD), ok(G('/trail-space'))] },
  { name: 'tabs as separators', send: R('GET\t/tabs\tHTTP/1.1', ['Host: localhost']), expect: [refused(BAD), ok(G('/tabs'))] },
  { name: 'lower-case method', send: R('get /lower-method HTTP/1.1', ['Host: localhost']), expect: refused([400, 405, 501]) },
  { name: 'unknown method', send: R('FOO /unknown-method HTTP/1.1', ['Host: localhost']), expect: [refused([400, 405, 501]), ok({ method: 'FOO', url: '/unknown-method' })] },
  { name: 'overlong method', send: R(`${'A'.repeat(1000)} /long-method HTTP/1.1`, ['Host: localhost']), expect: refused([400, 405, 414, 431, 501]) },
  { name: 'overlong target (20 KiB)', send: R(`GET /${big(20 * KiB)} HTTP/1.1`, ['Host: localhost']), expect: refused([400, 414, 431]) },
  { name: 'overlong header (20 KiB)', send: R('GET /long-header HTTP/1.1', ['Host: localhost', `X-Big: ${big(20 * KiB)}`]), expect: refused([431]) },
  { name: '2000 small headers', send: R('GET /many-headers HTTP/1.1', ['Host: localhost', ...Array.from({ length: 2000 }, (_, i) => `X-${i}: v`)]), expect: [refused([400, 431]), ok(G('/many-headers'))] },

  // ─── Host forms ───────────────────────────────────────────────────────────────────────────────
  { name: 'Host with a port', send: R('GET /host-port HTTP/1.1', ['Host: localhost:443']), expect: ok(G('/host-port', 'localhost:443')) },
  { name: 'Host with an empty port', send: R('GET /host-empty-port HTTP/1.1', ['Host: localhost:']), expect: [ok(G('/host-empty-port', 'localhost:')), refused(BAD)] },
  { name: 'Host with a non-numeric port', send: R('GET /host-port-abc HTTP/1.1', ['Host: localhost:abc']), expect: [refused(BAD), { statuses: [404], upstream: [] }] },
  { name: 'Host IPv6 literal', send: R('GET /host-v6 HTTP/1.1', ['Host: [::1]']), expect: ok(G('/host-v6', '[::1]')) },
  { name: 'Host IPv6 literal with a port', send: R('GET /host-v6-port HTTP/1.1', ['Host: [::1]:8443']), expect: ok(G('/host-v6-port', '[::1]:8443')) },
  { name: 'Host IPv6 without brackets', send: R('GET /host-v6-bare HTTP/1.1', ['Host: ::1']), expect: [refused(BAD), { statuses: [404], upstream: [] }] },
  { name: 'Host IPv4 literal', send: R('GET /host-v4 HTTP/1.1', ['Host: 127.0.0.1']), expect: ok(G('/host-v4', '127.0.0.1')) },
  { name: 'Host with userinfo', send: R('GET /host-userinfo HTTP/1.1', ['Host: user@localhost']), expect: [refused(BAD), { statuses: [404], upstream: [] }] },
  { name: 'Host with a trailing dot', send: R('GET /host-dot HTTP/1.1', ['Host: localhost.']), expect: [ok(G('/host-dot', 'localhost.')), ok(G('/host-dot', 'localhost'))] },
  { name: 'Host in upper case', send: R('GET /host-upper HTTP/1.1', ['Host: LOCALHOST']), expect: [ok(G('/host-upper', 'LOCALHOST')), ok(G('/host-upper', 'localhost'))] },
  { name: 'Host empty', send: R('GET /host-empty HTTP/1.1', ['Host:']), expect: [refused(BAD), { statuses: [404], upstream: [] }] },
  { name: 'Host with a space inside', send: R('GET /host-space HTTP/1.1', ['Host: local host']), expect: [refused(BAD), { statuses: [404], upstream: [] }] },
  { name: 'Host with a path', send: R('GET /host-path HTTP/1.1', ['Host: localhost/evil']), expect: [refused(BAD), { statuses: [404], upstream: [] }] },
  { name: 'Host as a list', send: R('GET /host-list HTTP/1.1', ['Host: localhost, evil.example']), expect: [refused(BAD), { statuses: [404], upstream: [] }] },
  { name: 'Host with percent-encoding', send: R('GET /host-pct HTTP/1.1', ['Host: local%68ost']), expect: [refused(BAD), { statuses: [404], upstream: [] }] },
  { name: 'Host with a non-ASCII byte', send: Buffer.from(R('GET /host-8bit HTTP/1.1', ['Host: localh\xf6st']), 'latin1'), expect: [refused(BAD), { statuses: [404], upstream: [] }] },
  { name: 'two Host headers, routed first', send: R('GET /two-host-1 HTTP/1.1', ['Host: localhost', 'Host: evil.example']), expect: refused(BAD) },
  { name: 'two Host headers, routed second', send: R('GET /two-host-2 HTTP/1.1', ['Host: evil.example', 'Host: localhost']), expect: refused(BAD) },
  { name: 'HTTP/1.1 without Host', send: R('GET /no-host HTTP/1.1', []), expect: refused(BAD) },
  { name: 'HTTP/1.0 without Host', send: R('GET /no-host-10 HTTP/1.0', []), expect: [{ statuses: [404], upstream: [], closed: true }, refused(BAD)] },
  { name: 'Host: Connection-listed (Connection: Host)', send: R('GET /conn-host HTTP/1.1', ['Host: localhost', 'Connection: Host']), expect: ok(G('/conn-host')) },

  // ─── Expect ───────────────────────────────────────────────────────────────────────────────────
  { name: 'Expect: 100-continue with the body right behind', send: R('POST /expect HTTP/1.1', ['Host: localhost', 'Expect: 100-continue', 'Content-Length: 5'], 'hello'), expect: ok({ method: 'POST', url: '/expect', body: 'hello' }) },
  { name: 'Expect: 100-continue, body sent after the 100', send: [R('POST /expect-wait HTTP/1.1', ['Host: localhost', 'Expect: 100-continue', 'Content-Length: 5']), 'hello'], after100: true, expect: { ...ok({ method: 'POST', url: '/expect-wait', body: 'hello' }), interim100: true } },
  { name: 'Expect: 100-continue and no body ever', send: R('POST /expect-never HTTP/1.1', ['Host: localhost', 'Expect: 100-continue', 'Content-Length: 5']), expect: { statuses: [408], upstream: [], interim100: true }, ms: 4000 },
  // 417 with the body unread: Node discards the body (never parsed as a request), so the connection may stay open
  { name: 'Expect: something else', send: R('POST /expect-other HTTP/1.1', ['Host: localhost', 'Expect: teapot', 'Content-Length: 5'], 'hello'), expect: [{ statuses: [[400, 417]], upstream: [], closed: false }, { statuses: [[400, 417]], upstream: [], closed: true }] },
  {
    name: 'Expect: something else, with a request as its body',
    send: R('POST /expect-smuggle HTTP/1.1', ['Host: localhost', 'Expect: teapot', 'Content-Length: 49'], 'GET /smuggled-via-417 HTTP/1.1\r\nHost: localhost\r\n\r\n'),
    expect: [{ statuses: [[400, 417]], upstream: [], closed: false }, { statuses: [[400, 417]], upstream: [], closed: true }],
  },

  // ─── Connection ───────────────────────────────────────────────────────────────────────────────
  { name: 'Connection: close, then more bytes', send: R('GET /close-then HTTP/1.1', ['Host: localhost', 'Connection: close']) + GETR('/close-then-2'), expect: { ...ok(G('/close-then')), closed: true } },
  { name: 'HTTP/1.0 keep-alive', send: R('GET /h10-ka HTTP/1.0', ['Host: localhost', 'Connection: keep-alive']), expect: { ...ok(G('/h10-ka')), closed: false } },
  { name: 'HTTP/1.0 without keep-alive closes', send: R('GET /h10 HTTP/1.0', ['Host: localhost']), expect: { ...ok(G('/h10')), closed: true } },

  // ─── pipelining ───────────────────────────────────────────────────────────────────────────────
  { name: 'two pipelined GETs', send: GETR('/pipe-a') + GETR('/pipe-b'), expect: ok(G('/pipe-a'), G('/pipe-b')) },
  { name: 'GET, POST (CL), GET pipelined', send: GETR('/pipe-1') + R('POST /pipe-2 HTTP/1.1', ['Host: localhost', 'Content-Length: 5'], 'hello') + GETR('/pipe-3'), expect: ok(G('/pipe-1'), { method: 'POST', url: '/pipe-2', body: 'hello' }, G('/pipe-3')) },
  { name: 'chunked POST then GET pipelined', send: R('POST /pipe-c HTTP/1.1', ['Host: localhost', 'Transfer-Encoding: chunked'], chunked('hello')) + GETR('/pipe-d'), expect: ok({ method: 'POST', url: '/pipe-c', body: 'hello' }, G('/pipe-d')) },
  { name: 'a well-formed request, then a malformed one', send: GETR('/pipe-good') + 'GET /pipe-bad HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n', expect: { statuses: [200, 400], upstream: [G('/pipe-good')] } },
  { name: 'a well-formed request, then a smuggling attempt', send: GETR('/pipe-ok') + R('POST /pipe-clte HTTP/1.1', ['Host: localhost', 'Content-Length: 4', 'Transfer-Encoding: chunked'], '0\r\n\r\n'), expect: { statuses: [200, 400], upstream: [G('/pipe-ok')] } },
  ...[1 * KiB, 64 * KiB, 1 * MiB].map((size): Case => ({
    name: `three pipelined POSTs with ${size >= MiB ? '1 MiB' : `${size / KiB} KiB`} bodies`,
    send: [0, 1, 2].map((i) => R(`POST /pipe-body-${size}-${i} HTTP/1.1`, ['Host: localhost', `Content-Length: ${size}`], big(size, String.fromCharCode(97 + i)))).join(''),
    expect: ok(...[0, 1, 2].map((i) => ({ method: 'POST', url: `/pipe-body-${size}-${i}`, body: big(size, String.fromCharCode(97 + i)) }))),
    ms: 8000,
  })),
  ...[1 * KiB, 64 * KiB, 1 * MiB].map((size): Case => ({
    name: `three pipelined GETs of ${size >= MiB ? '1 MiB' : `${size / KiB} KiB`} responses, slow reader`,
    send: [0, 1, 2].map((i) => GETR(`/pipe-slow-${size}-${i}?size=${size}`)).join(''),
    slowRead: { bytes: 32 * KiB, interval: 5 },
    expect: ok(...[0, 1, 2].map((i) => G(`/pipe-slow-${size}-${i}?size=${size}`))),
    ms: 8000,
  })),
];

/** CASES is the whole table. */
export const CASES: Case[] = [...FRAMING_CASES, ...FORM_CASES];

/** runCorpus runs `cases` as subtests of `t` against one portico and one recording upstream. */
export async function runCorpus(t: Test, cases: Case[]): Promise<void> {
  const a = await startRecorder('a');
  t.teardown(() => a.close());
  const p = await startProxy(t.testdir(), proxyConfig([{ hosts: ['localhost', 'test.local', '127.0.0.1', '::1'], upstreams: [a.origin], passive: 'max_fails = 3, fail_window = "10s"' }], {
    server: 'shutdown_grace = "1s"',
    timeouts: 'header = "1s"\nbody = "1s"',
  }));
  t.teardown(() => p.close());
  for (const k of cases) {
    t.test(k.name, async (t) => {
      a.reset();
      const c = await rawH1(p.port, { servername: null, slowRead: k.slowRead, methods: k.methods });
      t.teardown(() => c.destroy());
      const pieces = Array.isArray(k.send) ? k.send : [k.send];
      for (const [i, piece] of pieces.entries()) {
        if (i > 0) await (k.after100 ? waitFor100(c) : new Promise((r) => setTimeout(r, 20)));
        c.write(piece);
      }
      const outcomes = Array.isArray(k.expect) ? k.expect : [k.expect];
      const n = Math.max(...outcomes.map((o) => o.statuses.length));
      await c.settle(n, { quiet: 120, ms: k.ms ?? 3000 });
      await new Promise((r) => setTimeout(r, 30)); // the upstream side of the last request lands
      const got = { statuses: c.finals().map((r) => r.status), upstream: a.requests.slice(), closed: c.closed, interim100: c.statuses().includes(100) };
      const verdicts = outcomes.map((o) => mismatch(o, got));
      const matched = verdicts.findIndex((v) => v === null);
      t.ok(matched >= 0, `outcome acceptable`, {
        got: { statuses: got.statuses, closed: got.closed, upstream: got.upstream.map(show) },
        why: verdicts,
      });
      // a 2xx never answers a request the table refuses (smuggling attempts above all)
      if (outcomes.every((o) => o.upstream.length === 0)) t.notOk(got.statuses.some((s) => s >= 200 && s < 300), 'no 2xx for a refused request');
      const fresh = await request({ port: p.port, path: '/fresh' });
      t.equal(fresh.status, 200, 'a fresh request on a new connection is served');
    });
  }

  t.test('afterwards: nothing ejected, nothing in flight, every request logged once', async (t) => {
    t.equal(accessLines(p.logs).filter((l) => l.status === 502 || l.status === 503).length, 0, 'no 502/503 in the access log');
    await assertRoutesIntact(t, p);
  });
}

function waitFor100(c: RawConn): Promise<void> {
  return new Promise((resolve) => {
    const end = Date.now() + 2000;
    const tick = (): void => (c.statuses().includes(100) || c.closed || Date.now() > end ? resolve() : void setTimeout(tick, 10));
    tick();
  });
}

const show = (r: Recorded): string => `${r.method} ${r.url.length > 60 ? `${r.url.slice(0, 60)}…` : r.url} host=${String(r.headers.host)} body=${r.body.length > 40 ? `${r.body.length} bytes` : JSON.stringify(r.body.toString('latin1'))}`;

/** mismatch returns why `got` is not outcome `o` (null: it is). */
function mismatch(o: Outcome, got: { statuses: number[]; upstream: Recorded[]; closed: boolean; interim100: boolean }): string | null {
  if (got.statuses.length !== o.statuses.length) return `statuses ${JSON.stringify(got.statuses)}, want ${JSON.stringify(o.statuses)}`;
  for (const [i, want] of o.statuses.entries()) {
    const okSet = Array.isArray(want) ? want : [want];
    if (!okSet.includes(got.statuses[i]!)) return `status #${i + 1} ${got.statuses[i]}, want ${okSet.join('|')}`;
  }
  if (got.upstream.length !== o.upstream.length) return `upstream saw ${got.upstream.length} requests, want ${o.upstream.length}`;
  for (const [i, want] of o.upstream.entries()) {
    const r = got.upstream[i]!;
    if (r.method !== want.method || r.url !== want.url) return `upstream #${i + 1}: ${r.method} ${r.url}, want ${want.method} ${want.url}`;
    if (r.headers.host !== (want.host ?? 'localhost')) return `upstream #${i + 1}: host ${String(r.headers.host)}, want ${want.host ?? 'localhost'}`;
    const body = want.body ?? '';
    if (typeof body === 'number' ? r.body.length !== body : r.body.toString('latin1') !== body) return `upstream #${i + 1}: body ${r.body.length} bytes, want ${typeof body === 'number' ? body : body.length}`;
  }
  const last = o.statuses.at(-1);
  const lastSet = last === undefined ? [] : Array.isArray(last) ? last : [last];
  const refusedLast = lastSet.length > 0 && lastSet.every((s) => s >= 400 && s !== 404);
  const wantClosed = o.closed ?? (refusedLast ? true : undefined);
  if (wantClosed !== undefined && got.closed !== wantClosed) return wantClosed ? 'connection left open' : 'connection closed';
  if (o.interim100 && !got.interim100) return 'no 100 Continue';
  return null;
}
