/**
 * The `/status` dashboard (DESIGN §5): an HTML page, its script and style, all served by the admin
 * listener from files shipped in the package (`status-page/`: no CDN, works offline). The page
 * carries the status document and the history it first shows (so it draws at once), then fetches
 * `/status.json` and `/status/history.json` every step and redraws itself. Charts are hand-written
 * SVG (status-page/chart.js, a few KiB): smaller than a chart library and able to draw what one
 * would not (health bands, memory limits, reload marks) in the page's own colours, light and dark.
 *
 * The page may only load from the admin listener itself: its Content-Security-Policy allows scripts,
 * styles and fetches from 'self' and nothing else, no framing, no forms.
 */
import { readFileSync } from 'node:fs';

/** ASSETS are the files under /status/ and their media types. */
const ASSETS: Readonly<Record<string, string>> = {
  'app.js': 'text/javascript; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'format.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

/** PAGE_HEADERS go with the page and its assets. */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const cache = new Map<string, Buffer>();

/** statusAsset returns one of the page's files (`/status/NAME`), or null for any other name. */
export function statusAsset(name: string): { type: string; body: Buffer } | null {
  const type = Object.hasOwn(ASSETS, name) ? ASSETS[name]! : null;
  if (type === null) return null;
  let body = cache.get(name);
  if (body === undefined) {
    body = readFileSync(new URL(`./status-page/${name}`, import.meta.url));
    cache.set(name, body);
  }
  return { type, body };
}

/** json embeds a value in a `<script type="application/json">` element (no `<` can end it early). */
const json = (v: unknown): string => JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');

/** renderStatusPage is the dashboard's HTML: the skeleton the script fills, with the first data in it. */
export function renderStatusPage(status: unknown, history: unknown): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>portico status</title>
<link rel="icon" href="/status/icon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/status/app.css">
<script type="module" src="/status/app.js"></script>
</head>
<body>
<header class="top">
  <div class="brand"><span class="logo" aria-hidden="true"></span><h1>portico</h1><span id="version" class="muted"></span></div>
  <div id="live" class="live" role="status">loading…</div>
</header>
<section id="overview" class="overview" aria-label="Overview"></section>
<section id="attention" class="attention" aria-label="Needs attention" hidden></section>
<main>
  <section aria-labelledby="h-traffic"><h2 id="h-traffic">Traffic <span class="muted">last 15 minutes</span></h2><div id="routes" class="cards"></div></section>
  <section aria-labelledby="h-upstreams"><h2 id="h-upstreams">Upstreams</h2><div id="upstreams"></div></section>
  <section aria-labelledby="h-apps" id="apps-section"><h2 id="h-apps">Apps</h2><div id="apps" class="cards"></div></section>
  <section aria-labelledby="h-certs"><h2 id="h-certs">Certificates</h2><div id="certificates"></div></section>
  <section aria-labelledby="h-system"><h2 id="h-system">TLS and portico</h2><div id="system" class="cards three"></div><div id="data-plane"></div></section>
  <section aria-labelledby="h-reloads"><h2 id="h-reloads">Reloads</h2><div id="reloads"></div></section>
</main>
<footer class="muted">Data: <a href="/status.json">/status.json</a> · <a href="/status/history.json">/status/history.json</a> · <a href="/metrics">/metrics</a></footer>
<noscript><p>This page draws itself with JavaScript; the same data is in <a href="/status.json">/status.json</a>.</p></noscript>
<script type="application/json" id="initial-status">${json(status)}</script>
<script type="application/json" id="initial-history">${json(history)}</script>
</body>
</html>
`;
}
