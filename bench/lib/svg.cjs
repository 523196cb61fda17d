// svg.cjs: two small hand-written SVG charts, no dependencies.
//   barPanels({ title, subtitle, labels, panels: [{ title, values: [..], goals?: [..] }], colors: [..], legend })
//     horizontal bars, one row per label, one panel per measure (each panel its own scale)
//   lineChart({ title, subtitle, series: [{ name, color, points: [[x, y], ..], dash? }], xLabel, yLabel,
//              vlines: [{ x, label }], bands: [{ x0, x1, label }], yMin? })
'use strict';

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const FONT = 'font-family="system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif"';
const r1 = (x) => Math.round(x * 10) / 10;

/** A "nice" axis maximum and step for values up to max. */
function niceScale(max, ticks = 4) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  return { top: Math.ceil(max / step) * step, step };
}
const fmtNum = (v) => (Number.isInteger(Math.round(v * 1e6) / 1e6) ? String(Math.round(v)) : Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2));

function barPanels({ title, subtitle = '', labels, panels, colors, legend = [] }) {
  const labelW = 150, panelW = 235, gap = 18, rowH = 19, top = 78, barH = 13;
  const W = labelW + panels.length * (panelW + gap) + 10;
  const H = top + labels.length * rowH + 48;
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ${FONT} font-size="11">`);
  o.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  o.push(`<text x="10" y="20" font-size="15" font-weight="600">${esc(title)}</text>`);
  if (subtitle) o.push(`<text x="10" y="38" fill="#555">${esc(subtitle)}</text>`);
  labels.forEach((l, i) => {
    const y = top + i * rowH;
    if (i % 2 === 0) o.push(`<rect x="0" y="${y - 3}" width="${W}" height="${rowH}" fill="#f6f7f9"/>`);
    o.push(`<text x="${labelW - 8}" y="${y + barH - 2}" text-anchor="end">${esc(l)}</text>`);
  });
  panels.forEach((p, k) => {
    const x0 = labelW + k * (panelW + gap);
    const vals = p.values.filter((v) => Number.isFinite(v));
    const goals = (p.goals || []).filter((v) => Number.isFinite(v));
    const { top: vmax, step } = niceScale(Math.max(0, ...vals, ...goals) * 1.0);
    const sx = (v) => x0 + (v / vmax) * (panelW - 40);
    o.push(`<text x="${x0}" y="${top - 22}" font-weight="600">${esc(p.title)}</text>`);
    for (let t = 0; t <= vmax + 1e-9; t += step) {
      const x = r1(sx(t));
      o.push(`<line x1="${x}" y1="${top - 8}" x2="${x}" y2="${top + labels.length * rowH - 4}" stroke="#e3e5e8"/>`);
      o.push(`<text x="${x}" y="${top - 10}" text-anchor="middle" fill="#777" font-size="9">${esc(fmtNum(t))}</text>`);
    }
    p.values.forEach((v, i) => {
      const y = top + i * rowH;
      if (!Number.isFinite(v)) {
        o.push(`<text x="${x0 + 2}" y="${y + barH - 2}" fill="#999" font-size="10">${esc(p.missing?.[i] || 'n/a')}</text>`);
        return;
      }
      o.push(`<rect x="${x0}" y="${y}" width="${r1(Math.max(1, sx(v) - x0))}" height="${barH}" fill="${colors[i]}" rx="1.5"/>`);
      const g = p.goals?.[i];
      const lx = Math.max(sx(v), Number.isFinite(g) ? sx(g) : 0) + 4;
      o.push(`<text x="${r1(lx)}" y="${y + barH - 2}" font-size="10">${esc(fmtNum(v))}</text>`);
      if (Number.isFinite(g)) {
        const gx = r1(sx(g));
        o.push(`<line x1="${gx}" y1="${y - 2}" x2="${gx}" y2="${y + barH + 2}" stroke="#111" stroke-width="1.6" stroke-dasharray="2,1.5"/>`);
      }
    });
  });
  let lx = 10;
  const ly = H - 16;
  for (const { color, text, goal } of legend) {
    if (goal) o.push(`<line x1="${lx + 5}" y1="${ly - 10}" x2="${lx + 5}" y2="${ly + 2}" stroke="#111" stroke-width="1.6" stroke-dasharray="2,1.5"/>`);
    else o.push(`<rect x="${lx}" y="${ly - 9}" width="11" height="11" fill="${color}" rx="1.5"/>`);
    o.push(`<text x="${lx + 15}" y="${ly}" fill="#333">${esc(text)}</text>`);
    lx += 22 + text.length * 5.6;
  }
  o.push('</svg>');
  return o.join('\n') + '\n';
}

function lineChart({ title, subtitle = '', series, xLabel = '', yLabel = '', vlines = [], bands = [], yMin, footer = '' }) {
  const W = 900, H = 380, L = 64, R = 190, T = 56, B = 62;
  const pw = W - L - R, ph = H - T - B;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter(Number.isFinite);
  const xmax = Math.max(1, ...xs), xmin = Math.min(0, ...xs);
  const ysc = niceScale(Math.max(1, ...ys) * 1.08, 5);
  const y0 = yMin ?? 0;
  const sx = (x) => L + ((x - xmin) / (xmax - xmin || 1)) * pw;
  const sy = (y) => T + ph - ((y - y0) / (ysc.top - y0 || 1)) * ph;
  const xsc = niceScale(xmax - xmin, 8);
  const o = [];
  o.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ${FONT} font-size="11">`);
  o.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  o.push(`<text x="10" y="20" font-size="15" font-weight="600">${esc(title)}</text>`);
  if (subtitle) o.push(`<text x="10" y="38" fill="#555">${esc(subtitle)}</text>`);
  for (const b of bands) {
    o.push(`<rect x="${r1(sx(b.x0))}" y="${T}" width="${r1(Math.max(1, sx(b.x1) - sx(b.x0)))}" height="${ph}" fill="${b.color || '#e7f0fb'}"/>`);
    if (b.label) o.push(`<text x="${r1((sx(b.x0) + sx(b.x1)) / 2)}" y="${T + 12}" text-anchor="middle" fill="#557" font-size="9">${esc(b.label)}</text>`);
  }
  for (let t = y0; t <= ysc.top + 1e-9; t += ysc.step) {
    const y = r1(sy(t));
    o.push(`<line x1="${L}" y1="${y}" x2="${L + pw}" y2="${y}" stroke="#e3e5e8"/>`);
    o.push(`<text x="${L - 6}" y="${y + 3}" text-anchor="end" fill="#666" font-size="10">${esc(fmtNum(t))}</text>`);
  }
  for (let t = Math.ceil(xmin / xsc.step) * xsc.step; t <= xmax + 1e-9; t += xsc.step) {
    const x = r1(sx(t));
    o.push(`<line x1="${x}" y1="${T + ph}" x2="${x}" y2="${T + ph + 4}" stroke="#999"/>`);
    o.push(`<text x="${x}" y="${T + ph + 16}" text-anchor="middle" fill="#666" font-size="10">${esc(fmtNum(t))}</text>`);
  }
  o.push(`<rect x="${L}" y="${T}" width="${pw}" height="${ph}" fill="none" stroke="#bbb"/>`);
  for (const v of vlines) {
    const x = r1(sx(v.x));
    o.push(`<line x1="${x}" y1="${T}" x2="${x}" y2="${T + ph}" stroke="#888" stroke-dasharray="4,3"/>`);
    if (v.label) o.push(`<text x="${x + 3}" y="${T + ph - 6}" fill="#666" font-size="9">${esc(v.label)}</text>`);
  }
  for (const s of series) {
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    if (!pts.length) continue;
    const d = pts.map((p, i) => `${i ? 'L' : 'M'}${r1(sx(p[0]))},${r1(sy(p[1]))}`).join('');
    o.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width || 1.6}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
  }
  series.forEach((s, i) => {
    const y = T + 10 + i * 18;
    o.push(`<line x1="${L + pw + 12}" y1="${y}" x2="${L + pw + 30}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
    o.push(`<text x="${L + pw + 34}" y="${y + 4}" font-size="10">${esc(s.name)}</text>`);
  });
  o.push(`<text x="${L + pw / 2}" y="${H - 30}" text-anchor="middle" fill="#333">${esc(xLabel)}</text>`);
  o.push(`<text transform="translate(16,${T + ph / 2}) rotate(-90)" text-anchor="middle" fill="#333">${esc(yLabel)}</text>`);
  if (footer) o.push(`<text x="10" y="${H - 10}" fill="#555" font-size="10">${esc(footer)}</text>`);
  o.push('</svg>');
  return o.join('\n') + '\n';
}

module.exports = { barPanels, lineChart, esc, niceScale };
