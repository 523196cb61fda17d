// @ts-check
/**
 * The dashboard (`GET /status`): draws the status document and the history the page came with, then
 * fetches `/status.json` and `/status/history.json` every history step and draws them again. Every
 * value reaches the page as text (textContent), never as markup.
 */
import * as f from './format.js';
import { healthBand, lastValue, lineChart } from './chart.js';

/** @typedef {Record<string, any>} Doc */

/** @param {string} id @returns {Doc} */
const initial = (id) => JSON.parse(document.getElementById(id)?.textContent ?? 'null');

const state = {
  /** @type {Doc} */ status: initial('initial-status'),
  /** @type {Doc} */ history: initial('initial-history'),
  updated: Date.now(),
  /** @type {string | null} */ error: null,
};

/**
 * h creates an HTML element: attributes (class, title, data-*, …), then children (text or nodes).
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {Array<Node | string | null | undefined | false>} children
 * @returns {HTMLElement}
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** @param {string} id @param {Array<Node>} nodes */
function fill(id, nodes) {
  document.getElementById(id)?.replaceChildren(...nodes);
}

/** pill: a coloured state word. @param {string} text @param {string} kind ok | warn | bad | idle */
const pill = (text, kind) => h('span', { class: `pill ${kind}` }, text);

/**
 * meter: a bar for value/max (0..1 filled), coloured by kind.
 * @param {number} value @param {number} max @param {string} kind @param {string} label
 */
function meter(value, max, kind, label) {
  const bar = h('span', { class: `fill ${kind}` });
  bar.style.width = `${Math.max(0, Math.min(100, max > 0 ? (value / max) * 100 : 0)).toFixed(1)}%`;
  return h('span', { class: 'meter', title: label, role: 'meter', 'aria-valuenow': value, 'aria-valuemax': max, 'aria-label': label }, bar);
}

/** table: a header row and body rows (cells: text or nodes). @param {string[]} head @param {Array<Array<Node | string>>} rows @param {string} [cls] */
function table(head, rows, cls = '') {
  return h('table', { class: cls }, h('thead', {}, h('tr', {}, ...head.map((c) => h('th', {}, c)))), h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))));
}

const now = () => Date.now();

// ─── overview and attention ─────────────────────────────────────────────

/** @param {Doc} s @param {Doc} hist */
function overview(s, hist) {
  const p = s.portico;
  const t = now();
  const routes = hist.routes ?? [];
  const rps = routes.reduce((n, /** @type {Doc} */ r) => n + (lastValue(r.rps) ?? 0), 0);
  const full = lastValue(hist.tls?.full ?? []) ?? 0;
  const resumed = lastValue(hist.tls?.resumed ?? []) ?? 0;
  const reload = s.last_reload;
  const workers = s.data_plane?.workers ?? [];
  const tile = (/** @type {string} */ label, /** @type {Node | string} */ value, /** @type {string | null} */ sub, /** @type {string} */ id) =>
    h('div', { class: 'tile', 'data-tile': id }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), sub ? h('div', { class: 'sub' }, sub) : null);
  document.getElementById('version')?.replaceChildren(`${p.version} · pid ${p.pid}`);
  return [
    tile('state', p.ready ? pill('ready', 'ok') : pill('not ready', 'warn'), `${p.in_flight} in flight${p.websockets > 0 ? ` · ${p.websockets} WebSocket${p.websockets === 1 ? '' : 's'}` : ''}`, 'ready'),
    tile('uptime', f.span(p.uptime_s), `since ${p.uptime_s < 20 * 3600 ? f.clock(f.toMs(p.started_at) ?? t) : f.date(p.started_at)}`, 'uptime'),
    tile('config', `snapshot v${p.snapshot_version}`, p.config ? String(p.config).split('/').pop() ?? '' : null, 'config'),
    tile(
      'last reload',
      reload === null || reload === undefined ? 'none yet' : reload.result === 'success' ? pill('success', 'ok') : pill('failed', 'bad'),
      reload ? `${f.relative(reload.at, t)}${reload.problems?.length ? ` · ${reload.problems.length} problem${reload.problems.length === 1 ? '' : 's'}` : ''}` : null,
      'reload',
    ),
    tile('requests', f.rate(rps), `${f.count(routes.reduce((n, /** @type {Doc} */ r) => n + (s.routes?.find((/** @type {Doc} */ x) => x.name === r.name)?.requests?.requests ?? 0), 0))} since start`, 'requests'),
    tile('TLS handshakes', f.rate(full + resumed), full + resumed > 0 ? `${f.percent((resumed / (full + resumed)) * 100)} resumed` : 'none lately', 'tls'),
    tile('portico', `${f.percent(lastValue(hist.portico?.cpu_percent ?? []))} CPU`, `${f.bytes(lastValue(hist.portico?.rss_bytes ?? []))} RSS`, 'self'),
    tile('data plane', workers.length === 0 ? 'this process' : `${workers.filter((/** @type {Doc} */ w) => w.up).length} of ${workers.length} workers`, workers.length === 0 ? 'server.workers = 1' : s.data_plane.sharing, 'data-plane'),
  ];
}

/** attention lists what an operator should look at, worst first. @param {Doc} s */
function attention(s) {
  const t = now();
  /** @type {Array<[string, string]>} */
  const items = [];
  if (!s.portico.ready) items.push(['warn', 'portico is not ready (starting, or shutting down)']);
  const r = s.last_reload;
  if (r?.result === 'failure') items.push(['bad', `the last reload failed ${f.relative(r.at, t)}; the previous config keeps serving: ${(r.problems ?? []).join('; ')}`]);
  for (const route of s.routes ?? []) {
    const ups = route.upstreams ?? [];
    const down = ups.filter((/** @type {Doc} */ u) => !u.healthy);
    if (ups.length > 0 && down.length === ups.length) items.push(['bad', `route ${route.name}: no healthy upstream (requests get 503)`]);
    else if (down.length > 0) items.push(['warn', `route ${route.name}: ${down.length} of ${ups.length} upstreams out of the pool (${down.map((/** @type {Doc} */ u) => `${u.url}: ${u.reason ?? u.state}`).join('; ')})`]);
  }
  for (const a of s.apps ?? []) {
    if (a.state === 'failed') items.push(['bad', `app ${a.name} failed: ${a.error ?? 'no reason given'}`]);
    const waiting = (a.workers ?? []).filter((/** @type {Doc} */ w) => w.state === 'backoff');
    if (waiting.length > 0) items.push(['warn', `app ${a.name}: ${waiting.length} worker${waiting.length === 1 ? '' : 's'} waiting to restart (${waiting.map((/** @type {Doc} */ w) => `#${w.index}: ${w.last_exit ?? 'exited'}`).join('; ')})`]);
  }
  const st = f.storage(s.storage, t);
  if (!st.ok) items.push(['bad', `storage: ${st.text}`]);
  const m = s.apps_memory;
  if (m && m.rss_bytes > m.budget_bytes) items.push(['warn', `app workers use ${f.bytes(m.rss_bytes)}, over the memory budget of ${f.bytes(m.budget_bytes)}`]);
  for (const c of s.certificates ?? []) {
    const d = f.days(c.not_after, t);
    if (c.renewal_failing || c.last_error) items.push([c.renewal_failing ? 'bad' : 'warn', `certificate ${c.host}: ACME ${c.renewal_failing ? 'renewal failing' : 'attempt failed'}: ${c.last_error ?? ''}`]);
    else if (d !== null && d < 0) items.push(['bad', `certificate ${c.host} expired ${f.relative(c.not_after, t)}`]);
    else if (d !== null && d < 14 && c.source !== 'acme') items.push(['warn', `certificate ${c.host} expires ${f.relative(c.not_after, t)}`]);
  }
  items.sort((a, b) => (a[0] === b[0] ? 0 : a[0] === 'bad' ? -1 : 1));
  return items;
}

// ─── charts ─────────────────────────────────────────────────────────────

/** @param {Doc} hist */
const frame = (hist) => ({ times: hist.times ?? [], now: (hist.times ?? []).at(-1) ?? now(), windowMs: hist.window_ms ?? 900_000 });

/** reloadMarks: the reloads inside the window, as chart marks. @param {Doc} hist */
const reloadMarks = (hist) => (hist.reloads ?? []).map((/** @type {Doc} */ r) => ({ at: f.toMs(r.at) ?? 0, label: `reload ${r.result} at ${f.clock(f.toMs(r.at) ?? 0, true)}${r.problems?.length ? `: ${r.problems.join('; ')}` : ''}` }));

/** @param {Doc} s @param {Doc} hist */
function routeCards(s, hist) {
  const byName = new Map((hist.routes ?? []).map((/** @type {Doc} */ r) => [r.name, r]));
  const names = (s.routes ?? []).map((/** @type {Doc} */ r) => r.name);
  const noRoute = byName.get('');
  if (noRoute && noRoute.rps.some((/** @type {number | null} */ v) => v !== null && v > 0)) names.push('');
  const fr = frame(hist);
  const marks = reloadMarks(hist);
  return names.map((/** @type {string} */ name) => {
    const conf = (s.routes ?? []).find((/** @type {Doc} */ r) => r.name === name);
    const hr = byName.get(name) ?? { rps: [], r4xx: [], r5xx: [], p50_ms: [], p95_ms: [], p99_ms: [], in_flight: [] };
    const ups = conf?.upstreams ?? [];
    const healthy = conf?.healthy_upstreams ?? 0;
    const totals = conf?.requests;
    const head = h(
      'header',
      { class: 'card-head' },
      h('h3', {}, name === '' ? '(no route matched)' : name),
      conf ? h('span', { class: 'muted hosts' }, `${conf.hosts.join(', ')}${conf.path_prefix && conf.path_prefix !== '/' ? ` ${conf.path_prefix}` : ''}`) : h('span', { class: 'muted' }, 'requests for hosts or paths no route serves'),
      conf?.redirect ? pill(`redirect ${conf.redirect.status} → ${conf.redirect.to}`, 'idle') : conf ? pill(`${healthy}/${ups.length} up`, ups.length === 0 ? 'idle' : healthy === ups.length ? 'ok' : healthy === 0 ? 'bad' : 'warn') : null,
    );
    const stats = h(
      'dl',
      { class: 'stats' },
      ...stat('req/s', f.rate(lastValue(hr.rps))),
      ...stat('4xx/s', f.rate(lastValue(hr.r4xx))),
      ...stat('5xx/s', f.rate(lastValue(hr.r5xx))),
      ...stat('p99', f.ms(lastValue(hr.p99_ms))),
      ...stat('in flight', f.count(lastValue(hr.in_flight))),
      ...(totals ? stat('since start', f.count(totals.requests), 'requests') : []),
    );
    const id = `route-${name}`;
    return h(
      'article',
      { class: 'card wide', 'data-route': name },
      head,
      conf ? h('p', { class: 'muted features', 'data-features': name }, f.features(conf).join(' · ')) : null,
      stats,
      h(
        'div',
        { class: 'pair' },
        lineChart({ id: `${id}-rps`, title: 'requests per second', ...fr, marks, format: f.rate, series: [
          { name: 'all', values: hr.rps, cls: 'c-total', area: true },
          { name: '4xx', values: hr.r4xx, cls: 'c-4xx' },
          { name: '5xx', values: hr.r5xx, cls: 'c-5xx' },
        ] }),
        lineChart({ id: `${id}-lat`, title: 'latency', ...fr, marks, format: f.ms, series: [
          { name: 'p50', values: hr.p50_ms, cls: 'c-p50' },
          { name: 'p95', values: hr.p95_ms, cls: 'c-p95' },
          { name: 'p99', values: hr.p99_ms, cls: 'c-p99' },
        ] }),
      ),
    );
  });
}

/** stat: a dt/dd pair. @param {string} label @param {string} value @param {string} [key] */
function stat(label, value, key = label) {
  return [h('dt', {}, label), h('dd', { 'data-stat': key }, value)];
}

// ─── upstreams ──────────────────────────────────────────────────────────

/** @param {Doc} s @param {Doc} hist */
function upstreamTable(s, hist) {
  const t = now();
  const changes = new Map((hist.upstreams ?? []).map((/** @type {Doc} */ u) => [`${u.route}\u0000${u.url}`, u.changes]));
  const started = f.toMs(s.portico.started_at);
  // an app worker's upstream exists since the worker started (a replacement is a new upstream)
  const workerSince = new Map();
  for (const a of s.apps ?? []) for (const w of a.workers ?? []) if (w.uptime_s !== null) workerSince.set(`${a.name}:${w.port}`, t - w.uptime_s * 1000);
  const rows = [];
  for (const r of s.routes ?? []) {
    for (const u of r.upstreams ?? []) {
      const since = (r.app ? workerSince.get(`${r.app}:${new URL(u.url).port}`) : null) ?? started;
      const ch = changes.get(`${r.name}\u0000${u.url}`) ?? [];
      const last = ch.at(-1);
      const kind = u.state === 'up' ? 'ok' : u.state === 'trial' ? 'warn' : 'bad';
      const c = u.last_check;
      const check = !u.checks
        ? h('span', { class: 'muted' }, 'no active checks')
        : c === null
          ? h('span', { class: 'muted' }, 'not yet')
          : h('span', {}, c.ok ? pill(String(c.status), 'ok') : pill(c.status ?? 'failed', 'bad'), ` ${c.error ? `${c.error} · ` : ''}${f.ms(c.latency_ms)} · ${f.relative(c.at, t)}`);
      rows.push([
        h('span', { class: 'mono' }, r.name),
        h('span', { class: 'mono' }, u.url),
        h('div', { class: 'state-cell', 'data-route': r.name, 'data-upstream': u.url, 'data-state': u.state }, pill(u.state, kind), h('span', { class: 'since' }, last ? ` for ${f.span((t - last.at) / 1000)}` : ' since start'), u.reason ? h('div', { class: 'reason' }, u.reason) : null, u.ejected_until ? h('div', { class: 'muted' }, `trial ${f.relative(u.ejected_until, t)}`) : null),
        healthBand({ changes: ch, current: u.state, now: t, windowMs: hist.window_ms ?? 900_000, since }),
        check,
        `${u.consecutive_passes} / ${u.consecutive_fails}${u.recent_failures ? ` · ${u.recent_failures} recent failures` : ''}`,
      ]);
    }
  }
  if (rows.length === 0) return [h('p', { class: 'muted' }, 'no upstreams')];
  return [table(['route', 'upstream', 'state', 'last 15 minutes', 'last check', 'passes / fails'], rows, 'upstreams')];
}

// ─── apps ───────────────────────────────────────────────────────────────

const WORKER_CLASSES = ['w0', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7'];

/** @param {Doc} s @param {Doc} hist */
function appCards(s, hist) {
  const t = now();
  const fr = frame(hist);
  return (s.apps ?? []).map((/** @type {Doc} */ a) => {
    const ha = (hist.apps ?? []).find((/** @type {Doc} */ x) => x.name === a.name) ?? { workers: [], restarts: [], memory_limit_bytes: a.memory.per_worker };
    const limit = a.memory.per_worker;
    const running = a.workers.filter((/** @type {Doc} */ w) => w.state === 'running').length;
    const planned = limit * a.workers.filter((/** @type {Doc} */ w) => w.state !== 'stopped').length;
    const restartMarks = [];
    for (let i = 1; i < ha.restarts.length; i++) {
      const [prev, cur] = [ha.restarts[i - 1], ha.restarts[i]];
      if (prev !== null && cur !== null && cur > prev) restartMarks.push({ at: fr.times[i], label: `${cur - prev} worker restart${cur - prev === 1 ? '' : 's'} by ${f.clock(fr.times[i], true)}` });
    }
    const marks = [...reloadMarks(hist), ...restartMarks];
    const pre = a.pre_start;
    const preText = pre.state === 'none' ? 'no pre-start step' : pre.state === 'done' ? `pre-start done ${f.relative(pre.at, t)}` : `pre-start ${pre.state}`;
    const series = (/** @type {string} */ key) => ha.workers.map((/** @type {Doc} */ w, /** @type {number} */ i) => ({ name: `#${w.index}`, values: w[key], cls: `c-${WORKER_CLASSES[i % WORKER_CLASSES.length]}` }));
    const workers = table(
      ['#', 'pid', 'port', 'state', 'up', 'restarts', 'CPU', 'memory', 'last exit'],
      a.workers.map((/** @type {Doc} */ w) => [
        String(w.index),
        w.pid === null ? '–' : String(w.pid),
        String(w.port),
        pill(w.state, w.state === 'running' ? 'ok' : w.state === 'backoff' || w.state === 'starting' ? 'warn' : 'idle'),
        w.uptime_s === null ? '–' : f.span(w.uptime_s),
        String(w.restarts),
        f.percent(w.cpu_percent),
        h('span', { class: 'mem' }, meter(w.rss_bytes, limit, w.rss_bytes > limit ? 'bad' : w.rss_bytes > 0.8 * limit ? 'warn' : 'ok', `${f.bytes(w.rss_bytes)} of ${f.bytes(limit)}`), ` ${f.bytes(w.rss_bytes)} / ${f.bytes(limit)}`),
        w.last_exit ?? '–',
      ]),
      'workers',
    );
    return h(
      'article',
      { class: 'card wide', 'data-app': a.name },
      h('header', { class: 'card-head' }, h('h3', {}, a.name), pill(a.state, a.state === 'running' ? 'ok' : a.state === 'failed' ? 'bad' : 'warn'), h('span', { class: 'muted', 'data-stat': 'workers' }, `${running} of ${a.workers.length} workers running`), h('span', { class: 'muted' }, preText)),
      a.error ? h('p', { class: 'error' }, a.error) : null,
      h('div', { class: 'budget' }, 'memory ', meter(a.memory.rss_total, planned, a.memory.rss_total > planned ? 'bad' : 'ok', `RSS ${f.bytes(a.memory.rss_total)} of ${f.bytes(planned)}`), ` RSS ${f.bytes(a.memory.rss_total)} of ${f.bytes(planned)} planned (${a.workers.length} × ${f.bytes(limit)})`),
      h(
        'div',
        { class: 'pair' },
        lineChart({ id: `app-${a.name}-cpu`, title: 'CPU per worker (% of one core)', ...fr, marks, format: f.percent, maxHint: 10, series: series('cpu_percent') }),
        lineChart({ id: `app-${a.name}-rss`, title: 'memory per worker (RSS)', ...fr, marks, format: f.bytes, binary: true, limit: { value: limit, label: `limit ${f.bytes(limit)}` }, series: series('rss_bytes') }),
      ),
      workers,
    );
  });
}

// ─── certificates, system, reloads ──────────────────────────────────────

/** @param {Doc} s */
function certificateTable(s) {
  const t = now();
  const rows = (s.certificates ?? []).map((/** @type {Doc} */ c) => {
    const d = f.days(c.not_after, t);
    const kind = d === null ? 'idle' : d < 7 ? 'bad' : d < 21 ? 'warn' : 'ok';
    const acme = c.source !== 'acme' ? h('span', { class: 'muted' }, '–') : c.last_error ? h('span', { class: 'error' }, `${c.last_error}${c.next_attempt ? ` (next attempt ${f.relative(c.next_attempt, t)})` : ''}`) : h('span', {}, c.state ?? 'ok');
    return [
      h('span', { class: 'mono' }, c.host),
      c.source,
      c.issuer ?? '–',
      c.not_after ? f.date(c.not_after) : '–',
      h('span', { class: 'days', 'data-days': d ?? '' }, meter(Math.max(0, d ?? 0), 90, kind, d === null ? 'unknown' : `${d} days left`), ` ${d === null ? 'unknown' : d < 0 ? `expired ${f.relative(c.not_after, t)}` : `${d} d`}`),
      c.next_renewal ? f.relative(c.next_renewal, t) : c.source === 'self-signed' ? 'made at start' : '–',
      acme,
    ];
  });
  if (rows.length === 0) return [h('p', { class: 'muted' }, 'no certificates')];
  return [table(['host', 'source', 'issuer', 'expires', 'days left', 'next renewal', 'ACME'], rows, 'certs')];
}

/** @param {Doc} hist */
function systemCharts(hist) {
  const fr = frame(hist);
  const marks = reloadMarks(hist);
  return [
    lineChart({ id: 'tls', width: 400, title: 'TLS handshakes per second', ...fr, marks, format: f.rate, series: [
      { name: 'full', values: hist.tls?.full ?? [], cls: 'c-full', area: true },
      { name: 'resumed', values: hist.tls?.resumed ?? [], cls: 'c-resumed' },
    ] }),
    lineChart({ id: 'self-cpu', width: 400, title: 'portico CPU (% of one core)', ...fr, marks, format: f.percent, maxHint: 10, series: [{ name: 'CPU', values: hist.portico?.cpu_percent ?? [], cls: 'c-total', area: true }] }),
    lineChart({ id: 'self-rss', width: 400, title: 'portico memory (RSS)', ...fr, marks, format: f.bytes, binary: true, series: [{ name: 'RSS', values: hist.portico?.rss_bytes ?? [], cls: 'c-p95', area: true }] }),
  ];
}

/** @param {Doc} s */
function dataPlaneTable(s) {
  const workers = s.data_plane?.workers ?? [];
  if (workers.length === 0) return [];
  const t = now();
  return [
    h('h3', {}, `data-plane workers (${s.data_plane.sharing})`),
    table(
      ['#', 'pid', 'state', 'snapshot', 'started', 'restarts', 'in flight', 'connections'],
      workers.map((/** @type {Doc} */ w) => [String(w.worker), String(w.pid ?? '–'), pill(w.up ? 'up' : 'down', w.up ? 'ok' : 'bad'), `v${w.version}`, f.relative(w.started_at, t), String(w.restarts), f.count(w.in_flight), f.count(w.connections)]),
      'data-plane',
    ),
  ];
}

/** storageBlock: where the managed state lives; with Redis, whether it answers and the fleet's lock holders. @param {Doc} s */
function storageBlock(s) {
  if (!s.storage) return [];
  const st = f.storage(s.storage, now());
  const rows = f.locks(s.storage);
  const out = [h('h3', {}, 'storage'), h('p', { class: st.ok ? 'muted' : 'error', 'data-storage': s.storage.kind }, st.text)];
  if (rows.length > 0) out.push(table(['lock', 'held by', 'lease left'], rows, 'locks'));
  return out;
}

/** @param {Doc} s @param {Doc} hist */
function reloadList(s, hist) {
  const t = now();
  const list = [...(hist.reloads ?? [])];
  if (s.last_reload && !list.some((r) => r.at === s.last_reload.at)) list.push(s.last_reload);
  if (list.length === 0) return [h('p', { class: 'muted' }, 'no reload since start')];
  return [
    table(
      ['when', 'result', 'snapshot', 'problems'],
      list.reverse().map((r) => [`${f.date(r.at)} (${f.relative(r.at, t)})`, pill(r.result, r.result === 'success' ? 'ok' : 'bad'), `v${r.version}`, r.problems?.length ? h('ul', { class: 'problems' }, ...r.problems.map((/** @type {string} */ p) => h('li', {}, p))) : '–']),
      'reloads',
    ),
  ];
}

// ─── drawing and refreshing ─────────────────────────────────────────────

function render() {
  const { status: s, history: hist } = state;
  if (!s || !hist) return;
  fill('overview', overview(s, hist));
  const items = attention(s);
  const box = document.getElementById('attention');
  if (box) {
    box.hidden = false;
    box.replaceChildren(items.length === 0 ? h('p', { class: 'all-clear' }, pill('ok', 'ok'), ' nothing needs attention') : h('ul', {}, ...items.map(([kind, text]) => h('li', { class: kind }, pill(kind === 'bad' ? 'error' : 'warning', kind), ` ${text}`))));
  }
  fill('routes', routeCards(s, hist));
  fill('upstreams', upstreamTable(s, hist));
  const apps = appCards(s, hist);
  const appsSection = document.getElementById('apps-section');
  if (appsSection) appsSection.hidden = apps.length === 0;
  const m = s.apps_memory;
  fill('apps', m ? [h('p', { class: 'muted budget-all' }, `all apps: RSS ${f.bytes(m.rss_bytes)}, planned ${f.bytes(m.planned_bytes)} of a budget of ${f.bytes(m.budget_bytes)} (memory ${f.bytes(m.memory_total_bytes)} from ${m.memory_total_source}, minus ${f.bytes(m.reserve_bytes)} kept for portico)`), ...apps] : apps);
  fill('certificates', certificateTable(s));
  fill('system', systemCharts(hist));
  fill('data-plane', [...dataPlaneTable(s), ...storageBlock(s)]);
  fill('reloads', reloadList(s, hist));
  live();
}

/** live: when the page last got data, or that it cannot. */
function live() {
  const el = document.getElementById('live');
  if (!el) return;
  const age = Math.round((now() - state.updated) / 1000);
  el.className = `live ${state.error ? 'stale' : 'fresh'}`;
  el.textContent = state.error ? `cannot reach portico (${state.error}); data from ${f.span(age)} ago` : `live · updated ${age < 2 ? 'just now' : `${age} s ago`}`;
}

/** @param {string} path */
async function get(path) {
  const res = await fetch(path, { cache: 'no-store', headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

async function refresh() {
  try {
    const [s, hist] = await Promise.all([get('/status.json'), get('/status/history.json')]);
    Object.assign(state, { status: s, history: hist, updated: now(), error: null });
    render();
  } catch (err) {
    state.error = err instanceof Error ? err.message : String(err);
    live();
  }
}

/** the refresh period: the history's step, between 1 and 10 seconds */
const period = Math.min(10_000, Math.max(1000, state.history?.step_ms ?? 5000));
let timer = 0;
function schedule() {
  window.clearTimeout(timer);
  timer = window.setTimeout(async () => {
    if (!document.hidden) await refresh();
    schedule();
  }, period);
}
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void refresh();
});
window.setInterval(live, 1000);
render();
schedule();
