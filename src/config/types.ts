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

/** Where a route's certificate comes from (`auto`: file if present, else self-signed). */
export type RouteTls = 'auto' | 'file' | 'self-signed';

/** `[server.timeouts]`, all in milliseconds. */
export interface TimeoutsConfig {
  header: number;
  body: number;
  idle: number;
  upstream_connect: number;
  upstream_response: number;
  upstream_idle: number;
}

/** `[server.limits]`, in bytes. */
export interface LimitsConfig {
  max_header_bytes: number;
  max_body_bytes: number;
}

/** `[server]`. */
export interface ServerConfig {
  https: Address;
  /** null when `http = ""` (no plain listener). */
  http: Address | null;
  /** Port written into 308 redirects; defaults to the https listener's port. */
  public_https_port: number;
  /** Normalised CIDRs (`"10.0.0.0/8"`, `"::1/128"`); a bare address becomes /32 or /128. */
  trusted_proxies: string[];
  shutdown_grace: number;
  shutdown_delay: number;
  timeouts: TimeoutsConfig;
  limits: LimitsConfig;
}

/** One `[[tls.certificates]]` entry: absolute paths. */
export interface CertificateFileConfig {
  cert: string;
  key: string;
}

/** `[tls]`. */
export interface TlsConfig {
  min_version: TlsMinVersion;
  /** Absolute directory holding `<host>.crt` + `<host>.key`. */
  dir: string;
  self_signed: boolean;
  certificates: CertificateFileConfig[];
}

/** `[storage]`. */
export interface StorageConfig {
  /** Absolute directory for state portico manages. */
  dir: string;
}

/** `[admin]`. */
export interface AdminConfig {
  /** null when `listen = ""` (admin disabled). */
  listen: Address | null;
  /** Normalised CIDRs allowed to POST. */
  write_from: string[];
}

/** Log levels accepted by `[log] level`. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** `[log]`. */
export interface LogConfig {
  level: LogLevel;
  format: 'json' | 'pretty' | 'auto';
  access: boolean;
}

/** One `[[routes]]` entry. */
export interface RouteConfig {
  /** Metric/log label; default: first host + path_prefix. Unique. */
  name: string;
  /** Lower-case DNS names, `*.example.com` wildcards, or IP literals (IPv6 without brackets). */
  hosts: string[];
  /** Starts with `/`; longest prefix wins within a host. */
  path_prefix: string;
  /** Origins, `http://host:port`, no path. At least one. */
  upstreams: string[];
  tls: RouteTls;
  /** Bytes; default `server.limits.max_body_bytes`. */
  max_body_bytes: number;
}

/** The whole normalised config. */
export interface Config {
  /** Absolute path of the file it was read from (or `"<inline>"`). */
  source: string;
  server: ServerConfig;
  tls: TlsConfig;
  storage: StorageConfig;
  admin: AdminConfig;
  log: LogConfig;
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
