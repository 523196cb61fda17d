#!/usr/bin/env node
// report.cjs RAW.tsv REF [env.txt] -> Markdown tables on stdout.
// Values: median over rounds. Ratios: computed inside each round (same run), then the median of those.
'use strict';
const fs = require('node:fs');
const [rawPath, ref = 'nginx-w1', envPath] = process.argv.slice(2);
const lines = fs.readFileSync(rawPath, 'utf8').trim().split('\n');
const head = lines.shift().split('\t');
const rows = lines.map((l) => Object.fromEntries(l.split('\t').map((v, i) => [head[i], v])));

const num = (v) => (v === undefined || v === 'NA' || v === '' ? NaN : Number(v));
const median = (xs) => {
  const a = xs.filter((x) => Number.isFinite(x)).sort((p, q) => p - q);
  if (!a.length) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
};
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const targets = [...new Set(rows.map((r) => r.target))];
const rounds = [...new Set(rows.map((r) => r.round))];
const get = (t, sc, rd) => rows.find((r) => r.target === t && r.scenario === sc && r.round === rd);
const med = (t, sc, col) => median(rounds.map((rd) => num(get(t, sc, rd)?.[col])));
const ratio = (t, sc, col, base) =>
  median(rounds.map((rd) => {
    const a = num(get(t, sc, rd)?.[col]);
    const b = num(get(base, sc, rd)?.[col]);
    return a / b;
  }));
const busy = (t, sc) => {
  const parts = rounds.map((rd) => (get(t, sc, rd)?.['busy_cpu0/1'] || '').split('/').map(Number));
  const n = Math.max(0, ...parts.map((p) => p.length));
  return Array.from({ length: n }, (_, i) => fmt(median(parts.map((p) => p[i])))).join('/') || 'n/a';
};
const mib = (kb) => (Number.isFinite(kb) ? (kb / 1024).toFixed(1) : 'n/a');
const errs = (t, sc) => rounds.map((rd) => get(t, sc, rd)?.errors ?? '-').join(',');
const has = (t, sc) => rounds.some((rd) => get(t, sc, rd));
const table = (title, cols, body) => {
  const out = [`### ${title}`, '', `| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
  for (const r of body) out.push(`| ${r.join(' | ')} |`);
  return out.join('\n') + '\n';
};

const out = [];
if (envPath && fs.existsSync(envPath)) out.push('```\n' + fs.readFileSync(envPath, 'utf8').trim() + '\n```\n');
out.push(`rounds: ${rounds.length}; values are medians over rounds; "x direct" and "x ${ref}" are per-round ratios (same run), median over rounds.` +
  ` CPU µs/req = user+sys CPU of the proxy's whole process tree / requests; "per proxy core" = 1e6 / CPU µs/req (req/s, or MiB/s for 1 MiB, that one fully busy core of proxy would give).` +
  ` busy% = CPU0/CPU1 busy during the run (CPU1 near 100 in split pinning = the load side, not the proxy, was the limit).\n`);

const sc = (name, title, valCol, valName, digits, extra) => {
  const ts = targets.filter((t) => has(t, name));
  if (!ts.length) return;
  const cols = ['target', valName, 'p50 ms', name === 'h2' ? '' : 'p99 ms', 'x direct', `x ${ref}`, 'CPU µs/req', 'per proxy core', 'busy% c0/c1', 'errors', ...extra.map((e) => e[0])].filter(Boolean);
  const body = ts.map((t) => [
    t, fmt(med(t, name, valCol), digits), fmt(med(t, name, 'p50_ms'), 2),
    ...(name === 'h2' ? [] : [fmt(med(t, name, 'p99_ms'), 2)]),
    has('direct', name) ? fmt(ratio(t, name, valCol, 'direct'), 3) : 'n/a',
    has(ref, name) ? fmt(ratio(t, name, valCol, ref), 2) : 'n/a',
    fmt(med(t, name, 'cpu_us_per_req'), 1), fmt(1e6 / med(t, name, 'cpu_us_per_req') / (name === 'big' ? 1 : 1), 0), busy(t, name), errs(t, name),
    ...extra.map((e) => e[1](t)),
  ]);
  out.push(table(title, cols, body));
};
const upc = (name) => ['upstream conns/req', (t) => fmt(med(t, name, 'up_conns_per_req'), 3)];
sc('ka', 'a. keep-alive HTTPS, 13-byte body (wrk)', 'rps', 'req/s', 0, [
  upc('ka'),
  ['RSS idle MiB', (t) => mib(med(t, 'ka', 'rss_idle_kb'))],
  ['RSS load MiB', (t) => mib(med(t, 'ka', 'rss_load_kb'))],
]);
sc('close', 'b. new TLS connection per request (Connection: close) = handshakes/s', 'rps', 'handshakes/s', 0, [upc('close'),
  ['TLS session', (t) => [...new Set(rounds.map((rd) => get(t, 'close', rd)?.tls_resumption).filter((v) => v && v !== 'NA'))].join(',') || 'n/a'],
]);
sc('big', 'c. 1 MiB body, keep-alive HTTPS', 'mib_s', 'MiB/s', 0, [
  ['RSS load MiB', (t) => mib(med(t, 'big', 'rss_load_kb'))],
]);
sc('h2', 'd. HTTP/2 over TLS (h2load; p50 column = mean request time)', 'rps', 'req/s', 0, [
  ['x own h1 ka', (t) => fmt(median(rounds.map((rd) => num(get(t, 'h2', rd)?.rps) / num(get(t, 'ka', rd)?.rps))), 2)],
]);
// e. memory
{
  const ts = targets.filter((t) => t !== 'direct' && rows.some((r) => r.target === t && r.rss_idle_kb !== 'NA'));
  const peak = (t, col) => Math.max(...['ka', 'close', 'big', 'h2'].map((s) => med(t, s, col)).filter(Number.isFinite));
  out.push(table('e. memory of the proxy process tree (MiB; RSS summed over processes, PSS counts shared pages once)',
    ['target', 'RSS idle', 'PSS idle', 'RSS peak ka', 'RSS peak 1MiB', 'RSS peak any', 'PSS peak any'],
    ts.map((t) => [t, mib(med(t, 'ka', 'rss_idle_kb')), mib(med(t, 'ka', 'pss_idle_kb')), mib(med(t, 'ka', 'rss_load_kb')),
      mib(med(t, 'big', 'rss_load_kb')), mib(peak(t, 'rss_load_kb')), mib(peak(t, 'pss_load_kb'))])));
}
process.stdout.write(out.join('\n'));
