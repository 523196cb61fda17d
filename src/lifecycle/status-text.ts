/**
 * `portico status`: the dashboard's overview as text tables, for a server without a browser. Made
 * from `/status.json` and `/status/history.json` as the running process serves them (the history is
 * optional: an older process without it still gets its tables). Colours only when asked (a TTY).
 * Units are the page's own (server/status-page/format.js).
 */
import * as f from '../server/status-page/format.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- the documents are JSON read from another process */
type Doc = Record<string, any>;

/** TextOptions: colours (ANSI) or not, and the time the text is about. */
export interface TextOptions {
  color: boolean;
  now?: number;
}

const ANSI = { bold: '1', dim: '2', red: '31', green: '32', yellow: '33', cyan: '36' } as const;
type Style = keyof typeof ANSI;

/** visible is a text's width on a terminal (without colour codes). */
// eslint-disable-next-line no-control-regex -- the colour codes are control characters
const visible = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, '').length;

/** renderTable lines up rows under a header; the last column is not padded (it may be long). */
export function renderTable(head: string[], rows: string[][], paint: (s: string, style: Style) => string): string[] {
  const widths = head.map((h, i) => Math.max(visible(h), ...rows.map((r) => visible(r[i] ?? ''))));
  const line = (cells: string[]) =>
    '  ' + cells.map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - visible(c)))).join('  ').trimEnd();
  return [line(head.map((h) => paint(h, 'dim'))), ...rows.map(line)];
}

/** last is a series' value in the newest sample (null: none then, e.g. no request for a latency). */
const last = (values: Array<number | null> | undefined): number | null => values?.at(-1) ?? null;

/** renderStatusText is what `portico status` prints. */
export function renderStatusText(s: Doc, hist: Doc | null, o: TextOptions): string {
  const now = o.now ?? Date.now();
  const paint = (text: string, style: Style) => (o.color ? `\x1b[${ANSI[style]}m${text}\x1b[0m` : text);
  const state = (st: string) => paint(st, st === 'up' || st === 'running' || st === 'ready' || st === 'success' ? 'green' : st === 'down' || st === 'failed' || st === 'failure' ? 'red' : 'yellow');
  const heading = (text: string) => ['', paint(text, 'bold')];
  const p = s.portico;
  const routesHist = new Map<string, Doc>((hist?.routes ?? []).map((r: Doc) => [r.name, r]));
  const out: string[] = [];
  const r = s.last_reload;
  out.push(`${paint(`portico ${p.version}`, 'bold')} (pid ${p.pid}): ${state(p.ready ? 'ready' : 'not ready')}, up ${f.span(p.uptime_s)}, snapshot v${p.snapshot_version}, ${p.in_flight} in flight`);
  out.push(`  config ${p.config ?? '–'}; last reload: ${r ? `${state(r.result)} ${f.relative(r.at, now)}` : 'none since start'}`);
  if (hist) {
    const rps = [...routesHist.values()].reduce((n, x) => n + (last(x.rps) ?? 0), 0);
    const full = last(hist.tls?.full) ?? 0;
    const resumed = last(hist.tls?.resumed) ?? 0;
    out.push(`  now: ${f.rate(rps)}; TLS handshakes ${f.rate(full + resumed)}${full + resumed > 0 ? ` (${f.percent((resumed / (full + resumed)) * 100)} resumed)` : ''}; portico ${f.percent(last(hist.portico?.cpu_percent))} CPU, ${f.bytes(last(hist.portico?.rss_bytes))} RSS`);
  }
  if (r?.result === 'failure') out.push(...heading('LAST RELOAD FAILED (the previous config keeps serving)'), ...(r.problems ?? []).map((x: string) => `  - ${x}`));

  out.push(...heading('ROUTES'));
  out.push(
    ...renderTable(
      ['route', 'hosts', 'req/s', '4xx/s', '5xx/s', 'p99', 'in flight', 'requests', 'upstreams'],
      (s.routes ?? []).map((rt: Doc) => {
        const h = routesHist.get(rt.name);
        const ups = rt.upstreams ?? [];
        const healthy = `${rt.healthy_upstreams}/${ups.length} up`;
        const upstreams = rt.redirect ? `redirect ${rt.redirect.status} → ${rt.redirect.to}` : rt.healthy_upstreams === ups.length ? paint(healthy, 'green') : paint(healthy, rt.healthy_upstreams === 0 ? 'red' : 'yellow');
        return [rt.name, rt.hosts.join(', '), f.rate(last(h?.rps)), f.rate(last(h?.r4xx)), f.rate(last(h?.r5xx)), f.ms(last(h?.p99_ms)), f.count(last(h?.in_flight)), f.count(rt.requests?.requests), upstreams];
      }),
      paint,
    ),
  );

  for (const rt of s.routes ?? []) out.push(`  ${rt.name}: ${f.features(rt).join(' · ')}`);

  const changes = new Map<string, Doc[]>((hist?.upstreams ?? []).map((u: Doc) => [`${u.route}\u0000${u.url}`, u.changes]));
  out.push(...heading('UPSTREAMS'));
  out.push(
    ...renderTable(
      ['route', 'upstream', 'state', 'for', 'reason / last check'],
      (s.routes ?? []).flatMap((rt: Doc) =>
        (rt.upstreams ?? []).map((u: Doc) => {
          const lastChange = changes.get(`${rt.name}\u0000${u.url}`)?.at(-1);
          const c = u.last_check;
          const check = !u.checks ? 'no active checks' : c === null ? 'not checked yet' : `${c.ok ? c.status : `failed ${c.status ?? c.error}`} · ${f.ms(c.latency_ms)} · ${f.relative(c.at, now)}`;
          return [rt.name, u.url, state(u.state), lastChange ? f.span((now - lastChange.at) / 1000) : 'since start', u.reason ? `${u.reason}` : check];
        }),
      ),
      paint,
    ),
  );

  for (const a of s.apps ?? []) {
    const running = a.workers.filter((w: Doc) => w.state === 'running').length;
    const limit = a.memory.per_worker;
    out.push(...heading(`APP ${a.name}`));
    out.push(`  ${state(a.state)}, ${running} of ${a.workers.length} workers running; pre-start ${a.pre_start.state}${a.pre_start.at ? ` ${f.relative(a.pre_start.at, now)}` : ''}; RSS ${f.bytes(a.memory.rss_total)} of ${f.bytes(limit * a.workers.length)} planned`);
    if (a.error) out.push(`  ${paint(`error: ${a.error}`, 'red')}`);
    out.push(
      ...renderTable(
        ['#', 'pid', 'port', 'state', 'up', 'restarts', 'CPU', 'RSS / limit', 'last exit'],
        a.workers.map((w: Doc) => [String(w.index), String(w.pid ?? '–'), String(w.port), state(w.state), w.uptime_s === null ? '–' : f.span(w.uptime_s), String(w.restarts), f.percent(w.cpu_percent), paint(`${f.bytes(w.rss_bytes)} / ${f.bytes(limit)}`, w.rss_bytes > limit ? 'red' : w.rss_bytes > 0.8 * limit ? 'yellow' : 'green'), w.last_exit ?? '–']),
        paint,
      ),
    );
  }

  out.push(...heading('CERTIFICATES'));
  out.push(
    ...renderTable(
      ['host', 'source', 'expires', 'days left', 'next renewal', 'issuer / ACME'],
      (s.certificates ?? []).map((c: Doc) => {
        const d = f.days(c.not_after, now);
        const left = d === null ? '–' : paint(String(d), d < 7 ? 'red' : d < 21 ? 'yellow' : 'green');
        const acme = c.last_error ? paint(`ACME: ${c.last_error}`, 'red') : (c.issuer ?? '–');
        return [c.host, c.source, c.not_after ? f.date(c.not_after) : '–', left, c.next_renewal ? f.relative(c.next_renewal, now) : '–', acme];
      }),
      paint,
    ),
  );

  if (s.storage) {
    const st = f.storage(s.storage, now);
    out.push(...heading('STORAGE'), `  ${st.ok ? st.text : paint(st.text, 'red')}`);
    const locks = f.locks(s.storage);
    if (locks.length > 0) out.push(...renderTable(['lock', 'held by', 'lease left'], locks, paint));
  }

  const workers = s.data_plane?.workers ?? [];
  if (workers.length > 0) {
    out.push(...heading(`DATA-PLANE WORKERS (${s.data_plane.sharing})`));
    out.push(...renderTable(['#', 'pid', 'state', 'snapshot', 'restarts', 'in flight', 'connections'], workers.map((w: Doc) => [String(w.worker), String(w.pid ?? '–'), state(w.up ? 'up' : 'down'), `v${w.version}`, String(w.restarts), f.count(w.in_flight), f.count(w.connections)]), paint));
  }
  return out.join('\n') + '\n';
}
