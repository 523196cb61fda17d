/**
 * The access log line (`"msg":"request"`, docs/operations.md "Admin, logs, metrics"), serialised by hand: the same
 * JSON a pino `log.info(record, 'request')` writes (level, time, pid, component, the fields in this
 * order, msg), without pino's generic per-key loop (issue 14: ~1.8 µs → ~0.5 µs per line). The record
 * holds no header values, so no redaction path can match it.
 */
import { jsonString, lineHead, writeLine, type Logger } from '../log.js';

/** AccessRecord is one access line's fields; `undefined` fields are left out, as pino does. */
export interface AccessRecord {
  route: string | null;
  host: string;
  method: string | undefined;
  path: string;
  status: number;
  upstream: string | null;
  attempts: number;
  duration_ms: number;
  bytes: number;
  client_ip: string;
  tls_version: string | null;
  /** "h2" or "http/1.1" */
  proto: string;
  error: string | undefined;
  /** a WebSocket (HTTP/1.1 Upgrade) request: its line is written when the tunnel ends */
  upgrade?: true;
  /** the coding portico compressed the response with (`compress`); absent when it did not */
  encoding?: string;
}

const str = (v: string | null): string => (v === null ? 'null' : jsonString(v));
const num = (v: number): string => (Number.isFinite(v) ? '' + v : 'null');

/**
 * millis renders a duration in ms with at most 3 decimals exactly as `String(v)` does, from integers:
 * a double-to-shortest-string conversion costs ~200 ns, this ~30 ns. Anything else goes to `num`.
 */
export function millis(v: number): string {
  const us = Math.round(v * 1000);
  if (!(us >= 0 && us < 1e15) || us / 1000 !== v) return num(v);
  const whole = Math.floor(us / 1000);
  const frac = us - whole * 1000;
  if (frac === 0) return '' + whole;
  if (frac % 100 === 0) return whole + '.' + frac / 100;
  if (frac % 10 === 0) return whole + (frac < 100 ? '.0' : '.') + frac / 10;
  return whole + (frac < 10 ? '.00' : frac < 100 ? '.0' : '.') + frac;
}

/** accessFields renders the record as `,"route":…,"tls_version":…[,"error":…]`. */
export function accessFields(r: AccessRecord): string {
  return (
    ',"route":' + str(r.route) +
    ',"host":' + jsonString(r.host) +
    (r.method === undefined ? '' : ',"method":' + jsonString(r.method)) +
    ',"path":' + jsonString(r.path) +
    ',"status":' + num(r.status) +
    ',"upstream":' + str(r.upstream) +
    ',"attempts":' + num(r.attempts) +
    ',"duration_ms":' + millis(r.duration_ms) +
    ',"bytes":' + num(r.bytes) +
    ',"client_ip":' + jsonString(r.client_ip) +
    ',"tls_version":' + str(r.tls_version) +
    ',"proto":' + jsonString(r.proto) +
    (r.error === undefined ? '' : ',"error":' + jsonString(r.error)) +
    (r.upgrade === undefined ? '' : ',"upgrade":true') +
    (r.encoding === undefined ? '' : ',"encoding":' + jsonString(r.encoding))
  );
}

/** writeAccess writes one access line at `level` to `log`'s destination (nothing when the level is off). */
export function writeAccess(log: Logger, level: 'info' | 'warn', r: AccessRecord): void {
  const head = lineHead(log, level);
  if (head !== null) writeLine(log, head + accessFields(r) + ',"msg":"request"}\n');
}
