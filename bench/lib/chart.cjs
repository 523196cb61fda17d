#!/usr/bin/env node
// chart.cjs MAIN_RAW.tsv OUT.svg [SUBTITLE]: CPU per request of every target in a pinned run, as an SVG
// (three panels: keep-alive µs/req, new TLS connection µs/conn, 1 MiB µs/MiB; medians over rounds).
// portico rows carry a dashed tick at the goal derived from undici-floor on the same Node (1.20× ka,
// 1.15× close, 1/0.90× per MiB).
'use strict';
const fs = require('node:fs');
const { loadRun, at, baseOf, labelOf } = require('./data.cjs');
const { barPanels } = require('./svg.cjs');

const [raw, out, subtitle] = process.argv.slice(2);
if (!raw || !out) { console.error('usage: chart.cjs MAIN_RAW.tsv OUT.svg [SUBTITLE]'); process.exit(2); }
const S = loadRun(raw);
const order = ['nginx-w1', 'nginx-auto', 'haproxy-t1', 'haproxy-t2', 'caddy', 'tls-origin', 'undici-floor', 'portico', 'portico-noaccess', 'node', 'node-cluster2', 'redbird'];
const rank = (t) => { const i = order.indexOf(baseOf(t)); return i < 0 ? (baseOf(t).startsWith('portico') ? 8.5 : 99) : i; };
const targets = S.targets.filter((t) => baseOf(t) !== 'direct' && S.has(t))
  .sort((a, b) => rank(a) - rank(b) || labelOf(a).localeCompare(labelOf(b), undefined, { numeric: true }));
const color = (t) => {
  const b = baseOf(t), newer = labelOf(t) && labelOf(t) !== (/@(.+)$/.exec(targets.find((x) => labelOf(x)) || '') || [])[1];
  if (b.startsWith('portico')) return newer ? '#f08c00' : '#d9480f';
  if (b === 'undici-floor') return newer ? '#4dabf7' : '#1864ab';
  if (b.startsWith('node') || b === 'redbird') return newer ? '#b197fc' : '#7048e8';
  return '#868e96';
};
const goalFor = { ka: 1.2, close: 1.15, big: 1 / 0.9 };
const panel = (sc, title) => ({
  title,
  values: targets.map((t) => S.med(t, sc, 'cpu_us_per_req')),
  missing: targets.map((t) => (S.has(t, sc) ? 'n/a' : 'not run')),
  goals: targets.map((t) => (baseOf(t) === 'portico' ? goalFor[sc] * S.med(at('undici-floor', labelOf(t)), sc, 'cpu_us_per_req') : NaN)),
});
const panels = [panel('ka', 'keep-alive: CPU µs / request'), panel('close', 'new TLS conn: CPU µs / conn'), panel('big', '1 MiB body: CPU µs / MiB')]
  .filter((p) => p.values.some(Number.isFinite));
const lines = [...new Set(targets.map(labelOf).filter(Boolean))];
const svg = barPanels({
  title: 'CPU per request, proxy pinned to one core (lower is better)',
  subtitle: (subtitle || `median of ${S.rounds.length} round${S.rounds.length === 1 ? '' : 's'}; only ratios within this run are meaningful`) +
    (lines.length > 1 ? `; lighter bars: Node ${lines.slice(1).join(', ')}` : ''),
  labels: targets,
  panels,
  colors: targets.map(color),
  legend: [
    { color: '#d9480f', text: 'portico' }, { color: '#1864ab', text: 'undici-floor' }, { color: '#7048e8', text: 'naive node' },
    { color: '#868e96', text: 'nginx / HAProxy / Caddy' }, { goal: true, text: 'goal for portico (from undici-floor, same Node)' },
  ],
});
fs.writeFileSync(out, svg);
console.error(`chart.cjs: wrote ${out} (${targets.length} targets, ${panels.length} panels)`);
