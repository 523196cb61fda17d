/**
 * statusFor: the one place that maps a proxy failure to an HTTP status (Caddy's `statusError`), and
 * `blameOf`: who caused it (DESIGN §8: only the upstream's own behaviour counts against it).
 *
 * 502 upstream error (connect refused, reset, bad response) · 503 no upstream available ·
 * 504 upstream timeout (connect or response headers) · 413 body too large · 400 request the engine
 * refused · 499 the client went away (logged, never counted against the upstream).
 */
import { EngineError, PorticoError, UpstreamError, UpstreamTimeoutError } from '../errors.js';

/** CLIENT_GONE is the status logged for an abandoned exchange (nginx's 499). */
export const CLIENT_GONE = 499;

const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** statusFor maps an error from the proxy path to the status the client gets (or is logged with). */
export function statusFor(err: unknown): number {
  if (err instanceof PorticoError && err.statusCode !== undefined) return err.statusCode;
  const code = (err as { code?: string } | null)?.code;
  if (code !== undefined && TIMEOUT_CODES.has(code)) return 504;
  if (code === 'UND_ERR_INVALID_ARG') return 400;
  return 502;
}

/**
 * Blame says who caused a failure: `upstream` (counts: passive failure, retry, ejection), `client`
 * (cancelled, timed out, malformed input: 4xx/499, never counted), `portico` (an engine assertion, a
 * pool portico closed, an error nobody classified: a portico bug, logged at error, never counted).
 */
export type Blame = 'upstream' | 'client' | 'portico';

/**
 * UPSTREAM_CODES are the failures only the upstream (or the network to it) can cause: the connection
 * refused, reset or timed out, the response malformed (undici's HTTPParserError carries llhttp's
 * `HPE_*` code) or shorter/longer than it said. Anything not listed is not the upstream's fault.
 */
const UPSTREAM_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH', 'ENETDOWN',
  'ENOTFOUND', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_HEADERS_OVERFLOW',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'UND_ERR_RES_EXCEEDED_MAX_SIZE', 'UND_ERR_INFO',
  'PORTICO_ERR_UPSTREAM', 'PORTICO_ERR_UPSTREAM_TIMEOUT',
]);

/** CLIENT_CODES are failures the client caused (its input, its leaving, its limits). */
const CLIENT_CODES: ReadonlySet<string> = new Set([
  'PORTICO_ERR_CLIENT_GONE', 'PORTICO_ERR_BODY_TOO_LARGE', 'PORTICO_ERR_MALFORMED_REQUEST', 'UND_ERR_INVALID_ARG', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_ABORTED',
]);

/** blameOf classifies an error from the proxy path (see Blame). */
export function blameOf(err: unknown): Blame {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'portico';
  if (UPSTREAM_CODES.has(code) || code.startsWith('HPE_')) return 'upstream';
  if (CLIENT_CODES.has(code)) return 'client';
  return 'portico';
}

/** isUpstreamFault tells whether an error counts against the upstream (passive health, retries). */
export function isUpstreamFault(err: unknown): boolean {
  return blameOf(err) === 'upstream';
}

/**
 * catalogued wraps an engine error in portico's catalogue by its blame: UpstreamTimeoutError (504) or
 * UpstreamError (502) naming the upstream, EngineError (502) for portico's own; client errors and
 * portico's own classes pass unchanged. The access line's `error` then starts with a stable code.
 */
export function catalogued(err: unknown, blame: Blame, upstream: string): unknown {
  if (err instanceof PorticoError) return err;
  if (blame === 'upstream') {
    const code = (err as { code?: string } | null)?.code;
    return code !== undefined && TIMEOUT_CODES.has(code) ? new UpstreamTimeoutError(upstream, err) : new UpstreamError(upstream, err);
  }
  return blame === 'portico' ? new EngineError(err) : err;
}
