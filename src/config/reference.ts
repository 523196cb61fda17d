/**
 * The config key reference: one line of meaning per key, in the order of the file. docs/configuration.md
 * is rendered from it (`renderReference`, `npm run docs`), with each default taken from DEFAULTS itself,
 * and a unit test checks that every key the validator accepts is here (and nothing else), and that the
 * committed document is what this renders: the reference cannot drift from the code.
 */
import { DEFAULTS } from './defaults.js';
import { KEYS } from './keys.js';

/** KeyDoc is one key: its path, what it means, and, where DEFAULTS has none, the default in words. */
export interface KeyDoc {
  /** the key in the file: `server.timeouts.send`, `routes.health.path`, `apps.port` */
  readonly key: string;
  readonly meaning: string;
  /** the default in words, for keys DEFAULTS cannot show (required, derived, none) */
  readonly default?: string;
}

/** SectionDoc is one table of the file. */
export interface SectionDoc {
  readonly title: string;
  /** the table as written in the file */
  readonly table: string;
  readonly intro?: string;
  readonly keys: readonly KeyDoc[];
}

/** REFERENCE: every key, by section, in the order of config/config.toml. */
export const REFERENCE: readonly SectionDoc[] = [
  {
    title: 'Listeners and limits',
    table: '[server]',
    keys: [
      { key: 'server.https', meaning: 'the public TLS listener (SNI; ALPN `h2`, `http/1.1`, and `acme-tls/1` for TLS-ALPN-01)' },
      { key: 'server.http', meaning: 'plain HTTP: 308 to https (same host, path, query) for the hosts portico routes, 404 for any other; `/.well-known/acme-challenge/<token>` answers ACME HTTP-01; `""` disables' },
      { key: 'server.public_https_port', default: '`$PORTICO_PUBLIC_HTTPS_PORT`, else the https port', meaning: 'the port written into redirects (omitted when 443); set it when a port mapping sits in front (the container image sets the variable to 443)' },
      { key: 'server.workers', meaning: 'data-plane processes serving the https listener; `"auto"` = one per core; needs a restart to change' },
      { key: 'server.trusted_proxies', meaning: 'CIDRs whose `X-Forwarded-*`, `Forwarded`, `X-Real-IP` are kept and appended to (and whose `CF-Connecting-IP`, `True-Client-IP`, `X-Forwarded-Port`… pass; from anyone else those are dropped)' },
      { key: 'server.proxy_protocol', meaning: 'CIDRs of L4 load balancers (HAProxy `send-proxy-v2`, a cloud NLB) that put a PROXY protocol v1/v2 header in front of every connection: from them the header is required on the https and http listeners (within `server.timeouts.header`) and read when sent to the admin listener (where probes and the CLI come without one), and its source address is the client address everywhere (forwarding headers, access log, `trusted_proxies`, `admin.write_from`); a header from any other peer closes the connection; `[]`: no listener reads one (nothing is checked per connection)' },
      { key: 'server.shutdown_grace', meaning: 'in-flight requests and WebSockets get this long after SIGTERM (and WebSockets on a route a reload changed)' },
      { key: 'server.shutdown_delay', meaning: 'keep serving (readiness 503) this long after SIGTERM before closing' },
      { key: 'server.timeouts.header', meaning: 'the whole request head must arrive within this → 408 and close (slowloris)' },
      { key: 'server.timeouts.body', meaning: 'a request body with no progress this long → 408 and close' },
      { key: 'server.timeouts.idle', meaning: 'client keep-alive idle (h1 connections, h2 sessions without an open stream)' },
      { key: 'server.timeouts.send', meaning: 'a response the client reads nothing of for this long is cut: its upstream request is aborted, logged 499 (slow-read attacks)' },
      { key: 'server.timeouts.upstream_connect', meaning: 'connecting to an upstream → else 504' },
      { key: 'server.timeouts.upstream_response', meaning: 'until upstream response headers, and between body chunks → else 504' },
      { key: 'server.timeouts.upstream_idle', meaning: 'kept-alive upstream connections close after this (keep it below the app\'s own keep-alive)' },
      { key: 'server.limits.max_header_bytes', meaning: 'the request head, on both protocols → 431' },
      { key: 'server.limits.max_body_bytes', meaning: '→ 413, without reading the body when its length is declared' },
      { key: 'server.http2.enabled', meaning: 'offer HTTP/2 (ALPN `h2`) on `server.https`; `false`: HTTP/1.1 only' },
      { key: 'server.http2.max_concurrent_streams', meaning: 'streams one client connection may have open at once; more are refused (`REFUSED_STREAM`)' },
      { key: 'server.http2.max_resets', meaning: 'more streams reset by the client than this within the window close its connection (`GOAWAY ENHANCE_YOUR_CALM`: rapid reset, CVE-2023-44487); count ≤ 10000' },
    ],
  },
  {
    title: 'Certificates',
    table: '[tls]',
    keys: [
      { key: 'tls.min_version', meaning: 'or `"TLSv1.3"`; TLS 1.2 offers only ECDHE with AES-GCM or ChaCha20-Poly1305 (no CBC suites)' },
      { key: 'tls.dir', meaning: '`<host>.crt` (full chain) + `<host>.key`; `*.example.com` → `_wildcard.example.com.crt`' },
      { key: 'tls.self_signed', meaning: 'routed hosts without a certificate get a generated one; `false`: their handshakes fail' },
      { key: 'tls.ticket_key_rotation', meaning: 'how long one TLS session-ticket key is used; every data-plane worker gets the same key, so a session resumes on any of them' },
      { key: 'tls.certificates', default: 'none', meaning: '`[[tls.certificates]]` tables of `cert` + `key` files; the names are taken from the certificate\'s SANs' },
      { key: 'tls.certificates.cert', default: 'required', meaning: 'PEM chain, leaf first' },
      { key: 'tls.certificates.key', default: 'required', meaning: 'its private key (PEM)' },
    ],
  },
  {
    title: 'Managed state',
    table: '[storage]',
    keys: [
      { key: 'storage.dir', meaning: 'state portico manages: ACME account, certificates, failure ledger, challenge answers, locks, pre-start markers (files 0600, directories 0700); put it on a volume; replicas may share it; needs a restart to change. With `storage.redis` it is a local cache: a replica serves from it while Redis is away' },
      { key: 'storage.redis', meaning: '`"redis://[user]:${REDIS_PASSWORD}@host:6379/0"` or `"rediss://…"` (TLS): replicas on many machines share the ACME account, certificates, failure ledger, challenge answers, locks (leases), pre-start markers and TLS session-ticket keys through this Redis (see docs/deploy.md, "Running several replicas"); the password is part of a URL (percent-encode `@`, `/`, `:`, `%`…); `rediss://` trusts the system CAs and `NODE_EXTRA_CA_CERTS`; `""`: only `dir`; needs a restart to change' },
    ],
  },
  {
    title: 'Automatic certificates',
    table: '[acme]',
    keys: [
      { key: 'acme.enabled', meaning: 'obtain and renew certificates for routed hosts (see docs/operations.md, "Automatic certificates")' },
      { key: 'acme.directory', meaning: 'the CA\'s directory URL (the default is Let\'s Encrypt **staging**); production: `"https://acme-v02.api.letsencrypt.org/directory"`' },
      { key: 'acme.email', meaning: 'contact for the CA account' },
      { key: 'acme.ca_bundle', meaning: 'extra PEM roots trusted for the directory\'s TLS (a private CA)' },
      { key: 'acme.challenges', meaning: 'tried in this order; a failed challenge falls back to the next type. http-01 needs `server.http`; `"dns-01"` needs `dns_hook` (wildcards always use dns-01)' },
      { key: 'acme.renew_before', meaning: 'renew when this fraction of the lifetime is left, or a duration before expiry (`"30d"`); ±2 % jitter; the CA\'s renewal window (ARI) wins when offered' },
      { key: 'acme.backoff', meaning: 'failed attempts back off from MIN doubling to MAX, persisted across restarts; a 429 `Retry-After` is honoured' },
      { key: 'acme.profile', meaning: 'certificate profile sent in each order (`""` = the CA\'s default); Let\'s Encrypt: `"classic"` (90 days), `"tlsserver"` (45 days, no Common Name), `"shortlived"` (about 6 days; the only one for IP addresses). `check` and start-up refuse a name the directory does not list' },
      { key: 'acme.dns_hook', meaning: 'argv (no shell) run as `<argv…> add\\|remove <_acme-challenge.name> <value>` to set and remove the dns-01 TXT record; enables wildcard hosts (`examples/dns-hooks/`)' },
      { key: 'acme.dns_hook_timeout', meaning: 'one run of the hook is killed after this (and the attempt fails)' },
      { key: 'acme.dns_resolvers', meaning: 'resolvers (`"10.0.0.2"`, `"127.0.0.1:8053"`) asked whether the TXT record is visible before the CA is told; `[]` = the zone\'s authoritative servers' },
      { key: 'acme.dns_propagation_timeout', meaning: 'how long to wait for the TXT record to be visible (then the attempt fails)' },
      { key: 'acme.order_rate', meaning: 'at most this many orders start per window, in the whole process (a config with many new hosts cannot burst into the CA\'s limits)' },
      { key: 'acme.order_concurrency', meaning: 'at most this many orders at a time' },
      { key: 'acme.eab', default: 'none', meaning: '`[acme.eab]`: external account binding (ZeroSSL, Google…)' },
      { key: 'acme.eab.kid', default: 'required', meaning: 'the key id your CA gave you' },
      { key: 'acme.eab.hmac_key', default: 'required', meaning: 'its HMAC key (base64url); use `"${ENV}"`' },
    ],
  },
  {
    title: 'On-demand TLS',
    table: '[acme.on_demand]',
    intro: 'A certificate at the first handshake for a name no route lists, served by a `hosts = ["*"]` route (docs/operations.md, "On-demand TLS").',
    keys: [
      { key: 'acme.on_demand.ask', meaning: '`GET <ask>?domain=NAME` must answer 200 before any order for NAME (refusals and failures are cached for a minute); `""` = off' },
      { key: 'acme.on_demand.rate', meaning: 'at most this many on-demand orders per window; a handshake waits up to 10 s for its certificate, then gets the default one' },
    ],
  },
  {
    title: 'Admin',
    table: '[admin]',
    keys: [
      { key: 'admin.listen', meaning: 'GET /healthz /readyz /metrics /status /status.json; POST /reload /apps/NAME/restart; `""` disables' },
      { key: 'admin.write_from', meaning: 'peers allowed to POST (others: 403; cross-site browser requests too)' },
    ],
  },
  {
    title: 'Logs',
    table: '[log]',
    keys: [
      { key: 'log.level', meaning: '`trace` `debug` `info` `warn` `error`' },
      { key: 'log.format', meaning: '`json`, `pretty`, or `auto` (pretty on a TTY); needs a restart to change' },
      { key: 'log.access', meaning: 'one `request` line per request' },
    ],
  },
  {
    title: 'Memory budget of the app workers',
    table: '[supervisor]',
    keys: [
      { key: 'supervisor.memory_total', meaning: 'memory for all app workers: a size, or `auto` = the smallest of the cgroup limit (v2 `memory.max`, else v1 `memory.limit_in_bytes`), `process.constrainedMemory()` and the machine\'s RAM' },
      { key: 'supervisor.memory_reserve', meaning: 'kept back for portico itself: Σ `workers` × `memory` over all apps must fit in `memory_total − memory_reserve`, or `check` and start-up refuse the config, naming the numbers' },
    ],
  },
  {
    title: 'App workers',
    table: '[[apps]]',
    keys: [
      { key: 'apps.name', default: 'required', meaning: 'unique; 1..64 letters, digits, `_`, `-`; a route uses it with `app = "NAME"`' },
      { key: 'apps.command', default: 'required', meaning: 'argv, no shell (`["uvicorn", "main:app", "--port", "${PORT}"]`); each worker gets `PORT`, `HOST=127.0.0.1`, `PORTICO_WORKER_INDEX`; `${PORT}` and `${PORTICO_WORKER_INDEX}` here are the worker\'s own' },
      { key: 'apps.cwd', meaning: 'working directory, relative to the config file' },
      { key: 'apps.env', meaning: 'added to portico\'s own environment; values may use `"${ENV}"`, and `${PORT}` / `${PORTICO_WORKER_INDEX}` (the worker\'s)' },
      { key: 'apps.workers', meaning: 'worker processes, 1..64' },
      { key: 'apps.port', default: 'required', meaning: 'workers bind 127.0.0.1 on ports `[port, port + 2×workers)` (room for replacements); ranges must not overlap each other or a listener\'s port' },
      { key: 'apps.memory', meaning: 'per worker: counted in the budget; RSS above it (3 samples, every 5s) recycles the worker gracefully' },
      { key: 'apps.pre_start', meaning: 'argv run to success before the first worker (migrations), once per definition' },
      { key: 'apps.pre_start_timeout', meaning: 'a pre-start step still running after this fails' },
      { key: 'apps.restart_backoff', meaning: 'a worker that exits restarts after this backoff (doubling; reset after 60s healthy)' },
      { key: 'apps.crash_loop', meaning: 'more exits than this within the window: stop restarting, mark the app failed' },
    ],
  },
  {
    title: 'Routes',
    table: '[[routes]]',
    keys: [
      { key: 'routes.name', default: 'first host + path_prefix', meaning: 'metric/log label; unique' },
      { key: 'routes.hosts', default: 'required', meaning: 'DNS names, `*.example.com` (one label), IP literals, or `"*"`: any host no other route lists (with `[acme.on_demand] ask`: on-demand certificates)' },
      { key: 'routes.path_prefix', meaning: 'longest prefix wins within a host (plain string prefix)' },
      { key: 'routes.upstreams', default: 'required (or `app`, or `redirect`)', meaning: '`http://host:port` origins, balanced by `balance`' },
      { key: 'routes.app', default: 'none', meaning: 'instead of `upstreams`: the name of an `[[apps]]` entry whose live workers are the upstreams (probed with the route\'s `health`); several routes may share one app' },
      { key: 'routes.tls', meaning: '`auto` (file if present, else ACME when `acme.enabled` for DNS names, wildcards with `acme.dns_hook`, IP addresses with `acme.profile = "shortlived"`, else self-signed), `file` (a file is required: `check` fails without), `acme` (needs `acme.enabled`; wildcards need `dns_hook`; `"*"` needs `[acme.on_demand] ask`), `self-signed`' },
      { key: 'routes.balance', meaning: '`round_robin`; `least_requests`: the upstream with the fewest requests in flight (ties in turn); `p2c`: the less busy of two picked at random. In-flight counts are per data-plane process (docs/operations.md, "Balancing")' },
      { key: 'routes.compress', meaning: 'codings offered, in order of preference: `["br", "gzip"]`, `"zstd"` where the running Node has it (else skipped, `check` warns). Compresses text, JSON, JS, XML, SVG… responses of ≥ 1 KiB that the upstream sent unencoded, negotiated from `Accept-Encoding` (q-values), never a 206, a HEAD or a `no-transform`; adds `Vary: Accept-Encoding`, makes an ETag weak, streams with backpressure and flushes every chunk of an unsized body (SSE)' },
      { key: 'routes.hsts', meaning: '`Strict-Transport-Security` on every response of the route (replacing the upstream\'s), e.g. `"max-age=31536000; includeSubDomains"`; never on the plain-HTTP listener' },
      { key: 'routes.rate_limit', meaning: '`"N in D"`: a token bucket per client address (IPv6 per /64; behind `server.trusted_proxies` the address they forward), N requests of burst refilled at N per D; over it → 429 with `Retry-After`. Per data-plane process (docs/operations.md, "Rate limits")' },
      { key: 'routes.redirect', meaning: 'a URL: the route answers every request with a redirect to it (no `upstreams`/`app`), e.g. `"https://www.example.com"`; the plain-HTTP listener sends such hosts there directly (unless `hsts` is set: then to https first)' },
      { key: 'routes.redirect_status', meaning: '301, 302, 303, 307 or 308' },
      { key: 'routes.redirect_keep_path', meaning: 'append the request\'s path and query to `redirect` (`false`: redirect to exactly that URL)' },
      { key: 'routes.headers.request', meaning: '`{ set = { "X-Env" = "prod" }, remove = ["X-Debug"] }` on the request sent upstream (after the forwarding headers; names case-insensitive). Hop-by-hop, forwarding (`X-Forwarded-*`, `Forwarded`, `X-Real-IP`), `Host` and `Content-Length` are refused' },
      { key: 'routes.headers.response', meaning: 'the same on every response of the route, portico\'s own answers included (`remove = ["Server", "X-Powered-By"]`). Hop-by-hop, `Content-Length`, `Content-Encoding` and `Strict-Transport-Security` (use `hsts`) are refused' },
      { key: 'routes.max_body_bytes', default: '`server.limits.max_body_bytes`', meaning: 'per-route body limit' },
      { key: 'routes.retries', meaning: 'extra attempts on another upstream, under the retry rule (docs/operations.md)' },
      { key: 'routes.health.enabled', meaning: 'active checks of every upstream of the route' },
      { key: 'routes.health.path', meaning: 'probed with `GET` on its own connection (`User-Agent: portico-health/…`)' },
      { key: 'routes.health.interval', meaning: 'probe period (start to start, never overlapping)' },
      { key: 'routes.health.timeout', meaning: 'no response headers within this = a failed probe' },
      { key: 'routes.health.healthy_threshold', meaning: 'consecutive passing probes that bring a dropped upstream back' },
      { key: 'routes.health.unhealthy_threshold', meaning: 'consecutive failed probes that drop an upstream' },
      { key: 'routes.health.expect_status', meaning: '`"2xx"`, `"200"` or `"200-399"`' },
      { key: 'routes.passive.max_fails', meaning: 'failures in real traffic within `fail_window` that drop an upstream (`0` = off)' },
      { key: 'routes.passive.fail_window', meaning: 'the window `max_fails` counts in' },
      { key: 'routes.passive.eject_for', meaning: 'only with checks off: how long a dropped upstream waits for its one trial request' },
      { key: 'routes.passive.fail_statuses', meaning: 'upstream statuses counted as failures (e.g. `[502, 503, 504]`): passed on to the client, not retried' },
    ],
  },
];

/**
 * TABLES: every table of the file as a dotted path, the KEYS list of its keys, and the DEFAULTS object
 * holding their defaults (null: none). `[[apps]]` entries read KEYS.app, `[[routes]]` entries KEYS.route.
 */
const TABLES: ReadonlyArray<[path: string, keys: keyof typeof KEYS, defaults: Record<string, unknown> | null]> = [
  ['server', 'server', DEFAULTS.server],
  ['server.timeouts', 'timeouts', DEFAULTS.server.timeouts],
  ['server.limits', 'limits', DEFAULTS.server.limits],
  ['server.http2', 'http2', DEFAULTS.server.http2],
  ['tls', 'tls', DEFAULTS.tls],
  ['tls.certificates', 'certificate', null],
  ['storage', 'storage', DEFAULTS.storage],
  ['acme', 'acme', DEFAULTS.acme],
  ['acme.eab', 'eab', null],
  ['acme.on_demand', 'on_demand', DEFAULTS.acme.on_demand],
  ['admin', 'admin', DEFAULTS.admin],
  ['log', 'log', DEFAULTS.log],
  ['supervisor', 'supervisor', DEFAULTS.supervisor],
  ['apps', 'app', DEFAULTS.app],
  ['routes', 'route', DEFAULTS.route],
  ['routes.health', 'health', DEFAULTS.route.health],
  ['routes.passive', 'passive', DEFAULTS.route.passive],
  ['routes.headers', 'headers', DEFAULTS.route.headers],
];
const TABLE_OF = new Map(TABLES.map(([path, keys, defaults]) => [path, { keys, defaults }]));

/** Tables documented as a whole too (optional ones: whether they are there at all is a setting). */
const DOCUMENTED_TABLES: ReadonlySet<string> = new Set(['tls.certificates', 'acme.eab']);

/** acceptedKeys lists every key the validator accepts, as dotted paths, walking KEYS from the root. */
export function acceptedKeys(): string[] {
  const out: string[] = [];
  const walk = (path: string): void => {
    for (const k of KEYS[TABLE_OF.get(path)!.keys]) {
      const p = `${path}.${k}`;
      if (!TABLE_OF.has(p)) out.push(p);
      else {
        if (DOCUMENTED_TABLES.has(p)) out.push(p);
        walk(p);
      }
    }
  };
  for (const root of rootTables()) walk(root);
  return out;
}

/** rootTables are the root tables the reference walks (a test checks they are KEYS.root). */
export function rootTables(): string[] {
  return TABLES.map(([path]) => path).filter((p) => !p.includes('.'));
}

/** defaultOf is a key's default as written in the file (`"60s"`, `1`, `["h2"]`), or its words. */
export function defaultOf(doc: KeyDoc): string {
  if (doc.default !== undefined) return doc.default;
  const dot = doc.key.lastIndexOf('.');
  const v = TABLE_OF.get(doc.key.slice(0, dot))?.defaults?.[doc.key.slice(dot + 1)];
  if (v === undefined) throw new Error(`portico bug: no default known for ${doc.key}`);
  return `\`${tomlValue(v)}\``;
}

/** tomlValue renders a default as it would be written in config.toml. */
function tomlValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (typeof v === 'object' && v !== null) return Object.keys(v).length === 0 ? '{}' : `{ ${Object.entries(v).map(([k, x]) => `${k} = ${tomlValue(x)}`).join(', ')} }`;
  return String(v);
}

/** renderReference is docs/configuration.md. */
export function renderReference(): string {
  const out = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/reference.ts and src/config/defaults.ts by `npm run docs`; a unit test keeps it in step. Do not edit by hand. -->',
    '',
    '`config/config.toml` is the embedded default and a commented example of every key. Grammar:',
    'durations `"500ms" "10s" "5m" "1h" "2d"` (intervals and timeouts ≥ 10ms); sizes `"16KiB" "10MiB" "1GiB"` or bytes;',
    'addresses `"host:port"` / `"[::]:443"`; ranges `"MIN..MAX"` (backoff doubling from MIN to MAX); rates `"N in D"`.',
    'Relative paths resolve against the config file\'s directory. `"${NAME}"` inside any string is replaced by',
    'environment variable `NAME` (unset → config error), so secrets stay out of the file. Unknown keys are',
    'errors, and `portico check` lists every problem with its key path.',
    '',
  ];
  for (const s of REFERENCE) {
    out.push(`## ${s.title} (\`${s.table}\`)`, '');
    if (s.intro) out.push(s.intro, '');
    out.push('| key | default | meaning |', '|---|---|---|');
    for (const k of s.keys) out.push(`| \`${k.key}\` | ${defaultOf(k)} | ${k.meaning} |`);
    out.push('');
  }
  return out.join('\n');
}
