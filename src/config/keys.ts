/**
 * KEYS: the keys each table of config.toml accepts in this version (the validator refuses any other,
 * and the reference, docs/configuration.md, documents exactly these).
 */

/** The keys each table accepts in this version. Anything else (including keys of later versions) is unknown. */
export const KEYS = {
  root: ['server', 'tls', 'storage', 'acme', 'admin', 'log', 'supervisor', 'apps', 'routes'],
  server: ['https', 'http', 'public_https_port', 'workers', 'trusted_proxies', 'proxy_protocol', 'shutdown_grace', 'shutdown_delay', 'timeouts', 'limits', 'http2'],
  timeouts: ['header', 'body', 'idle', 'send', 'upstream_connect', 'upstream_response', 'upstream_idle'],
  limits: ['max_header_bytes', 'max_body_bytes'],
  http2: ['enabled', 'max_concurrent_streams', 'max_resets'],
  tls: ['min_version', 'dir', 'self_signed', 'ticket_key_rotation', 'certificates'],
  certificate: ['cert', 'key'],
  storage: ['dir', 'redis'],
  acme: [
    'enabled', 'directory', 'email', 'ca_bundle', 'challenges', 'renew_before', 'backoff', 'profile', 'dns_hook', 'dns_hook_timeout',
    'dns_resolvers', 'dns_propagation_timeout', 'order_rate', 'order_concurrency', 'eab', 'on_demand',
  ],
  eab: ['kid', 'hmac_key'],
  on_demand: ['ask', 'rate'],
  admin: ['listen', 'write_from'],
  log: ['level', 'format', 'access'],
  supervisor: ['memory_total', 'memory_reserve'],
  app: ['name', 'command', 'cwd', 'env', 'workers', 'port', 'memory', 'pre_start', 'pre_start_timeout', 'restart_backoff', 'crash_loop'],
  route: [
    'name', 'hosts', 'path_prefix', 'upstreams', 'app', 'tls', 'balance', 'compress', 'hsts', 'rate_limit', 'redirect', 'redirect_status',
    'redirect_keep_path', 'headers', 'max_body_bytes', 'retries', 'health', 'passive',
  ],
  headers: ['request', 'response'],
  header_rules: ['set', 'remove'],
  health: ['enabled', 'path', 'interval', 'timeout', 'healthy_threshold', 'unhealthy_threshold', 'expect_status'],
  passive: ['max_fails', 'fail_window', 'eject_for', 'fail_statuses'],
} as const;
