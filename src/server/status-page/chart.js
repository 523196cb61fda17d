// @ts-check
/**
 * Hand-written SVG charts for the dashboard: time-series lines (with an optional area, a limit line
 * and marks for reloads and restarts), a hover read-out, and an upstream's health band. The x axis is
 * always the last window (15 minutes) ending now; gaps (null) break a line. Colours come from CSS
 * classes (c-*), so light and dark themes need nothing here.
 */
import { clock } from './format.js';

const NS = 'http://www.w3.org/2000/svg';
/** the viewBox height (the width is the spec's, about the width the chart gets at 1280 px, so text stays ~12 px) */
const H = 140;
const PAD = { left: 58, right: 12, top: 10, bottom: 22 };

/**
 * @typedef {{ name: string, values: Array<number | null>, cls: string, area?: boolean }} Series
 * @typedef {{ at: number, label: string }} Mark
 * @typedef {{
 *   id: string, title: string, times: number[], now: number, windowMs: number, series: Series[], width?: number,
 *   format: (n: number) => string, binary?: boolean, maxHint?: number,
 *   limit?: { value: number, label: string } | null, marks?: Mark[]
 * }} ChartSpec
 */

/** where the pointer was, per chart id (x in viewBox units), so a redraw keeps the read-out */
const hovers = new Map();

/**
 * svg creates an SVG element.
 * @param {string} tag
 * @param {Record<string, string | number>} [attrs]
 * @param {Array<Node | string>} children
 * @returns {SVGElement}
 */
export function svg(tag, attrs = {}, ...children) {
  const el = /** @type {SVGElement} */ (document.createElementNS(NS, tag));
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

/** niceStep rounds a raw tick step up to 1, 2, 2.5 or 5 × 10^k. @param {number} raw */
function niceStep(raw) {
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/**
 * yAxis picks the top and the ticks for values up to `max` (in powers of 1024 for bytes).
 * @param {number} max @param {boolean} binary
 */
export function yAxis(max, binary) {
  const unit = binary && max >= 1024 ? 1024 ** Math.floor(Math.log(max) / Math.log(1024)) : 1;
  const m = max > 0 ? max / unit : 1;
  const step = niceStep(m / 4);
  const top = Math.max(step, Math.ceil(m / step - 1e-9) * step);
  /** @type {number[]} */
  const ticks = [];
  for (let v = 0; v <= top + 1e-9; v += step) ticks.push(v * unit);
  return { top: top * unit, ticks };
}

/** lastValue is a series' value in the newest sample (null: none then, e.g. no request for a latency). @param {Array<number | null>} values */
export function lastValue(values) {
  return values.at(-1) ?? null;
}

/**
 * lineChart draws one chart: a caption with the legend (each series' latest value) and the SVG.
 * @param {ChartSpec} spec
 * @returns {HTMLElement}
 */
export function lineChart(spec) {
  const fig = document.createElement('figure');
  fig.className = 'chart';
  fig.dataset.chart = spec.id;
  const caption = document.createElement('figcaption');
  const title = document.createElement('span');
  title.className = 'chart-title';
  title.textContent = spec.title;
  caption.append(title);
  for (const s of spec.series) {
    const item = document.createElement('span');
    item.className = 'legend';
    const sw = document.createElement('i');
    sw.className = `swatch ${s.cls}`;
    const v = lastValue(s.values);
    item.append(sw, `${s.name} `, Object.assign(document.createElement('b'), { textContent: v === null ? '–' : spec.format(v) }));
    caption.append(item);
  }
  fig.append(caption, plot(spec));
  return fig;
}

/** plot is the chart's SVG with the pointer read-out. @param {ChartSpec} spec */
function plot(spec) {
  const W = spec.width ?? 600;
  const start = spec.now - spec.windowMs;
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const x = (/** @type {number} */ t) => PAD.left + ((t - start) / spec.windowMs) * pw;
  let max = spec.maxHint ?? 0;
  for (const s of spec.series) for (const v of s.values) if (v !== null && v > max) max = v;
  if (spec.limit) max = Math.max(max, spec.limit.value);
  const axis = yAxis(max, spec.binary === true);
  const y = (/** @type {number} */ v) => PAD.top + ph - (v / axis.top) * ph;
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': spec.title });
  // grid: value ticks, then a clock time every 5 minutes
  for (const v of axis.ticks) {
    root.append(svg('line', { class: 'grid', x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }));
    root.append(svg('text', { class: 'tick', x: PAD.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, v === 0 ? '0' : spec.format(v)));
  }
  const five = 5 * 60_000;
  for (let t = Math.ceil(start / five) * five; t <= spec.now; t += five) {
    root.append(svg('line', { class: 'grid', x1: x(t), x2: x(t), y1: PAD.top, y2: PAD.top + ph }));
    root.append(svg('text', { class: 'tick', x: x(t), y: H - 6, 'text-anchor': 'middle' }, clock(t)));
  }
  for (const m of spec.marks ?? []) {
    if (m.at < start) continue;
    const g = svg('g', { class: 'mark' }, svg('title', {}, m.label));
    g.append(svg('line', { x1: x(m.at), x2: x(m.at), y1: PAD.top, y2: PAD.top + ph }), svg('rect', { x: x(m.at) - 4, y: PAD.top, width: 8, height: ph, class: 'hit' }));
    root.append(g);
  }
  if (spec.limit) {
    root.append(svg('line', { class: 'limit', x1: PAD.left, x2: W - PAD.right, y1: y(spec.limit.value), y2: y(spec.limit.value) }));
    root.append(svg('text', { class: 'limit-label', x: W - PAD.right - 4, y: y(spec.limit.value) - 4, 'text-anchor': 'end' }, spec.limit.label));
  }
  for (const s of spec.series) {
    const segments = runs(spec.times, s.values).map((run) => run.map(([t, v]) => [x(t), y(v)]));
    for (const pts of segments) {
      if (s.area && pts.length > 1) {
        const d = `M${pts[0][0].toFixed(1)},${y(0).toFixed(1)}` + pts.map(([px, py]) => `L${px.toFixed(1)},${py.toFixed(1)}`).join('') + `L${pts[pts.length - 1][0].toFixed(1)},${y(0).toFixed(1)}Z`;
        root.append(svg('path', { class: `area ${s.cls}`, d }));
      }
      const d = pts.map(([px, py], i) => `${i === 0 ? 'M' : 'L'}${px.toFixed(1)},${py.toFixed(1)}`).join('');
      root.append(svg('path', { class: `line ${s.cls}`, d }));
      if (pts.length === 1) root.append(svg('circle', { class: `dot ${s.cls}`, cx: pts[0][0], cy: pts[0][1], r: 2 }));
    }
  }
  return readout(spec, root, x, W);
}

/**
 * runs splits a series into stretches without gaps: [[time, value], ...] each.
 * @param {number[]} times @param {Array<number | null>} values
 * @returns {Array<Array<[number, number]>>}
 */
function runs(times, values) {
  /** @type {Array<Array<[number, number]>>} */
  const out = [];
  /** @type {Array<[number, number]>} */
  let cur = [];
  for (let i = 0; i < times.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) {
      if (cur.length > 0) out.push(cur);
      cur = [];
    } else cur.push([times[i], v]);
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * readout wraps the SVG with the pointer's crosshair and the values at that time.
 * @param {ChartSpec} spec @param {SVGElement} root @param {(t: number) => number} x @param {number} W the viewBox width
 */
function readout(spec, root, x, W) {
  const box = document.createElement('div');
  box.className = 'plot';
  const tip = document.createElement('div');
  tip.className = 'tip';
  tip.hidden = true;
  const cross = svg('line', { class: 'cross', x1: 0, x2: 0, y1: PAD.top, y2: H - PAD.bottom, visibility: 'hidden' });
  root.append(cross);
  box.append(root, tip);
  /** @param {number} vx the pointer in viewBox units */
  const show = (vx) => {
    let best = -1;
    let dist = Infinity;
    spec.times.forEach((t, i) => {
      const d = Math.abs(x(t) - vx);
      if (d < dist) [best, dist] = [i, d];
    });
    if (best < 0 || dist > 20) return hide();
    const cx = x(spec.times[best]);
    cross.setAttribute('x1', String(cx));
    cross.setAttribute('x2', String(cx));
    cross.setAttribute('visibility', 'visible');
    tip.replaceChildren(Object.assign(document.createElement('div'), { className: 'tip-time', textContent: clock(spec.times[best], true) }));
    for (const s of spec.series) {
      const v = s.values[best];
      const row = document.createElement('div');
      row.append(Object.assign(document.createElement('i'), { className: `swatch ${s.cls}` }), `${s.name} `, Object.assign(document.createElement('b'), { textContent: v === null || v === undefined ? '–' : spec.format(v) }));
      tip.append(row);
    }
    tip.hidden = false;
    const left = (cx / W) * 100;
    tip.style.left = left > 60 ? '' : `calc(${left}% + 8px)`;
    tip.style.right = left > 60 ? `calc(${100 - left}% + 8px)` : '';
  };
  const hide = () => {
    cross.setAttribute('visibility', 'hidden');
    tip.hidden = true;
  };
  root.addEventListener('mousemove', (e) => {
    const r = root.getBoundingClientRect();
    const vx = ((e.clientX - r.left) / r.width) * W;
    hovers.set(spec.id, vx);
    show(vx);
  });
  root.addEventListener('mouseleave', () => {
    hovers.delete(spec.id);
    hide();
  });
  if (hovers.has(spec.id)) show(hovers.get(spec.id));
  return box;
}

/**
 * healthBand draws an upstream's state over the window: up, trial, down, and grey before portico
 * knew it; each stretch says its state, its times and the reason it began.
 * @param {{ changes: Array<{ at: number, from: string, to: string, reason: string }>, current: string, now: number, windowMs: number, since: number | null }} o
 * @returns {SVGElement}
 */
export function healthBand(o) {
  const start = o.now - o.windowMs;
  const bw = 300;
  const x = (/** @type {number} */ t) => ((Math.max(start, t) - start) / o.windowMs) * bw;
  const root = svg('svg', { class: 'band', viewBox: `0 0 ${bw} 14`, preserveAspectRatio: 'none', role: 'img', 'aria-label': 'state over the last 15 minutes' });
  /** @type {Array<{ from: number, to: number, state: string, reason: string }>} */
  const stretches = [];
  const before = o.changes.filter((c) => c.at <= start).at(-1);
  let state = before ? before.to : o.changes.length > 0 ? o.changes[0].from : o.current;
  let reason = before ? before.reason : '';
  let from = start;
  if (o.since !== null && o.since > start) {
    stretches.push({ from: start, to: o.since, state: 'unknown', reason: 'portico was not running' });
    from = o.since;
  }
  for (const c of o.changes) {
    if (c.at <= from) continue;
    stretches.push({ from, to: c.at, state, reason });
    [from, state, reason] = [c.at, c.to, c.reason];
  }
  stretches.push({ from, to: o.now, state, reason });
  for (const s of stretches) {
    if (s.to <= s.from) continue;
    const label = `${s.state} ${clock(s.from)}–${s.to >= o.now ? 'now' : clock(s.to)}${s.reason ? `: ${s.reason}` : ''}`;
    root.append(svg('rect', { class: `st-${s.state}`, x: x(s.from), y: 0, width: Math.max(0.5, x(s.to) - x(s.from)), height: 14 }, svg('title', {}, label)));
  }
  return root;
}
