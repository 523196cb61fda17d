#!/usr/bin/env node
// summary.cjs [--workers WORKERS_RAW.tsv] [--sections LIST] MAIN_RAW.tsv -> Markdown on stdout.
//
// MAIN_RAW.tsv: the pinned run (PIN=split: proxy alone on one core); WORKERS_RAW.tsv: the unpinned run that
// compares portico-w2 with portico (workers = 2 vs 1 on the 2 shared cores). Targets may carry a Node suffix
// (portico@20, portico@26): every comparison is made between targets on the same Node, in the same round.
// Sections (default all, in this order):
//   targets  the issue-14 target table: each goal as a same-run ratio, per Node, PASS/MISS
//   cpu      CPU per request against the yardsticks (undici-floor and naive node on the same Node, nginx-w1)
//   workers  workers = 2 vs 1 on 2 shared cores (and node-cluster2 vs node when present)
//   nodes    Node lines against each other (only when more than one Node ran)
//   tls      what wrk negotiated in 'close' (tls-probe: version, cipher, resumed share)
//   notes    access-log cost (portico vs portico-noaccess) and failed targets
// Values: median over rounds; ratios: per round (same run), median over rounds, [min-max] when rounds differ.
'use strict';
const { num, fmt, loadRun, nodeLabels, at, baseOf, labelOf } = require('./data.cjs');

// ---- the issue's goals -------------------------------------------------------------------------
const GOALS = [
  { id: 'ka_cpu', what: 'CPU µs per keep-alive request, 1 core: portico ÷ undici-floor', goal: '≤ 1.20×', ok: (x) => x <= 1.2 },
  { id: 'close_cpu', what: 'CPU per resumed TLS 1.3 handshake + request (`close`): portico ÷ undici-floor', goal: '≤ 1.15×', ok: (x) => x <= 1.15 },
  { id: 'big_mibs', what: '1 MiB bodies, MiB/s per core: portico ÷ undici-floor', goal: '≥ 0.90×', ok: (x) => x >= 0.9 },
  { id: 'ka_p99', what: 'p99 at 50 keep-alive connections, 1 core: portico ÷ undici-floor', goal: '≤ 1.20×', ok: (x) => x <= 1.2 },
  { id: 'up_conns', what: 'upstream connections per request, `Connection: close` clients (portico, health probes excluded)', goal: '0.000', ok: (x) => x < 0.0005 },
  { id: 'rss_idle', what: 'RSS idle: portico − undici-floor', goal: '≤ +16 MiB', ok: (x) => x <= 16 },
  { id: 'rss_growth', what: 'RSS growth with 50 × 1 MiB in flight (portico, peak in `big` − idle)', goal: '≤ +64 MiB', ok: (x) => x <= 64 },
  { id: 'w2_ka', what: 'workers = 2 ÷ workers = 1, keep-alive req/s (2 shared cores)', goal: '≥ 1.60×', ok: (x) => x >= 1.6 },
  { id: 'w2_close', what: 'workers = 2 ÷ workers = 1, new connections/s (`close`, 2 shared cores)', goal: '≥ 1.30×', ok: (x) => x >= 1.3 },
  { id: 'h2', what: 'HTTP/2 req/s ÷ own HTTP/1.1 keep-alive req/s (portico, h2load vs wrk)', goal: '≥ 1.00×', ok: (x) => x >= 1.0 },
];

const x = (s, d = 2) => (Number.isFinite(s.med) ? `${fmt(s.med, d)}×${range(s, d)}` : 'n/a');
const cleanReason = (r) => r.replace(/\s*\(see [^)]*\)\s*$/, '').replace(/\s+/g, ' ').trim();
const range = (s, d) => (s.n > 1 && fmt(s.min, d) !== fmt(s.max, d) ? ` [${fmt(s.min, d)}–${fmt(s.max, d)}]` : '');
const short = (s, n = 110) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** Why a value is missing: failed targets, or rows that were not run. */
function why(run, targets, sc, runName) {
  if (!run) return `no ${runName} run`;
  for (const t of targets) {
    const f = run.failures(t);
    if (f.length && !run.has(t, sc)) return `${t} failed: ${short(cleanReason(f[0].reason), 90)}`;
  }
  for (const t of targets) if (!run.targets.includes(t)) return `${t} not in the ${runName} run`;
  for (const t of targets) if (!run.has(t, sc)) return `${t}: no \`${sc}\` row`;
  return 'no data';
}

/** wrk_tls probe summary -> {tls13: bool, resumedPct, offeredPct, text} */
function probeInfo(run, t) {
  const s = run && run.firstNonNA(t, 'close', 'wrk_tls');
  if (!s) return null;
  const pct = (re) => { const m = re.exec(s); return m ? Number(m[1]) : NaN; };
  return {
    text: s,
    tls13: /^TLSv1\.3,/.test(s),
    offered: pct(/PSK offered ([\d.]+)%/),
    resumed: pct(/resumed ([\d.]+)% of conns/),
    ofOffers: pct(/\(([\d.]+)% of offers\)/),
  };
}

/** One goal for one Node label -> {status, cell} */
function evalGoal(g, S, W, L) {
  const p = at('portico', L), floor = at('undici-floor', L), w2 = at('portico-w2', L);
  const cpu = 'cpu_us_per_req';
  let st, detail = '', need, run = S, sc;
  switch (g.id) {
    case 'ka_cpu':
      need = [p, floor]; sc = 'ka'; st = S.ratio(p, 'ka', cpu, floor);
      detail = `${fmt(S.med(p, 'ka', cpu), 1)} vs ${fmt(S.med(floor, 'ka', cpu), 1)} µs`; break;
    case 'close_cpu': {
      need = [p, floor]; sc = 'close'; st = S.ratio(p, 'close', cpu, floor);
      const a = probeInfo(S, p), b = probeInfo(S, floor);
      const tls = a && b ? `; wrk: ${a.tls13 && b.tls13 ? 'TLS 1.3' : 'NOT all TLS 1.3'}, resumed ${fmt(a.resumed, 0)}% / ${fmt(b.resumed, 0)}% of connections` : '; TLS not probed';
      detail = `${fmt(S.med(p, 'close', cpu), 0)} vs ${fmt(S.med(floor, 'close', cpu), 0)} µs${tls}`; break;
    }
    case 'big_mibs':
      need = [p, floor]; sc = 'big'; st = S.ratio(floor, 'big', cpu, p);   // MiB/s per core = 1e6 / (CPU µs per MiB)
      detail = `${fmt(1e6 / S.med(p, 'big', cpu), 0)} vs ${fmt(1e6 / S.med(floor, 'big', cpu), 0)} MiB/s per core`; break;
    case 'ka_p99':
      need = [p, floor]; sc = 'ka'; st = S.ratio(p, 'ka', 'p99_ms', floor);
      detail = `${fmt(S.med(p, 'ka', 'p99_ms'), 2)} vs ${fmt(S.med(floor, 'ka', 'p99_ms'), 2)} ms`; break;
    case 'up_conns': {
      // portico's active health checks (default: 1 probe per upstream every 5 s) open a new upstream connection per
      // probe (agent: false, Connection: close); those are taken out: 2 upstreams x DURATION / 5 s per round.
      need = [p]; sc = 'close';
      const dur = Number((/duration=(\d+)s/.exec(S.env) || [])[1]);
      const probes = 2 * Math.ceil(dur / 5);   // upper bound: each upstream probed at most ceil(dur / 5) times
      const per = S.rounds.map((rd) => {
        const r = S.get(p, 'close', rd);
        const raw = num(r?.up_conns_per_req), reqs = num(r?.rps) * dur;
        return { raw, conns: raw * reqs, adj: Math.max(0, raw * reqs - probes) / reqs };
      }).filter((x) => Number.isFinite(x.adj));
      const worst = per.reduce((a, b) => (b.adj > (a?.adj ?? -1) ? b : a), null);
      st = { med: worst ? worst.adj : NaN, n: 1 };
      detail = worst ? `worst of ${S.rounds.length} round${S.rounds.length === 1 ? '' : 's'}: raw ${fmt(worst.raw, 3)} = ${fmt(worst.conns, 0)} new upstream connections in ${dur} s, ` +
        `less ≤ ${fmt(probes, 0)} health probes; undici-floor ${fmt(S.max(floor, 'close', 'up_conns_per_req'), 3)}` : ''; break;
    }
    case 'rss_idle':
      need = [p, floor]; sc = 'ka';
      st = S.perRound((rd) => (num(S.get(p, 'ka', rd)?.rss_idle_kb) - num(S.get(floor, 'ka', rd)?.rss_idle_kb)) / 1024);
      detail = `${fmt(S.med(p, 'ka', 'rss_idle_kb') / 1024, 1)} vs ${fmt(S.med(floor, 'ka', 'rss_idle_kb') / 1024, 1)} MiB`; break;
    case 'rss_growth':
      need = [p]; sc = 'big';
      st = S.perRound((rd) => (num(S.get(p, 'big', rd)?.rss_load_kb) - num(S.get(p, 'big', rd)?.rss_idle_kb)) / 1024);
      detail = `${fmt(S.med(p, 'big', 'rss_idle_kb') / 1024, 0)} → ${fmt(S.med(p, 'big', 'rss_load_kb') / 1024, 0)} MiB; undici-floor ` +
        `${fmt(S.med(floor, 'big', 'rss_idle_kb') / 1024, 0)} → ${fmt(S.med(floor, 'big', 'rss_load_kb') / 1024, 0)} MiB`; break;
    case 'w2_ka': case 'w2_close': {
      sc = g.id === 'w2_ka' ? 'ka' : 'close'; run = W; need = [w2, p];
      if (!W) { st = { med: NaN }; break; }
      st = W.ratio(w2, sc, 'rps', p);
      detail = `${fmt(W.med(w2, sc, 'rps'), 0)} vs ${fmt(W.med(p, sc, 'rps'), 0)} ${sc === 'ka' ? 'req/s' : 'conns/s'}`; break;
    }
    case 'h2': {
      need = [p]; sc = 'h2';
      const errs = S.rounds.map((rd) => S.get(p, 'h2', rd)?.errors).filter(Boolean);
      if (errs.includes('alpn') || S.rounds.every((rd) => !(num(S.get(p, 'h2', rd)?.rps) > 0))) {
        st = { med: NaN };
        const reason = S.has(p, 'h2') ? 'portico does not negotiate h2 via ALPN' : why(S, [p], 'h2', 'main');
        return { status: 'n/a', cell: `n/a (${reason})` };
      }
      st = S.ratio(p, 'h2', 'rps', p, 'ka');
      detail = `${fmt(S.med(p, 'h2', 'rps'), 0)} vs ${fmt(S.med(p, 'ka', 'rps'), 0)} req/s`; break;
    }
    default: throw new Error(g.id);
  }
  if (!Number.isFinite(st.med)) return { status: 'n/a', cell: `n/a (${why(run, need, sc, run === W ? 'workers' : 'main')})` };
  const status = g.ok(st.med) ? 'PASS' : 'MISS';
  let v;
  if (g.id === 'up_conns') v = fmt(st.med, 3);
  else if (g.id === 'rss_idle' || g.id === 'rss_growth') v = `${st.med >= 0 ? '+' : ''}${fmt(st.med, 1)} MiB${range(st, 1)}`;
  else v = `${fmt(st.med, 2)}×${range(st, 2)}`;
  return { status, cell: `**${status}** ${v} (${detail})` };
}

function sectionTargets(S, W, labels) {
  const head = ['#', 'target (issue 14)', 'goal', ...labels.map((L) => (L ? `Node ${L}` : 'result'))];
  const out = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  const tally = Object.fromEntries(labels.map((L) => [L, { PASS: 0, MISS: 0, 'n/a': 0 }]));
  GOALS.forEach((g, i) => {
    const cells = labels.map((L) => { const r = evalGoal(g, S, W, L); tally[L][r.status]++; return r.cell; });
    out.push(`| ${i + 1} | ${g.what} | ${g.goal} | ${cells.join(' | ')} |`);
  });
  // context: portico against the naive node script and nginx-w1 (CPU per request; below 1 = cheaper)
  const ctx = (name, ref) => labels.map((L) => {
    const p = at('portico', L), r = typeof ref === 'function' ? ref(L) : ref;
    const parts = ['ka', 'close', 'big'].map((sc) => [sc, S.ratio(p, sc, 'cpu_us_per_req', r)]).filter(([, s]) => Number.isFinite(s.med));
    return parts.length ? parts.map(([sc, s]) => `${sc} ${fmt(s.med, 2)}×`).join(', ') : `n/a (${why(S, [p, r], 'ka', 'main')})`;
  });
  out.push(`| – | context: portico CPU ÷ naive node (same Node) | – | ${ctx('node', (L) => at('node', L)).join(' | ')} |`);
  out.push(`| – | context: portico CPU ÷ nginx-w1 | – | ${ctx('nginx', 'nginx-w1').join(' | ')} |`);
  out.push('', `Tally: ${labels.map((L) => `${L ? `Node ${L}: ` : ''}${tally[L].PASS} PASS, ${tally[L].MISS} MISS, ${tally[L]['n/a']} n/a`).join('; ')}.`);
  out.push('Each value is a ratio measured inside one round (same run, same Node), median over rounds, [min–max] over rounds; ' +
    'rows 1–7 and 10 come from the pinned run (portico alone on one core), rows 8–9 from the unpinned workers run. ' +
    '"per core" = 1e6 ÷ CPU µs per MiB. RSS = resident set of the whole process tree.');
  return out.join('\n') + '\n';
}

function sectionCpu(S, labels) {
  const L0 = labels[0];
  const lab = (t) => labelOf(t) || L0;
  const floorOf = (t) => at('undici-floor', lab(t)), nodeOf = (t) => at('node', lab(t));
  const scs = [['ka', 'ka CPU µs/req'], ['close', 'close CPU µs/conn'], ['big', '1 MiB CPU µs/MiB']].filter(([sc]) => S.rows.some((r) => r.scenario === sc));
  const cols = ['target'];
  for (const [sc, name] of scs) {
    cols.push(name, '× floor');
    if (sc === 'ka') cols.push('× node', '× nginx-w1', 'ka req/s', 'ka p99 ms');
    if (sc === 'big') cols.push('MiB/s');
  }
  cols.push('RSS idle→peak MiB', 'errors');
  const out = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
  for (const t of S.targets) {
    if (!S.has(t)) { out.push(`| ${t} | ${S.failures(t).length ? 'FAILED: ' + short(cleanReason(S.failures(t)[0].reason), 90) : 'no data'} |${cols.slice(2).map(() => '').join('|')}|`); continue; }
    const c = [t];
    for (const [sc] of scs) {
      c.push(fmt(S.med(t, sc, 'cpu_us_per_req'), 1), fmt(S.ratio(t, sc, 'cpu_us_per_req', floorOf(t)).med, 2));
      if (sc === 'ka') c.push(fmt(S.ratio(t, sc, 'cpu_us_per_req', nodeOf(t)).med, 2), fmt(S.ratio(t, sc, 'cpu_us_per_req', 'nginx-w1').med, 2),
        fmt(S.med(t, 'ka', 'rps')), fmt(S.med(t, 'ka', 'p99_ms'), 2));
      if (sc === 'big') c.push(fmt(S.med(t, 'big', 'mib_s')));
    }
    const peak = Math.max(...scs.map(([sc]) => S.med(t, sc, 'rss_load_kb')).filter(Number.isFinite));
    const idle = S.med(t, scs.find(([sc]) => S.has(t, sc))?.[0], 'rss_idle_kb');
    c.push(baseOf(t) === 'direct' ? 'n/a' : `${fmt(idle / 1024)}→${fmt(peak / 1024)}`);
    const errs = S.rows.filter((r) => r.target === t && scs.some(([sc]) => sc === r.scenario)).map((r) => r.errors).filter((e) => e !== '0');
    c.push(errs.length ? errs.join(',') : '0');
    out.push(`| ${c.join(' | ')} |`);
  }
  out.push('', 'CPU = user+sys CPU of the proxy process tree per request (per connection for close, per MiB for 1 MiB). ' +
    '"× floor" / "× node" divide by undici-floor / the naive node script on the same Node' +
    (labels.length > 1 || L0 ? ` (targets without a Node suffix: Node ${L0})` : '') +
    ', per round, median over rounds (below 1 = cheaper).');
  return out.join('\n') + '\n';
}

function sectionWorkers(W, labels) {
  if (!W) return '';
  const pairs = [...labels.map((L) => [at('portico', L), at('portico-w2', L)]), ...labels.map((L) => [at('node', L), at('node-cluster2', L)])];
  const cols = ['target', 'ka req/s', '× 1 process', 'ka CPU µs/req', 'ka p99 ms', 'close conns/s', '× 1 process', 'close CPU µs/conn', 'RSS idle MiB', 'busy% c0/c1 (ka)'];
  const out = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
  const busy = (t, sc) => W.firstNonNA(t, sc, 'busy_cpu0/1') || 'n/a';
  for (const [one, two] of pairs) {
    if (!W.targets.includes(one) && !W.targets.includes(two)) continue;
    for (const t of [one, two]) {
      if (!W.has(t)) {
        const f = W.failures(t);
        out.push(`| ${t} | ${f.length ? 'FAILED: ' + short(cleanReason(f[0].reason), 90) : 'no data'} |${cols.slice(2).map(() => '').join('|')}|`);
        continue;
      }
      const r = (sc) => (t === two ? W.ratio(two, sc, 'rps', one) : { med: W.has(t, sc) ? 1 : NaN, n: 1 });
      out.push(`| ${t} | ${fmt(W.med(t, 'ka', 'rps'))} | ${fmt(r('ka').med, 2)}${t === two ? range(r('ka'), 2) : ''} | ${fmt(W.med(t, 'ka', 'cpu_us_per_req'), 1)} | ${fmt(W.med(t, 'ka', 'p99_ms'), 2)} | ` +
        `${fmt(W.med(t, 'close', 'rps'))} | ${fmt(r('close').med, 2)}${t === two ? range(r('close'), 2) : ''} | ${fmt(W.med(t, 'close', 'cpu_us_per_req'), 0)} | ` +
        `${fmt(W.med(t, 'ka', 'rss_idle_kb') / 1024, 0)} | ${busy(t, 'ka')} |`);
    }
  }
  out.push('', 'Unpinned run (PIN=none): the proxy, wrk and the upstream share both cores; "× 1 process" = req/s (or new connections/s) ' +
    'of the multi-process target ÷ its single-process twin, per round, median [min–max].');
  return out.join('\n') + '\n';
}

function sectionNodes(S, W, labels) {
  if (labels.length < 2) return '';
  const L0 = labels[0];
  const cols = ['target', 'scenario', ...labels.map((L) => `Node ${L}`), ...labels.slice(1).map((L) => `${L} ÷ ${L0}`)];
  const out = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
  const unit = { ka: 'CPU µs/req', close: 'CPU µs/conn', big: 'CPU µs/MiB' };
  for (const base of ['undici-floor', 'portico', 'node']) {
    if (!labels.some((L) => S.has(at(base, L)))) continue;
    for (const sc of ['ka', 'close', 'big']) {
      if (!labels.some((L) => S.has(at(base, L), sc))) continue;
      out.push(`| ${base} | ${sc} ${unit[sc]} | ${labels.map((L) => fmt(S.med(at(base, L), sc, 'cpu_us_per_req'), 1)).join(' | ')} | ` +
        `${labels.slice(1).map((L) => x(S.ratio(at(base, L), sc, 'cpu_us_per_req', at(base, L0)))).join(' | ')} |`);
    }
    out.push(`| ${base} | RSS idle MiB | ${labels.map((L) => fmt(S.med(at(base, L), 'ka', 'rss_idle_kb') / 1024, 1)).join(' | ')} | ` +
      `${labels.slice(1).map((L) => x(S.ratio(at(base, L), 'ka', 'rss_idle_kb', at(base, L0)))).join(' | ')} |`);
  }
  if (W) {
    for (const base of ['portico', 'portico-w2']) {
      if (!labels.some((L) => W.has(at(base, L), 'ka'))) continue;
      out.push(`| ${base} (2 shared cores) | ka req/s | ${labels.map((L) => fmt(W.med(at(base, L), 'ka', 'rps'))).join(' | ')} | ` +
        `${labels.slice(1).map((L) => x(W.ratio(at(base, L), 'ka', 'rps', at(base, L0)))).join(' | ')} |`);
    }
  }
  out.push('', `Each Node line against Node ${L0}, same run, per round (CPU: below 1 = the newer line is cheaper; req/s: above 1 = faster). ` +
    'The Node targets of all lines ran interleaved in the same rounds.');
  return out.join('\n') + '\n';
}

function sectionTls(S, W) {
  const out = ['| run | target | TLS (openssl s_client) | s_client resumption | wrk in `close` (tls-probe) |', '|---|---|---|---|---|'];
  let any = false;
  for (const [name, run] of [['main', S], ['workers', W]]) {
    if (!run) continue;
    for (const t of run.targets) {
      if (!run.has(t, 'close')) continue;
      any = true;
      out.push(`| ${name} | ${t} | ${run.firstNonNA(t, 'close', 'tls') || 'n/a'} | ${run.firstNonNA(t, 'close', 'tls_resumption') || 'n/a'} | ${probeInfo(run, t)?.text || 'not probed'} |`);
    }
  }
  if (!any) return '';
  out.push('', 'tls-probe relays 1 s of the same wrk `Connection: close` load and reads each connection\'s cleartext ClientHello/ServerHello: ' +
    '"PSK offered" = wrk offered a TLS 1.3 session ticket, "resumed" = the server accepted it (no certificate, no signature). ' +
    'The first connection of each of the 50 wrk connections cannot resume. OpenSSL clients (wrk) use a TLS 1.3 ticket once; a server that sends no new ticket ' +
    'on a resumed connection (Node\'s default ticket handling) therefore gets a full handshake every second connection.');
  return out.join('\n') + '\n';
}

function sectionNotes(S, W, labels) {
  const out = [];
  for (const L of labels) {
    const p = at('portico', L), n = at('portico-noaccess', L);
    if (!S.has(p) || !S.has(n)) continue;
    for (const [sc, name] of [['ka', 'ka CPU µs/req'], ['close', 'close CPU µs/conn'], ['big', '1 MiB CPU µs/MiB']]) {
      if (!S.has(p, sc) || !S.has(n, sc)) continue;
      const d = S.med(p, sc, 'cpu_us_per_req') - S.med(n, sc, 'cpu_us_per_req');
      out.push(`- access log${L ? ` (Node ${L})` : ''}, ${name}: portico = ${fmt(S.ratio(p, sc, 'cpu_us_per_req', n).med, 2)}× portico-noaccess (${d >= 0 ? '+' : ''}${fmt(d, 1)} µs, difference of medians)`);
    }
  }
  for (const [name, run] of [['main', S], ['workers', W]]) {
    if (!run) continue;
    const seen = new Map();
    for (const f of run.failed) {
      const k = `${f.target}\t${f.reason}`;
      seen.set(k, [...(seen.get(k) || []), f.round]);
    }
    for (const [k, rds] of seen) {
      const [t, reason] = k.split('\t');
      out.push(`- FAILED (${name} run, round${rds.length > 1 ? 's' : ''} ${rds.join(',')}): **${t}**: ${reason}`);
    }
  }
  return out.length ? out.join('\n') + '\n' : '';
}

function render(S, W, sections) {
  const labels = nodeLabels(S, W);
  const parts = [];
  const add = (id, title, body) => { if (sections.includes(id) && body) parts.push(title ? `### ${title}\n\n${body}` : body); };
  add('targets', 'Targets', sectionTargets(S, W, labels));
  add('cpu', 'CPU per request against the yardsticks (pinned: proxy alone on one core)', sectionCpu(S, labels));
  add('workers', 'workers = 2 vs 1 (unpinned, 2 shared cores)', sectionWorkers(W, labels));
  add('nodes', 'Node lines', sectionNodes(S, W, labels));
  add('tls', 'TLS in the `close` scenario', sectionTls(S, W));
  add('notes', 'Notes', sectionNotes(S, W, labels));
  return parts.join('\n');
}

module.exports = { GOALS, evalGoal, render };

if (require.main === module) {
  const args = process.argv.slice(2);
  let workers = null, sections = 'targets,cpu,workers,nodes,tls,notes', split = null;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--workers') workers = args[++i];
    else if (args[i] === '--sections') sections = args[++i];
    else split = args[i];
  }
  if (!split) { console.error('usage: summary.cjs [--workers WORKERS_RAW.tsv] [--sections LIST] MAIN_RAW.tsv'); process.exit(2); }
  const S = loadRun(split);
  const W = workers ? loadRun(workers) : null;
  process.stdout.write(render(S, W, sections.split(',')));
}
