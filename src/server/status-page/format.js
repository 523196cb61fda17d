// @ts-check
/**
 * Human units for the dashboard: MiB, %, ms, "in 23 d", "3 min ago". Every function takes a number
 * (or null/undefined/NaN, shown as "–").
 */

const NONE = '–';

/** @param {number | null | undefined} n */
const missing = (n) => n === null || n === undefined || !Number.isFinite(n);

/** bytes: 512 B, 3.4 KiB, 120 MiB, 1.5 GiB. @param {number | null | undefined} n */
export function bytes(n) {
  if (missing(n)) return NONE;
  let v = /** @type {number} */ (n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 || Math.abs(v) >= 100 ? Math.round(v) : v.toFixed(1).replace(/\.0$/, '')} ${units[i]}`;
}

/** number: 3, 0.42, 12.5, 1,234; small values keep two significant digits. @param {number | null | undefined} n */
export function number(n) {
  if (missing(n)) return NONE;
  const v = /** @type {number} */ (n);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en');
  if (a >= 10) return String(Math.round(v));
  if (a >= 1) return v.toFixed(1).replace(/\.0$/, '');
  return v.toPrecision(2).replace(/0+$/, '').replace(/\.$/, '');
}

/** rate: per second. @param {number | null | undefined} n */
export function rate(n) {
  if (missing(n)) return NONE;
  const v = /** @type {number} */ (n);
  return v >= 10_000 ? `${(v / 1000).toFixed(1)}k/s` : `${number(v)}/s`;
}

/** ms: 0.42 ms, 12 ms, 1.2 s. @param {number | null | undefined} n */
export function ms(n) {
  if (missing(n)) return NONE;
  const v = /** @type {number} */ (n);
  if (v >= 1000) return `${(v / 1000).toFixed(v >= 10_000 ? 0 : 1)} s`;
  return `${number(v)} ms`;
}

/** percent: 0.4 %, 12 %. @param {number | null | undefined} n */
export function percent(n) {
  if (missing(n)) return NONE;
  return `${number(/** @type {number} */ (n))} %`;
}

/** count: 1,234. @param {number | null | undefined} n */
export function count(n) {
  if (missing(n)) return NONE;
  return Math.round(/** @type {number} */ (n)).toLocaleString('en');
}

/** span: a duration in seconds as 45 s, 3 min, 2 h 5 min, 3 d 4 h. @param {number | null | undefined} seconds */
export function span(seconds) {
  if (missing(seconds)) return NONE;
  const s = Math.max(0, Math.round(/** @type {number} */ (seconds)));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 === 0 ? `${h} h` : `${h} h ${m % 60} min`;
  const d = Math.floor(h / 24);
  return h % 24 === 0 || d >= 10 ? `${d} d` : `${d} d ${h % 24} h`;
}

/**
 * relative: a moment as "just now", "12 s ago", "3 min ago" or "in 23 d", "in 4 h".
 * @param {string | number | null | undefined} at ISO text or epoch ms
 * @param {number} now epoch ms
 */
export function relative(at, now) {
  const t = toMs(at);
  if (t === null) return NONE;
  const d = (t - now) / 1000;
  if (Math.abs(d) < 2) return 'just now';
  return d > 0 ? `in ${span(d)}` : `${span(-d)} ago`;
}

/** toMs reads ISO text or epoch ms (null when neither). @param {string | number | null | undefined} at */
export function toMs(at) {
  if (at === null || at === undefined || at === '') return null;
  const t = typeof at === 'number' ? at : Date.parse(at);
  return Number.isFinite(t) ? t : null;
}

/** clock: local HH:MM (or HH:MM:SS). @param {number} t @param {boolean} [seconds] */
export function clock(t, seconds = false) {
  const d = new Date(t);
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}${seconds ? `:${p(d.getSeconds())}` : ''}`;
}

/** date: local YYYY-MM-DD HH:MM. @param {string | number | null | undefined} at */
export function date(at) {
  const t = toMs(at);
  if (t === null) return NONE;
  const d = new Date(t);
  const p = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clock(t)}`;
}

/** days: whole days from now until `at` (negative when past; null when unknown). @param {string | null | undefined} at @param {number} now */
export function days(at, now) {
  const t = toMs(at);
  return t === null ? null : Math.floor((t - now) / 86_400_000);
}

/**
 * storage: the `storage` part of /status.json as one line, and whether it is in order (a Redis that
 * does not answer is not: replicas serve from their caches and orders wait for it).
 * @param {Record<string, any> | null | undefined} st
 * @param {number} now epoch ms
 * @returns {{ text: string, ok: boolean }}
 */
export function storage(st, now) {
  if (!st) return { text: NONE, ok: true };
  if (st.kind !== 'redis') return { text: `directory ${st.dir}`, ok: true };
  const since = toMs(st.since);
  const held = since === null ? NONE : span((now - since) / 1000);
  if (st.connected) return { text: `redis ${st.url}: connected for ${held}, last sync ${relative(st.last_sync, now)}`, ok: true };
  return { text: `redis ${st.url}: NOT ANSWERING for ${held}${st.last_error ? ` (${st.last_error})` : ''}; serving from the local cache; orders, renewals and pre-start steps wait`, ok: false };
}

/**
 * locks: the fleet's lock holders (Redis storage) as rows: name, holder, lease left.
 * @param {Record<string, any> | null | undefined} st
 * @returns {string[][]}
 */
export function locks(st) {
  return (st?.locks ?? []).map((/** @type {Record<string, any>} */ l) => [String(l.name), l.mine ? 'this replica' : 'another replica', span(l.ttl_ms / 1000)]);
}

/**
 * features: what a route of /status.json does besides proxying (issue 29), in short words: a
 * redirect, else the balancing policy; compression, HSTS, header rules, the rate limit.
 * @param {Record<string, any>} r
 * @returns {string[]}
 */
export function features(r) {
  const out = [];
  if (r.redirect) out.push(`redirect ${r.redirect.status} → ${r.redirect.to}`);
  else out.push(r.balance === 'least_requests' ? 'least requests' : r.balance === 'p2c' ? 'p2c' : 'round-robin');
  if (r.compress?.length) out.push(`compress ${r.compress.join(', ')}`);
  if (r.hsts) out.push('HSTS');
  const rules = ['request', 'response'].reduce((n, k) => n + Object.keys(r.headers?.[k]?.set ?? {}).length + (r.headers?.[k]?.remove?.length ?? 0), 0);
  if (rules > 0) out.push(`${rules} header rule${rules === 1 ? '' : 's'}`);
  if (r.rate_limit) out.push(`rate limit ${r.rate_limit.count} in ${span(r.rate_limit.window / 1000)}`);
  return out;
}
