// The request metrics keep plain per-route numbers and export them at scrape: the text must be what
// prom-client's own Counter and Histogram printed for the same observations.
import client from 'prom-client';
import t from 'tap';
import { DURATION_BUCKETS, Metrics } from '../../src/metrics.js';

/** block cuts one metric's lines (HELP, TYPE, samples) out of an exposition text. */
function block(text: string, name: string): string {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`# HELP ${name} `) || l.startsWith(`# TYPE ${name} `) || l.startsWith(`${name}{`) || l.startsWith(`${name}_`))
    .join('\n');
}

function reference() {
  const registry = new client.Registry();
  const requests = new client.Counter({
    name: 'portico_requests_total',
    help: 'Requests answered, by route and status code (route "" = no route matched).',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'portico_request_duration_seconds',
    help: 'Time from request received to response finished, by route.',
    labelNames: ['route'] as const,
    buckets: [...DURATION_BUCKETS],
    registers: [registry],
  });
  return {
    registry,
    observe(route: string, status: number, seconds: number) {
      requests.labels(route, String(status)).inc();
      duration.labels(route).observe(seconds);
    },
  };
}

t.test('request count and duration export as prom-client printed them', async (t) => {
  const m = new Metrics();
  const ref = reference();
  const routes = ['web', '', 'api "v2"', 'idle'];
  for (const r of routes) m.forRoute(r);
  const samples: Array<[string, number, number]> = [];
  for (let i = 0; i < 500; i++) {
    const route = routes[i % 3]!;
    const status = [200, 404, 502, 499][i % 4]!;
    const seconds = [0, 0.0005, 0.001, 0.0011, 0.005, 0.3, 2.5, 29, 31, 1000][i % 10]! + (i % 7) * 1e-6;
    samples.push([route, status, seconds]);
  }
  // same first-seen order on both sides: one of each route first
  for (const [route, status, seconds] of samples) {
    m.observe(m.forRoute(route), status, seconds);
    ref.observe(route, status, seconds);
  }
  const ours = await m.text();
  const theirs = await ref.registry.metrics();
  for (const name of ['portico_request_duration_seconds', 'portico_requests_total']) {
    const a = block(ours, name).split('\n').sort();
    const b = block(theirs, name).split('\n').sort();
    t.ok(a.length > 10, `${name}: ${a.length} lines`);
    t.same(a, b, name);
  }
  t.notMatch(ours, /route="idle"/, 'a route without requests has no series');
});

t.test('scrapes do not count twice; counts keep growing between scrapes', async (t) => {
  const m = new Metrics();
  const r = m.forRoute('web');
  m.observe(r, 200, 0.002);
  m.observe(r, 200, 0.002);
  await m.text();
  t.match(await m.text(), /^portico_requests_total\{route="web",status="200"\} 2$/m);
  m.observe(r, 200, 0.002);
  m.observe(r, 503, 0.2);
  const text = await m.text();
  t.match(text, /^portico_requests_total\{route="web",status="200"\} 3$/m);
  t.match(text, /^portico_requests_total\{route="web",status="503"\} 1$/m);
  t.match(text, /^portico_request_duration_seconds_count\{route="web"\} 4$/m);
  t.match(text, /^portico_request_duration_seconds_bucket\{le="0.005",route="web"\} 3$/m);
  t.match(text, /^portico_request_duration_seconds_bucket\{le="\+Inf",route="web"\} 4$/m);
  t.same(m.forRoute('web'), r, 'one object per route');
});

t.test('TLS handshakes are counted full and resumed, from the first scrape on', async (t) => {
  const m = new Metrics();
  t.match(await m.text(), /^portico_tls_handshakes_total\{resumed="false"\} 0$/m, 'both series before any handshake');
  m.tlsHandshake(false);
  m.tlsHandshake(true);
  m.tlsHandshake(false);
  await m.text();
  m.tlsHandshake(true);
  const text = await m.text();
  t.match(text, /^portico_tls_handshakes_total\{resumed="false"\} 2$/m);
  t.match(text, /^portico_tls_handshakes_total\{resumed="true"\} 2$/m);
});

t.test('process metrics are portico_process_* and portico_nodejs_* (issue 26: the prefix was doubled)', async (t) => {
  const text = await new Metrics().text();
  t.match(text, /^portico_process_cpu_seconds_total /m);
  t.match(text, /^portico_process_resident_memory_bytes /m);
  t.match(text, /^portico_nodejs_eventloop_lag_seconds /m);
  t.notMatch(text, /portico_process_process_|portico_process_nodejs_/);
});

t.test('counters: cumulative counts by status class, histogram, started, handshakes (the history reads them)', async (t) => {
  const m = new Metrics();
  const r = m.forRoute('web');
  r.started += 4;
  m.observe(r, 200, 0.002);
  m.observe(r, 404, 0.002);
  m.observe(r, 499, 0.7);
  m.tlsHandshake(true);
  const c = m.counters();
  t.equal(c.pid, process.pid);
  t.same(c.routes, [{ route: 'web', started: 4, count: 3, classes: [0, 1, 0, 2, 0], buckets: [0, 2, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0] }]);
  t.same(c.tls, { full: 0, resumed: 1 });
  t.ok(c.cpu_us > 0 && c.rss > 0);
  t.same(JSON.parse(JSON.stringify(c)), c, 'plain JSON: it crosses IPC');
});
