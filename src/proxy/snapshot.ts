/**
 * Snapshot: the data plane's whole input, as serialisable plain data with a version number
 * (DESIGN §1), and the messages the two planes exchange between snapshots. The control plane builds
 * it (`Runtime.snapshot`); the data plane applies it with `DataPlane.apply` — by function call in one
 * process, over IPC with several.
 */
import type { CertPems } from '../tls/cert-store.js';
import type { UpstreamState } from '../upstream/health-state.js';

/** HealthUpdate tells the data plane a (route, upstream) pair changed state between snapshots (control → data plane). */
export interface HealthUpdate {
  route: string;
  upstream: string;
  state: UpstreamState;
}

/** PassiveReport is what the data plane saw in real traffic (only failures, and trial outcomes) (data → control plane). */
export interface PassiveReport {
  route: string;
  upstream: string;
  ok: boolean;
  /** "connect ECONNREFUSED …", "status 503", "UND_ERR_HEADERS_TIMEOUT: …" */
  detail: string;
}

/** SnapshotUpstream is one upstream of a route with its health as the control plane decided it. */
export interface SnapshotUpstream {
  /** origin (`http://host:port`) */
  url: string;
  state: UpstreamState;
}

/** SnapshotRoute is one route as the data plane serves it. */
export interface SnapshotRoute {
  name: string;
  hosts: string[];
  path_prefix: string;
  upstreams: SnapshotUpstream[];
  max_body_bytes: number;
  retries: number;
  fail_statuses: number[];
  /** seconds for Retry-After when no upstream is available */
  retry_after: number;
  /** how an upstream is picked (`balance`) */
  balance: 'round_robin' | 'least_requests' | 'p2c';
  /** codings offered to clients, in order of preference ([] = none; a coding this Node lacks is skipped) */
  compress: string[];
  /** Strict-Transport-Security value, or null */
  hsts: string | null;
  /** `[routes.headers]`: lower-case names */
  headers: { request: SnapshotHeaderRules; response: SnapshotHeaderRules };
  /** token bucket per client address: `count` of burst, refilled at `count` per `window` ms; null = none */
  rate_limit: { count: number; window: number } | null;
  /** answer every request with a redirect (the route has no upstreams); null = proxy */
  redirect: SnapshotRedirect | null;
}

/** SnapshotHeaderRules are one direction of a route's header rules (lower-case names). */
export interface SnapshotHeaderRules {
  set: Array<[name: string, value: string]>;
  remove: string[];
}

/** SnapshotRedirect is a redirect route's answer. */
export interface SnapshotRedirect {
  /** target URL (a bare origin has no trailing "/") */
  to: string;
  /** 301 302 303 307 308 */
  status: number;
  /** append the request's path and query */
  keep_path: boolean;
}

/** SnapshotServer holds the serving settings that can change on reload (ms / bytes). */
export interface SnapshotServer {
  trusted_proxies: string[];
  /** `server.proxy_protocol`: CIDRs whose connections start with a PROXY header ([] = none) */
  proxy_protocol: string[];
  timeouts: {
    header: number;
    body: number;
    send: number;
    idle: number;
    upstream_connect: number;
    upstream_response: number;
    upstream_idle: number;
  };
  max_header_bytes: number;
  public_https_port: number;
  min_version: 'TLSv1.2' | 'TLSv1.3';
  access_log: boolean;
  /** `[server.http2]` (a data-plane process applies it to its https listener) */
  http2: { enabled: boolean; max_concurrent_streams: number; max_resets: { count: number; window: number } };
  /** `log.level` (a data-plane process follows reloads of it) */
  log_level: string;
  /** ms a WebSocket on a removed or changed route stays open after a reload */
  shutdown_grace: number;
}

/** SnapshotChallenges are the pending ACME challenge answers (DESIGN §6). */
export interface SnapshotChallenges {
  /** HTTP-01: token → key authorization, served on `server.http` at /.well-known/acme-challenge/<token> */
  http: Record<string, string>;
  /** TLS-ALPN-01: RFC 8737 certificates, served on `server.https` to acme-tls/1 handshakes for the name */
  alpn: Array<{ name: string; cert: string; key: string }>;
}

/** Snapshot is everything a data-plane process needs to serve traffic. */
export interface Snapshot {
  version: number;
  server: SnapshotServer;
  routes: SnapshotRoute[];
  certificates: CertPems[];
  default_certificate: { cert: string; key: string };
  /** served to clients that send no SNI (IP-literal hosts): the first routed IP host's certificate, else the default */
  no_sni_certificate: { cert: string; key: string };
  /** routed names with no certificate while `tls.self_signed = false`: their handshakes fail */
  refused_names: string[];
  /** ACME challenge answers; on a miss the data plane asks its control plane (another process may have written it) */
  acme_challenges: SnapshotChallenges;
  /** TLS session-ticket key (48 bytes, base64), the same in every data-plane process so sessions resume on any of them; set by the control plane */
  ticket_key: string;
  /** on-demand TLS is on: a handshake for a name with no certificate asks the control plane (up to 10 s), then gets the default */
  on_demand?: boolean;
}
