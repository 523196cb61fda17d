#!/usr/bin/env node
// summary.cjs RAW.tsv -> compact Markdown table: each target's CPU cost per scenario and its same-run ratios
// to the yardsticks (keep-alive: undici-floor, the naive node script, nginx-w1; close and 1 MiB: the first of
// those present), plus the access log's cost when portico and portico-noaccess both ran.
// Values: median over rounds. Ratios: computed inside each round (same run), then the median of those.
'use strict';
const fs = require('node:fs');
const [h, ...ls] = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n');
const head = h.split('\t');
const rows = ls.map((l) => Object.fromEntries(l.split('\t').map((v, i) => [head[i], v])));
const num = (v) => (v === undefined || v === 'NA' || v === '' ? NaN : Number(v));
const median = (xs) => {
  const a = xs.filter(Number.isFinite).sort((p, q) => p - q);
  if (!a.length) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
};
const rounds = [...new Set(rows.map((r) => r.round))];
const get = (t, sc, rd) => rows.find((r) => r.target === t && r.scenario === sc && r.round === rd);
const med = (t, sc, col) => median(rounds.map((rd) => num(get(t, sc, rd)?.[col])));
const ratio = (t, sc, col, b) => median(rounds.map((rd) => num(get(t, sc, rd)?.[col]) / num(get(b, sc, rd)?.[col])));
const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const targets = [...new Set(rows.map((r) => r.target))];
const has = (t) => targets.includes(t);
const bases = ['undici-floor', 'node', 'nginx-w1'].filter(has);
const scs = [['ka', 'ka CPU µs/req'], ['close', 'close CPU µs/conn'], ['big', '1 MiB CPU µs/MiB']]
  .filter(([sc]) => rows.some((r) => r.scenario === sc));

const cols = ['target'];
for (const [sc, name] of scs) {
  cols.push(name, ...(sc === 'ka' ? bases : bases.slice(0, 1)).map((b) => `x ${b}`));
  if (sc === 'ka') cols.push('ka req/s', 'ka p99 ms');
  if (sc === 'big') cols.push('MiB/s');
}
cols.push('RSS idle→peak MiB', 'errors');
const out = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
for (const t of targets) {
  const c = [t];
  for (const [sc] of scs) {
    c.push(f(med(t, sc, 'cpu_us_per_req'), 1), ...(sc === 'ka' ? bases : bases.slice(0, 1)).map((b) => f(ratio(t, sc, 'cpu_us_per_req', b), 2)));
    if (sc === 'ka') c.push(f(med(t, 'ka', 'rps')), f(med(t, 'ka', 'p99_ms'), 2));
    if (sc === 'big') c.push(f(med(t, 'big', 'mib_s')));
  }
  const peak = Math.max(...scs.map(([sc]) => med(t, sc, 'rss_load_kb')).filter(Number.isFinite));
  c.push(t === 'direct' ? 'n/a' : `${f(med(t, scs[0]?.[0], 'rss_idle_kb') / 1024)}→${f(peak / 1024)}`);
  const errs = rows.filter((r) => r.target === t).map((r) => r.errors).filter((e) => e !== '0');
  c.push(errs.length ? errs.join(',') : '0');
  out.push(`| ${c.join(' | ')} |`);
}
out.push('', 'CPU = user+sys CPU of the proxy process tree per request (per connection for close, per MiB for 1 MiB);' +
  ' "x T" = that CPU divided by target T\'s, per round, median over rounds (below 1 = cheaper than T).');
if (has('portico') && has('portico-noaccess')) {
  for (const [sc, name] of scs) {
    const d = med('portico', sc, 'cpu_us_per_req') - med('portico-noaccess', sc, 'cpu_us_per_req');
    out.push(`- access log (${name}): portico = ${f(ratio('portico', sc, 'cpu_us_per_req', 'portico-noaccess'), 2)}× portico-noaccess` +
      ` (${d >= 0 ? '+' : ''}${f(d, 1)} µs, difference of medians)`);
  }
}
process.stdout.write(out.join('\n') + '\n');
