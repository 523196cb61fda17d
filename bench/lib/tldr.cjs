#!/usr/bin/env node
// tldr.cjs MAIN_RAW [FULL_EC_RAW] [FULL_RSA_RAW] [REF] -> one compact Markdown table (medians over rounds).
'use strict';
const fs = require('node:fs');
const load = (p) => {
  if (!p || !fs.existsSync(p)) return [];
  const [h, ...ls] = fs.readFileSync(p, 'utf8').trim().split('\n');
  const head = h.split('\t');
  return ls.map((l) => Object.fromEntries(l.split('\t').map((v, i) => [head[i], v])));
};
const [mainP, fullEcP, fullRsaP, ref = 'nginx-w1'] = process.argv.slice(2);
const main = load(mainP), fec = load(fullEcP), frsa = load(fullRsaP);
const num = (v) => (v === undefined || v === 'NA' || v === '' ? NaN : Number(v));
const median = (xs) => {
  const a = xs.filter(Number.isFinite).sort((p, q) => p - q);
  if (!a.length) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
};
const med = (rows, t, sc, col) => median(rows.filter((r) => r.target === t && r.scenario === sc).map((r) => num(r[col])));
const ratio = (rows, t, sc, col) => {
  const rounds = [...new Set(rows.map((r) => r.round))];
  return median(rounds.map((rd) => {
    const a = rows.find((r) => r.round === rd && r.target === t && r.scenario === sc);
    const b = rows.find((r) => r.round === rd && r.target === ref && r.scenario === sc);
    return a && b ? num(a[col]) / num(b[col]) : NaN;
  }));
};
const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const mib = (kb) => (Number.isFinite(kb) ? (kb / 1024).toFixed(0) : 'n/a');
const targets = [...new Set(main.map((r) => r.target))];
const order = ['direct', 'tls-origin', 'nginx-w1', 'nginx-auto', 'haproxy-t1', 'haproxy-t2', 'caddy', 'node', 'node-cluster2', 'redbird'];
targets.sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
const cols = ['target', 'ka req/s', `x ${ref}`, 'p50/p99 ms', 'CPU µs/req', 'h2 req/s', 'resumed hs CPU µs', 'full hs CPU µs (EC)',
  'full hs CPU µs (RSA)', '1 MiB MiB/s', 'CPU µs/MiB', 'RSS idle→peak MiB'];
const out = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
for (const t of targets) {
  const peak = Math.max(...['ka', 'close', 'big', 'h2'].map((s) => med(main, t, s, 'rss_load_kb')).filter(Number.isFinite));
  out.push(`| ${[
    t, f(med(main, t, 'ka', 'rps')), f(ratio(main, t, 'ka', 'rps'), 2),
    `${f(med(main, t, 'ka', 'p50_ms'), 2)}/${f(med(main, t, 'ka', 'p99_ms'), 2)}`, f(med(main, t, 'ka', 'cpu_us_per_req'), 1),
    f(med(main, t, 'h2', 'rps')), f(med(main, t, 'close', 'cpu_us_per_req')), f(med(fec, t, 'close', 'cpu_us_per_req')),
    f(med(frsa, t, 'close', 'cpu_us_per_req')), f(med(main, t, 'big', 'mib_s')), f(med(main, t, 'big', 'cpu_us_per_req')),
    t === 'direct' ? 'n/a' : `${mib(med(main, t, 'ka', 'rss_idle_kb'))}→${mib(peak)}`,
  ].join(' | ')} |`);
}
process.stdout.write(out.join('\n') + '\n');
