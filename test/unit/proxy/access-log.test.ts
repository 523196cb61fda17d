// The hand-built access line is byte-for-byte what pino writes for the same record (same keys, same
// order, same escaping), follows runtime level changes, and isoTime is pino's isoTime.
import { PassThrough } from 'node:stream';
import t from 'tap';
import { createLogger, isoTime, jsonString, setLogLevel, type Logger } from '../../../src/log.js';
import { millis, writeAccess, type AccessRecord } from '../../../src/proxy/access-log.js';

function capture(level = 'info'): { root: Logger; lines: string[] } {
  const lines: string[] = [];
  const dest = new PassThrough();
  dest.on('data', (c: Buffer) => lines.push(...c.toString().split('\n').filter((l) => l !== '')));
  return { root: createLogger({ level, format: 'json', destination: dest }), lines };
}

const record = (over: Partial<AccessRecord> = {}): AccessRecord => ({
  route: 'app',
  host: 'app.example.com',
  method: 'GET',
  path: '/a/b',
  status: 200,
  upstream: 'http://127.0.0.1:3001',
  attempts: 1,
  duration_ms: 1.234,
  bytes: 13,
  client_ip: '203.0.113.7',
  tls_version: 'TLSv1.3',
  proto: 'http/1.1',
  error: undefined,
  ...over,
});

const flush = () => new Promise((r) => setImmediate(r));

t.test('the access line equals pino output for the same record', async (t) => {
  const cases: Array<[string, Partial<AccessRecord>]> = [
    ['plain', {}],
    ['no route, no upstream, no TLS, an error', { route: null, upstream: null, tls_version: null, status: 503, error: 'PORTICO_ERR_NO_UPSTREAM: no healthy upstream for route app' }],
    ['quotes, backslashes, control characters, unicode', { path: '/a"b\\c\u0001d\ttab/é✓/😀', host: 'xn--bcher-kva.example', error: 'x\ny' }],
    ['a long path (pino switches to JSON.stringify)', { path: '/' + 'p'.repeat(300) + '"' }],
    ['no method', { method: undefined }],
    ['numbers', { duration_ms: 0.001, bytes: 1048576, attempts: 3, status: 499 }],
    ['h2', { proto: 'h2' }],
  ];
  for (const [name, over] of cases) {
    for (const level of ['info', 'warn'] as const) {
      const { root, lines } = capture();
      const log = root.child({ component: 'proxy' });
      const now = Date.now;
      Date.now = () => 1764081600123; // both lines get the same time
      try {
        log[level](record(over), 'request');
        writeAccess(log, level, record(over));
      } finally {
        Date.now = now;
      }
      await flush();
      t.equal(lines.length, 2, name);
      t.equal(lines[1], lines[0], `${name} (${level})`);
      t.same(JSON.parse(lines[1]!).path, record(over).path, `${name}: the path survives JSON`);
    }
  }
});

t.test('a lone surrogate (an error message could hold one) is escaped, where pino writes U+FFFD', async (t) => {
  const { root, lines } = capture();
  writeAccess(root, 'info', record({ error: 'bad \ud800 byte' }));
  await flush();
  t.equal(JSON.parse(lines[0]!).error, 'bad \ud800 byte');
});

t.test('the access line follows the logger level, also after setLogLevel', async (t) => {
  const { root, lines } = capture('info');
  const log = root.child({ component: 'proxy' });
  writeAccess(log, 'info', record());
  setLogLevel(root, 'warn');
  writeAccess(log, 'info', record({ path: '/dropped' }));
  writeAccess(log, 'warn', record({ path: '/kept', status: 502 }));
  setLogLevel(root, 'error');
  writeAccess(log, 'warn', record({ path: '/dropped-too', status: 502 }));
  setLogLevel(root, 'info');
  writeAccess(log, 'info', record({ path: '/again' }));
  await flush();
  t.same(lines.map((l) => JSON.parse(l).path), ['/a/b', '/kept', '/again']);
  t.same(lines.map((l) => JSON.parse(l).level), ['info', 'warn', 'info']);
  t.equal(JSON.parse(lines[0]!).component, 'proxy');
  t.equal(JSON.parse(lines[0]!).pid, process.pid);
});

t.test('isoTime is pino\'s isoTime (cached per second)', async (t) => {
  const now = Date.now;
  try {
    for (const v of [1764081600000, 1764081600007, 1764081600042, 1764081600999, 1764081601000, 1764081601500, 1764081600001, 0, 951782400123]) {
      Date.now = () => v;
      t.equal(isoTime(), `,"time":"${new Date(v).toISOString()}"`, String(v));
    }
  } finally {
    Date.now = now;
  }
});

t.test('jsonString is JSON', async (t) => {
  for (const s of ['', 'abc', 'a"b', 'a\\b', '\u0000\u001f', 'é✓😀', '\udc00', 'x'.repeat(150)]) {
    t.equal(JSON.parse(jsonString(s)), s, JSON.stringify(s));
  }
});

t.test('millis renders a duration as String(n) does', async (t) => {
  const values = [0, 0.001, 0.01, 0.1, 0.5, 0.05, 0.005, 1, 1.2, 1.23, 1.234, 1.02, 1.002, 10.1, 999.999, 1000, 123456.789, 4.56e9, -1, 1.2345, NaN, Infinity, 1e20];
  for (let i = 0; i < 20000; i++) values.push(Math.round(Math.random() * 10 ** (1 + (i % 12))) / 1e3);
  let bad = 0;
  for (const v of values) {
    const want = Number.isFinite(v) ? String(v) : 'null';
    if (millis(v) !== want && bad++ < 5) t.fail(`${v}: ${millis(v)} !== ${want}`);
  }
  t.equal(bad, 0, `${values.length} values`);
});
