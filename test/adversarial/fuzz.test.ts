/**
 * Issue 23, item 10: property-based fuzz of HTTP/1.1 request bytes (fast-check). Each run sends 1–3
 * pipelined requests, built well-formed and then mutated (header insertions and deletions,
 * Content-Length and Transfer-Encoding variations, versions, line endings, obs-fold, random and
 * replaced bytes, truncation), split across writes at random points, over TLS to a spawned portico.
 *
 * Properties:
 * - no crash: the process is alive and the admin /healthz answers 200;
 * - no desync: every request the recording upstream sees is one the run generated (method and url,
 *   each url unique to its run and position), at most once; a request built well-formed and left
 *   unmutated reaches the upstream with exactly its body; no request the upstream saw was also
 *   carried inside another request's body; a run with no mutation at all is answered 200 for every
 *   request and seen upstream exactly;
 * - no ejection: portico_upstream_ejections_total stays 0, every upstream stays up.
 *
 * CI runs a fixed seed and FUZZ_RUNS (default 150) runs; `bash bench/fuzz.sh` runs more
 * (FUZZ_RUNS=20000, a random seed printed for replay: FUZZ_SEED=…), with shrinking (FUZZ_SHRINK=1).
 */
import fc from 'fast-check';
import t from 'tap';
import {
  ejections, proxyConfig, rawH1, request, spawnReady, startRecorder, upstreamStates, type Recorded,
} from '../../test-support/index.js';
import { httpRequest } from '../../test-support/http.js';
import { testDir } from '../../test-support/wait.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = Number(process.env.FUZZ_SEED ?? 20231023);
const SHRINK = process.env.FUZZ_SHRINK === '1';

/** Req is one generated request before rendering. */
interface Req {
  method: string;
  body: string;
  framing: 'cl' | 'chunked' | 'none';
  extra: Array<[string, string]>;
  mutations: Mutation[];
}

type Mutation =
  | { kind: 'insertHeader'; header: [string, string]; at: number }
  | { kind: 'deleteHeader'; at: number }
  | { kind: 'contentLength'; value: string }
  | { kind: 'transferEncoding'; value: string }
  | { kind: 'version'; value: string }
  | { kind: 'lineEnding'; at: number; value: string }
  | { kind: 'obsFold'; at: number }
  | { kind: 'absoluteForm'; authority: string }
  | { kind: 'insertBytes'; at: number; bytes: number[] }
  | { kind: 'replaceByte'; at: number; byte: number }
  | { kind: 'truncate'; at: number };

const DANGEROUS: Array<[string, string]> = [
  ['Content-Length', '0'], ['Content-Length', '5'], ['Content-Length', '100'], ['Transfer-Encoding', 'chunked'], ['Transfer-Encoding', 'gzip, chunked'],
  ['Host', 'evil.example'], ['Host', 'localhost'], ['Connection', 'close'], ['Connection', 'Host'], ['Connection', 'Content-Length'],
  ['Connection', 'Transfer-Encoding'], ['Expect', '100-continue'], ['Expect', 'teapot'], ['Trailer', 'X-T'], ['Upgrade', 'h2c'],
  ['Upgrade', 'websocket'], ['Content-Length', '-1'], ['Transfer-Encoding', 'identity'], ['TE', 'trailers'], ['Keep-Alive', 'timeout=1'],
  ['X-Forwarded-For', '6.6.6.6'], ['Proxy-Connection', 'keep-alive'], ['Transfer_Encoding', 'chunked'], ['Content_Length', '5'],
];
const SAFE_EXTRA: Array<[string, string]> = [['Accept', '*/*'], ['User-Agent', 'fuzz/1'], ['X-A', 'b'], ['Cookie', 'a=1; b=2'], ['Accept-Encoding', 'gzip']];

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('insertHeader' as const), header: fc.constantFrom(...DANGEROUS), at: fc.nat(8) }),
  fc.record({ kind: fc.constant('deleteHeader' as const), at: fc.nat(8) }),
  fc.record({ kind: fc.constant('contentLength' as const), value: fc.constantFrom('0', '1', '3', '5', '6', '64', '-1', '+5', '5, 5', '3, 5', '0x5', ' 5', '5 5', '', '99999999999999999999', '05') }),
  fc.record({ kind: fc.constant('transferEncoding' as const), value: fc.constantFrom('chunked', 'gzip, chunked', 'chunked, chunked', 'xchunked', 'chunked ', '\tchunked', 'identity', 'Chunked', '\x0bchunked', 'chunked, identity', '"chunked"') }),
  fc.record({ kind: fc.constant('version' as const), value: fc.constantFrom('HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1 ', 'http/1.1', 'HTTP/1', 'HTTP/3.0', '') }),
  fc.record({ kind: fc.constant('lineEnding' as const), at: fc.nat(12), value: fc.constantFrom('\n', '\r', '\r\r\n', '\n\r') }),
  fc.record({ kind: fc.constant('obsFold' as const), at: fc.nat(8) }),
  fc.record({ kind: fc.constant('absoluteForm' as const), authority: fc.constantFrom('localhost', 'evil.example', 'localhost:443', 'user@localhost', '[::1]', '') }),
  fc.record({ kind: fc.constant('insertBytes' as const), at: fc.nat(400), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('replaceByte' as const), at: fc.nat(400), byte: fc.constantFrom(0, 9, 10, 11, 13, 32, 58, 0x7f, 0xff, 0x80) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(400) }),
);

const reqArb: fc.Arbitrary<Req> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH'),
  body: fc.oneof(fc.constant(''), fc.constant('hello'), fc.string({ maxLength: 40, unit: fc.constantFrom(...'abcXYZ019 \r\n:;/=-'.split('')) }), fc.constant('x'.repeat(300))),
  framing: fc.constantFrom('cl' as const, 'chunked' as const, 'none' as const),
  extra: fc.subarray(SAFE_EXTRA, { maxLength: 2 }),
  // most requests are mutated, some are left well-formed
  mutations: fc.oneof({ weight: 1, arbitrary: fc.constant([] as Mutation[]) }, { weight: 3, arbitrary: fc.array(mutationArb, { minLength: 1, maxLength: 3 }) }),
});

const runArb = fc.record({ reqs: fc.array(reqArb, { minLength: 1, maxLength: 3 }), splits: fc.array(fc.nat(2000), { maxLength: 4 }) });

/** render turns a generated request into bytes; `url` is unique to the run and position. */
function render(r: Req, url: string): { bytes: Buffer; body: string } {
  const body = r.framing === 'none' ? '' : r.body;
  let version = 'HTTP/1.1';
  let target = url;
  const headers: Array<[string, string]> = [['Host', 'localhost'], ...r.extra];
  if (r.framing === 'cl') headers.push(['Content-Length', String(Buffer.byteLength(body, 'latin1'))]);
  if (r.framing === 'chunked') headers.push(['Transfer-Encoding', 'chunked']);
  let wire = r.framing === 'chunked' ? (body.length > 0 ? `${body.length.toString(16)}\r\n${body}\r\n` : '') + '0\r\n\r\n' : body;
  const folds: number[] = [];
  for (const m of r.mutations) {
    if (m.kind === 'insertHeader') headers.splice(m.at % (headers.length + 1), 0, m.header);
    else if (m.kind === 'deleteHeader' && headers.length > 0) headers.splice(m.at % headers.length, 1);
    else if (m.kind === 'contentLength') headers.push(['Content-Length', m.value]);
    else if (m.kind === 'transferEncoding') {
      headers.push(['Transfer-Encoding', m.value]);
      if (r.framing !== 'chunked') wire = `${wire.length.toString(16)}\r\n${wire}\r\n0\r\n\r\n`;
    } else if (m.kind === 'version') version = m.value;
    else if (m.kind === 'absoluteForm') target = `http://${m.authority}${url}`;
    else if (m.kind === 'obsFold') folds.push(m.at);
  }
  const lines = [`${r.method} ${target}${version === '' ? '' : ` ${version}`}`, ...headers.map(([k, v], i) => (folds.includes(i) ? `${k}:\r\n ${v}` : `${k}: ${v}`))];
  let text = `${lines.join('\r\n')}\r\n\r\n${wire}`;
  let bytes = Buffer.from(text, 'latin1');
  for (const m of r.mutations) {
    if (m.kind === 'lineEnding') {
      // replace the n-th CRLF of the head
      let idx = -1;
      for (let n = 0; n <= m.at % Math.max(1, lines.length); n++) idx = text.indexOf('\r\n', idx + 1);
      if (idx >= 0) text = text.slice(0, idx) + m.value + text.slice(idx + 2);
      bytes = Buffer.from(text, 'latin1');
    } else if (m.kind === 'insertBytes') {
      const at = m.at % (bytes.length + 1);
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(m.bytes), bytes.subarray(at)]);
    } else if (m.kind === 'replaceByte' && bytes.length > 0) {
      bytes = Buffer.from(bytes);
      bytes[m.at % bytes.length] = m.byte;
    } else if (m.kind === 'truncate') {
      bytes = bytes.subarray(0, m.at % (bytes.length + 1));
    }
  }
  return { bytes, body };
}

t.test(`fuzzed HTTP/1.1 request bytes: no crash, no desync, no ejection (seed ${SEED}, ${RUNS} runs)`, async (t) => {
  const a = await startRecorder('a');
  t.teardown(() => a.close());
  const b = await startRecorder('b');
  t.teardown(() => b.close());
  const s = await spawnReady(t, testDir(t), proxyConfig([{ hosts: ['localhost', 'test.local'], upstreams: [a.origin, b.origin], passive: 'max_fails = 3, fail_window = "10s"' }], {
    server: 'shutdown_grace = "1s"',
    timeouts: 'header = "1s"\nbody = "1s"',
  }));
  const port = s.portOf('https');
  const admin = s.portOf('admin');
  const seen = (): Recorded[] => [...a.requests, ...b.requests];
  let runId = 0;
  const violations: string[] = [];
  const checked = new Set<Recorded>();
  const recent = new Map<number, Array<{ bytes: Buffer; body: string; url: string; req: Req }>>();

  const property = fc.asyncProperty(runArb, async (run) => {
    const id = ++runId;
    const rendered = run.reqs.map((r, i) => ({ ...render(r, `/fz/${id}/${i}`), url: `/fz/${id}/${i}`, req: r }));
    const all = Buffer.concat(rendered.map((x) => x.bytes));
    const c = await rawH1(port, { servername: null, methods: run.reqs.map((r) => r.method) });
    try {
      // splits across writes at the generated points
      const cuts = [...new Set(run.splits.map((p) => p % (all.length + 1)))].sort((x, y) => x - y);
      let from = 0;
      for (const cut of [...cuts, all.length]) {
        if (cut > from) c.write(all.subarray(from, cut));
        from = cut;
        await new Promise((r) => setImmediate(r));
      }
      const clean = run.reqs.every((r) => r.mutations.length === 0);
      await c.settle(clean ? run.reqs.length : 1_000_000, { quiet: 60, ms: clean ? 3000 : 1000 });
    } finally {
      c.destroy();
    }
    await new Promise((r) => setTimeout(r, 20));
    recent.set(id, rendered);
    recent.delete(id - 5);
    // the upstream requests that arrived since the last run, each checked against the run whose url it carries (else this one)
    const fresh = seen().filter((q) => !checked.has(q));
    for (const q of fresh) checked.add(q);
    const problems: string[] = [];
    const matched = new Map<string, number>();
    for (const q of fresh) {
      const runOf = Number(/\/fz\/(\d+)\//.exec(q.url)?.[1] ?? id);
      const gens = recent.get(runOf) ?? rendered;
      // a request the upstream sees must start where the client started one (a generated request's
      // first line, possibly mutated): one that starts inside another request's bytes is a desync
      const gen = gens.find((x) => {
        const first = x.bytes.toString('latin1').replace(/^[\r\n]+/, '').split('\n')[0]!;
        return first.startsWith(`${q.method} `) && first.includes(q.url.replace(/^https?:\/\/[^/]*/, ''));
      });
      if (!gen) {
        problems.push(`upstream saw a request no generated request line starts: ${q.method} ${q.url.slice(0, 80)}`);
        continue;
      }
      matched.set(gen.url, (matched.get(gen.url) ?? 0) + 1);
      if (gen.req.mutations.length === 0 && q.body.toString('latin1') !== gen.body) problems.push(`well-formed ${q.url}: upstream body ${JSON.stringify(q.body.toString('latin1').slice(0, 60))}, sent ${JSON.stringify(gen.body.slice(0, 60))}`);
      for (const other of fresh) if (other !== q && other.body.toString('latin1').includes(`${q.method} ${q.url}`)) problems.push(`${q.url} was seen upstream and also inside the body of ${other.url}`);
    }
    for (const [u, n] of matched) if (n > 1) problems.push(`upstream saw ${u} ${n} times`);
    if (run.reqs.every((r) => r.mutations.length === 0)) {
      const mine = fresh.filter((q) => q.url.startsWith(`/fz/${id}/`));
      if (mine.length !== rendered.length) problems.push(`well-formed run: upstream saw ${mine.length} of ${rendered.length} requests`);
      const st = c.finals().map((r) => r.status);
      if (st.length !== rendered.length || st.some((x) => x !== 200)) problems.push(`well-formed run: statuses ${JSON.stringify(st)}`);
    }
    if (s.child.exitCode !== null || s.child.signalCode !== null) problems.push(`portico exited (${s.child.exitCode ?? s.child.signalCode})`);
    if (problems.length > 0) {
      violations.push(`run ${id}: ${problems.join('; ')}`);
      throw new Error(`${problems.join('; ')}\nsent: ${JSON.stringify(all.toString('latin1').slice(0, 600))}`);
    }
  });

  const result = await fc.check(property, { seed: SEED, numRuns: RUNS, endOnFailure: !SHRINK, verbose: 0 });
  t.notOk(result.failed, result.failed ? fc.defaultReportMessage(result) ?? 'property failed' : `${result.numRuns} runs held`, { seed: SEED, counterexamplePath: result.counterexamplePath, violations: violations.slice(0, 5) });

  t.equal(s.child.exitCode, null, 'portico is alive');
  const health = await httpRequest({ port: admin, path: '/healthz' }).catch((e: Error) => ({ status: e.message }));
  t.equal(health.status, 200, 'admin /healthz 200');
  t.equal(await ejections(admin).catch(() => -1), 0, 'no upstream ejected');
  t.same((await upstreamStates(admin).catch(() => [])).filter((u) => u.state !== 'up'), [], 'every upstream up');
  t.equal((await request({ port, path: '/after-fuzz' }).catch((e: Error) => ({ status: e.message }))).status, 200, 'a fresh request is served');
  t.comment(`${runId} runs executed; upstream saw ${seen().length} requests`);
});
