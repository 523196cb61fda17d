/**
 * statusFor: the one place that maps a proxy failure to an HTTP status (Caddy's `statusError`).
 * 502 upstream error (connect refused, reset, bad response) · 503 no upstream available ·
 * 504 upstream timeout (connect or response headers) · 413 body too large · 400 request the engine
 * refused · 499 the client went away (logged, never counted against the upstream).
 */
import { PorticoError } from '../errors.js';

/** ClientGoneError marks an exchange the client abandoned (socket closed before the response ended). */
export class ClientGoneError extends Error {
  readonly code = 'PORTICO_CLIENT_GONE';
  constructor() {
    super('client closed the connection');
    this.name = 'ClientGoneError';
  }
}

/** BodyTooLargeError is raised while streaming a chunked request body past the route's limit. */
export class BodyTooLargeError extends Error {
  readonly code = 'PORTICO_BODY_TOO_LARGE';
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/** CLIENT_GONE is the status logged for an abandoned exchange (nginx's 499). */
export const CLIENT_GONE = 499;

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'PORTICO_ERR_UPSTREAM_TIMEOUT']);

/** statusFor maps an error from the proxy path to the status the client gets (or is logged with). */
export function statusFor(err: unknown): number {
  const code = (err as { code?: string } | null)?.code;
  if (err instanceof ClientGoneError) return CLIENT_GONE;
  if (err instanceof BodyTooLargeError) return 413;
  if (err instanceof PorticoError && err.statusCode !== undefined) return err.statusCode;
  if (code !== undefined && TIMEOUT_CODES.has(code)) return 504;
  if (code === 'UND_ERR_INVALID_ARG') return 400;
  return 502;
}

/** Engine errors that say portico closed the pool (a bug or shutdown), not that the upstream failed. */
const OWN_CLOSE_CODES = new Set(['UND_ERR_DESTROYED', 'UND_ERR_CLOSED']);

/** isUpstreamFault tells whether an error counts against the upstream (passive health, retries). */
export function isUpstreamFault(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  if (code !== undefined && OWN_CLOSE_CODES.has(code)) return false;
  const s = statusFor(err);
  return s === 502 || s === 504;
}
