// hostile-report.mjs SUMMARY_JSON MAX_SLOPE DATE MACHINE BUILD RAW_DIR QUICK: the markdown report of bench/hostile.sh.
import fs from 'node:fs';

const [file, maxSlope, day, machine, build, raw, quick] = process.argv.slice(2);
const s = JSON.parse(fs.readFileSync(file, 'utf8'));
const row = (name, ok, detail) => `| ${ok ? 'PASS' : 'FAIL'} | ${name} | ${detail} |`;
const c = s.cancels;
const checks = [
  row('normal requests', s.normal.failed === 0 && s.normal.requests > 0, `${s.normal.ok} of ${s.normal.requests} ok, ${s.normal.failed} failed`),
  row('ejections', s.ejections === 0 && s.upstreams_down_samples === 0, `${s.ejections} ejections; an upstream down in ${s.upstreams_down_samples} samples`),
  row('portico alive, no engine assertion', s.portico_alive_at_end && s.engine_assertions === 0, `alive: ${s.portico_alive_at_end}; ERR_ASSERTION lines: ${s.engine_assertions}`),
  row('RSS growth', s.rss_mib.slope_second_half_mib_per_min <= Number(maxSlope), `${s.rss_mib.first?.toFixed(1)} → ${s.rss_mib.last?.toFixed(1)} MiB (max ${s.rss_mib.max?.toFixed(1)}); slope over the second half ${s.rss_mib.slope_second_half_mib_per_min} MiB/min (limit ${maxSlope})`),
  row('cancel → upstream abort within 1 s', c.never_aborted === 0 && c.over_1s === 0 && c.measured > 0, `${c.measured} measured of ${c.total} cancels; over 1 s: ${c.over_1s}; never aborted: ${c.never_aborted}; upstream finished first (< 1 s after the cancel): ${c.upstream_finished_first ?? 0}`),
];
const fmt = (x) => (x === null ? '–' : `${Math.round(x)} ms`);
const lines = [
  `# portico hostile clients: ${day}, ${s.seconds} s${quick === '1' ? ' (--quick: a smoke test, not a result)' : ''}`,
  '',
  `- machine: ${machine}`,
  `- portico ${build}; SEED=${s.seed ?? 'time'}`,
  `- raw data: \`${raw}/\` (summary.json, samples.csv, portico.log)`,
  '',
  '| verdict | check | detail |',
  '| --- | --- | --- |',
  ...checks,
  '',
  `- verdict: ${checks.every((l) => l.startsWith('| PASS')) ? 'PASS' : 'FAIL'}`,
  '',
  '## Cancel → upstream abort delay',
  '',
  '| p50 | p95 | p99 | max | measured | never aborted |',
  '| --- | --- | --- | --- | --- | --- |',
  `| ${fmt(c.p50_ms)} | ${fmt(c.p95_ms)} | ${fmt(c.p99_ms)} | ${fmt(c.max_ms)} | ${c.measured} | ${c.never_aborted} |`,
  '',
  c.never_samples.length ? `Never aborted (first ${c.never_samples.length}): ${c.never_samples.map((x) => `\`${x}\``).join(', ')}` : '',
  '',
  '## Clients',
  '',
  '| mix | connections/streams | failures | samples |',
  '| --- | --- | --- | --- |',
  `| normal | ${s.normal.requests} | ${s.normal.failed} | ${s.normal.samples.slice(0, 3).map((x) => `\`${x}\``).join('<br>')} |`,
  ...Object.entries(s.hostile).map(([k, v]) => `| ${k} | ${v.n} | ${v.failed} | ${v.samples.map((x) => `\`${x}\``).join('<br>')} |`),
  '',
  `Access-log statuses: ${Object.entries(s.access_statuses).map(([k, v]) => `${k}: ${v}`).join(', ')}; in flight at the end: ${s.in_flight_end}.`,
  '',
];
process.stdout.write(lines.join('\n'));
