/**
 * The error catalogue: every error portico raises on purpose, each with a stable `code`
 * (`PORTICO_ERR_*`), an optional HTTP `statusCode`, and `cause` for wrapping.
 * docs/errors.md documents every code (a unit test keeps the two in step).
 * This module imports nothing internal.
 */

/** Problem shape shared with config/types.ts (kept structural so errors.ts imports nothing). */
export interface Problem {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** PorticoError is the base class: `code` is stable, `message` is for people. */
export class PorticoError extends Error {
  readonly code: string;
  readonly statusCode: number | undefined;

  constructor(code: string, message: string, options?: { cause?: unknown; statusCode?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PorticoError';
    this.code = code;
    this.statusCode = options?.statusCode;
  }
}

/** formatProblem renders one problem as `path: message` (or `line:col: message` for syntax errors). */
export function formatProblem(p: Problem): string {
  const where = p.line !== undefined ? `line ${p.line}, column ${p.column ?? 1}` : p.path;
  return where ? `${where}: ${p.message}` : p.message;
}

/** ConfigInvalidError: the file was read but has problems; `problems` lists every one. */
export class ConfigInvalidError extends PorticoError {
  readonly problems: readonly Problem[];
  readonly file: string;
  /**
   * The config as far as it validated (invalid values replaced by defaults), when the file parsed:
   * lets `portico reload` find the admin listener of a file that has problems elsewhere.
   */
  partial?: unknown;

  constructor(file: string, problems: readonly Problem[]) {
    const lines = problems.map((p) => `  - ${formatProblem(p)}`).join('\n');
    super('PORTICO_ERR_CONFIG_INVALID', `invalid config ${file} (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines}`);
    this.name = 'ConfigInvalidError';
    this.problems = problems;
    this.file = file;
  }
}

/** ConfigUnreadableError: the file could not be read at all (missing, permissions). */
export class ConfigUnreadableError extends PorticoError {
  constructor(file: string, cause: unknown) {
    super('PORTICO_ERR_CONFIG_UNREADABLE', `reading config ${file}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ConfigUnreadableError';
  }
}

/** CertificateError: a certificate or key could not be loaded or does not match. */
export class CertificateError extends PorticoError {
  constructor(message: string, cause?: unknown) {
    super('PORTICO_ERR_CERTIFICATE', message, { cause });
    this.name = 'CertificateError';
  }
}

/** ListenError: a listener could not be bound. */
export class ListenError extends PorticoError {
  constructor(what: string, address: string, cause: unknown) {
    super('PORTICO_ERR_LISTEN', `binding ${what} listener ${address}: ${(cause as Error)?.message ?? String(cause)}`, { cause });
    this.name = 'ListenError';
  }
}

/** NoUpstreamError: the route has no upstream in its pool (→ 503). */
export class NoUpstreamError extends PorticoError {
  constructor(route: string) {
    super('PORTICO_ERR_NO_UPSTREAM', `no healthy upstream for route ${route}`, { statusCode: 503 });
    this.name = 'NoUpstreamError';
  }
}

/** causeText renders a wrapped error as `CODE: message` (the engine's code kept for people and for searching logs). */
function causeText(cause: unknown): string {
  const e = cause as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(cause);
  return typeof e?.code === 'string' ? `${e.code}: ${message}` : message;
}

/** UpstreamTimeoutError: the upstream did not connect within `upstream_connect`, or sent no response headers (or body) within `upstream_response` (→ 504). */
export class UpstreamTimeoutError extends PorticoError {
  constructor(upstream: string, cause: unknown) {
    super('PORTICO_ERR_UPSTREAM_TIMEOUT', `upstream ${upstream} timed out: ${causeText(cause)}`, { statusCode: 504, cause });
    this.name = 'UpstreamTimeoutError';
  }
}

/** UpstreamError: connecting to or reading from the upstream failed: refused, reset, malformed or truncated response (→ 502). */
export class UpstreamError extends PorticoError {
  constructor(upstream: string, cause: unknown) {
    super('PORTICO_ERR_UPSTREAM', `upstream ${upstream}: ${causeText(cause)}`, { statusCode: 502, cause });
    this.name = 'UpstreamError';
  }
}

/**
 * ClientGoneError: the client went away before its answer was complete: closed the connection, reset
 * its h2 stream or session, or read nothing of the response for `timeouts.send` (logged 499, never
 * counted against the upstream).
 */
export class ClientGoneError extends PorticoError {
  constructor(message = 'client closed the connection') {
    super('PORTICO_ERR_CLIENT_GONE', message, { statusCode: 499 });
    this.name = 'ClientGoneError';
  }
}

/** BodyTooLargeError: a request body (chunked, or longer than announced) went past the route's max_body_bytes (→ 413). */
export class BodyTooLargeError extends PorticoError {
  constructor(limit: number) {
    super('PORTICO_ERR_BODY_TOO_LARGE', `request body larger than ${limit} bytes`, { statusCode: 413 });
    this.name = 'BodyTooLargeError';
  }
}

/**
 * MalformedRequestError: the body of a request already being proxied turned out malformed (a bad
 * chunk size, data past a chunk, a bad trailer): 400, the connection closed, the upstream request
 * aborted (it never got a complete request). Never counted against the upstream.
 */
export class MalformedRequestError extends PorticoError {
  constructor(detail: string) {
    super('PORTICO_ERR_MALFORMED_REQUEST', `malformed request body: ${detail}`, { statusCode: 400 });
    this.name = 'MalformedRequestError';
  }
}

/** EngineError: proxying failed inside portico (an engine assertion, a pool portico closed, an error nobody classified): a bug, never the upstream's fault (→ 502). */
export class EngineError extends PorticoError {
  constructor(cause: unknown) {
    super('PORTICO_ERR_ENGINE', `proxying failed inside portico: ${causeText(cause)}`, { statusCode: 502, cause });
    this.name = 'EngineError';
  }
}

/** AdminRequestError: the CLI could not reach or use the admin listener. */
export class AdminRequestError extends PorticoError {
  constructor(message: string, cause?: unknown) {
    super('PORTICO_ERR_ADMIN', message, { cause });
    this.name = 'AdminRequestError';
  }
}

/** AcmeErrorDetails: what the CA said, when it said something. */
export interface AcmeErrorDetails {
  /** HTTP status of the CA's answer */
  status?: number;
  /** RFC 8555 problem type (`urn:ietf:params:acme:error:rateLimited`) */
  problemType?: string;
  /** how long the CA asked us to wait (Retry-After), in ms */
  retryAfterMs?: number;
  cause?: unknown;
}

/**
 * AcmeError: obtaining or renewing a certificate failed (the CA refused, a challenge failed, the CA
 * was unreachable). The message starts with the step (`ordering app.example.com: …`) and keeps the
 * real cause (`connect ECONNREFUSED 127.0.0.1:14000`).
 */
export class AcmeError extends PorticoError {
  readonly status: number | undefined;
  readonly problemType: string | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, details: AcmeErrorDetails = {}, code = 'PORTICO_ERR_ACME') {
    super(code, message, { cause: details.cause });
    this.name = 'AcmeError';
    this.status = details.status;
    this.problemType = details.problemType;
    this.retryAfterMs = details.retryAfterMs;
  }
}

/** AcmeRateLimitedError: the CA answered 429 (rate limited); the next attempt waits for its Retry-After. */
export class AcmeRateLimitedError extends AcmeError {
  constructor(message: string, details: AcmeErrorDetails) {
    super(message, details, 'PORTICO_ERR_ACME_RATE_LIMITED');
    this.name = 'AcmeRateLimitedError';
  }
}

/**
 * RedisUnavailableError: the Redis of `storage.redis` did not answer a call within its deadline (down,
 * hung, refused the command). Reads then come from the local cache; writes are kept in memory and
 * retried; locks wait.
 */
export class RedisUnavailableError extends PorticoError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('PORTICO_ERR_REDIS', message, options);
    this.name = 'RedisUnavailableError';
  }
}

/**
 * ERROR_CODES lists every code above, and the codes only logged (`PORTICO_ERR_STORAGE`: a corrupt or
 * unreadable file in `[storage]`, logged with its path and treated as missing; nothing is thrown);
 * docs/errors.md must document each (tested).
 */
export const ERROR_CODES = [
  'PORTICO_ERR_CONFIG_INVALID',
  'PORTICO_ERR_CONFIG_UNREADABLE',
  'PORTICO_ERR_CERTIFICATE',
  'PORTICO_ERR_LISTEN',
  'PORTICO_ERR_NO_UPSTREAM',
  'PORTICO_ERR_UPSTREAM_TIMEOUT',
  'PORTICO_ERR_UPSTREAM',
  'PORTICO_ERR_CLIENT_GONE',
  'PORTICO_ERR_BODY_TOO_LARGE',
  'PORTICO_ERR_MALFORMED_REQUEST',
  'PORTICO_ERR_ENGINE',
  'PORTICO_ERR_ADMIN',
  'PORTICO_ERR_ACME',
  'PORTICO_ERR_ACME_RATE_LIMITED',
  'PORTICO_ERR_STORAGE',
  'PORTICO_ERR_REDIS',
] as const;
