// data.cjs: reading one harness run (raw.tsv + failed.tsv + env.txt) and same-run statistics.
// Used by summary.cjs and chart.cjs. Values: median over rounds. Ratios: computed inside each round (same run),
// then the median (and min..max) of those per-round ratios.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const num = (v) => (v === undefined || v === null || v === 'NA' || v === '' ? NaN : Number(v));
const median = (xs) => {
  const a = xs.filter(Number.isFinite).sort((p, q) => p - q);
  if (!a.length) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
};
const fmt = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

function readTsv(p) {
  if (!p || !fs.existsSync(p)) return [];
  const text = fs.readFileSync(p, 'utf8').trim();
  if (!text) return [];
  const [h, ...ls] = text.split('\n');
  const head = h.split('\t');
  return ls.filter(Boolean).map((l) => Object.fromEntries(l.split('\t').map((v, i) => [head[i], v])));
}

/** loadRun(raw.tsv path) -> run object with rows, failures (failed.tsv next to it) and helpers. */
function loadRun(rawPath) {
  const rows = readTsv(rawPath);
  const dir = rawPath ? path.dirname(rawPath) : '';
  const failed = [];
  const fp = dir && path.join(dir, 'failed.tsv');
  if (fp && fs.existsSync(fp)) {
    for (const l of fs.readFileSync(fp, 'utf8').split('\n')) {
      if (!l.trim()) continue;
      const [round, target, ...reason] = l.split('\t');
      failed.push({ round, target, reason: reason.join(' ') });
    }
  }
  const envPath = dir && path.join(dir, 'env.txt');
  const env = envPath && fs.existsSync(envPath) ? fs.readFileSync(envPath, 'utf8') : '';
  const rounds = [...new Set([...rows.map((r) => r.round), ...failed.map((f) => f.round)])].sort((a, b) => a - b);
  const envTargets = (env.match(/^targets: (.*)$/m) || [])[1];
  const targets = [...new Set([...(envTargets ? envTargets.trim().split(/\s+/) : []), ...rows.map((r) => r.target), ...failed.map((f) => f.target)])];
  const idx = new Map(rows.map((r) => [`${r.target}\t${r.scenario}\t${r.round}`, r]));
  const get = (t, sc, rd) => idx.get(`${t}\t${sc}\t${rd}`);
  const run = {
    rawPath, dir, rows, failed, env, rounds, targets,
    get,
    has: (t, sc) => rows.some((r) => r.target === t && (sc === undefined || r.scenario === sc)),
    /** median over rounds of column col */
    med: (t, sc, col) => median(rounds.map((rd) => num(get(t, sc, rd)?.[col]))),
    /** max over rounds */
    max: (t, sc, col) => Math.max(...rounds.map((rd) => num(get(t, sc, rd)?.[col])).filter(Number.isFinite)),
    /** per-round values of f(rd) -> {med, min, max, n} */
    perRound: (f) => {
      const xs = rounds.map(f).filter(Number.isFinite);
      return { med: median(xs), min: xs.length ? Math.min(...xs) : NaN, max: xs.length ? Math.max(...xs) : NaN, n: xs.length };
    },
    /** per-round ratio a.col / b.col (optionally on different scenarios) */
    ratio: (a, sc, col, b, scB = sc, colB = col) => run.perRound((rd) => num(get(a, sc, rd)?.[col]) / num(get(b, scB, rd)?.[colB])),
    failures: (t) => failed.filter((f) => f.target === t),
    firstNonNA: (t, sc, col) => {
      for (const rd of rounds) {
        const v = get(t, sc, rd)?.[col];
        if (v !== undefined && v !== 'NA' && v !== '') return v;
      }
      return undefined;
    },
  };
  return run;
}

/** Node labels in a run, in order of first appearance ("20", "26"); [''] when no target has a @NODE suffix. */
function nodeLabels(...runs) {
  const out = [];
  for (const run of runs) {
    if (!run) continue;
    for (const t of run.targets) {
      const m = /@(.+)$/.exec(t);
      if (m && !out.includes(m[1])) out.push(m[1]);
    }
  }
  return out.length ? out : [''];
}
const at = (base, label) => (label ? `${base}@${label}` : base);
const baseOf = (t) => t.replace(/@.*$/, '');
const labelOf = (t) => (/@(.+)$/.exec(t) || [])[1] || '';

module.exports = { num, median, fmt, readTsv, loadRun, nodeLabels, at, baseOf, labelOf };
