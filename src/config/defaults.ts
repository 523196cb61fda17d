/**
 * Every config.toml default in one place (DESIGN §4), written as they would appear in the file.
 * validate.ts parses these with the same readers as file values, so a default can never skip
 * the grammar. `null` marks a default derived from another key (noted beside it).
 */

/**
 * deepFreeze freezes o and every object and array reachable from it, and returns o.
 * Config is plain data (no cycles), which is all this handles.
 */
export function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** DEFAULTS holds the default of every key portico accepts in this version. */
export const DEFAULTS = deepFreeze({
  server: {
    https: '0.0.0.0:8443',
    http: '0.0.0.0:8080', // "" disables
    public_https_port: null, // = the https listener's port
    workers: 1, // "auto" = one per core
    trusted_proxies: [] as string[],
    proxy_protocol: [] as string[], // none: no listener expects a PROXY header
    shutdown_grace: '30s',
    shutdown_delay: '0s',
    timeouts: {
      header: '10s',
      body: '30s',
      idle: '60s',
      send: '60s',
      upstream_connect: '3s',
      upstream_response: '60s',
      upstream_idle: '4s',
    },
    limits: {
      max_header_bytes: '16KiB',
      max_body_bytes: '10MiB',
    },
    http2: {
      enabled: true,
      max_concurrent_streams: 100,
      max_resets: '200 in 10s', // more client stream resets than this → GOAWAY (rapid reset)
    },
  },
  tls: {
    min_version: 'TLSv1.2',
    dir: 'certs', // relative to the config file
    self_signed: true,
    ticket_key_rotation: '12h',
    certificates: [] as { cert: string; key: string }[],
  },
  storage: {
    dir: 'certs/managed', // relative to the config file
    redis: '', // none: state lives in dir only
  },
  acme: {
    enabled: false,
    directory: 'https://acme-staging-v02.api.letsencrypt.org/directory', // staging: switch to production deliberately
    email: '',
    ca_bundle: '', // none
    challenges: ['http-01', 'tls-alpn-01'],
    renew_before: '1/3',
    backoff: '1m..1d',
    profile: '', // the CA's default profile
    dns_hook: [] as string[], // none: no dns-01 (no wildcards)
    dns_hook_timeout: '30s',
    dns_resolvers: [] as string[], // none: ask the zone's authoritative servers
    dns_propagation_timeout: '2m',
    order_rate: '10 in 1m',
    order_concurrency: 4,
    on_demand: {
      ask: '', // "" = off
      rate: '10 in 1m',
    },
  },
  admin: {
    listen: '127.0.0.1:9901', // "" disables
    write_from: ['127.0.0.1/32', '::1/128'],
  },
  log: {
    level: 'info',
    format: 'auto',
    access: true,
  },
  supervisor: {
    memory_total: 'auto', // cgroup v2 memory.max, else v1 memory.limit_in_bytes, else RAM (the smallest known)
    memory_reserve: '256MiB', // kept back for portico itself
  },
  /** Per `[[apps]]` entry; `name`, `command` and `port` are required. */
  app: {
    cwd: '.', // relative to the config file
    env: {} as Record<string, string>,
    workers: 1,
    memory: '512MiB', // per worker
    pre_start: [] as string[], // none
    pre_start_timeout: '5m',
    restart_backoff: '1s..30s',
    crash_loop: '5 in 60s',
  },
  /** Per `[[routes]]` entry; `hosts` and one of `upstreams` / `app` are required. */
  route: {
    name: null, // = first host + path_prefix
    app: null, // none: the route has `upstreams`
    path_prefix: '/',
    tls: 'auto',
    balance: 'round_robin',
    compress: [] as string[], // none: responses pass through unchanged
    hsts: '', // none
    rate_limit: '', // none
    redirect: '', // none: the route proxies to upstreams or app
    redirect_status: 308,
    redirect_keep_path: true,
    headers: {
      request: { set: {} as Record<string, string>, remove: [] as string[] },
      response: { set: {} as Record<string, string>, remove: [] as string[] },
    },
    max_body_bytes: null, // = server.limits.max_body_bytes
    retries: 2,
    health: {
      enabled: true,
      path: '/',
      interval: '5s',
      timeout: '2s',
      healthy_threshold: 2,
      unhealthy_threshold: 3,
      expect_status: '2xx',
    },
    passive: {
      max_fails: 3,
      fail_window: '10s',
      eject_for: '30s',
      fail_statuses: [] as number[],
    },
  },
});
