/**
 * answers: every response portico writes itself, whatever the protocol or the layer that decided it
 * (an exchange on HTTP/1.1 or h2, a refused WebSocket upgrade, a request head Node's parser refused,
 * the redirect listener, the admin listener): one table of status → reason phrase and short plain
 * body, and the functions that write them. Bodies are plain text, one line, never HTML.
 */
import type { OutgoingHttpHeaders } from 'node:http';

/** ANSWERS holds the reason phrase and default body of every status portico answers with. */
const ANSWERS: Readonly<Record<number, readonly [reason: string, body: string]>> = {
  301: ['Moved Permanently', 'moved permanently'],
  302: ['Found', 'found'],
  303: ['See Other', 'see other'],
  307: ['Temporary Redirect', 'temporary redirect'],
  308: ['Permanent Redirect', 'permanent redirect'],
  400: ['Bad Request', 'bad request'],
  403: ['Forbidden', 'forbidden'],
  404: ['Not Found', 'no route for this host'],
  405: ['Method Not Allowed', 'method not allowed'],
  408: ['Request Timeout', 'request timeout'],
  413: ['Content Too Large', 'request body too large'],
  421: ['Misdirected Request', 'misdirected request: this connection is not for that host'],
  422: ['Unprocessable Content', 'unprocessable content'],
  429: ['Too Many Requests', 'too many requests'],
  431: ['Request Header Fields Too Large', 'request header fields too large'],
  500: ['Internal Server Error', 'internal error'],
  501: ['Not Implemented', 'not implemented'],
  502: ['Bad Gateway', 'bad gateway'],
  503: ['Service Unavailable', 'no upstream available'],
  504: ['Gateway Timeout', 'upstream timeout'],
  505: ['HTTP Version Not Supported', 'http version not supported'],
};

/** reasonPhrase is the status line's reason for a status portico answers with. */
export function reasonPhrase(status: number): string {
  return ANSWERS[status]?.[0] ?? 'Error';
}

/** answerBody is the plain body for a status: `detail` when given, else the table's; always one line ending in \n. */
export function answerBody(status: number, detail?: string): string {
  return `${detail ?? ANSWERS[status]?.[1] ?? 'error'}\n`;
}

/** AnswerTarget is what an answer is written to: HTTP/1.1's ServerResponse, or an h2 stream (H2Message). */
export interface AnswerTarget {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  writeHead(status: number, headers: OutgoingHttpHeaders): unknown;
  end(body?: string): unknown;
  destroy(): unknown;
}

/**
 * sendAnswer writes a plain-text answer (status, `extra` headers, `detail` or the table's body). When
 * a response was already started, nothing can be said any more: the response is cut instead.
 */
export function sendAnswer(res: AnswerTarget, status: number, extra?: Record<string, string>, detail?: string): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = answerBody(status, detail);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...extra });
  res.end(body);
}

/**
 * sendRedirect answers with a redirect (301 302 303 307 308) to `location`, with no body (the Location
 * field says it all; RFC 9110 §15.4). A response already started is cut instead, as in sendAnswer.
 */
export function sendRedirect(res: AnswerTarget, status: number, location: string, extra?: Record<string, string>): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, { location, 'content-length': 0, ...extra });
  res.end();
}

/** rawAnswer is a whole HTTP/1.1 answer for a raw socket (the connection is closed after it); `extra` fields go before the body. */
export function rawAnswer(status: number, detail?: string, extra?: Record<string, string>): string {
  const body = answerBody(status, detail);
  let fields = '';
  if (extra !== undefined) for (const [k, v] of Object.entries(extra)) fields += `${k}: ${v}\r\n`;
  return `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nconnection: close\r\n${fields}content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}
