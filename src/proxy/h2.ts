/**
 * The few places where an HTTP/2 exchange differs from an HTTP/1.1 one, on the stream side (the
 * header side is in passes.ts). Node's compatibility API gives h2 requests the shape of
 * IncomingMessage/ServerResponse, except that:
 * - a body is announced by the HEADERS frame (no END_STREAM), not by Content-Length/Transfer-Encoding;
 * - connection-specific response fields are refused (writeHead throws), and so are repeated
 *   single-value fields (two Content-Type lines from an HTTP/1.1 upstream);
 * - "close the connection after this answer" is "reset this stream after this answer";
 * - `req.socket` is a proxy that stops answering once the stream closed.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';

const { NGHTTP2_NO_ERROR } = http2.constants;

/** h2Stream is the Http2Stream behind a compat request or response. */
function h2Stream(m: IncomingMessage | ServerResponse): http2.ServerHttp2Stream {
  return (m as unknown as { stream: http2.ServerHttp2Stream }).stream;
}

/** h2HasBody: the request's HEADERS frame did not end the stream, so DATA frames follow (length may be unknown). */
export function h2HasBody(req: IncomingMessage): boolean {
  return !h2Stream(req).endAfterHeaders;
}

/** h2Socket is the TLS socket of the request's session (null once the session is gone). */
export function h2Socket(req: IncomingMessage): TLSSocket | null {
  return (h2Stream(req).session?.socket as TLSSocket | undefined) ?? null;
}

/**
 * writeH2Head writes a response head on HTTP/2. `h` has had the hop-by-hop fields removed already;
 * `http2-settings` goes too. Node refuses repeated single-value fields (content-type, location…),
 * which an HTTP/1.1 upstream can send: then each repeated field but set-cookie keeps its first value.
 */
export function writeH2Head(res: ServerResponse, status: number, h: Record<string, string | string[] | undefined>): void {
  if (h['http2-settings'] !== undefined) delete h['http2-settings'];
  try {
    res.writeHead(status, h as OutgoingHttpHeaders);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_HTTP2_HEADER_SINGLE_VALUE') throw err;
    for (const [k, v] of Object.entries(h)) if (Array.isArray(v) && k !== 'set-cookie') h[k] = v[0];
    res.writeHead(status, h as OutgoingHttpHeaders);
  }
}

/**
 * resetWhenAnswered ends the request side of an h2 stream once the response is out: RST_STREAM
 * NO_ERROR, "stop sending the body" (RFC 9113 §8.1). It is HTTP/1.1's `Connection: close` after an
 * answer that left the body unread, without closing the other streams of the connection.
 */
export function resetWhenAnswered(res: ServerResponse): void {
  const stream = h2Stream(res);
  stream.once('finish', () => setImmediate(resetStream, stream));
}

function resetStream(stream: http2.ServerHttp2Stream): void {
  if (!stream.closed && !stream.destroyed) stream.close(NGHTTP2_NO_ERROR);
}
