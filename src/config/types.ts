/**
 * The normalised configuration: what `loadConfig` returns after parsing and validating config.toml.
 *
 * Keys keep their TOML names (so an error path such as `routes[0].max_body_bytes` names the same key in
 * the file and here). Values are normalised: durations in milliseconds, sizes in bytes, addresses split
 * into host and port, paths absolute (resolved against the config file's directory), host names
 * lower-case, upstream URLs as origins (`http://127.0.0.1:3001`). The whole object is deep-frozen plain
 * data: it can be printed as JSON, compared, and sent over IPC.
 */

/** A listen address (`"0.0.0.0:8443"`, `"[::]:443"`). `host` has no brackets. */
export interface Address {
  host: string;
  port: number;
}

/** TLS protocol floor accepted from clients. */
export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/**
 * Where a route's certificate comes from. `auto`: a file if present, else ACME when `acme.enabled`
 * (DNS names only), else self-signed.
 */
export type RouteTls = 'auto' | 'file' | 'acme' | 'self-signed';

/** `[server.timeouts]`, all in milliseconds. */
export interface TimeoutsConfig {
  /** The whole request head must arrive within this → 408 and close (default 10s). */
  header: number;
  /** A request body making no progress this long → 408 (default 30s). */
  body: number;
  /** Client keep-alive idle (default 60s). */
  idle: number;
  /** A response the client reads nothing of for this long is cut: its upstream request aborted, logged 499 (default 60s). */
  send: number;
  /** Connecting to an upstream (default 3s). */
  upstream_connect: number;
  /** Until upstream response headers → 504 (default 60s). */
  upstream_response: number;
  /** Kept-alive upstream connections close after this (default 4s). */
  upstream_idle: number;
}

/** `[server.limits]`, in bytes. */
export interface LimitsConfig {
  /** Request head size → 431 (default 16KiB). */
  max_header_bytes: number;
  /** Request body size → 413; routes may override (default 10MiB). */
  max_body_bytes: number;
}

/** `[server.http2]`: HTTP/2 on the https listener (ALPN `h2`). */
export interface Http2Config {
  /** Offer `h2` in ALPN; false: the listener speaks HTTP/1.1 only (default true). */
  enabled: boolean;
  /** Streams one client connection may have open at once; more are refused (default 100, 1..10000). */
  max_concurrent_streams: number;
  /**
   * More than `count` streams reset by the client within `window` ms close its connection with
   * GOAWAY ENHANCE_YOUR_CALM (rapid reset, CVE-2023-44487) (default "200 in 10s"; count 1..10000).
   */
  max_resets: { count: number; window: number };
}

/** `[server]`. */
export interface ServerConfig {
  /** Public TLS listener (default 0.0.0.0:8443). */
  https: Address;
  /** Plain listener for redirects and ACME HTTP-01 (default 0.0.0.0:8080); null when `http = ""`. */
  http: Address | null;
  /**
   * Port written into 308 redirects; an explicit value is 1..65535, the default is the https
   * listener's port. That default is 0 when https listens on port 0 (tests): then use the port
   * actually bound.
   */
  public_https_port: number;
  /** Data-plane processes serving the https listener (1 = in the control-plane process); "auto" is resolved to the core count (default 1). */
  workers: number;
  /** Normalised CIDRs (`"10.0.0.0/8"`, `"::1/128"`); a bare address becomes /32 or /128 (default []). */
  trusted_proxies: string[];
  /**
   * Normalised CIDRs of L4 load balancers that prefix every connection with a PROXY protocol v1/v2
   * header: from them the header is required on the https and http listeners (optional on admin) and
   * its source is the client address; from anyone else a header closes the connection (default []: no
   * header expected).
   */
  proxy_protocol: string[];
  /** Milliseconds in-flight requests get on shutdown/reload (default 30s). */
  shutdown_grace: number;
  /** Milliseconds to keep serving (readiness 503) after SIGTERM before closing (default 0s). */
  shutdown_delay: number;
  timeouts: TimeoutsConfig;
  limits: LimitsConfig;
  http2: Http2Config;
}

/** One `[[tls.certificates]]` entry: absolute paths. */
export interface CertificateFileConfig {
  cert: string;
  key: string;
}

/** `[tls]`. */
export interface TlsConfig {
  /** Default TLSv1.2. */
  min_version: TlsMinVersion;
  /** Absolute directory holding `<host>.crt` + `<host>.key` (default `certs` next to the config file). */
  dir: string;
  /** Generate certificates for routed hosts without one (default true). */
  self_signed: boolean;
  /** Milliseconds one TLS session-ticket key is used before a new one replaces it in every data-plane process (default 12h). */
  ticket_key_rotation: number;
  /** `[[tls.certificates]]` entries (default none). */
  certificates: CertificateFileConfig[];
}

/** `[storage]`. */
export interface StorageConfig {
  /** Absolute directory for state portico manages (default `certs/managed` next to the config file). */
  dir: string;
  /**
   * `redis://` or `rediss://` URL of the Redis that replicas share their state through (DESIGN §7);
   * `dir` is then a local cache. "" (default): the state lives in `dir` only.
   */
  redis: string;
}

/** ACME challenge types portico answers (dns-01 through `acme.dns_hook`). */
export type AcmeChallenge = 'http-01' | 'tls-alpn-01' | 'dns-01';

/** `[acme.on_demand]`: certificates for names no route lists, at their first handshake. */
export interface AcmeOnDemandConfig {
  /** URL asked `GET <ask>?domain=NAME` before any order for NAME (200 = approved); "" = on-demand off (default). */
  ask: string;
  /** At most `count` on-demand orders per `window` ms (default 10 in 1m). */
  rate: { count: number; window: number };
}

/** `[acme.eab]`: external account binding (secrets usually via `${ENV}`). */
export interface AcmeEabConfig {
  kid: string;
  /** base64url HMAC key as the CA gives it */
  hmac_key: string;
}

/** `[acme]`. */
export interface AcmeConfig {
  /** Obtain and renew certificates for routed hosts (default false). */
  enabled: boolean;
  /** ACME directory URL (default Let's Encrypt staging). */
  directory: string;
  /** Contact e-mail for the account (default "": none). */
  email: string;
  /** Absolute path of extra PEM roots trusted for the directory's TLS, or "" (default). */
  ca_bundle: string;
  /** Challenge types in the order tried, unique, non-empty (default http-01, tls-alpn-01). */
  challenges: AcmeChallenge[];
  /** When to renew: `{fraction}` of the lifetime left (default 1/3) or `{ms}` before expiry. */
  renew_before: { fraction: number } | { ms: number };
  /** Failed attempts back off from `min` doubling to `max` ms (default 1m..1d). */
  backoff: { min: number; max: number };
  /** Profile name sent in newOrder ("" = the CA's default). */
  profile: string;
  /** argv run as `<argv…> add|remove <_acme-challenge.name> <value>` for dns-01; [] = no dns-01 (default). */
  dns_hook: string[];
  /** ms one run of the hook may take (default 30s). */
  dns_hook_timeout: number;
  /** resolvers (`ip:port`) asked whether the TXT record is visible; [] = the zone's authoritative servers (default). */
  dns_resolvers: string[];
  /** ms to wait for the TXT record to be visible (default 2m). */
  dns_propagation_timeout: number;
  /** At most `count` orders start per `window` ms, process-wide (default 10 in 1m). */
  order_rate: { count: number; window: number };
  /** At most this many orders at a time (default 4). */
  order_concurrency: number;
  /** External account binding, or null (default). */
  eab: AcmeEabConfig | null;
  /** `[acme.on_demand]`. */
  on_demand: AcmeOnDemandConfig;
}

/** `[admin]`. */
export interface AdminConfig {
  /** Admin listener (default 127.0.0.1:9901); null when `listen = ""` (admin disabled). */
  listen: Address | null;
  /** Normalised CIDRs allowed to POST (default 127.0.0.1/32 and ::1/128). */
  write_from: string[];
}

/** Log levels accepted by `[log] level`. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** `[log]`. */
export interface LogConfig {
  /** Default info. */
  level: LogLevel;
  /** Default auto (pretty on a TTY, else JSON). */
  format: 'json' | 'pretty' | 'auto';
  /** One access log line per request (default true). */
  access: boolean;
}

/** `[routes.health]`: active checks of each upstream of the route. Durations in ms. */
export interface HealthConfig {
  /** Default true. */
  enabled: boolean;
  /** Probe path, starts with `/` (default `/`). */
  path: string;
  /** Time between the end of one probe and the start of the next (default 5s). */
  interval: number;
  /** A probe without response headers within this fails (default 2s). */
  timeout: number;
  /** Consecutive passing probes that restore a down upstream (default 2). */
  healthy_threshold: number;
  /** Consecutive failing probes that drop an upstream (default 3). */
  unhealthy_threshold: number;
  /** Inclusive status range a probe must answer with: `"2xx"` → [200, 299] (default "2xx"). */
  expect_status: [number, number];
}

/** `[routes.passive]`: failures seen in real traffic. Durations in ms. */
export interface PassiveConfig {
  /** Failures within `fail_window` that eject an upstream; 0 turns passive ejection off (default 3). */
  max_fails: number;
  /** Default 10s. */
  fail_window: number;
  /** With active checks off: how long an ejected upstream stays out before one trial request (default 30s). */
  eject_for: number;
  /** Upstream response statuses counted as failures (passed on to the client, not retried) (default []). */
  fail_statuses: number[];
}

/** How a route picks an upstream: in turn, the one with the fewest requests in flight, or the less busy of two at random. */
export type Balance = 'round_robin' | 'least_requests' | 'p2c';

/** Content codings portico can compress responses with (`zstd` only where the running Node has it). */
export type Coding = 'br' | 'zstd' | 'gzip';

/** One direction of `[routes.headers]`: lower-case field names. */
export interface HeaderRules {
  /** name → value, replacing whatever the message had (default {}). */
  set: Record<string, string>;
  /** names removed from the message (default []). */
  remove: string[];
}

/** `[routes.headers]`: header rules for the request sent upstream and the response sent to the client. */
export interface HeadersConfig {
  request: HeaderRules;
  response: HeaderRules;
}

/** One `[[routes]]` entry. */
export interface RouteConfig {
  /** Metric/log label; default: first host + path_prefix. Unique. */
  name: string;
  /** Lower-case DNS names, `*.example.com` wildcards, or IP literals (IPv6 without brackets). */
  hosts: string[];
  /** Starts with `/`; longest prefix wins within a host (default `/`). */
  path_prefix: string;
  /**
   * Origins, `http://host:port` (port always written), no path. At least one, no repeats — unless
   * `app` is set: then `[]` (the app's live workers are the upstreams).
   */
  upstreams: string[];
  /** Name of the `[[apps]]` entry whose workers this route balances to, or null (exactly one of `upstreams`, `app`, `redirect`). */
  app: string | null;
  /** Default auto. */
  tls: RouteTls;
  /** Default round_robin. */
  balance: Balance;
  /** Codings offered to clients, in the order preferred (default []: responses pass through unchanged). */
  compress: Coding[];
  /** `Strict-Transport-Security` value on every response of the route, or null (default "": none). */
  hsts: string | null;
  /** Token bucket per client address: `count` requests, refilled at `count` per `window` ms; null = none (default ""). */
  rate_limit: { count: number; window: number } | null;
  /** Redirect target URL (the route has no upstreams then), or null (default ""). */
  redirect: string | null;
  /** Status of the redirect: 301, 302, 303, 307 or 308 (default 308). */
  redirect_status: number;
  /** Append the request's path and query to `redirect` (default true). */
  redirect_keep_path: boolean;
  headers: HeadersConfig;
  /** Bytes; default `server.limits.max_body_bytes`. */
  max_body_bytes: number;
  /** Extra attempts on another upstream under the retry rule (default 2). */
  retries: number;
  health: HealthConfig;
  passive: PassiveConfig;
}

/** `[supervisor]`: the memory budget for all app workers. */
export interface SupervisorConfig {
  /** Bytes, or "auto" (default): the cgroup limit (v2 memory.max, else v1), else the machine's RAM. */
  memory_total: number | 'auto';
  /** Bytes kept back for portico itself (default 256MiB). */
  memory_reserve: number;
}

/** One `[[apps]]` entry: an app portico runs as `workers` child processes. Durations in ms. */
export interface AppConfig {
  /** Unique; a route refers to it with `app = "name"`. */
  name: string;
  /** argv, no shell; at least one non-empty string. */
  command: string[];
  /** Absolute working directory (default: the config file's directory). */
  cwd: string;
  /** Added to portico's own environment (default {}). */
  env: Record<string, string>;
  /** Default 1 (1..64). */
  workers: number;
  /** First port of the range [port, port + 2×workers) the workers bind on 127.0.0.1. */
  port: number;
  /** Bytes per worker (default 512MiB): the budget check and the RSS recycle limit. */
  memory: number;
  /** argv run to success before the first worker, once per definition; [] = none (default). */
  pre_start: string[];
  /** Default 5m. */
  pre_start_timeout: number;
  /** Restart backoff from `min` doubling to `max` ms (default 1s..30s). */
  restart_backoff: { min: number; max: number };
  /** More than `count` exits within `window` ms stop the restarts (default "5 in 60s"). */
  crash_loop: { count: number; window: number };
}

/** The whole normalised config. */
export interface Config {
  /** Absolute path of the file it was read from (or `"<inline>"`). */
  source: string;
  server: ServerConfig;
  tls: TlsConfig;
  storage: StorageConfig;
  acme: AcmeConfig;
  admin: AdminConfig;
  log: LogConfig;
  supervisor: SupervisorConfig;
  apps: AppConfig[];
  routes: RouteConfig[];
}

/** One validation problem: the key path in the file and what is wrong with it. */
export interface ConfigProblem {
  /** `routes[0].upstreams[1]`, `server.timeouts.header`, or `""` for the whole file. */
  path: string;
  message: string;
  /** 1-based position for TOML syntax errors. */
  line?: number;
  column?: number;
}
