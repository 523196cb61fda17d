#!/usr/bin/env node
// soak-report.cjs DIR: reads what bench/soak.sh left in DIR (soak.csv, wrk-ka.txt, wrk-big.txt, client.json,
// access-stats.txt, params.env) and writes DIR/verdict.md (the verdict and the numbers), DIR/soak.svg (RSS and
// heap over time) and prints the report body (Markdown) on stdout. Exit status 0 even on MISS (the report says it).
//
// Growth criterion (both must hold for "no growth trend"), on the RSS of portico's process tree (/proc):
//   1. slope: least-squares slope of RSS over the second half of the load phase  <= SOAK_MAX_SLOPE MiB/min
//   2. windows: median RSS of the last SOAK_WINDOW seconds of load minus the median of the first SOAK_WINDOW
//      seconds after the warm-up (SOAK_WARMUP)                                  <= SOAK_MAX_GROWTH MiB
// Errors: wrk socket errors + non-2xx (keep-alive GETs and 1 MiB GETs) + the abort client's errors (failures
// before the client chose to abort) must be 0.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { median, fmt } = require('./data.cjs');
const { lineChart } = require('./svg.cjs');

const dir = process.argv[2];
if (!dir) { console.error('usage: soak-report.cjs DIR'); process.exit(2); }
const rd = (f) => { const p = path.join(dir, f); return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : ''; };
const P = Object.fromEntries(rd('params.env').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const T = Number(P.SOAK_SECONDS), WARM = Number(P.SOAK_WARMUP), WIN = Number(P.SOAK_WINDOW);
const MAX_SLOPE = Number(P.SOAK_MAX_SLOPE), MAX_GROWTH = Number(P.SOAK_MAX_GROWTH);

// ---- samples ---------------------------------------------------------------------------------------
const [h, ...ls] = rd('soak.csv').trim().split('\n');
const head = (h || '').split(',');
const rows = ls.filter(Boolean).map((l) => {
  const o = Object.fromEntries(l.split(',').map((v, i) => [head[i], v]));
  for (const k of head) if (k !== 'phase') o[k] = o[k] === '' ? NaN : Number(o[k]);
  return o;
});
const load = rows.filter((r) => r.phase === 'load');
const inWin = (a, b) => load.filter((r) => r.t_s >= a && r.t_s < b);
function slopePerMin(pts, col) {
  const p = pts.filter((r) => Number.isFinite(r[col]));
  if (p.length < 3) return NaN;
  const mx = p.reduce((s, r) => s + r.t_s, 0) / p.length, my = p.reduce((s, r) => s + r[col], 0) / p.length;
  let sxy = 0, sxx = 0;
  for (const r of p) { sxy += (r.t_s - mx) * (r[col] - my); sxx += (r.t_s - mx) ** 2; }
  return sxx > 0 ? (sxy / sxx) * 60 : NaN;
}
const tEnd = load.length ? Math.max(...load.map((r) => r.t_s)) : T;
const half = load.filter((r) => r.t_s >= tEnd / 2);
const first = inWin(WARM, WARM + WIN), last = load.filter((r) => r.t_s > tEnd - WIN);
const analyse = (col) => {
  const slope = slopePerMin(half, col);
  const m1 = median(first.map((r) => r[col])), m2 = median(last.map((r) => r[col]));
  return { slope, m1, m2, growth: m2 - m1 };
};
const rss = analyse('rss_mib'), heap = analyse('heap_used_mib'), fds = analyse('fds'), handles = analyse('handles');
const slopeOk = rss.slope <= MAX_SLOPE, growthOk = rss.growth <= MAX_GROWTH;
const enough = first.length >= 2 && last.length >= 2 && half.length >= 3;
const memVerdict = !enough ? 'INCONCLUSIVE' : slopeOk && growthOk ? 'PASS' : 'MISS';
const idle = rows.find((r) => r.phase === 'idle'), after = rows.filter((r) => r.phase === 'after').pop();
const peak = Math.max(...load.map((r) => r.rss_mib).filter(Number.isFinite));

// ---- errors --------------------------------------------------------------------------------------------
function wrkStats(text) {
  const g = (re) => { const m = re.exec(text); return m ? m : null; };
  const reqs = Number((g(/(\d+) requests in/) || [])[1] || 0);
  const se = g(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const non2xx = Number((g(/Non-2xx or 3xx responses: (\d+)/) || [])[1] || 0);
  const errs = se ? se.slice(1).reduce((s, v) => s + Number(v), 0) + non2xx : non2xx;
  return { ok: !!text && reqs > 0, reqs, errs, detail: se ? `connect ${se[1]}, read ${se[2]}, write ${se[3]}, timeout ${se[4]}, non-2xx ${non2xx}` : `non-2xx ${non2xx}`,
    rps: Number((g(/Requests\/sec:\s+([\d.]+)/) || [])[1] || 0), p99: (g(/\s99%\s+(\S+)/) || [])[1] || 'n/a', transfer: (g(/Transfer\/sec:\s+(\S+)/) || [])[1] || 'n/a' };
}
const ka = wrkStats(rd('wrk-ka.txt')), big = wrkStats(rd('wrk-big.txt'));
let client = null;
try { client = JSON.parse(rd('client.json').trim().split('\n').pop()); } catch { /* missing */ }
const acc = { status: {}, problems: [], lines: 0, access: 0, warn_access: 0, nproblems: 0 };
for (const l of rd('access-stats.txt').split('\n')) {
  const m = /^(\w+) (.*)$/.exec(l);
  if (!m) continue;
  if (m[1] === 'status') { const [c, n] = m[2].split(' '); acc.status[c] = Number(n); }
  else if (m[1] === 'problem') acc.problems.push(m[2]);
  else if (m[1] === 'problems') acc.nproblems = Number(m[2]);
  else acc[m[1]] = Number(m[2]);
}
const totalErrors = (ka.ok ? ka.errs : NaN) + (big.ok ? big.errs : NaN) + (client ? client.errors : NaN);
const errVerdict = Number.isFinite(totalErrors) ? (totalErrors === 0 ? 'PASS' : 'MISS') : 'INCONCLUSIVE';
const s5xx = Object.entries(acc.status).filter(([c]) => c >= '500' && c !== '499').reduce((s, [, n]) => s + n, 0);

// ---- SVG -----------------------------------------------------------------------------------------------
const reg = (() => {   // regression line over the second half, for the plot
  const p = half.filter((r) => Number.isFinite(r.rss_mib));
  if (p.length < 3) return [];
  const mx = p.reduce((s, r) => s + r.t_s, 0) / p.length, my = p.reduce((s, r) => s + r.rss_mib, 0) / p.length;
  const k = rss.slope / 60;
  return [[p[0].t_s, my + k * (p[0].t_s - mx)], [p[p.length - 1].t_s, my + k * (p[p.length - 1].t_s - mx)]];
})();
const verdictText = memVerdict === 'PASS' ? 'no growth trend' : memVerdict === 'MISS' ? 'GROWTH' : 'inconclusive';
fs.writeFileSync(path.join(dir, 'soak.svg'), lineChart({
  title: `portico soak, ${Math.round(T / 60 * 10) / 10} min: RSS ${verdictText}; errors ${Number.isFinite(totalErrors) ? totalErrors : 'n/a'}`,
  subtitle: `${P.DATE || ''} Node ${P.NODE_VERSION || '?'}; keep-alive GETs (wrk -c${P.SOAK_KA_CONNS}), 1 MiB GETs (wrk -c${P.SOAK_BIG_CONNS}), ${P.SOAK_ABORT_CONNS} aborting clients; access log on; sample every ${P.SOAK_SAMPLE} s`,
  series: [
    { name: 'RSS (process tree)', color: '#c92a2a', points: rows.map((r) => [r.t_s, r.rss_mib]) },
    { name: 'V8 heap used', color: '#1c7ed6', points: rows.map((r) => [r.t_s, r.heap_used_mib]) },
    { name: 'V8 heap total', color: '#74c0fc', dash: '3,2', width: 1.2, points: rows.map((r) => [r.t_s, r.heap_total_mib]) },
    { name: `RSS trend ${fmt(rss.slope, 2)} MiB/min`, color: '#222', dash: '6,3', width: 1.4, points: reg },
  ],
  xLabel: 'seconds since the load started',
  yLabel: 'MiB',
  vlines: [{ x: WARM, label: 'warm-up end' }, { x: tEnd, label: 'load end' }],
  bands: [{ x0: WARM, x1: WARM + WIN, label: 'first window' }, { x0: Math.max(WARM, tEnd - WIN), x1: tEnd, label: 'last window' }],
  footer: `criterion: slope over the 2nd half ≤ ${MAX_SLOPE} MiB/min and last-window median − first-window median ≤ ${MAX_GROWTH} MiB`,
}));

// ---- Markdown ------------------------------------------------------------------------------------------
const v = [];
v.push(`**Memory: ${memVerdict}** (${verdictText}): RSS slope over the second half of the load ${fmt(rss.slope, 2)} MiB/min (limit ${MAX_SLOPE}); ` +
  `median of the last ${WIN} s ${fmt(rss.m2, 1)} MiB vs the first ${WIN} s after the ${WARM} s warm-up ${fmt(rss.m1, 1)} MiB: ` +
  `${rss.growth >= 0 ? '+' : ''}${fmt(rss.growth, 1)} MiB (limit +${MAX_GROWTH}). ` +
  `RSS idle ${fmt(idle?.rss_mib, 1)} MiB, peak under load ${fmt(peak, 1)} MiB, ${after ? `${fmt(after.rss_mib, 1)} MiB ${fmt(after.t_s - tEnd, 0)} s after the load.` : ''}`);
v.push('');
v.push(`**Errors: ${errVerdict}**: ${Number.isFinite(totalErrors) ? totalErrors : 'n/a'} failed requests that the client had not aborted ` +
  `(wrk keep-alive ${ka.ok ? ka.errs : 'n/a'}, wrk 1 MiB ${big.ok ? big.errs : 'n/a'}, abort client ${client ? client.errors : 'n/a'}).`);
fs.writeFileSync(path.join(dir, 'verdict.md'), v.join('\n') + '\n');

const o = [...v, ''];
o.push('| measure | first window after warm-up | last window | change | slope, 2nd half |', '|---|---|---|---|---|');
o.push(`| RSS MiB (process tree, /proc) | ${fmt(rss.m1, 1)} | ${fmt(rss.m2, 1)} | ${fmt(rss.growth, 1)} | ${fmt(rss.slope, 2)} MiB/min |`);
o.push(`| V8 heap used MiB (/metrics) | ${fmt(heap.m1, 1)} | ${fmt(heap.m2, 1)} | ${fmt(heap.growth, 1)} | ${fmt(heap.slope, 2)} MiB/min |`);
o.push(`| open fds (/metrics) | ${fmt(fds.m1, 0)} | ${fmt(fds.m2, 0)} | ${fmt(fds.growth, 0)} | ${fmt(fds.slope, 2)} /min |`);
o.push(`| active handles (/metrics) | ${fmt(handles.m1, 0)} | ${fmt(handles.m2, 0)} | ${fmt(handles.growth, 0)} | ${fmt(handles.slope, 2)} /min |`);
o.push('');
o.push('| load | requests | rate | errors | detail |', '|---|---|---|---|---|');
o.push(`| wrk keep-alive GET / (-c${P.SOAK_KA_CONNS}) | ${ka.reqs} | ${fmt(ka.rps, 0)} req/s, p99 ${ka.p99} | ${ka.ok ? ka.errs : 'n/a'} | ${ka.detail} |`);
o.push(`| wrk keep-alive GET 1 MiB (-c${P.SOAK_BIG_CONNS}) | ${big.reqs} | ${fmt(big.rps, 0)} req/s, ${big.transfer}/s | ${big.ok ? big.errs : 'n/a'} | ${big.detail} |`);
if (client) {
  const ba = client.by_action;
  o.push(`| abort client (${client.concurrency} clients) | ${client.actions} actions, ${client.requests_ok} complete requests | ${fmt(client.actions / T, 0)} actions/s | ${client.errors} | ` +
    `${client.aborts} aborts (${client.aborts_hard} hard closes), ${client.answered_early ?? 0} POSTs answered 200 before their body was sent: ${Object.entries(ba).map(([k, x]) => `${k} ${x.n}${x.aborted ? `/${x.aborted} aborted` : ''}${x.errors ? `/${x.errors} errors` : ''}`).join(', ')} |`);
}
o.push('');
if (client?.error_samples?.length) o.push('Abort-client errors (first ones):', '', ...client.error_samples.map((e) => `- ${e}`), '');
const st = Object.entries(acc.status).sort().map(([c, n]) => `${c}: ${n}`).join(', ');
o.push(`portico's access log: ${acc.access} lines (${st || 'none'}); 5xx other than 499 (client gone): ${s5xx}; ` +
  `${acc.nproblems} warn/error lines that are not access lines${acc.problems.length ? ':' : '.'}`);
for (const p of acc.problems.slice(0, 5)) o.push(`    ${p}`);
o.push('', `Criterion: RSS (the whole process tree, from /proc) sampled every ${P.SOAK_SAMPLE} s. "No growth trend" = the least-squares slope over the ` +
  `second half of the load ≤ ${MAX_SLOPE} MiB/min AND the median of the last ${WIN} s − the median of the first ${WIN} s after the ${WARM} s warm-up ≤ ${MAX_GROWTH} MiB. ` +
  'Heap, fds and handles are shown for diagnosis; they do not enter the verdict. Samples: `soak.csv`.');
process.stdout.write(o.join('\n') + '\n');
